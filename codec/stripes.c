/* stripes.c: an image's synthesis in stripes of rows (wl_decode_rows), its memory bounded by the
 * width rather than the area, and its output bit for bit that of the whole image.
 *
 * Every tensor of the decoder (decoder.c) is a stage: the dequantised latents, each residual
 * block's SiLU and two convolutions, the network's output packets, the fine stage's, the image, and
 * with a detail layer the image's packets plus the detail, and the image again. A stage computes
 * any band of its rows [a, b) from bands of its inputs: a 3x3 convolution, by Winograd's algorithm
 * (wl_wino_conv) as the whole image's, from its input's rows [a-1, b+1) (zero beyond the image, as
 * the whole network pads), a and b on rows of its 4-row tiles; a 1x1 one widened to the SGEMM
 * blocks of 512 positions the whole image's runs (wl_conv_window); an inverse packet transform of L
 * levels from its input's rows [a/2^L - M, b/2^L + M), taken periodically; a forward one likewise.
 * Each output is the same operations on the same values as the whole image's (the lifting is
 * elementwise; a band of the periodic transform differs from the whole only within M rows of its
 * ends, which are dropped; the convolutions run the same SGEMM columns, and Winograd's tiles have
 * the same bits in any band), so the stripes give the whole image's bits whatever their height
 * (tested).
 *
 * Rows are numbered on a line that runs through the image again and again: row v is the image's row
 * v mod H, in lap floor(v / H). A periodic transform's band then reads rows v .. v' of its input
 * however they wrap: the image's first stripe reads the last rows of lap -1, computed first, and
 * its last stripe the first rows of lap 1, computed again (a convolution never reads across laps:
 * beyond the image it reads zeros). A stage keeps a window of its samples, from the lowest row a
 * reader may still ask for up to the last position it computed, starting where its first reader
 * first asks. It computes a piece at a time (a layer about CHUNK positions, whole blocks or tile
 * rows; a transform TRANSFORM_POSITIONS of whole rows), and each piece reads its inputs' rows as it
 * needs them, so that no window holds more than a few pieces and the rows its readers lag behind,
 * however deep the network. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/decoder.h"
#include "codec/detail.h"
#include "codec/stripes.h"
#include "wavelet/wpt.h"

#define MAX_STAGES 48
#define MAX_READERS 2
#define CHUNK (16 * WL_CONV_BLOCK) /* a layer's positions per computation, at most */
#define TRANSFORM_POSITIONS 16384L /* a transform's, in whole rows */
/* Images of at most this many latent positions (4 Mpixel at J = 3) are synthesised whole
 * (wl_synthesise), which is faster there and holds a few of the network's tensors: stripes of an
 * image compute its last rows twice (the periodic transforms read them for the first rows) and
 * its first rows twice (for the last), and each layer down adds its kernel's row and up to a
 * block of 512 positions to what it needs. */
#define WHOLE 65536L

typedef struct stage stage;
typedef struct pipe pipe;
/* positions [pa, pb) of lap `lap` of the stage into out: channel c at out + c * cs (a transform:
 * whole rows) */
typedef int compute_fn(stage *s, int lap, long pa, long pb, float *out, long cs);

struct stage {
  compute_fn *compute;
  pipe *p;
  int C, H, w;      /* channels, rows, row length */
  stage *in, *in2;  /* inputs: the one read with a margin; a second term, or the residual added */
  const float *W, *W2, *bias;
  float *U;         /* a 3x3 convolution's kernels for Winograd's algorithm, made once */
  int kh, kw, L;    /* a convolution's kernel; a transform's levels */
  int silu, silu2;  /* a sum's terms through SiLU (a convolution's input always is) */
  float *buf;       /* the window: positions [base, hi) of the line, channel c's at buf + c * cap */
  long cap, base, hi;
  int started;      /* the window has begun (where its first reader first asked) */
  int rows;         /* computes whole rows (a transform) */
  long unit;        /* a layer's pieces start and end on multiples of it: its SGEMM blocks, or a
                       3x3 convolution's rows of Winograd tiles (no tile computed twice) */
  int nrd;          /* readers, and the lowest row of the line each may still ask for */
  const stage *rdr[MAX_READERS];
  int rd[MAX_READERS];
  float *tmp, *tmp2; /* a transform's gathered input, an inverse's scratch */
  size_t tcap, tcap2;
};

struct pipe {
  const wl_model *m;
  const wl_header *h;
  const int16_t *q, *v;
  float *scratch, *act; /* the convolutions' scratch; a SiLU'd input (silu_into) */
  size_t scap, acap;
  stage st[MAX_STAGES];
  int n;
};

