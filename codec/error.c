/* error.c: the version, and the names of the WL_ERR_* codes (include/walloc.h): the library's
 * one error vocabulary, whose values the wavelet and entropy layers (which include nothing
 * above them) use too. */
#include "walloc.h"
#include "entropy/entropy.h"
#include "wavelet/wpt.h"

#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(WPT_ERR_NOMEM, WL_ERR_NOMEM) && SAME(WPT_ERR_ARG, WL_ERR_ARG), "wavelet error codes");
_Static_assert(SAME(WLE_ERR_NOMEM, WL_ERR_NOMEM) && SAME(WLE_ERR_ARG, WL_ERR_ARG) &&
                   SAME(WLE_ERR_CORRUPT, WL_ERR_CORRUPT) && SAME(WLE_ERR_OVERFLOW, WL_ERR_LIMIT),
               "entropy error codes");

unsigned wl_version_number(void) { return WL_VERSION_NUMBER; }
const char *wl_version_string(void) { return WL_VERSION_STRING; }

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
