/* model.c: .wlm model files (safetensors layout, see safetensors.h); the built-in ones: builtin.c.
 * Tensors: encoder.weight (K,D) encoder.bias (K) decoder.weight (D,K) decoder.bias (D)
 * fill (K) F32, entropy.freq (K, 2^B) U16; metadata: format, kind, name, channels, J, K, bits,
 * and dims = "1" for 1-D (audio) models, where D = C*2^J and J <= 10 (absent: 2-D, D = C*4^J,
 * J <= 6; 2-D files never carry it, so their bytes and ids predate it).
 * Kind "neural" adds metadata N, R and the residual path: residual.in.weight (N,K),
 * residual.in.bias (N), residual.r.conv{1,2}.{weight (N,N,kh,kw), bias (N)} for r < R (3x3 in 2-D,
 * 1x3 in 1-D),
 * residual.out.weight (D,N), and rate.log_scale (K), the training rate term's densities.
 * A 1-D neural model may add metadata taps = F (odd, at most WL_MAX_TAPS) and postfilter.weight
 * (C,F), its FIR post-filter (postfilter.h); without it there is no post-filter.
 * A 2-D neural model with J >= 2 may add metadata fine_N, fine_R and the fine stage (decoder.c):
 * fine.in.weight (fine_N,D/4), fine.in.bias (fine_N), fine.r.conv{1,2}.{weight
 * (fine_N,fine_N,3,3), bias (fine_N)} for r < fine_R, fine.out.weight (D/4,fine_N). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/fnv.h"
#include "codec/safetensors.h"
#include "entropy/entropy.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model tensors are read as little-endian host floats"
#endif

#define MAX_MODEL_BITS 12 /* static tables give every symbol frequency >= 1 up to 2^(WLE_TABLE_BITS-1) */

void wl_model_free(wl_model *m) {
  if (!m) return;
  free(m->params); free(m->freq); free(m->dequant); free(m->thresh); free(m->cell); free(m->lazy);
  free(m);
}

#define MAX_BLOCKS 8
_Static_assert(WL_MAX_TENSORS == 13 + 8 * MAX_BLOCKS, "13 tensors and 8 of each residual block");
_Static_assert(WL_MAX_TENSORS + 3 <= WL_ST_MAX_ENTRIES, "room for entropy.freq and a checkpoint's two vectors");
#define MAX_WIDTH 512

/* The tensors of a residual net `pre` (decoder.c) from Ci to Co channels, of width N and R
 * blocks of kh x kw convolutions, at t[n..]; returns the new count. */
static int resnet_tensors(wl_tensor_ref *t, int n, const char *pre, float *in_w, float *in_b, float *w, float *b,
                          float *out_w, uint64_t Ci, uint64_t N, int R, uint64_t Co, uint64_t kh, uint64_t kw) {
  t[n] = (wl_tensor_ref){"", in_w, 2, {N, Ci}};
  snprintf(t[n++].name, sizeof t->name, "%s.in.weight", pre);
  t[n] = (wl_tensor_ref){"", in_b, 1, {N}};
  snprintf(t[n++].name, sizeof t->name, "%s.in.bias", pre);
  for (int i = 0; i < 2 * R; i++) {
    t[n] = (wl_tensor_ref){"", w + (size_t)i * N * N * kh * kw, 4, {N, N, kh, kw}};
    snprintf(t[n++].name, sizeof t->name, "%s.%d.conv%d.weight", pre, i / 2, i % 2 + 1);
    t[n] = (wl_tensor_ref){"", b + (size_t)i * N, 1, {N}};
    snprintf(t[n++].name, sizeof t->name, "%s.%d.conv%d.bias", pre, i / 2, i % 2 + 1);
  }
  t[n] = (wl_tensor_ref){"", out_w, 2, {Co, N}};
  snprintf(t[n++].name, sizeof t->name, "%s.out.weight", pre);
  return n;
}