static void copy_rows(float *dst, long dcs, const float *src, long scs, int C, long n) {
  for (int c = 0; c < C; c++) memcpy(dst + c * dcs, src + c * scs, sizeof(float) * n);
}

static long minl(long a, long b) { return a < b ? a : b; }
static long maxl(long a, long b) { return a > b ? a : b; }
static long roundup(long a, long m) { return (a + m - 1) / m * m; }
static long floordiv(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Makes the window hold positions [keep, end) with keep = the first row a reader may still ask
 * for: slides what it keeps to the start, or moves it to a larger buffer. */
static int room(stage *s, long end) {
  long keep = floordiv(s->hi, s->w) * s->w;
  for (int i = 0; i < s->nrd; i++) keep = minl(keep, (long)s->rd[i] * s->w);
  keep = maxl(keep, s->base);
  const long kept = s->hi - keep;
  if (end - s->base <= s->cap) return 0;
  if (end - keep <= s->cap) {
    for (int c = 0; c < s->C; c++) memmove(s->buf + c * s->cap, s->buf + c * s->cap + (keep - s->base), sizeof(float) * kept);
  } else {
    const long cap = (end - keep) * 3 / 2; /* room to slide into: fewer moves */
    float *buf = wl_malloc_big(sizeof(float) * (size_t)s->C * cap);
    if (!buf) return WL_FAIL(WL_ERR_NOMEM);
    if (s->buf) copy_rows(buf, cap, s->buf + (keep - s->base), s->cap, s->C, kept);
    free(s->buf);
    s->buf = buf, s->cap = cap;
  }
  s->base = keep;
  return 0;
}

/* Computes up to position end of the line at least, into the window, a piece at a time (within
 * one lap): a layer's whole blocks, CHUNK positions at most; a transform's TRANSFORM_POSITIONS
 * of whole rows exactly. */
static int extend(stage *s, long end) {
  const long P = (long)s->H * s->w;
  while (s->hi < end) {
    const int lap = (int)floordiv(s->hi, P);
    const long o = (long)lap * P, pa = s->hi - o;
    const long pb = s->rows ? minl(P, roundup(pa + TRANSFORM_POSITIONS, s->w))
                            : minl(P, minl(roundup(end - o, s->unit), pa + roundup(CHUNK, s->unit)));
    WL_TRY(room(s, o + pb));
    WL_TRY(s->compute(s, lap, pa, pb, s->buf + (s->hi - s->base), s->cap));
    s->hi = o + pb;
  }
  return 0;
}

/* Rows [a, b) of the line of s for its reader r: in *v (r0 the image's row), valid until r
 * reads again. A reader asks for rows in order: below a, s may drop them. The first request
 * starts the window (at the block that holds row a, for a layer). */
static int view(stage *s, const stage *r, long a, long b, wl_window *v) {
  const long P = (long)s->H * s->w;
  if (!s->started) {
    const long o = floordiv(a * s->w, P) * P;
    s->base = s->hi = s->rows ? a * s->w : o + (a * s->w - o) / s->unit * s->unit;
    s->started = 1;
  }
  for (int i = 0; i < s->nrd; i++)
    if (s->rdr[i] == r) s->rd[i] = (int)a;
  if (a * s->w < s->base) return WL_FAIL(WL_ERR_ARG); /* a reader went back: a bug */
  WL_TRY(extend(s, b * s->w));
  *v = (wl_window){s->buf + (a * s->w - s->base), (int)(a - floordiv(a, s->H) * s->H), (int)(b - a), s->cap};
  return 0;
}

/* The dequantised latents: as wl_dequantise, channels not sent at the model's fill. */
static int latents(stage *s, int lap, long pa, long pb, float *out, long cs) {
  (void)lap;
  const wl_model *m = s->p->m;
  const wl_header *h = s->p->h;
  const long P = (long)h->lat_h * h->lat_w;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s->C; c++)
    for (long i = 0; i < pb - pa; i++) out[c * cs + i] = c < h->keep ? wl_dequant_q(m, s->p->q[c * P + pa + i]) : m->fill[c];
  return 0;
}

/* SiLU of positions [lo, hi) of v's rows (of stage in; the image's positions) into *buf, v then
 * pointing there, the rest of its rows unset (a stage reads one input through SiLU, after reading
 * those that may compute: p->act is shared). */
