/* search.h: encoder-side search (refine.c): latents chosen against the model's own decoder
 * rather than by rounding. Internal to the library; wl_encode calls it for
 * wl_encode_opts.refine > 0, and it uses the decoder's backward pass (codec/train/). */
#ifndef WL_CODEC_SEARCH_H
#define WL_CODEC_SEARCH_H
#include "codec/internal.h"

/* q (keep, h, w) of image s refined by `iters` iterations against m's decoder (see refine.c). */
int wl_refine(const wl_model *m, const wl_signal *s, int keep, int iters, int16_t *q);
#endif
