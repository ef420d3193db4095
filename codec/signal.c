/* signal.c: images and audio <-> model signals (wl_signal, internal.h), and the buffers of
 * wl_image and wl_audio. Samples scale to
 * [-0.5, 0.5]; planes are padded by symmetric reflection (x[-1] = x[0]) to a multiple of 2^J
 * along each transformed axis (both for images, the time axis for audio) and cropped back on
 * decode, where samples are clamped to the range of their bit depth and rounded. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"

int wl_image_alloc(wl_image *img, int channels, int height, int width, int depth, int alpha) {
  if (!img) return WL_FAIL_NULL();
  memset(img, 0, sizeof *img);
  if (channels < 1 || channels > WL_MAX_CHANNELS || height < 1 || width < 1 || height > WL_MAX_DIM ||
      width > WL_MAX_DIM || (depth != 8 && depth != 16))
    return WL_FAIL_WHY(WL_ERR_ARG, "%d channel(s) (1 to %d), %dx%d (1 to %d a side), %d-bit (8 or 16)", channels,
                       WL_MAX_CHANNELS, width, height, WL_MAX_DIM, depth);
  const size_t plane = sizeof(float) * (size_t)height * (size_t)width;
  img->channels = channels;
  img->height = height;
  img->width = width;
  img->depth = depth;
  img->planes = wl_malloc_big(plane * (size_t)channels);
  if (alpha) img->alpha = wl_malloc_big(plane);
  if (!img->planes || (alpha && !img->alpha)) {
    wl_image_release(img);
    return WL_FAIL(WL_ERR_NOMEM);
  }
  return 0;
}

void wl_image_release(wl_image *img) {
  if (!img) return;
  free(img->planes);
  free(img->alpha);
  img->planes = img->alpha = NULL;
}

void wl_audio_release(wl_audio *a) {
  if (!a) return;
  free(a->samples);
  a->samples = NULL;
}

int wl_image_check(const wl_image *img) {
  if (!img || !img->planes) return WL_FAIL(WL_ERR_ARG);
  WL_TRY(wl_image_shape_check(img));
  return wl_image_whole_check(img->height, img->width);
}

int wl_image_whole_check(int height, int width) {
  if ((long)height * width > WL_MAX_PIXELS)
    return WL_FAIL_WHY(WL_ERR_LIMIT, "%dx%d is over 64 Mpixel, the most held whole; by rows up to 65536x65536", width,
                       height);
  return 0;
}

int wl_image_shape_check(const wl_image *img) {
  if (img->channels < 1 || img->channels > WL_MAX_CHANNELS || (img->depth != 8 && img->depth != 16))
    return WL_FAIL_WHY(WL_ERR_ARG, "%d channels (1 to %d), %d-bit (8 or 16)", img->channels, WL_MAX_CHANNELS, img->depth);
  if (img->height < 1 || img->width < 1) return WL_FAIL_WHY(WL_ERR_ARG, "%dx%d: an empty image", img->width, img->height);
  if (img->height > WL_MAX_DIM || img->width > WL_MAX_DIM)
    return WL_FAIL_WHY(WL_ERR_LIMIT, "%dx%d: at most %d on a side", img->width, img->height, WL_MAX_DIM);
  return 0;
}

int wl_audio_check(const wl_audio *a) {
  if (!a || !a->samples) return WL_FAIL(WL_ERR_ARG);
  if (a->channels < 1 || a->channels > WL_MAX_CHANNELS || a->rate < 1 ||
      (a->depth != 8 && a->depth != 16 && a->depth != 24 && a->depth != 32))
    return WL_FAIL_WHY(WL_ERR_ARG, "%d channels (1 to %d), %d Hz, %d-bit (8, 16, 24 or 32)", a->channels, WL_MAX_CHANNELS,
                       a->rate, a->depth);
  if (a->frames < 1 || a->frames > WL_MAX_FRAMES || a->frames * a->channels > WL_MAX_SAMPLES) return WL_FAIL(WL_ERR_LIMIT);
  return 0;
}

wl_signal wl_image_signal(const wl_image *img) {
  return (wl_signal){2, img->channels, img->height, img->width, img->depth, img->planes, 0};
}

wl_signal wl_audio_signal(const wl_audio *a) {
  return (wl_signal){1, a->channels, 1, (int)a->frames, a->depth, a->samples, 0};
}

/* Checked views of n images (imgs) or clips (imgs NULL). */
static int views(const wl_image *imgs, const wl_audio *clips, int n, wl_signal **s) {
  *s = NULL;
  if (n < 1 || (!imgs && !clips)) return WL_FAIL(WL_ERR_ARG);
  if (!(*s = malloc(sizeof **s * (size_t)n))) return WL_FAIL(WL_ERR_NOMEM);
  for (int i = 0; i < n; i++) {
    int e = imgs ? wl_image_check(&imgs[i]) : wl_audio_check(&clips[i]);
    if (e) { free(*s); *s = NULL; return e; }
    (*s)[i] = imgs ? wl_image_signal(&imgs[i]) : wl_audio_signal(&clips[i]);
  }
  return 0;
}