static int silu_into(float **buf, size_t *cap, const stage *in, long lo, long hi, wl_window *v) {
  const long n = (long)v->rows * in->w, o = (long)v->r0 * in->w;
  const float *x = v->x;
  const long xcs = v->cs;
  lo = maxl(lo, o) - o, hi = minl(hi, o + n) - o;
  WL_TRY(wl_grow(buf, cap, (size_t)in->C * n));
  float *y = *buf;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < in->C; c++)
    wl_silu_span(y + c * n + lo, x + c * xcs + lo, hi - lo);
  v->x = y, v->cs = n;
  return 0;
}

/* The rows of in that positions [pa, pb) of lap `lap` of s read through a kernel of kh x kw, in
 * *v (through SiLU into buf when act: only the positions the kernel reaches; a 3x3 kernel's
 * Winograd tiles reach the whole rows). */
static int input(stage *s, stage *in, int lap, long pa, long pb, int kh, int kw, int act, float **buf, size_t *cap,
                 wl_window *v) {
  const long o = (long)lap * in->H, reach = (long)(kh / 2) * in->w + kw / 2;
  int r0, r1;
  wl_conv_window_rows((wl_grid){1, in->H, in->w}, pa, pb - pa, kh, &r0, &r1);
  WL_TRY(view(in, s, o + r0, o + r1, v));
  const long lo = kh == 3 ? (long)r0 * in->w : pa - reach, hi = kh == 3 ? (long)r1 * in->w : pb + reach;
  return act ? silu_into(buf, cap, in, lo, hi, v) : 0;
}

/* out += the rows of in (s's size) at positions [pa, pb) of lap `lap`, or out = them (set) */
static int add_rows(stage *s, stage *in, int lap, long pa, long pb, float *out, long cs, int set) {
  wl_window r;
  const long n = pb - pa, o = (long)lap * s->H;
  WL_TRY(view(in, s, o + pa / s->w, o + (pb + s->w - 1) / s->w, &r));
  const float *x = r.x + (pa - (long)r.r0 * s->w);
  const long xcs = r.cs;
#pragma omp parallel for schedule(static) /* one parallel step for every channel */
  for (int c = 0; c < s->C; c++) {
    if (set) memcpy(out + c * cs, x + c * xcs, sizeof(float) * n);
    else
      for (long i = 0; i < n; i++) out[c * cs + i] += x[c * xcs + i]; /* wl_add_forward */
  }
  return 0;
}

/* out = (in2's samples, or the bias) + W in [+ W2 in2 when in2 is a second term, bias set]. The
 * inputs that read further (and may move the others' windows) first. */
static int sum(stage *s, int lap, long pa, long pb, float *out, long cs) {
  const wl_grid g = {1, s->H, s->w};
  const int two = s->bias && s->in2;
  wl_window x, x2;
  WL_TRY(two ? input(s, s->in2, lap, pa, pb, 1, 1, s->silu2, &s->p->act, &s->p->acap, &x2) : 0);
  WL_TRY(input(s, s->in, lap, pa, pb, 1, 1, s->silu, &s->p->act, &s->p->acap, &x));
  if (s->bias) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < s->C; o++)
      for (long i = 0; i < pb - pa; i++) out[o * cs + i] = s->bias[o];
  } else {
    WL_TRY(add_rows(s, s->in2, lap, pa, pb, out, cs, 1));
  }
  wl_matmul_add_window(out, cs, pa, pb - pa, &x, s->W, s->C, s->in->C, g);
  if (two) wl_matmul_add_window(out, cs, pa, pb - pa, &x2, s->W2, s->C, s->in2->C, g);
  return 0;
}

/* out = bias + conv(silu(in)) [+ in2: a residual block's output] */
static int conv(stage *s, int lap, long pa, long pb, float *out, long cs) {
  const wl_grid g = {1, s->H, s->w};
  const int Ci = s->in->C;
  const int wino = wl_wino_kernel(s->kh, s->kw);
  wl_window x;
  WL_TRY(input(s, s->in, lap, pa, pb, s->kh, s->kw, 1, &s->p->act, &s->p->acap, &x));
  if (!wino) {
    WL_TRY(wl_grow(&s->p->scratch, &s->p->scap, (size_t)wl_conv_window_scratch(Ci, s->kh, s->kw)));
    wl_conv_window(out, cs, pa, pb - pa, &x, s->W, s->bias, Ci, s->C, s->kh, s->kw, g, s->p->scratch);
  } else {
    WL_TRY(wl_grow(&s->p->scratch, &s->p->scap, (size_t)wl_wino_scratch(Ci, s->C)));
    if (!s->U) { /* the kernels transformed once, for every piece */
      if (!(s->U = malloc(sizeof(float) * WL_WINO_XI * (size_t)s->C * (size_t)Ci))) return WL_FAIL(WL_ERR_NOMEM);
      wl_wino_weights(s->U, s->W, Ci, s->C);
    }
    wl_wino_conv(out, cs, pa, pb - pa, &(wl_wino_src){x.x, x.cs, x.r0, 0}, NULL, s->U, s->bias, NULL, NULL, Ci, s->C, g,
                 s->p->scratch);
  }
  return s->in2 ? add_rows(s, s->in2, lap, pa, pb, out, cs, 0) : 0;
}

