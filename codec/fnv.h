/* fnv.h: FNV-1a 64 over bytes, the id of a model (of its file's bytes) that .wlc files carry.
 * Shared by the library and codec/models/ids.c, the build step that hashes the built-in models
 * once at build time instead of at every start. */
#ifndef WL_CODEC_FNV_H
#define WL_CODEC_FNV_H
#include <stddef.h>
#include <stdint.h>

static inline uint64_t wl_fnv1a64(const void *buf, size_t len) {
  const uint8_t *p = buf;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
#endif