/* wl_model_tensors without the network's weights copied in (model_parse fills them). */
static int tensor_refs(const wl_model *m, wl_tensor_ref *t) {
  const uint64_t K = (uint64_t)m->d.K, D = (uint64_t)m->D, N = (uint64_t)m->N;
  int n = 0;
#define T(nm, ptr, nd, a, b, c, e) t[n++] = (wl_tensor_ref){nm, ptr, nd, {a, b, c, e}}
  T("encoder.weight", m->enc_w, 2, K, D, 0, 0);
  T("encoder.bias", m->enc_b, 1, K, 0, 0, 0);
  T("decoder.weight", m->dec_w, 2, D, K, 0, 0);
  T("decoder.bias", m->dec_b, 1, D, 0, 0, 0);
  T("fill", m->fill, 1, K, 0, 0, 0);
  if (!m->N) return n;
  n = resnet_tensors(t, n, "residual", m->res_in_w, m->res_in_b, m->res_w, m->res_b, m->res_out_w, K, N, m->R, D,
                     (uint64_t)m->kh, (uint64_t)m->kw);
  T("rate.log_scale", m->rate_scale, 1, K, 0, 0, 0);
  if (m->F) T("postfilter.weight", m->post, 2, (uint64_t)m->d.channels, (uint64_t)m->F, 0, 0);
#undef T
  if (m->Nf)
    n = resnet_tensors(t, n, "fine", m->fine_in_w, m->fine_in_b, m->fine_w, m->fine_b, m->fine_out_w, D / 4,
                       (uint64_t)m->Nf, m->Rf, D / 4, 3, 3);
  return n;
}

/* wl_model_alloc; the tensors zeroed if `zero` (model_parse fills every one). */
static int model_alloc(wl_model *m, int zero) {
  if (!m->d.dims) m->d.dims = 2;
  m->kh = m->d.dims == 1 ? 1 : 3;
  m->kw = 3;
  const size_t K = (size_t)m->d.K, D = (size_t)m->D, N = (size_t)m->N, R = (size_t)m->R;
  const size_t S = (size_t)1 << m->d.bits, taps = (size_t)m->kh * m->kw, Nf = (size_t)m->Nf, Rf = (size_t)m->Rf;
  const size_t sizes[] = {K * D, K, D * K, D, K, N * K, N, 2 * R * N * N * taps, 2 * R * N, D * N, N ? K : 0,
                          (size_t)m->d.channels * (size_t)m->F, Nf * D / 4, Nf, 2 * Rf * Nf * Nf * 9, 2 * Rf * Nf,
                          D / 4 * Nf};
  float **ptr[] = {&m->enc_w, &m->enc_b, &m->dec_w, &m->dec_b, &m->fill, &m->res_in_w, &m->res_in_b,
                   &m->res_w, &m->res_b, &m->res_out_w, &m->rate_scale, &m->post, &m->fine_in_w, &m->fine_in_b,
                   &m->fine_w, &m->fine_b, &m->fine_out_w};
  size_t total = 0;
  for (int i = 0; i < (int)(sizeof sizes / sizeof *sizes); i++) total += sizes[i];
  m->nparams = (long)total;
  if ((m->params = malloc(total * sizeof(float))) && zero) memset(m->params, 0, total * sizeof(float));
  m->freq = calloc(K * S, sizeof(uint16_t));
  m->dequant = calloc(S, sizeof(float));
  m->thresh = calloc(S, sizeof(float));
  if (!m->params || !m->freq || !m->dequant || !m->thresh) return WL_FAIL(WL_ERR_NOMEM);
  float *p = m->params;
  for (int i = 0; i < (int)(sizeof sizes / sizeof *sizes); i++) {
    *ptr[i] = sizes[i] ? p : NULL;
    p += sizes[i];
  }
  snprintf(m->d.kind, sizeof m->d.kind, "%s", m->N ? "neural" : "linear");
  double L, s;
  wl_compand_params(m->d.bits, &L, &s);
  for (size_t i = 0; i < S; i++) m->dequant[i] = (float)wl_dequantise_one((int)i - (int)(S / 2), L, s);
  wl_compand_thresholds(m->d.bits, m->thresh);
  return wl_quantise_cells(m);
}

int wl_model_alloc(wl_model *m) { return model_alloc(m, 1); }

