/* internal.h: the model structure and helpers shared by the codec/ sources (not part of the API). */
#ifndef WL_CODEC_INTERNAL_H
#define WL_CODEC_INTERNAL_H
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "walloc.h"
#include "entropy/entropy.h"

/* An error raised here: records the site (and, with a format, why) for wl_error_detail() on
 * this thread, and is the code (zstd's RETURN_ERROR). WL_TRY passes errors up unrecorded, so
 * the record names where one began. */
int wl_fail(int code, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define WL_FAIL(code) wl_fail(code, __FILE__, __LINE__, NULL)
#define WL_FAIL_WHY(code, ...) wl_fail(code, __FILE__, __LINE__, __VA_ARGS__)
/* A NULL pointer argument where walloc.h wants one. */
#define WL_FAIL_NULL() WL_FAIL_WHY(WL_ERR_ARG, "a NULL pointer argument")
/* A code from below the codec (entropy/, wavelet/: they record nothing) passed on, recorded
 * here when it is an error, so that wl_error_site never shows an earlier error's record. */
#define WL_LOWER(code) wl_lower((code), __FILE__, __LINE__)
static inline int wl_lower(int code, const char *file, int line) {
  return code < 0 ? wl_fail(code, file, line, NULL) : code;
}

/* Return `e` from the enclosing function when negative (zstd's FORWARD_IF_ERROR). */
#define WL_TRY(expr) do { int wl_e_ = (expr); if (wl_e_ < 0) return wl_e_; } while (0)

/* A parallel loop's error: that of its lowest failing index, whatever the threads' timing
 * (so the same input always reports the same error). wl_first f = WL_FIRST; ... in the loop
 * wl_first_note(&f, i, e); after it, f.err. */
typedef struct { long at; int err; } wl_first;
#define WL_FIRST {LONG_MAX, 0}
static inline void wl_first_note(wl_first *f, long at, int err) {
  if (!err) return;
#pragma omp critical
  if (at < f->at) {
    f->at = at;
    f->err = err;
  }
}

/* Threads a parallel region may use, and the calling thread's number in it, for per-thread
 * scratch (1 and 0 without OpenMP). WL_ONE_THREAD() inside a region: regions (and training's
 * OpenBLAS calls) started from this task run on its thread alone; the setting ends with the
 * region. */
#ifdef _OPENMP
#include <omp.h>
#define WL_NTHREADS() omp_get_max_threads()
#define WL_TID() omp_get_thread_num()
#define WL_ONE_THREAD() omp_set_num_threads(1)
#else
#define WL_NTHREADS() 1
#define WL_TID() 0
#define WL_ONE_THREAD() ((void)0)
#endif

/* A .wlc's header as the library reads and writes it (container.c): what wl_info says, and each
 * kept channel's entropy mode and stream bytes (audio: of a chunk, or the most chunks' mode and
 * the bytes of every chunk). */
typedef struct {
  int version, modality;
  uint64_t model_id;
  int channels, height, width, depth, has_alpha; /* audio: height 1, width = frames */
  int rate;                        /* audio: samples per second; 0 for images */
  long frames;                     /* audio: frames per channel; 0 for images */
  long chunk, overlap, chunks;     /* audio: chunk length L and overlap O in frames; chunks */
  int J, K, keep, bits;
  int lat_h, lat_w;                /* latent plane size: padded size / 2^J (audio: 1, T/2^J) */
  uint8_t entropy[WL_MAX_K];       /* per kept channel: WL_ENTROPY_* (audio: the most chunks') */
  uint32_t stream_len[WL_MAX_K];   /* per kept channel: bytes (audio: of every chunk) */
  uint32_t alpha_len;              /* bytes of the zstd alpha plane, 0 when absent */
  int step;                        /* the detail layer's step index, 0 for none (detail.h); audio: of a chunk */
  int fast;                        /* encoder only: latents in WL_ENTROPY_BUCKETS (wl_encode_opts.fastread) */
  double zone;                     /* encoder only: a wider dead zone for the detail layer, by this
                                      fraction of its step (a rate target's finest knob; 0: none) */
  int detail_planes;               /* its planes sent */
  uint64_t detail_bytes;           /* its streams' bytes, after the latents' (audio: of a chunk, its
                                      table included) */
  int fill;                        /* audio: a band envelope (envelope.h) follows each chunk's latents */
  int has_detail;                  /* audio: each chunk has a step (0: none) and a detail layer */
  uint8_t env_mode[WL_MAX_CHANNELS];  /* per signal channel: its envelope plane's entropy mode */
  uint32_t env_len[WL_MAX_CHANNELS];  /* and stream bytes, of a chunk */
  uint64_t fill_bytes;             /* audio: every chunk's envelope bytes (wl_header_read) */
  uint64_t audio_detail_bytes;     /* audio: every chunk's detail bytes (wl_header_read) */
  size_t header_len, total_len;    /* total_len includes the CRC32 trailer */
} wl_header;
/* The public view of h. */
void wl_info_of(const wl_header *h, wl_info *info);

struct wl_model {
  wl_model_desc d;
  int D;          /* C * 4^J (1-D: C * 2^J) wavelet coefficients per latent position */
  int N, R;       /* neural kind: residual path width and blocks (0, 0 for linear) */
  int kh, kw;     /* residual convolution kernel: 3x3 for images, 1x3 for audio (d.dims 1) */
  int F;          /* 1-D neural models: post-filter taps (odd), 0 for none (postfilter.h) */
  int Nf, Rf;     /* 2-D neural models: fine stage width and blocks (0, 0 for none; decoder.c) */
  long nparams;   /* floats in params */
  float *params;  /* every float tensor below, contiguous in this order (the trainer's vector) */
  float *enc_w;   /* (K, D) */
  float *enc_b;   /* (K) */
  float *dec_w;   /* (D, K) linear path */
  float *dec_b;   /* (D) */
  float *fill;    /* (K) decoder input for channels not sent (pre-companding units) */
  float *res_in_w;  /* (N, K) residual path: h = res_in_w y + res_in_b */
  float *res_in_b;  /* (N) */
  float *res_w;     /* (2R, N, N, kh, kw) block r: h += conv2(silu(conv1(silu(h)))) */
  float *res_b;     /* (2R, N) */
  float *res_out_w; /* (D, N) X += res_out_w silu(h) */
  float *rate_scale; /* (K) log scale of the per-channel Laplace density of the rate term */
  float *post;      /* (C, F) post-filter taps per signal channel, applied after the packets */
  float *fine_in_w;  /* (Nf, D/4) fine stage on the level J-1 packets Z: g = fine_in_w Z + fine_in_b */
  float *fine_in_b;  /* (Nf) */
  float *fine_w;     /* (2Rf, Nf, Nf, 3, 3) block r: g += conv2(silu(conv1(silu(g)))) */
  float *fine_b;     /* (2Rf, Nf) */
  float *fine_out_w; /* (D/4, Nf) Z += fine_out_w silu(g) */
  uint16_t *freq; /* (K, 2^B) static rANS tables, each summing to 1 << WLE_TABLE_BITS */
  float *dequant; /* (2^B) y for each integer q + 2^(B-1): the inverse companding, tabulated */
  float *thresh;  /* (2^B) quantiser decision thresholds, ascending, +inf padded */
  uint16_t *cell; /* B <= WL_CELL_BITS: per cell of width 1 / cinv from y = cy0, the thresholds
                     below it (wl_quantise_cells); else NULL */
  float cy0, cinv;
  int cells;
  const void **lazy;  /* a built-in model: where its file holds each tensor, in params order, the
                         network's copied at their first use; else NULL */
  atomic_int copied;  /* whether they have been (wl_model_weights) */
};

/* bottleneck.c: WaLLoC companding. u = 2L(Phi(y/s) - 1/2); q = round(u). */
void wl_compand_params(int bits, double *L, double *s);
/* The 2^B - 2 thresholds of B-bit companding, ascending, then 2 of +inf: thresh (2^B). */
void wl_compand_thresholds(int bits, float *thresh);
/* y for a latent q of m, from its table: q clamped to the B-bit range. */
static inline float wl_dequant_q(const wl_model *m, int q) {
  const int half = 1 << (m->d.bits - 1);
  return m->dequant[(q < 1 - half ? 1 - half : q > half - 1 ? half - 1 : q) + half];
}
/* q = -(2^(B-1) - 1) + #{thresholds <= y}; thresh has 2^B - 2 ascending entries, padded to 2^B
 * with +inf. Without a table, a branchless binary search of B steps. With one, y's cell of a
 * uniform grid holds the count of the thresholds below it (less a margin for the rounding of
 * the cell's index) and at most two lie between: two comparisons, the same q. A NaN takes cell 0
 * and no threshold, as in the search; +inf the last q. wl_quantise_cells (bottleneck.c) makes
 * m->cell. Inline: the encoder quantises every latent. */
static inline int16_t wl_quantise(const wl_model *m, float y) {
  const int bits = m->d.bits, half = 1 << (bits - 1);
  const float *thresh = m->thresh;
  int lo = 0;
  if (m->cell) {
    float f = (y - m->cy0) * m->cinv;
    f = f > 0 ? f : 0;
    f = f < (float)(m->cells - 1) ? f : (float)(m->cells - 1);
    lo = m->cell[(int)f];
    lo += (thresh[lo] <= y) + (thresh[lo + 1] <= y);
  } else {
    for (int step = half; step; step >>= 1)
      if (thresh[lo + step - 1] <= y) lo += step;
  }
  lo = lo < 2 * half - 2 ? lo : 2 * half - 2; /* +inf passes the padding too */
  return (int16_t)(lo - (half - 1));
}

int wl_quantise_cells(wl_model *m);
/* q[j] = wl_quantise(m, y[j] + b), j < n (8 at a time with AVX2 and a cell table). */
void wl_quantise_row(const wl_model *m, const float *y, float b, long n, int16_t *q);
/* masks.c: channel masks of latents q (keep, H, W), chosen by rate-distortion per unit (audio: a
 * segment of positions, images: a tile), masked latents set to their channel's fill integer. */
typedef struct {
  int keep, H, W, uh, uw, tw; /* the planes; a unit's rows and columns; units a row */
  long units;
  double *D, *R;              /* (keep, units): a channel's squared error and bits saved if masked */
  int16_t *fill;              /* (keep): the fill's integer */
  double d2;                  /* lambda's unit: the companded step at channel 0's fill, squared */
} wl_masks;
/* The costs of q's units: audio (image 0) segments with the model's fill, images tiles with each
 * channel's commonest integer. 0 or WL_ERR_NOMEM. */
int wl_masks_init(wl_masks *k, const wl_model *m, const int16_t *q, int keep, int H, int W, int image);
/* Masks q (NULL: none) at lambda (units of k->d2), each unit's channel count in kept[units]
 * (NULL: not kept); returns the sum of the masked D. */
double wl_masks_apply(const wl_masks *k, double lambda, int16_t *q, int *kept);
void wl_masks_free(wl_masks *k);
/* lambda of image mask level 1 .. WL_MAX_MASKS: 2^((level - WL_MASKS_MID) / 4). */
#define WL_MASKS_MID 16
double wl_masks_lambda(int level);
/* An audio chunk's latents (keep, P) masked per segment, or an image's (keep, H, W) per tile at
 * level. 0 or WL_ERR_NOMEM. */
int wl_mask_segments(const wl_model *m, int16_t *q, int keep, long P);
int wl_mask_tiles(const wl_model *m, int16_t *q, int keep, int H, int W, int level);
#define WL_CELL_BITS 12
double wl_dequantise_one(int q, double L, double s);
double wl_probit(double p); /* Phi^-1(p), p in (0, 1), to about double precision */

/* model.c */
/* Allocates the tensors for m->d, m->N, m->R, m->F (kind "neural" when N > 0); d.dims 0 means 2. */
int wl_model_alloc(wl_model *m);

/* signal.c: the one view of a signal that the pipeline (packets, encoder, training) takes.
 * Images are dims 2, (C, H, W), unsigned samples 0 .. 2^depth - 1, x = v / (2^depth - 1) - 1/2;
 * audio is dims 1, (C, 1, T), signed samples -2^(depth-1) .. 2^(depth-1) - 1, x = v / 2^depth.
 * Padding by symmetric reflection to a multiple of 2^J along each transformed axis (W only in
 * 1-D: Hp = H = 1); the latent grid is (Hp / 2^J, Wp / 2^J), or (1, Wp / 2^J) in 1-D. */
typedef struct {
  int dims, channels, height, width, depth;
  const float *planes; /* (C, H, W), channels cstride floats apart (0: H W, contiguous) */
  long cstride;
} wl_signal;
int wl_image_check(const wl_image *img);       /* an image held whole: planes, shape, WL_MAX_PIXELS */
int wl_image_shape_check(const wl_image *img); /* channels, depth and WL_MAX_DIM (an image by rows) */
int wl_image_whole_check(int height, int width); /* WL_ERR_LIMIT over WL_MAX_PIXELS, saying so */
int wl_audio_check(const wl_audio *a);
wl_signal wl_image_signal(const wl_image *img);
wl_signal wl_audio_signal(const wl_audio *a);
/* Checked views of n images or clips (*s malloc'd, caller frees). */
int wl_image_signals(const wl_image *imgs, int n, wl_signal **s);
int wl_audio_signals(const wl_audio *clips, int n, wl_signal **s);
int wl_pad_size(int n, int J);
/* floor(a / b) for b > 0, a of either sign. */
static inline int64_t wl_floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
/* Index i of the symmetric-periodic extension of 0..n-1 (period 2n, x[-1] = x[0]). */
static inline long wl_mirror(long i, long n) {
  i %= 2 * n;
  if (i < 0) i += 2 * n;
  return i < n ? i : 2 * n - 1 - i;
}
/* rows rows of n floats: src's ss apart to dst's ds apart (one example's columns of a batch). */
static inline void wl_copy_rows(float *dst, long ds, const float *src, long ss, int rows, long n) {
  for (int r = 0; r < rows; r++) memcpy(dst + r * ds, src + r * ss, sizeof(float) * (size_t)n);
}
/* x = v * scale + offset of s's samples: scale 1 / (2^depth - 1) for images, 2^-depth for audio;
 * offset -1/2 for images, 0 for audio. */
float wl_sample_scale(const wl_signal *s);
float wl_sample_offset(const wl_signal *s);
/* The largest sample value, as a float that converts to the depth's integer type (signal.c). */
float wl_sample_hi(const wl_signal *s);
void wl_signal_padded(const wl_signal *s, int J, int *Hp, int *Wp);
void wl_latent_shape(const wl_signal *s, int J, int *h, int *w);
long wl_latent_count(const wl_signal *s, int J); /* latent positions h*w of s at J levels */
/* x (C, Hp, Wp) from s: scaled, reflect-padded. */
void wl_signal_scale(const wl_signal *s, int Hp, int Wp, float *x);
/* out (C, H, W) from x (C, Hp, Wp) for the shape of s (its planes unused): crop, rescale,
 * clamp to the sample range and round. */
void wl_signal_unscale(const float *x, int Hp, int Wp, const wl_signal *s, float *out);
/* The squared error of wl_signal_unscale's output from x against s's planes, without writing it:
 * a sum of squared integers, exact (below 2^53) in any order, so on any number of threads. */
double wl_signal_error(const float *x, int Hp, int Wp, const wl_signal *s);

/* work.c: buffers that the analysis of many signals reuses (the chunks of an audio stream, a
 * training set): fresh memory costs a page fault per 4 KiB, and chunks are tens of MB. Start
 * zeroed; buffers grow on demand; wl_work_free releases them. */
typedef struct {
  float *x, *scratch; /* the padded, scaled signal and then its packets; the transform's scratch */
  float *inplace;     /* not NULL: the signal's planes, writable, to transform instead of x: images
                         (wl_encode_inplace) when no padding is needed; 1-D signals (the audio
                         encoder's window) always, padded in place (rows s->cstride apart, room
                         for the padding), the packets then packed end to end there; not freed here */
  float *y, *net;     /* analysis: each thread's block of the projection and packed panel
                         (wl_latents_of); synthesis: the dequantised latents; the decoder
                         network's activations */
  size_t xcap, scap, ycap, ncap; /* their sizes in floats */
} wl_work;
void wl_work_free(wl_work *w);
/* malloc for signal-sized buffers (alloc.c): in huge pages where 4 KiB page faults are slow. */
void *wl_malloc_big(size_t bytes);
/* Makes *buf (from malloc) hold at least n floats, *cap of them, keeping none of its
 * contents. */
int wl_grow(float **buf, size_t *cap, size_t n);
/* Sizes w for signals up to the shape of s (1-D: the transform's scratch too). */
int wl_work_reserve(wl_work *w, const wl_signal *s, int J);
/* analysis.c: X (C*4^J, Hp/2^J, Wp/2^J) (1-D: (C*2^J, 1, Wp/2^J)): the packets of a padded,
 * scaled signal, in w->x; and the first `keep` latent planes q (keep, h, w) of a signal (w NULL:
 * buffers of its own). */
int wl_packets(const wl_signal *s, int J, wl_work *w, float **X);
int wl_analyse(const wl_model *m, const wl_signal *s, int keep, int16_t *q, wl_work *w);
/* encode.c: an image's alpha plane zstd-compressed as u8 or u16 little-endian samples (malloc'd),
 * whole (wl_pack_alpha) or as its rows come (begin, put in order, end: wl_alpha_end frees a;
 * wl_alpha_free on an error): the same bytes either way, whatever the rows' sizes. */
typedef struct {
  void *z; /* ZSTD_CCtx */
  uint8_t *stage, *out;
  size_t staged, len, cap;
  int bps;
} wl_alpha;
int wl_alpha_begin(wl_alpha *a, size_t n, int depth);
int wl_alpha_put(wl_alpha *a, const float *alpha, size_t n);
int wl_alpha_end(wl_alpha *a, uint8_t **out, size_t *len);
void wl_alpha_free(wl_alpha *a);
int wl_pack_alpha(const wl_image *img, uint8_t **out, size_t *len);
/* analysis_rows.c: wl_analyse of an image read a block of rows at a time from get (shape s,
 * planes unused; header h), in stripes of `chunk` latent positions (0: 8192); with alpha, get
 * gives each block's alpha rows after its planes, and they go to alpha in order. */
int wl_analyse_rows(const wl_model *m, const wl_header *h, const wl_signal *s, wl_rows_in get, void *user, long chunk,
                    wl_alpha *alpha, int16_t *q);
/* The second half of wl_analyse: q (keep, P) from packets X (D, P); w (or NULL) keeps the
 * encoder's outputs. */
int wl_latents_of(const wl_model *m, const float *X, int keep, long P, int16_t *q, wl_work *w);
/* A header for coding s with m: the shared fields, lat_h and lat_w (WL_ERR_MISMATCH when the
 * model takes other signals, WL_ERR_ARG for a bad keep or nonzero reserved options). */
int wl_header_init(const wl_model *m, const wl_signal *s, int modality, const wl_encode_opts *o, wl_header *h);
/* The entropy coders' scratch (wle_scratch) kept from call to call: one for each thread of a
 * parallel region, n of them (a thread past n, or every thread where the wl_coders is NULL,
 * codes in one of its own for the call). */
typedef struct {
  wle_scratch *s;
  int n;
} wl_coders;
/* n = the threads a region may use now; WL_ERR_NOMEM. */
int wl_coders_init(wl_coders *c);
void wl_coders_free(wl_coders *c);
/* Inside a region: this thread's scratch in c, or own. */
wle_scratch *wl_coders_mine(wl_coders *c, wle_scratch *own);
/* Codes each of h->keep latent planes q (keep, lat_h, lat_w) with its cheapest entropy mode,
 * channels in parallel, into buf + c * bound, in the scratch of c (or NULL); sets h->entropy
 * and h->stream_len. */
int wl_code_channels(const wl_model *m, const int16_t *q, wl_header *h, uint8_t *buf, size_t bound, wl_coders *c);
/* synthesis.c: WL_ERR_MISMATCH when h was made with another model, WL_ERR_CORRUPT when its
 * shapes differ. */
int wl_header_check_model(const wl_model *m, const wl_header *h);
/* Decodes the keep streams that start at p (lengths and modes in h) into q (keep, lat_h, lat_w). */
int wl_decode_streams(const wl_model *m, const wl_header *h, const uint8_t *p, int16_t *q);
/* A decoder's segments of latent positions (audio_decode.c: SEGMENT; tests: fewer, or 0 to
 * decode every chunk whole, the reference). */
void wl_audio_decoder_segment(wl_audio_decoder *d, long positions);
/* y (K, n): the dequantised latents of positions [p0, p0 + n) of q (keep, P), the fill beyond
 * keep (wl_dequantise's values for them). */
void wl_dequantise_part(const wl_model *m, const int16_t *q, long P, int keep, long p0, long n, float *y);
/* Synthesis of one block: latents q (keep, lat_h, lat_w) and, for an image with a detail layer,
 * its planes (detail.h; NULL: none) -> planes out (C, height, width) of h's shape (an image, or
 * one chunk of an audio stream: height 1, width its frames); out NULL (w given): the planes in
 * w->x instead, in place of the padded signal. w NULL: buffers of its own;
 * wl_work_reserve_synthesis (work.c) sizes w for chunks up to h's shape. */
int wl_synthesise(const wl_model *m, const wl_header *h, const int16_t *q, const int16_t *detail, float *out,
                  wl_work *w);
/* An image's reconstruction from q alone, as J-level packets Xh (D, lat_h, lat_w) in w->x: what
 * the detail layer is added to; and, unless `alone` is NULL (images only), in alone (D lat_h lat_w
 * floats) the padded, scaled signal (C, Hp, Wp) of q alone, from which wl_synthesise's
 * wl_signal_unscale makes the samples. */
int wl_synthesis_packets(const wl_model *m, const wl_header *h, const int16_t *q, wl_work *w, float **Xh,
                         float *alone);
/* Whether h's detail layer refines the decoder network's packets split to level J (images, but
 * for version 3 files: the packets of the decoded samples; synthesis.c). */
int wl_detail_split(const wl_header *h);
int wl_work_reserve_synthesis(wl_work *w, const wl_model *m, const wl_header *h);
/* decode.c: reads an image's header into h, checks that m made it, and decodes its keep latent
 * planes into *q (malloc'd). */
int wl_image_latents(const wl_model *m, const uint8_t *buf, size_t len, wl_header *h, int16_t **q);
/* audio_decode.c: wl_latents of an audio stream (h: its peeked header, completed). */
int wl_audio_latents(const wl_model *m, const uint8_t *buf, size_t len, int16_t **q, wl_header *h);

/* model.c: .wlm byte strings with extra metadata pairs and extra F32 vectors of m->nparams
 * floats (training checkpoints keep the optimiser state this way). Serialising
 * (train/model_write.c) reads key, value, vname and vdata; parsing fills value[i] (buffers of
 * WL_META_MAX bytes, "" when absent) and vdata[i] (WL_ERR_MODEL when a vector is absent or
 * has the wrong size). */
#define WL_META_MAX 1024
typedef struct {
  int nmeta;
  const char *const *key;
  char *const *value;
  int nvec;
  const char *const *vname;
  float *const *vdata;
} wl_model_extra;
int wl_model_parse(wl_model **model, const uint8_t *buf, size_t len, const wl_model_extra *x);
/* The same for a built-in model's file, whose id is known (not hashed again; 0: hash it). Such a
 * file lasts as long as the program, and (x NULL) only the encoder's and the linear path's
 * tensors are copied now, the network's at their first use (wl_model_weights): a plain encode
 * reads none of them, and copying rgb's 1.3 MB cost a fifth of its page faults on a guest whose
 * first touch of a page is slow (codec/alloc.c). */
int wl_model_parse_known(wl_model **model, const uint8_t *buf, size_t len, const wl_model_extra *x, uint64_t id);
/* Makes a model's network tensors ready (above); every reader of them but the trainer's, which
 * parses its own, calls it first. Cannot fail: their shapes were checked at parse. */
void wl_model_weights(const wl_model *m);
/* The float tensors of a model (its network's made ready: wl_model_weights): name, storage and
 * shape, in params order (at most WL_MAX_TENSORS: 13, and 8 for each of up to 8 residual
 * blocks); returns their count. */
#define WL_MAX_TENSORS 77
typedef struct { char name[40]; float *data; int ndim; uint64_t shape[4]; } wl_tensor_ref;
int wl_model_tensors(const wl_model *m, wl_tensor_ref *t);

/* crc32.c */
uint32_t wl_crc32(uint32_t crc, const void *buf, size_t len);

/* Little-endian field access. */
static inline void wl_put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void wl_put32(uint8_t *p, uint32_t v) { wl_put16(p, v); wl_put16(p + 2, v >> 16); }
static inline void wl_put64(uint8_t *p, uint64_t v) { wl_put32(p, (uint32_t)v); wl_put32(p + 4, (uint32_t)(v >> 32)); }
static inline uint32_t wl_get16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t wl_get32(const uint8_t *p) { return wl_get16(p) | wl_get16(p + 2) << 16; }
static inline uint64_t wl_get64(const uint8_t *p) { return wl_get32(p) | (uint64_t)wl_get32(p + 4) << 32; }
#endif
