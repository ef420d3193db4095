/* latents.c: wl_latents, the integer latents of an image (decode.c) or of an audio stream
 * (audio_decode.c), without synthesis. */
#include <string.h>
#include "codec/internal.h"
#include "codec/container.h"

int wl_latents(const wl_model *m, const uint8_t *buf, size_t len, int16_t **q, wl_info *info) {
  if (!m || !q || !info) return WL_FAIL_NULL();
  wl_header h;
  *q = NULL;
  memset(info, 0, sizeof *info);
  WL_TRY(wl_header_peek(buf, len, &h));
  WL_TRY(h.modality == WL_MODALITY_AUDIO ? wl_audio_latents(m, buf, len, q, &h) : wl_image_latents(m, buf, len, &h, q));
  wl_info_of(&h, info);
  return 0;
}