/* The tensors that every use of a model reads, the encoder's and the linear path's (encoder and
 * decoder weight and bias, fill): the first EAGER of tensor_refs. */
#define EAGER 5

/* The network's tensors of a built-in model, copied from its file at their first use (see
 * wl_model_parse_known); once, under a lock, whichever thread comes first. */
static void copy_network(wl_model *m) {
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&lock);
  if (!atomic_load_explicit(&m->copied, memory_order_relaxed)) {
    wl_tensor_ref t[WL_MAX_TENSORS];
    const int nt = tensor_refs(m, t);
    for (int i = EAGER; i < nt; i++) {
      size_t n = sizeof(float);
      for (int k = 0; k < t[i].ndim; k++) n *= (size_t)t[i].shape[k];
      memcpy(t[i].data, m->lazy[i], n);
    }
    atomic_store_explicit(&m->copied, 1, memory_order_release);
  }
  pthread_mutex_unlock(&lock);
}

void wl_model_weights(const wl_model *m) {
  if (m->lazy && !atomic_load_explicit(&m->copied, memory_order_acquire)) copy_network((wl_model *)m);
}

int wl_model_tensors(const wl_model *m, wl_tensor_ref *t) {
  wl_model_weights(m);
  return tensor_refs(m, t);
}

static int meta_int(const wl_st_file *f, const char *key, int lo, int hi, int *v) {
  const char *s = wl_st_meta_get(f, key);
  char *end;
  if (!s || !*s) return WL_FAIL(WL_ERR_MODEL);
  long x = strtol(s, &end, 10);
  if (*end || x < lo || x > hi) return WL_FAIL(WL_ERR_MODEL);
  *v = (int)x;
  return 0;
}

/* Tensor `name` of dtype and shape: copied into dst, every float checked finite; or, dst NULL (a
 * built-in model's network, wl_model_parse_known), its data's place in *data, unread: the
 * built-in files are the committed .wlm files (test_builtin_ids), which wl_model_load checks. */
static int get_tensor(const wl_st_file *f, const char *name, const char *dtype, int ndim, const uint64_t *shape,
                      void *dst, const void **data) {
  const wl_st_tensor *t = wl_st_find(f, name);
  if (!t || strcmp(t->dtype, dtype) || t->ndim != ndim) return WL_FAIL(WL_ERR_MODEL);
  for (int i = 0; i < ndim; i++)
    if (t->shape[i] != shape[i]) return WL_FAIL(WL_ERR_MODEL);
  if (data) *data = t->data;
  if (!dst) return 0;
  memcpy(dst, t->data, t->nbytes);
  if (!strcmp(dtype, "F32"))
    for (uint64_t i = 0; i < t->nbytes / 4; i++)
      if (!isfinite(((float *)dst)[i])) return WL_FAIL(WL_ERR_MODEL);
  return 0;
}

