/* fuzz_png.c: libFuzzer target (make fuzz): arbitrary bytes through both PNG readers of
 * cli/png.c. Every chunk's CRC is recomputed on the mutated bytes, so the fuzzer reaches the
 * chunk walk, the inflate and the unfiltering instead of stopping at a checksum; whenever the
 * one-pass read takes a file, libpng must read it to the same image (abort otherwise). Files
 * over 2^20 pixels are skipped to keep each run small. */
#include <stdlib.h>
#include <string.h>
#include "cli/png.c"
#include "tests/tools/image_equal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 33 || (uint64_t)be32(data + 16) * be32(data + 20) > 1u << 20) return 0;
  uint8_t *buf = malloc(size);
  memcpy(buf, data, size);
  for (size_t p = 8; size - p >= 12;) {
    const uint32_t n = be32(buf + p);
    if (n > size - p - 12) break;
    put_be32(buf + p + 8 + n, libdeflate_crc32(0, buf + p + 4, n + 4));
    p += 12 + n;
  }
  wl_image plain, ref;
  const char *why;
  const int p = decode_plain(buf, size, &plain), r = decode_libpng(buf, size, &ref, &why);
  if (!p && (r || !images_equal(&plain, &ref))) abort();
  if (!p) wl_image_release(&plain);
  if (!r) wl_image_release(&ref);
  free(buf);
  return 0;
}
