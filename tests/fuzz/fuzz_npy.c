/* fuzz_npy.c: libFuzzer target (make fuzz): arbitrary bytes through the CLI's .npy image reader
 * (cli/npy.c), seeded with small valid arrays; a header that passes must describe exactly the
 * data that follows. */
#include <stdlib.h>
#include "cli/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wl_image img;
  char why[NPY_WHY];
  if (npy_is_npy(data, size) && npy_decode(data, size, &img, why) == 0) wl_image_release(&img);
  return 0;
}
