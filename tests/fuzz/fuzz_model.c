/* fuzz_model.c: libFuzzer target (make fuzz): arbitrary bytes as a .wlm model (safetensors
 * header, tensors, metadata), seeded with the built-in models; a model that loads codes a small
 * image or clip of its shape and decodes it again. */
#include <stdlib.h>
#include "walloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wl_model *m;
  wl_model_desc d;
  if (wl_model_load(&m, data, size)) return 0;
  wl_model_describe(m, &d);
  uint8_t *enc;
  size_t n;
  const int C = d.channels, side = 8 << (d.J < 3 ? d.J : 3);
  if (d.dims == 2 && (long)C * side * side <= 1 << 16) {
    wl_image img, out;
    if (!wl_image_alloc(&img, C, side, side, 8, 0)) {
      for (long i = 0; i < (long)C * side * side; i++) img.planes[i] = (float)(i * 29 % 256);
      if (!wl_encode(m, &img, NULL, &enc, &n)) {
        if (!wl_decode(m, enc, n, &out)) wl_image_release(&out);
        free(enc);
      }
      wl_image_release(&img);
    }
  }
  wl_model_free(m);
  return 0;
}