/* id: the file's id when known (built-in models), else 0 to hash it. */
static int model_parse(wl_model *m, const uint8_t *buf, size_t len, const wl_model_extra *x, uint64_t id) {
  wl_st_file *f = malloc(sizeof *f);
  wl_tensor_ref *t = malloc(sizeof *t * WL_MAX_TENSORS);
  if (!f || !t) { free(f); free(t); return WL_FAIL(WL_ERR_NOMEM); }
  int e = wl_st_parse(buf, len, f);
  const char *fmt = wl_st_meta_get(f, "format"), *kind = wl_st_meta_get(f, "kind");
  const char *name = wl_st_meta_get(f, "name");
  wl_model_desc *d = &m->d;
  if (!e && (!fmt || strcmp(fmt, "walloc-model") || !kind || (strcmp(kind, "linear") && strcmp(kind, "neural"))))
    e = WL_FAIL(WL_ERR_MODEL);
  d->dims = 2;
  if (!e && wl_st_meta_get(f, "dims")) e = meta_int(f, "dims", 1, 2, &d->dims);
  if (!e) e = meta_int(f, "channels", 1, WL_MAX_CHANNELS, &d->channels);
  if (!e) e = meta_int(f, "J", 1, d->dims == 1 ? WL_MAX_J1 : WL_MAX_J, &d->J);
  if (!e) e = meta_int(f, "bits", 2, MAX_MODEL_BITS, &d->bits);
  if (!e) {
    m->D = d->channels << (d->dims * d->J);
    e = meta_int(f, "K", 1, m->D < WL_MAX_K ? m->D : WL_MAX_K, &d->K);
  }
  if (!e && !strcmp(kind, "neural")) {
    e = meta_int(f, "N", 1, MAX_WIDTH, &m->N);
    if (!e) e = meta_int(f, "R", 0, MAX_BLOCKS, &m->R);
    if (!e && wl_st_meta_get(f, "taps")) e = d->dims != 1 ? WL_FAIL(WL_ERR_MODEL) : meta_int(f, "taps", 1, WL_MAX_TAPS, &m->F);
    if (!e && m->F && !(m->F & 1)) e = WL_FAIL(WL_ERR_MODEL);
    if (!e && wl_st_meta_get(f, "fine_N")) {
      e = d->dims != 2 || d->J < 2 ? WL_FAIL(WL_ERR_MODEL) : meta_int(f, "fine_N", 1, MAX_WIDTH, &m->Nf);
      if (!e) e = meta_int(f, "fine_R", 0, MAX_BLOCKS, &m->Rf);
    }
  }
  if (!e) {
    snprintf(d->name, sizeof d->name, "%s", name ? name : "");
    e = model_alloc(m, 0);
  }
  const int nt = e ? 0 : tensor_refs(m, t), lazy = id && !x && nt > EAGER;
  if (lazy && !(m->lazy = calloc((size_t)nt, sizeof *m->lazy))) e = WL_FAIL(WL_ERR_NOMEM);
  for (int i = 0; i < nt && !e; i++)
    e = get_tensor(f, t[i].name, "F32", t[i].ndim, t[i].shape, lazy && i >= EAGER ? NULL : t[i].data,
                   lazy ? &m->lazy[i] : NULL);
  const uint64_t fshape[2] = {(uint64_t)d->K, (uint64_t)1 << d->bits}, vshape[1] = {(uint64_t)m->nparams};
  if (!e) e = get_tensor(f, "entropy.freq", "U16", 2, fshape, m->freq, NULL);
  for (int k = 0; !e && k < d->K; k++) {
    uint32_t sum = 0;
    for (int i = 0; i < 1 << d->bits; i++) sum += m->freq[((size_t)k << d->bits) + (size_t)i];
    if (sum != 1u << WLE_TABLE_BITS) e = WL_FAIL(WL_ERR_MODEL);
  }
  for (int i = 0; x && !e && i < x->nmeta; i++) {
    const char *v = wl_st_meta_get(f, x->key[i]);
    snprintf(x->value[i], WL_META_MAX, "%s", v ? v : "");
  }
  for (int i = 0; x && !e && i < x->nvec; i++)
    e = get_tensor(f, x->vname[i], "F32", 1, vshape, x->vdata[i], NULL);
  free(f); free(t);
  d->id = id ? id : wl_fnv1a64(buf, len);
  d->keep = d->K;
  return e;
}

int wl_model_parse_known(wl_model **model, const uint8_t *buf, size_t len, const wl_model_extra *x, uint64_t id) {
  if (!model || (!buf && len)) return WL_FAIL_NULL();
  wl_model *m = calloc(1, sizeof *m);
  *model = NULL;
  if (!m) return WL_FAIL(WL_ERR_NOMEM);
  int e = model_parse(m, buf, len, x, id);
  if (e) { wl_model_free(m); return e; }
  *model = m;
  return 0;
}

int wl_model_parse(wl_model **model, const uint8_t *buf, size_t len, const wl_model_extra *x) {
  return wl_model_parse_known(model, buf, len, x, 0);
}

int wl_model_load(wl_model **model, const void *buf, size_t len) { return wl_model_parse_known(model, buf, len, NULL, 0); }

void wl_model_describe(const wl_model *m, wl_model_desc *d) { *d = m->d; }
