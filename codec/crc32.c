/* crc32.c: CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib and PNG), bytewise. */
#include "codec/internal.h"

uint32_t wl_crc32(uint32_t crc, const void *buf, size_t len) {
  const uint8_t *p = buf;
  crc = ~crc;
  while (len--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}