int wl_image_signals(const wl_image *imgs, int n, wl_signal **s) { return views(imgs, NULL, n, s); }
int wl_audio_signals(const wl_audio *clips, int n, wl_signal **s) { return views(NULL, clips, n, s); }

int wl_pad_size(int n, int J) { return ((n + (1 << J) - 1) >> J) << J; }

void wl_signal_padded(const wl_signal *s, int J, int *Hp, int *Wp) {
  *Hp = s->dims == 2 ? wl_pad_size(s->height, J) : s->height;
  *Wp = wl_pad_size(s->width, J);
}

void wl_latent_shape(const wl_signal *s, int J, int *h, int *w) {
  wl_signal_padded(s, J, h, w);
  *h >>= s->dims == 2 ? J : 0;
  *w >>= J;
}

long wl_latent_count(const wl_signal *s, int J) {
  int h, w;
  wl_latent_shape(s, J, &h, &w);
  return (long)h * w;
}

/* x = v * scale + offset maps samples into [-0.5, 0.5]; back: v = (x - offset) * unscale,
 * clamped to [lo, hi]. Images: scale 1/(2^d - 1), offset -1/2; audio: scale 2^-d, offset 0.
 * hi is a float that converts to the depth's integer type without overflow: for 32-bit audio
 * 2^31 - 128, as 2^31 - 1 rounds up to 2^31 in float. */
typedef struct { float scale, offset, unscale, lo, hi; } sample_map;

static sample_map map_of(const wl_signal *s) {
  if (s->dims == 2) {
    const float maxv = (float)((1 << s->depth) - 1);
    return (sample_map){1.0f / maxv, -0.5f, maxv, 0.0f, maxv};
  }
  const double half = ldexp(1.0, s->depth - 1);
  const float hi = (double)(float)(half - 1) > half - 1 ? nextafterf((float)(half - 1), 0.0f) : (float)(half - 1);
  return (sample_map){(float)(0.5 / half), 0.0f, (float)(2 * half), (float)-half, hi};
}

float wl_sample_scale(const wl_signal *s) { return map_of(s).scale; }
float wl_sample_offset(const wl_signal *s) { return map_of(s).offset; }
float wl_sample_hi(const wl_signal *s) { return map_of(s).hi; }

/* x (C, Hp, Wp) from s (C, H, W) */
void wl_signal_scale(const wl_signal *s, int Hp, int Wp, float *x) {
  const int H = s->height, W = s->width;
  const sample_map f = map_of(s);
#pragma omp parallel for schedule(static)
  for (long cr = 0; cr < (long)s->channels * Hp; cr++) {
    long c = cr / Hp, r = cr % Hp;
    const float *src = s->planes + c * (s->cstride ? s->cstride : (long)H * W) + wl_mirror(r, H) * (long)W;
    float *dst = x + cr * Wp;
    for (int j = 0; j < W; j++) dst[j] = src[j] * f.scale + f.offset;
    for (int j = W; j < Wp; j++) dst[j] = src[wl_mirror(j, W)] * f.scale + f.offset;
  }
}

/* out (C, H, W) from x (C, Hp, Wp): crop, rescale, clamp and round. The clamp is written so that
 * a NaN (a model gone wrong) lands on lo rather than reaching a float-to-integer conversion.
 * out may be x: each sample is then written at or before where it was read, so rows go in order
 * (in parallel only where nothing is cropped and each sample stays where it is). */
static inline float unscale_one(float x, sample_map f) {
  const float v = (x - f.offset) * f.unscale;
  return !(v >= f.lo) ? f.lo : v > f.hi ? f.hi : rintf(v);
}

void wl_signal_unscale(const float *x, int Hp, int Wp, const wl_signal *s, float *out) {
  const int H = s->height, W = s->width, same = out == x && H == Hp && W == Wp;
  const sample_map f = map_of(s);
  if (same) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)s->channels * H * W; i++) out[i] = unscale_one(out[i], f);
    return;
  }
#pragma omp parallel for schedule(static) if (out != x)
  for (long cr = 0; cr < (long)s->channels * H; cr++) {
    long c = cr / H, r = cr % H;
    const float *src = x + (c * Hp + r) * (long)Wp;
    float *dst = out + cr * W;
    for (int j = 0; j < W; j++) dst[j] = unscale_one(src[j], f);
  }
}

double wl_signal_error(const float *x, int Hp, int Wp, const wl_signal *s) {
  const int H = s->height, W = s->width;
  const long cs = s->cstride ? s->cstride : (long)H * W;
  const sample_map f = map_of(s);
  double se = 0;
#pragma omp parallel for schedule(static) reduction(+ : se)
  for (long cr = 0; cr < (long)s->channels * H; cr++) {
    const long c = cr / H, r = cr % H;
    const float *src = x + (c * Hp + r) * (long)Wp, *ref = s->planes + c * cs + r * (long)W;
    double row = 0;
    for (int j = 0; j < W; j++) {
      const double d = (double)ref[j] - unscale_one(src[j], f);
      row += d * d;
    }
    se += row;
  }
  return se;
}
