/* fuzz_decode.c: libFuzzer target (make fuzz): arbitrary bytes through the .wlc header reader,
 * the latent decoder and the full decoder, with the built-in model whose id the bytes name, so
 * that every built-in model (images and audio) is reached from its seeds. Built with
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION: checksums are taken as they are (container.c), so
 * the fuzzer reaches the entropy decoders and the synthesis. */
#include <stdlib.h>
#include "codec/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wl_info h;
  wl_model *m;
  if (wl_info_read(data, size, &h) || (long)h.height * h.width > 1 << 20 || (long)h.channels * h.frames > 1 << 22 ||
      wl_model_builtin_by_id(&m, h.model_id))
    return 0;
  int16_t *q;
  if (wl_latents(m, data, size, &q, &h) == 0) free(q);
  wl_image img;
  wl_audio a;
  if (h.modality == WL_MODALITY_IMAGE && wl_decode(m, data, size, &img) == 0) wl_image_release(&img);
  if (h.modality == WL_MODALITY_AUDIO && wl_decode_audio(m, data, size, &a) == 0) wl_audio_release(&a);
  wl_model_free(m);
  return 0;
}
