/* walloc_train.h: the training API of libwalloc: linear (PCA) models fitted in closed form,
 * and neural models trained by stochastic gradient descent, written as .wlm byte strings that
 * wl_model_load (walloc.h) reads. Programs that only code need walloc.h alone. */
#ifndef WALLOC_TRAIN_H
#define WALLOC_TRAIN_H
#include "walloc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const char *name; /* stored in the model metadata */
  int channels, J, K, bits;
  float gain;       /* latent scale applied before companding (rate knob); 0 = default (4, audio 32) */
  int stride;       /* use every stride-th latent position for the covariance (0 or 1: all) */
  const char *command; /* provenance stored in the model metadata (may be NULL) */
  int reserved[8];  /* zero (WL_ERR_ARG otherwise): room for later fields */
} wl_linear_params;

/* Fits a linear (PCA/KLT) encoder/decoder on `n` images and their entropy tables; writes
 * a malloc'd .wlm byte string. All images must have params->channels channels. */
WL_API int wl_train_linear(const wl_image *imgs, int n, const wl_linear_params *params,
                           uint8_t **out, size_t *outlen);
/* The same on audio clips: a 1-D model (dims 1, J up to WL_MAX_J1, K <= channels * 2^J). */
WL_API int wl_train_linear_audio(const wl_audio *clips, int n, const wl_linear_params *params,
                                 uint8_t **out, size_t *outlen);

/* Neural models (kind "neural"): the PCA model above plus a residual convolutional decoder
 * path, trained jointly by stochastic gradient descent on random crops of images or random
 * segments of audio clips (1-D models: every "pixel" below is then a frame). */
typedef struct {
  const char *name, *command; /* stored in the model metadata (command may be NULL) */
  int channels, J, K, bits;
  int N, R;           /* residual path: width and blocks of two 3x3 (audio: 1x3) convolutions */
  int fine_N, fine_R; /* images with J >= 2: width (0: none) and blocks of the fine stage, a
                         residual net of 3x3 convolutions on the packets one level finer (twice
                         the latent resolution), after the residual path */
  int crop, batch;    /* crop side in pixels (at most 4096), or audio segment length in frames
                         (at most 2^20); a multiple of 2^J. Examples per step */
  long steps;         /* length of the learning-rate schedule (warm-up, then cosine decay) */
  int warmup;         /* warm-up steps */
  float lr, weight_decay;
  float lambda;       /* rate term weight in dB per bit per pixel: the loss is minus the mean
                         PSNR of the crops plus lambda times their estimated bits per pixel;
                         0: the encoder stays the PCA one, only the decoder and fill learn */
  float jitter;       /* colour jitter amplitude (0: none); scale jitter is 1 + jitter * 5. Audio:
                         any jitter > 0 turns on a random gain per segment, log-uniform in
                         -12 .. +6 dB and limited to the segment's headroom (nothing clips) */
  float gain;         /* gain of the PCA initialisation (as wl_linear_params.gain) */
  int loss;           /* WL_LOSS_PSNR: minus the mean PSNR of the examples; WL_LOSS_MSE: their
                         mean squared error, each divided by the PCA's expected error at the
                         example's k, so that every k counts alike while loud and quiet
                         examples count by their errors (what a whole-file SNR measures) */
  int quant;          /* the decoder's input in training: WL_QUANT_ROUND, the latents rounded and
                         dequantised exactly as decoding does (the encoder, when trained, gets
                         a straight-through gradient); WL_QUANT_NOISE, additive uniform noise
                         (the rate term always uses the noisy latents) */
  int taps;           /* 1-D only: taps of the FIR post-filter trained with the decoder (odd, at
                         most WL_MAX_TAPS; it starts as the identity), 0 for none */
  float full;         /* probability that an example keeps all K channels; otherwise (and with 0)
                         the number kept is uniform in 1..K */
  uint64_t seed;      /* every random choice derives from (seed, step): resumable exactly */
  int reserved[8];    /* zero (WL_ERR_ARG otherwise): room for later fields */
} wl_train_params;

enum { WL_LOSS_PSNR = 0, WL_LOSS_MSE = 1 };
enum { WL_QUANT_ROUND = 0, WL_QUANT_NOISE = 1 };
typedef struct wl_trainer wl_trainer;

/* Initialises a trainer on n images (kept by pointer: they must outlive the trainer):
 * PCA for the linear path, seeded random weights for the residual path. */
WL_API int wl_trainer_new(wl_trainer **t, const wl_image *imgs, int n, const wl_train_params *p);
/* The same on n audio clips: a 1-D model (dims 1, J up to WL_MAX_J1, K <= channels * 2^J).
 * Segments are drawn uniformly among all the clips' windows of `crop` frames (a clip shorter
 * than crop is one window, extended by reflection); stereo channels are swapped with
 * probability 1/2; no time reversal, no colour jitter. The loss is p->loss on the [-1/2, 1/2]
 * sample scale (WL_LOSS_PSNR: minus the mean PSNR of the segments, whose gradient is minus
 * their mean SNR's; WL_LOSS_MSE, the CLI's default for audio: their normalised squared error),
 * plus lambda times the estimated bits per frame. */
WL_API int wl_trainer_new_audio(wl_trainer **t, const wl_audio *clips, int n, const wl_train_params *p);
/* Continues from a checkpoint written by wl_trainer_save (same dims and shapes required). */
WL_API int wl_trainer_resume(wl_trainer *t, const uint8_t *buf, size_t len);
/* The settings a checkpoint (or model) records besides its shapes, into p: seed, crop, batch,
 * lr, lambda, jitter, full and steps; the other fields are left. A resumed run continues the
 * recorded one exactly only with these (a caller takes them where its user gave none). */
WL_API int wl_trainer_recorded(const uint8_t *buf, size_t len, wl_train_params *p);
/* One optimisation step on a batch; *psnr: the mean PSNR of its crops (masked channels
 * included, so below the PSNR with all channels); *bpp: their estimated bits per pixel
 * (audio: per frame, all channels). */
WL_API int wl_trainer_step(wl_trainer *t, double *psnr, double *bpp);
/* Steps taken (those of a checkpoint resumed from included); -1 for NULL. */
WL_API long wl_trainer_step_count(const wl_trainer *t);
/* Encodes img (alpha ignored) with the current weights, sending the first `keep` channels,
 * and decodes it: *mse, the mean squared error scaled to [0, 1], and *bpp, the bits per pixel
 * of the .wlc (static tables are flat until wl_trainer_save fits them: the adaptive modes
 * that the encoder chooses almost always do not use them). */
WL_API int wl_trainer_validate(wl_trainer *t, const wl_image *img, int keep, double *mse, double *bpp);
/* The same for a clip and a 1-D trainer: *mse on the [-1/2, 1/2] scale (samples / 2^depth, so
 * -10 log10(mse) is a PSNR of peak-to-peak 1, not eval's SNR), and *kbps of the .wlc
 * (8 * bytes * rate / frames / 1000). */
WL_API int wl_trainer_validate_audio(wl_trainer *t, const wl_audio *a, int keep, double *mse, double *kbps);
/* A malloc'd .wlm of the current weights. checkpoint != 0 adds the optimiser state (for
 * wl_trainer_resume) and uses flat entropy tables; otherwise the static tables are fitted
 * to the training images' or clips' latents (slower). Either loads as a model. */
WL_API int wl_trainer_save(wl_trainer *t, int checkpoint, uint8_t **out, size_t *outlen);
WL_API void wl_trainer_free(wl_trainer *t);

#ifdef __cplusplus
}
#endif
#endif
