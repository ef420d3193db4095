/* container.c: the .wlc file layout, little-endian, version 1:
 *   0  "WLOC" magic          4  u8 version   5  u8 modality (1 image, 2 audio)   6 u8 J   7 u8 B
 *   8  u64 model id (FNV-1a 64 of the .wlm bytes)
 *  16  image: u32 height      audio: u32 sample rate (1 .. 2^31 - 1 Hz)
 *  20  image: u32 width       audio: u32 frames per channel (1 .. 2^30, channels * frames <= 2^30)
 *  24  u16 channels  26 u8 depth (image 8|16, audio 8|16|24|32)  27 u8 flags (image bit 0: alpha;
 *      audio 0)
 *  28  u16 K       30 u16 keep   32 u32 alpha bytes (audio: 0)
 *  36  keep x { u8 entropy mode, u32 stream bytes }
 *  then the zstd alpha plane, the keep channel streams in order, and a u32 CRC-32 of all
 *  bytes before it. J is 1..6 for images (2-D packets, latent planes (H/2^J, W/2^J)) and 1..10
 *  for audio (1-D packets, latent planes (1, T/2^J), sizes rounded up). Audio reuses the image
 *  layout field for field, so image files are unchanged by its addition (a reader of version 1
 *  from before audio rejects modality 2 as corrupt). Every field is checked against the limits
 *  in walloc.h before use. */
#include <string.h>
#include "codec/internal.h"
#include "codec/container.h"

static const uint8_t magic[4] = {'W', 'L', 'O', 'C'};

size_t wl_header_size(int keep) { return WL_HDR_FIXED + 5 * (size_t)keep; }

void wl_header_write(const wl_header *h, uint8_t *p) {
  memcpy(p, magic, 4);
  p[4] = WL_FORMAT_VERSION;
  p[5] = (uint8_t)h->modality;
  p[6] = (uint8_t)h->J;
  p[7] = (uint8_t)h->bits;
  wl_put64(p + 8, h->model_id);
  const int audio = h->modality == WL_MODALITY_AUDIO;
  wl_put32(p + 16, (uint32_t)(audio ? h->rate : h->height));
  wl_put32(p + 20, (uint32_t)(audio ? h->frames : h->width));
  wl_put16(p + 24, (uint32_t)h->channels);
  p[26] = (uint8_t)h->depth;
  p[27] = (uint8_t)(h->has_alpha ? 1 : 0);
  wl_put16(p + 28, (uint32_t)h->K);
  wl_put16(p + 30, (uint32_t)h->keep);
  wl_put32(p + 32, h->alpha_len);
  for (int c = 0; c < h->keep; c++) {
    p[WL_HDR_FIXED + 5 * c] = h->entropy[c];
    wl_put32(p + WL_HDR_FIXED + 5 * c + 1, h->stream_len[c]);
  }
}

int wl_header_read(const uint8_t *p, size_t len, wl_header *h) {
  memset(h, 0, sizeof *h);
  if (memcmp(p, magic, len < 4 ? len : 4)) return WL_ERR_MAGIC;
  if (len < 5) return WL_ERR_TRUNCATED;
  h->version = p[4];
  if (h->version != WL_FORMAT_VERSION) return WL_ERR_VERSION;
  if (len < WL_HDR_FIXED) return WL_ERR_TRUNCATED;
  h->modality = p[5];
  h->J = p[6];
  h->bits = p[7];
  h->model_id = wl_get64(p + 8);
  uint32_t H = wl_get32(p + 16), W = wl_get32(p + 20);
  h->channels = (int)wl_get16(p + 24);
  h->depth = p[26];
  h->has_alpha = p[27] & 1;
  h->K = (int)wl_get16(p + 28);
  h->keep = (int)wl_get16(p + 30);
  h->alpha_len = wl_get32(p + 32);
  const int audio = h->modality == WL_MODALITY_AUDIO;
  const int depth_ok = audio ? h->depth == 8 || h->depth == 16 || h->depth == 24 || h->depth == 32
                             : h->depth == 8 || h->depth == 16;
  if ((h->modality != WL_MODALITY_IMAGE && !audio) || h->J < 1 || h->J > (audio ? WL_MAX_J1 : WL_MAX_J) ||
      h->bits < 2 || h->bits > 16 || !depth_ok || (p[27] & ~(audio ? 0 : 1)) || h->channels < 1 || h->K < 1 ||
      h->K > WL_MAX_K || h->keep < 1 || h->keep > h->K || h->has_alpha != (h->alpha_len > 0) ||
      (audio && (H < 1 || H > WL_MAX_RATE)))
    return WL_ERR_CORRUPT;
  if (h->channels > WL_MAX_CHANNELS) return WL_ERR_LIMIT;
  if (audio) {
    if (W < 1 || W > WL_MAX_FRAMES || (uint64_t)W * h->channels > WL_MAX_SAMPLES) return WL_ERR_LIMIT;
    h->rate = (int)H;
    h->frames = (long)W;
    h->height = 1;
    h->width = (int)W;
    h->lat_h = 1;
  } else {
    if (H < 1 || W < 1 || H > WL_MAX_DIM || W > WL_MAX_DIM || (uint64_t)H * W > WL_MAX_PIXELS) return WL_ERR_LIMIT;
    h->height = (int)H;
    h->width = (int)W;
    h->lat_h = wl_pad_size(h->height, h->J) >> h->J;
  }
  h->lat_w = wl_pad_size(h->width, h->J) >> h->J;
  h->header_len = wl_header_size(h->keep);
  if (len < h->header_len) return WL_ERR_TRUNCATED;
  uint64_t total = h->header_len + (uint64_t)h->alpha_len + 4;
  for (int c = 0; c < h->keep; c++) {
    h->entropy[c] = p[WL_HDR_FIXED + 5 * c];
    h->stream_len[c] = wl_get32(p + WL_HDR_FIXED + 5 * c + 1);
    if (h->entropy[c] >= WL_ENTROPY_MODES) return WL_ERR_CORRUPT;
    total += h->stream_len[c];
  }
  if (total > len) return WL_ERR_TRUNCATED;
  if (total < len) return WL_ERR_CORRUPT;
  h->total_len = (size_t)total;
  if (wl_crc32(0, p, len - 4) != wl_get32(p + len - 4)) return WL_ERR_CRC;
  return 0;
}

const char *wl_entropy_name(int mode) {
  static const char *names[WL_ENTROPY_MODES] = {"static", "table", "adaptive", "predictive"};
  return mode >= 0 && mode < WL_ENTROPY_MODES ? names[mode] : "unknown";
}
