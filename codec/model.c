/* model.c: .wlm model files (safetensors layout, see safetensors.h) and the built-in models.
 * Tensors: encoder.weight (K,D) encoder.bias (K) decoder.weight (D,K) decoder.bias (D)
 * fill (K) F32, entropy.freq (K, 2^B) U16; metadata: format, kind, name, channels, J, K, bits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/safetensors.h"
#include "entropy/entropy.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model tensors are read as little-endian host floats"
#endif

#define MAX_MODEL_BITS 12 /* static tables give every symbol frequency >= 1 up to 2^(WLE_TABLE_BITS-1) */

uint64_t wl_fnv1a64(const void *buf, size_t len) {
  const uint8_t *p = buf;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

void wl_model_free(wl_model *m) {
  if (!m) return;
  free(m->enc_w); free(m->enc_b); free(m->dec_w); free(m->dec_b);
  free(m->fill); free(m->freq); free(m->dequant); free(m->thresh);
  free(m);
}

int wl_model_alloc(wl_model *m) {
  size_t K = (size_t)m->d.K, D = (size_t)m->D, S = (size_t)1 << m->d.bits;
  m->enc_w = calloc(K * D, sizeof(float));
  m->enc_b = calloc(K, sizeof(float));
  m->dec_w = calloc(D * K, sizeof(float));
  m->dec_b = calloc(D, sizeof(float));
  m->fill = calloc(K, sizeof(float));
  m->freq = calloc(K * S, sizeof(uint16_t));
  m->dequant = calloc(S, sizeof(float));
  m->thresh = calloc(S, sizeof(float));
  if (!m->enc_w || !m->enc_b || !m->dec_w || !m->dec_b || !m->fill || !m->freq || !m->dequant || !m->thresh)
    return WL_ERR_NOMEM;
  double L, s;
  const int qmin = 1 - (int)(S / 2); /* |q| <= 2^(B-1) - 1 */
  wl_compand_params(m->d.bits, &L, &s);
  for (size_t i = 0; i < S; i++) {
    m->dequant[i] = (float)wl_dequantise((int)i - (int)(S / 2), L, s);
    m->thresh[i] = i < S - 2 ? (float)wl_compand_threshold(qmin + (int)i, L, s) : INFINITY;
  }
  return 0;
}

static int meta_int(const wl_st_file *f, const char *key, int lo, int hi, int *v) {
  const char *s = wl_st_meta_get(f, key);
  char *end;
  if (!s || !*s) return WL_ERR_MODEL;
  long x = strtol(s, &end, 10);
  if (*end || x < lo || x > hi) return WL_ERR_MODEL;
  *v = (int)x;
  return 0;
}

/* Copies tensor `name` of dtype/shape (n0[, n1]) into dst, checking every value is finite. */
static int get_tensor(const wl_st_file *f, const char *name, const char *dtype, uint64_t n0, uint64_t n1,
                      void *dst) {
  const wl_st_tensor *t = wl_st_find(f, name);
  int ndim = n1 ? 2 : 1;
  if (!t || strcmp(t->dtype, dtype) || t->ndim != ndim || t->shape[0] != n0 || (n1 && t->shape[1] != n1))
    return WL_ERR_MODEL;
  memcpy(dst, t->data, t->nbytes);
  if (!strcmp(dtype, "F32"))
    for (uint64_t i = 0; i < t->nbytes / 4; i++)
      if (!isfinite(((float *)dst)[i])) return WL_ERR_MODEL;
  return 0;
}

static int model_parse(wl_model *m, const uint8_t *buf, size_t len) {
  wl_st_file *f = malloc(sizeof *f);
  if (!f) return WL_ERR_NOMEM;
  int e = wl_st_parse(buf, len, f);
  const char *fmt = wl_st_meta_get(f, "format"), *kind = wl_st_meta_get(f, "kind");
  const char *name = wl_st_meta_get(f, "name");
  wl_model_desc *d = &m->d;
  if (!e && (!fmt || strcmp(fmt, "walloc-model") || !kind || strcmp(kind, "linear"))) e = WL_ERR_MODEL;
  if (!e) e = meta_int(f, "channels", 1, WL_MAX_CHANNELS, &d->channels);
  if (!e) e = meta_int(f, "J", 1, WL_MAX_J, &d->J);
  if (!e) e = meta_int(f, "bits", 2, MAX_MODEL_BITS, &d->bits);
  if (!e) {
    m->D = d->channels << (2 * d->J);
    e = meta_int(f, "K", 1, m->D < WL_MAX_K ? m->D : WL_MAX_K, &d->K);
  }
  if (!e) {
    snprintf(d->name, sizeof d->name, "%s", name ? name : "");
    snprintf(d->kind, sizeof d->kind, "%s", kind);
    e = wl_model_alloc(m);
  }
  uint64_t K = (uint64_t)d->K, D = (uint64_t)m->D;
  if (!e) e = get_tensor(f, "encoder.weight", "F32", K, D, m->enc_w);
  if (!e) e = get_tensor(f, "encoder.bias", "F32", K, 0, m->enc_b);
  if (!e) e = get_tensor(f, "decoder.weight", "F32", D, K, m->dec_w);
  if (!e) e = get_tensor(f, "decoder.bias", "F32", D, 0, m->dec_b);
  if (!e) e = get_tensor(f, "fill", "F32", K, 0, m->fill);
  if (!e) e = get_tensor(f, "entropy.freq", "U16", K, (uint64_t)1 << d->bits, m->freq);
  for (int k = 0; !e && k < d->K; k++) {
    uint32_t sum = 0;
    for (int i = 0; i < 1 << d->bits; i++) sum += m->freq[((size_t)k << d->bits) + (size_t)i];
    if (sum != 1u << WLE_TABLE_BITS) e = WL_ERR_MODEL;
  }
  free(f);
  d->id = wl_fnv1a64(buf, len);
  return e;
}

int wl_model_load(wl_model **model, const void *buf, size_t len) {
  wl_model *m = calloc(1, sizeof *m);
  *model = NULL;
  if (!m) return WL_ERR_NOMEM;
  int e = model_parse(m, buf, len);
  if (e) { wl_model_free(m); return e; }
  *model = m;
  return 0;
}

void wl_model_describe(const wl_model *m, wl_model_desc *d) { *d = m->d; }

/* Models built into the library by codec/models/builtin.S. */
extern const uint8_t wl_model_rgb[], wl_model_rgb_end[], wl_model_gray[], wl_model_gray_end[];
static const struct { const char *name; const uint8_t *begin, *end; } builtin[] = {
  {"rgb", wl_model_rgb, wl_model_rgb_end},
  {"gray", wl_model_gray, wl_model_gray_end},
};
#define NBUILTIN ((int)(sizeof builtin / sizeof builtin[0]))

const char *wl_model_builtin_name(int i) { return i >= 0 && i < NBUILTIN ? builtin[i].name : NULL; }

int wl_model_builtin(wl_model **model, const char *name) {
  for (int i = 0; i < NBUILTIN; i++)
    if (!strcmp(name, builtin[i].name))
      return wl_model_load(model, builtin[i].begin, (size_t)(builtin[i].end - builtin[i].begin));
  *model = NULL;
  return WL_ERR_UNKNOWN_MODEL;
}

int wl_model_builtin_by_id(wl_model **model, uint64_t id) {
  *model = NULL;
  for (int i = 0; i < NBUILTIN; i++) {
    size_t len = (size_t)(builtin[i].end - builtin[i].begin);
    if (wl_fnv1a64(builtin[i].begin, len) == id) return wl_model_load(model, builtin[i].begin, len);
  }
  return WL_ERR_MISMATCH;
}

static void add_tensor(wl_st_file *f, const char *name, const char *dtype, uint64_t n0, uint64_t n1,
                       const void *data, int size) {
  wl_st_tensor *t = &f->tensor[f->ntensors++];
  snprintf(t->name, sizeof t->name, "%s", name);
  snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
  t->ndim = n1 ? 2 : 1;
  t->shape[0] = n0;
  t->shape[1] = n1;
  t->data = data;
  t->nbytes = n0 * (n1 ? n1 : 1) * (uint64_t)size;
}

static void add_meta(wl_st_file *f, const char *key, const char *value) {
  if (f->nmeta >= WL_ST_MAX_ENTRIES) return;
  snprintf(f->meta[f->nmeta].key, WL_ST_NAME, "%s", key);
  snprintf(f->meta[f->nmeta].value, WL_ST_VALUE, "%s", value);
  f->nmeta++;
}

int wl_model_serialize(const wl_model *m, const char *const *key, const char *const *value, int n,
                       uint8_t **out, size_t *outlen) {
  wl_st_file *f = calloc(1, sizeof *f);
  if (!f) return WL_ERR_NOMEM;
  const uint64_t K = (uint64_t)m->d.K, D = (uint64_t)m->D;
  add_tensor(f, "encoder.weight", "F32", K, D, m->enc_w, 4);
  add_tensor(f, "encoder.bias", "F32", K, 0, m->enc_b, 4);
  add_tensor(f, "decoder.weight", "F32", D, K, m->dec_w, 4);
  add_tensor(f, "decoder.bias", "F32", D, 0, m->dec_b, 4);
  add_tensor(f, "fill", "F32", K, 0, m->fill, 4);
  add_tensor(f, "entropy.freq", "U16", K, (uint64_t)1 << m->d.bits, m->freq, 2);
  char num[4][16];
  snprintf(num[0], 16, "%d", m->d.channels);
  snprintf(num[1], 16, "%d", m->d.J);
  snprintf(num[2], 16, "%d", m->d.K);
  snprintf(num[3], 16, "%d", m->d.bits);
  add_meta(f, "format", "walloc-model");
  add_meta(f, "kind", m->d.kind);
  add_meta(f, "name", m->d.name);
  add_meta(f, "channels", num[0]);
  add_meta(f, "J", num[1]);
  add_meta(f, "K", num[2]);
  add_meta(f, "bits", num[3]);
  for (int i = 0; i < n; i++) add_meta(f, key[i], value[i]);
  int e = wl_st_write(f, out, outlen);
  free(f);
  return e;
}
