/* error.c: names of the WL_ERR_* codes (include/walloc.h). */
#include "walloc.h"

const char *wl_strerror(int err) {
  switch (err) {
  case WL_OK: return "success";
  case WL_ERR_NOMEM: return "out of memory";
  case WL_ERR_ARG: return "invalid argument";
  case WL_ERR_MAGIC: return "not a walloc file (bad magic)";
  case WL_ERR_VERSION: return "unsupported format version";
  case WL_ERR_TRUNCATED: return "truncated data";
  case WL_ERR_CORRUPT: return "corrupt data";
  case WL_ERR_CRC: return "checksum mismatch (corrupt data)";
  case WL_ERR_LIMIT: return "dimensions over the supported limits";
  case WL_ERR_MODEL: return "invalid model file";
  case WL_ERR_MISMATCH: return "file was encoded with a different model";
  case WL_ERR_NUMERIC: return "numerical failure";
  case WL_ERR_UNKNOWN_MODEL: return "no built-in model by that name";
  default: return "unknown error";
  }
}
