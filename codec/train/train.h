/* train.h: the internal header of codec/train/, the training side of the library: backward
 * passes (layers.c, decoder.c, postfilter.c), the rate model (rate.c), model writing
 * (model_write.c) and the trainers (linear.c, train.c), whose API is include/walloc_train.h.
 * Refinement (codec/search/) uses the backward passes too; the coding path uses none of it. */
#ifndef WL_CODEC_TRAIN_H
#define WL_CODEC_TRAIN_H
#include "codec/internal.h"
#include "codec/decoder.h"
#include "codec/layers.h"
#include "codec/postfilter.h"
#include "walloc_train.h"

/* Returns WL_ERR_ARG with a reason (printf arguments) for wl_error_detail() unless cond holds. */
#define WL_NEED(cond, ...) \
  do { if (!(cond)) return WL_FAIL_WHY(WL_ERR_ARG, __VA_ARGS__); } while (0)

/* WL_ERR_ARG unless the n ints of an options struct's reserved space are zero. */
#define WL_NEED_RESERVED(r) \
  for (int wl_i_ = 0; wl_i_ < (int)(sizeof(r) / sizeof(r)[0]); wl_i_++) \
  WL_NEED(!(r)[wl_i_], "reserved[%d] is not zero", wl_i_)

/* ---- layers.c */
/* dx (Ci, P) += W^T (*) dy;  dW (Co, Ci, kh, kw) += dy (*) x;  db (Co) += sum_p dy.
 * scratch: 2 * wl_conv_scratch(...) floats. */
void wl_conv_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                      int Ci, int Co, int kh, int kw, wl_grid g, float *scratch);

/* Backward of SiLU: dx += dy * silu'(x). */
void wl_silu_backward(float *dx, const float *dy, const float *x, long n);

/* Backward of the residual add: da += dy, db += dy. */
void wl_add_backward(float *da, float *db, const float *dy, long n);

/* WaLLoC companding for B-bit latents (bottleneck.c's L and s):
 *   forward  u = 2L (Phi(y/s) - 1/2)
 *   inverse  y = s Phi^-1(clamp(u/(2L) + 1/2, 1e-4, 1 - 1e-4))   (gradient 0 where clamped) */
void wl_compand_forward(float *u, const float *y, long n, int bits);
void wl_compand_backward(float *dy, const float *du, const float *y, long n, int bits);
void wl_uncompand_forward(float *y, const float *u, long n, int bits);
void wl_uncompand_backward(float *du, const float *dy, const float *u, long n, int bits);

/* Quantisation proxy for training: u += U(-1/2, 1/2), from a counter-based generator
 * (seed, index) so the noise does not depend on the thread count. Backward is identity. */
void wl_noise_forward(float *u, long n, uint64_t seed);

/* Uniform float in [0, 1) from (seed, counter): SplitMix64. */
float wl_uniform(uint64_t seed, uint64_t counter);

/* ---- decoder.c */
/* Backward of wl_decoder_run(m, y, g, X, a) with a laid out with keep: dy (K, P) += dX (D, P)
 * times dX/dy (dy NULL: not needed); grad (m->nparams floats, laid out as m->params; NULL: not
 * needed) += the weights' gradients. tmp: wl_decoder_backward_floats(m, g). */
size_t wl_decoder_backward_floats(const wl_model *m, wl_grid g);
int wl_decoder_backward(const wl_model *m, const float *y, wl_grid g, const float *dX, const wl_decoder_acts *a,
                        float *dy, float *grad, float *tmp);

/* ---- postfilter.c: backward of wl_fir_forward, given V from it: dy (n) is replaced by dL/dx,
 * and dL/dh is added to dh (F); work: n floats, T, U: bins each. */
void wl_fir_backward(const wl_fir_plan *p, const fftwf_complex *G, const fftwf_complex *V, float *dy, int F,
                     float *dh, float *work, fftwf_complex *T, fftwf_complex *U);

/* ---- rate.c */
/* Bits of the integer bin [|u| - 1/2, |u| + 1/2] under a zero-mean Laplace density of scale
 * e^ls (the rate term's density, m->rate_scale), and when du, dls are not NULL its derivatives
 * by u and ls. */
double wl_laplace_bits(float u, float ls, float *du, float *dls);

/* ---- model_write.c */
int wl_model_serialize(const wl_model *m, const wl_model_extra *x, uint8_t **out, size_t *outlen);

/* linear.c: WL_ERR_ARG (with the reason, wl_error_detail) unless channels, J, K and bits make
 * a model of dims, WL_ERR_MISMATCH unless each of the n signals s has those channels. */
int wl_check_shape(const wl_signal *s, int n, int channels, int J, int K, int bits, int dims);
/* linear.c: the default latent gain of a model of dims (8 for images, 32 for audio). */
float wl_default_gain(int dims);
/* linear.c: PCA fit of m's linear encoder/decoder (and, when residual is not NULL, its
 * (K + 1) mean squared packet-coefficient errors keeping k = 0..K components, unquantised);
 * static entropy tables from the latents of the signals s (of m's dims). */
int wl_linear_fit(wl_model *m, const wl_signal *s, int n, float gain, int stride, double *residual);
int wl_model_tables(wl_model *m, const wl_signal *s, int n);
/* WL_ERR_ARG when the gain sends more than 1% of the first channel's latents of the signals to
 * the ends of the B-bit range (linear.c). */
int wl_check_gain(const wl_model *m, const wl_signal *s, int n, float gain);

/* train.c, for tests: the trainer's model, and the loss and gradient of the current step's
 * batch without an update (grad: m->nparams floats; rate.log_scale's entries are d bpp/d log
 * scale, every other entry d (lambda bpp + dist) / d param, dist being the distortion term of
 * the loss: minus the mean PSNR, or the weighted MSE of WL_LOSS_MSE in the same dB units). */
wl_model *wl_trainer_model(wl_trainer *t);
int wl_trainer_objective(wl_trainer *t, double *dist, double *bpp, const float **grad);
#endif
