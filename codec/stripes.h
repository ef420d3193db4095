/* stripes.h: an image's synthesis in stripes of rows (stripes.c). Internal. */
#ifndef WL_CODEC_STRIPES_H
#define WL_CODEC_STRIPES_H
#include "codec/internal.h"

/* The rows of a periodic packet transform's band ends (of L levels, on the coarser grid) that
 * differ from the whole image's when it runs on a band of rows: 2, 3, then 4 for 1, 2, 3+ levels
 * (each level's four lifting steps reach two samples of its own grid). */
static inline int wl_stripe_margin(int L) { return L == 1 ? 2 : L == 2 ? 3 : 4; }

/* Receives rows [y0, y0 + n) of the image, planes (C, n, width), final samples; nonzero stops. */
typedef int (*wl_stripe_fn)(void *user, const float *planes, int y0, int n);
/* Synthesises the image of header h from its latents q (keep, lat_h, lat_w) and detail planes v
 * (NULL: none), B latent rows (B << J image rows) at a time, handing each stripe to put in
 * order; B < 1: images up to 4 Mpixel whole (into whole, when not NULL: planes (C, height,
 * width) of the caller's, handed to put as they are), larger ones about 4096 latent positions at
 * a time. */
int wl_stripes_run(const wl_model *m, const wl_header *h, const int16_t *q, const int16_t *v, int B, float *whole,
                   wl_stripe_fn put, void *user);
/* The image rows of its stripes (the last may be shorter). */
int wl_stripe_rows(const wl_header *h, int B);
/* wl_encode_rows (encode.c) in stripes of `chunk` latent positions (tests; 0: the default). */
int wl_encode_rows_chunked(const wl_model *m, const wl_image *shape, const wl_encode_opts *o, wl_rows_in get,
                           void *user, long chunk, uint8_t **out, size_t *outlen);
#endif
