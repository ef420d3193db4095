/* builtin.c: the models built into the library (the .wlm files of codec/models, linked as data
 * by codec/models/builtin.S), by name and by id. `make BUILTIN=0` leaves them out
 * (WL_NO_BUILTIN_MODELS): every model then comes from a file, as with rnnoise's
 * USE_WEIGHTS_FILE, and the library is 3.9 MB smaller. */
#include <string.h>
#include "codec/internal.h"

typedef struct { const char *name; const uint8_t *begin, *end; int keep; uint64_t id; } entry;

#ifndef WL_NO_BUILTIN_MODELS
#include "codec/models/ids.h" /* generated from the .wlm files by codec/models/ids.c */
/* Models built into the library by codec/models/builtin.S; a name may be an operating point of
 * another name's model: the same bytes (and id) sending fewer channels by default. */
extern const uint8_t wl_model_rgb[], wl_model_rgb_end[], wl_model_rgb_linear[], wl_model_rgb_linear_end[],
    wl_model_gray[], wl_model_gray_end[], wl_model_stereo[], wl_model_stereo_end[], wl_model_mono[],
    wl_model_mono_end[];
static const entry builtin[] = {
  {"rgb", wl_model_rgb, wl_model_rgb_end, 0, WL_BUILTIN_ID_rgb},
  {"rgb-linear", wl_model_rgb_linear, wl_model_rgb_linear_end, 0, WL_BUILTIN_ID_rgb_linear},
  {"gray", wl_model_gray, wl_model_gray_end, 0, WL_BUILTIN_ID_gray},
  {"stereo", wl_model_stereo, wl_model_stereo_end, 0, WL_BUILTIN_ID_stereo},      /* 512 bands, K 108: 4.74x */
  {"stereo-20x", wl_model_stereo, wl_model_stereo_end, 27, WL_BUILTIN_ID_stereo}, /* 18.96x */
  {"mono", wl_model_mono, wl_model_mono_end, 0, WL_BUILTIN_ID_mono},              /* 256 bands, K 54: 4.74x */
  {"mono-20x", wl_model_mono, wl_model_mono_end, 13, WL_BUILTIN_ID_mono},         /* 19.7x */
};
#define NBUILTIN ((int)(sizeof builtin / sizeof builtin[0]))
#else
static const entry builtin[1];
#define NBUILTIN 0
#endif

const char *wl_model_builtin_name(int i) { return i >= 0 && i < NBUILTIN ? builtin[i].name : NULL; }

int wl_model_builtin(wl_model **model, const char *name) {
  if (model) *model = NULL;
  if (!model || !name) return WL_FAIL_NULL();
  for (int i = 0; i < NBUILTIN; i++)
    if (!strcmp(name, builtin[i].name)) {
      WL_TRY(wl_model_parse_known(model, builtin[i].begin, (size_t)(builtin[i].end - builtin[i].begin), NULL, builtin[i].id));
      if (builtin[i].keep) (*model)->d.keep = builtin[i].keep;
      return 0;
    }
  *model = NULL;
  return WL_FAIL(WL_ERR_UNKNOWN_MODEL);
}

int wl_model_builtin_by_id(wl_model **model, uint64_t id) {
  if (!model) return WL_FAIL_NULL();
  *model = NULL;
  for (int i = 0; i < NBUILTIN; i++)
    if (builtin[i].id == id) return wl_model_parse_known(model, builtin[i].begin, (size_t)(builtin[i].end - builtin[i].begin), NULL, id);
  return WL_FAIL(WL_ERR_MISMATCH);
}
