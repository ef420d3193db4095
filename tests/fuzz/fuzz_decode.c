/* fuzz_decode.c: libFuzzer target (make fuzz): arbitrary bytes through the .wlc header
 * reader, the latent decoder and the full decoder with the built-in rgb model. Seeds from
 * valid files are made by the fuzz rule; the CRC is recomputed on the mutated bytes so the
 * fuzzer reaches the entropy decoders instead of stopping at the checksum. */
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static wl_model *m;
  if (!m && wl_model_builtin(&m, "rgb")) abort();
  if (size < 8) return 0;
  uint8_t *buf = malloc(size);
  memcpy(buf, data, size);
  wl_put32(buf + size - 4, wl_crc32(0, buf, size - 4));
  wl_info h;
  if (wl_info_read(buf, size, &h) == 0 && (long)h.height * h.width <= 1 << 20) {
    int16_t *q;
    wl_image img;
    if (wl_latents(m, buf, size, &q, &h) == 0) free(q);
    if (wl_decode(m, buf, size, &img) == 0) wl_image_release(&img);
  }
  free(buf);
  return 0;
}