/* Rows [a, b) of the line of s (any a < b within reach) copied into dst (channel stride cs). */
static int gather(stage *s, const stage *r, long a, long b, float *dst, long cs) {
  wl_window v;
  WL_TRY(view(s, r, a, b, &v));
  copy_rows(dst, cs, v.x, v.cs, s->C, (b - a) * s->w);
  return 0;
}

/* The inverse packet transform of L levels: rows [a, b) from the input's [a/2^L - M, b/2^L + M). */
static int inverse(stage *s, int lap, long pa, long pb, float *out, long cs) {
  stage *in = s->in;
  const int a = (int)(pa / s->w), b = (int)(pb / s->w), M = wl_stripe_margin(s->L);
  const int ia = (a >> s->L) - M, ib = ((b + (1 << s->L) - 1) >> s->L) + M, n = ib - ia;
  const long nin = (long)n * in->w, rows = (long)(b - a) * s->w, skip = (long)(a - ia * (1 << s->L)) * s->w;
  WL_TRY(wl_grow(&s->tmp, &s->tcap, (size_t)in->C * nin));
  WL_TRY(gather(in, s, (long)lap * in->H + ia, (long)lap * in->H + ib, s->tmp, nin));
  WL_TRY(wl_grow(&s->tmp2, &s->tcap2, wl_wpt_scratch_floats(s->C, n << s->L, s->w)));
  WL_TRY(wl_wpt2_inverse_with(s->tmp, s->C, n << s->L, s->w, s->L, s->tmp, s->tmp2, s->tcap2));
  copy_rows(out, cs, s->tmp + skip, nin << (2 * s->L), s->C, rows);
  return 0;
}

/* The forward packet transform of the reconstruction plus the detail layer: rows [a, b) of the
 * packets (D, lat_h, lat_w) from the image's rows [(a - M) 2^J, (b + M) 2^J). */
static int forward(stage *s, int lap, long pa, long pb, float *out, long cs) {
  stage *in = s->in;
  const int a = (int)(pa / s->w), b = (int)(pb / s->w), J = s->L, M = wl_stripe_margin(J), ia = a - M, ib = b + M, n = ib - ia;
  const long nin = ((long)n << J) * in->w, rows = (long)(b - a) * s->w;
  WL_TRY(wl_grow(&s->tmp, &s->tcap, (size_t)in->C * nin));
  WL_TRY(gather(in, s, (long)lap * in->H + ia * (1 << J), (long)lap * in->H + ib * (1 << J), s->tmp, nin));
  if (J) WL_TRY(wl_wpt2_forward(s->tmp, in->C, n << J, in->w, J, s->tmp)); /* J 0: the packets as they are */
  copy_rows(out, cs, s->tmp + (long)M * s->w, (long)n * s->w, s->C, rows);
  wl_detail_add_part(s->p->h, s->p->v, pa, rows, out, cs);
  return 0;
}

static stage *add(pipe *p, compute_fn *f, int C, int H, int w, stage *in) {
  stage *s = &p->st[p->n++];
  *s = (stage){.compute = f, .p = p, .C = C, .H = H, .w = w, .in = in, .unit = WL_CONV_BLOCK};
  return s;
}

static stage *dense(pipe *p, int C, stage *in, const float *W, const float *bias) {
  stage *s = add(p, sum, C, in->H, in->w, in);
  s->W = W, s->bias = bias;
  return s;
}

/* A residual net's blocks from h_0: h_{r+1} = h_r + conv2(silu(conv1(silu(h_r)))). */
static stage *blocks(pipe *p, stage *h, int R, const float *w, const float *b, int kh, int kw) {
  const long N = h->C, per = N * N * kh * kw;
  for (int r = 0; r < R; r++) {
    stage *c1 = add(p, conv, (int)N, h->H, h->w, h);
    c1->W = w + 2 * r * per, c1->bias = b + 2 * r * N, c1->kh = kh, c1->kw = kw;
    stage *c2 = add(p, conv, (int)N, h->H, h->w, c1);
    c2->W = c1->W + per, c2->bias = c1->bias + N, c2->kh = kh, c2->kw = kw, c2->in2 = h;
    if (wl_wino_kernel(kh, kw)) c1->unit = c2->unit = (long)WL_WINO_ROWS * h->w;
    h = c2;
  }
  return h;
}

