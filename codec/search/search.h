/* search.h: encoder-side search (refine.c): latents chosen against the model's own decoder
 * rather than by rounding. Internal to the library; wl_encode calls it for
 * wl_encode_opts.refine > 0, and it uses the decoder's backward pass (codec/train/). And the
 * audio ladder's base (target.c), shared with audio_target.c. */
#ifndef WL_CODEC_SEARCH_H
#define WL_CODEC_SEARCH_H
#include "codec/internal.h"

/* q (keep, h, w) of image s refined by `iters` iterations against m's decoder (see refine.c). */
int wl_refine(const wl_model *m, const wl_signal *s, int keep, int iters, int16_t *q);
/* Latent channels below the audio ladder's steps: max(1, K / 8) (target.c). */
int wl_audio_ladder_base(const wl_model *m);
#endif
