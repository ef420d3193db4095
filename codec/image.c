/* image.c: images <-> model signals. Samples scale to [-0.5, 0.5]; planes are padded by
 * symmetric reflection (x[-1] = x[0]) to a multiple of 2^J and cropped back on decode. */
#include <math.h>
#include "codec/internal.h"

int wl_image_check(const wl_image *img) {
  if (!img || !img->planes || img->channels < 1 || img->channels > WL_MAX_CHANNELS ||
      (img->depth != 8 && img->depth != 16))
    return WL_ERR_ARG;
  if (img->height < 1 || img->width < 1 || img->height > WL_MAX_DIM || img->width > WL_MAX_DIM ||
      (long)img->height * img->width > WL_MAX_PIXELS)
    return WL_ERR_LIMIT;
  return 0;
}

int wl_pad_size(int n, int J) { return ((n + (1 << J) - 1) >> J) << J; }

long wl_latent_count(const wl_image *img, int J) {
  return (long)(wl_pad_size(img->height, J) >> J) * (wl_pad_size(img->width, J) >> J);
}

/* Index i of a symmetric-periodic extension of 0..n-1 (period 2n). */
static int mirror(int i, int n) {
  i %= 2 * n;
  if (i < 0) i += 2 * n;
  return i < n ? i : 2 * n - 1 - i;
}

/* x (C, Hp, Wp) from img (C, H, W) */
void wl_image_to_signal(const wl_image *img, int Hp, int Wp, float *x) {
  const int H = img->height, W = img->width;
  const float scale = 1.0f / (float)((1 << img->depth) - 1);
#pragma omp parallel for schedule(static)
  for (long cr = 0; cr < (long)img->channels * Hp; cr++) {
    long c = cr / Hp, r = cr % Hp;
    const float *src = img->planes + (c * H + mirror((int)r, H)) * (long)W;
    float *dst = x + cr * Wp;
    for (int j = 0; j < W; j++) dst[j] = src[j] * scale - 0.5f;
    for (int j = W; j < Wp; j++) dst[j] = src[mirror(j, W)] * scale - 0.5f;
  }
}

/* img->planes (C, H, W) from x (C, Hp, Wp): crop, rescale, clamp and round. */
void wl_signal_to_image(const float *x, int Hp, int Wp, wl_image *img) {
  const int H = img->height, W = img->width;
  const float maxv = (float)((1 << img->depth) - 1);
#pragma omp parallel for schedule(static)
  for (long cr = 0; cr < (long)img->channels * H; cr++) {
    long c = cr / H, r = cr % H;
    const float *src = x + (c * Hp + r) * (long)Wp;
    float *dst = img->planes + cr * W;
    for (int j = 0; j < W; j++) {
      float v = (src[j] + 0.5f) * maxv;
      dst[j] = v < 0.0f ? 0.0f : v > maxv ? maxv : rintf(v);
    }
  }
}