static stage *transform(pipe *p, compute_fn *f, int C, int L, stage *in) {
  const int up = f == inverse;
  stage *s = add(p, f, C, up ? in->H << L : in->H >> L, up ? in->w << L : in->w >> L, in);
  s->L = L, s->rows = 1;
  return s;
}

static stage *build(pipe *p) {
  const wl_model *m = p->m;
  const wl_header *h = p->h;
  wl_model_weights(m);
  stage *y = add(p, latents, m->d.K, h->lat_h, h->lat_w, NULL), *top = dense(p, m->D, y, m->dec_w, m->dec_b);
  if (m->N) {
    top->in2 = blocks(p, dense(p, m->N, y, m->res_in_w, m->res_in_b), m->R, m->res_w, m->res_b, m->kh, m->kw);
    top->W2 = m->res_out_w, top->silu2 = 1;
  }
  if (m->Nf) {
    stage *z = transform(p, inverse, m->D / 4, 1, top);
    stage *g = blocks(p, dense(p, m->Nf, z, m->fine_in_w, m->fine_in_b), m->Rf, m->fine_w, m->fine_b, 3, 3);
    top = dense(p, m->D / 4, g, m->fine_out_w, NULL);
    top->in2 = z, top->silu = 1;
  }
  const int L = wl_decoder_levels(m);
  stage *img;
  if (!p->v) img = transform(p, inverse, h->channels, L, top);
  else if (wl_detail_split(h)) img = transform(p, inverse, h->channels, h->J, transform(p, forward, m->D, h->J - L, top));
  else img = transform(p, inverse, h->channels, h->J, transform(p, forward, m->D, h->J, transform(p, inverse, h->channels, L, top)));
  for (int i = 0; i < p->n; i++) {
    stage *s = &p->st[i];
    for (int t = 0; t < 2; t++) {
      stage *in = t ? s->in2 : s->in;
      if (in) in->rd[in->nrd] = INT_MIN, in->rdr[in->nrd++] = s; /* not read yet: keeps all */
    }
  }
  return img;
}

static void release(pipe *p) {
  for (int i = 0; i < p->n; i++) {
    free(p->st[i].buf);
    free(p->st[i].U);
    free(p->st[i].tmp);
    free(p->st[i].tmp2);
  }
  free(p->scratch);
  free(p->act);
}

static int whole(const wl_header *h) { return (long)h->lat_h * h->lat_w <= WHOLE; }

int wl_stripe_rows(const wl_header *h, int B) {
  const int auto_rows = (4096 + h->lat_w - 1) / h->lat_w; /* about 4096 latent positions, 4 to 16 rows */
  if (B < 1) B = whole(h) ? h->lat_h : auto_rows < 4 ? 4 : auto_rows > 16 ? 16 : auto_rows;
  return (B < h->lat_h ? B : h->lat_h) << h->J;
}

int wl_stripes_run(const wl_model *m, const wl_header *h, const int16_t *q, const int16_t *v, int B, float *out,
                   wl_stripe_fn put, void *user) {
  if (B < 1 && whole(h)) { /* without out, the samples end in the synthesis's own buffer */
    wl_work w = {0};
    int e = wl_synthesise(m, h, q, v, out, &w);
    if (!e) e = put(user, out ? out : w.x, 0, h->height);
    wl_work_free(&w);
    return e;
  }
  pipe p = {.m = m, .h = h, .q = q, .v = v};
  stage *img = build(&p);
  const int rows = wl_stripe_rows(h, B);
  const wl_signal shape = {2, h->channels, 0, h->width, h->depth, NULL, 0};
  float *x = wl_malloc_big(sizeof(float) * (size_t)img->C * rows * img->w);
  float *planes = wl_malloc_big(sizeof(float) * (size_t)img->C * rows * h->width);
  int e = x && planes ? 0 : WL_FAIL(WL_ERR_NOMEM);
  for (int a = 0; !e && a < h->height; a += rows) {
    wl_signal s = shape;
    const int b = img->H < a + rows ? img->H : a + rows;
    s.height = (h->height < b ? h->height : b) - a;
    if (!(e = img->compute(img, 0, (long)a * img->w, (long)b * img->w, x, (long)(b - a) * img->w))) {
      wl_signal_unscale(x, b - a, img->w, &s, planes);
      e = put(user, planes, a, s.height);
    }
  }
  release(&p);
  free(x);
  free(planes);
  return e;
}
