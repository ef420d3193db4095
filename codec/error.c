/* error.c: the version, and the names of the WL_ERR_* codes (include/walloc.h): the library's
 * one error vocabulary, whose values the wavelet and entropy layers (which include nothing
 * above them) use too. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "codec/internal.h"
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
  case WL_ERR_LIMIT: return "dimensions outside the supported limits";
  case WL_ERR_MODEL: return "invalid model file";
  case WL_ERR_MISMATCH: return "model does not fit (a file of another model, or another channel count or shape)";
  case WL_ERR_NUMERIC: return "numerical failure";
  case WL_ERR_UNKNOWN_MODEL: return "no built-in model by that name";
  default: return "unknown error";
  }
}

/* The last error raised on each thread: its code, why (when told) and where. */
static _Thread_local int last;
static _Thread_local char why[200], where[64];

int wl_fail(int code, const char *file, int line, const char *fmt, ...) {
  last = code;
  why[0] = 0;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
  }
  snprintf(where, sizeof where, "%s:%d", file, line);
  return code;
}

const char *wl_error_detail(int err) { return err && err == last ? why : ""; }
const char *wl_error_site(int err) { return err && err == last ? where : ""; }
