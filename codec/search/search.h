/* search.h: encoder-side search (refine.c): latents chosen against the model's own decoder
 * rather than by rounding. Internal to the library; wl_encode calls it for
 * wl_encode_opts.refine > 0, and it uses the decoder's backward pass (codec/train/). And the
 * audio ladder's base (target.c), shared with audio_target.c; and encode.c's writer of an
 * image file from its parts, which the target search ends with. */
#ifndef WL_CODEC_SEARCH_H
#define WL_CODEC_SEARCH_H
#include "codec/internal.h"
#include "codec/detail.h"

/* q (keep, h, w) of image s refined by `iters` iterations against m's decoder (see refine.c). */
int wl_refine(const wl_model *m, const wl_signal *s, int keep, int iters, int16_t *q);
/* Latent channels below the audio ladder's steps: max(1, K / 8) (target.c). */
int wl_audio_ladder_base(const wl_model *m);
/* The .wlc of an image from its parts (encode.c): header h with each kept channel's stream_len
 * (its alpha_len set here), the keep latent streams (channel c at streams + c * bound), the
 * alpha plane and a detail layer (none: h->step 0, d zeroed). */
int wl_image_file(wl_header *h, const uint8_t *streams, size_t bound, const uint8_t *alpha, size_t alpha_len,
                  const wl_detail *d, const uint8_t *dstreams, uint8_t **out, size_t *outlen);
#endif
