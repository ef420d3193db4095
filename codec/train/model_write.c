/* model_write.c: models and checkpoints as .wlm byte strings: the safetensors writer and the
 * model's tensors and metadata (the reader: codec/model.c, codec/safetensors.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/safetensors.h"
#include "codec/train/train.h"

/* Appends s as a JSON string; returns the new length or -1 when it does not fit. */
static int put_string(char *h, int n, int cap, const char *s) {
  if (n >= cap) return -1;
  h[n++] = '"';
  for (; *s; s++) {
    const char *esc = *s == '"' ? "\\\"" : *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : *s == '\t' ? "\\t" : NULL;
    int k = esc ? snprintf(h + n, (size_t)(cap - n), "%s", esc)
            : (unsigned char)*s < 0x20 ? snprintf(h + n, (size_t)(cap - n), "\\u%04x", *s)
                                       : snprintf(h + n, (size_t)(cap - n), "%c", *s);
    if (k < 0 || n + k >= cap) return -1;
    n += k;
  }
  if (n + 1 >= cap) return -1;
  h[n++] = '"';
  return n;
}

int wl_st_write(const wl_st_file *f, uint8_t **out, size_t *outlen) {
  int cap = 1 << 16, n = 0;
  char *h = malloc((size_t)cap);
  if (!h) return WL_FAIL(WL_ERR_NOMEM);
  uint64_t off = 0;
  h[n++] = '{';
  for (int i = 0; i < f->ntensors && n > 0; i++) {
    const wl_st_tensor *t = &f->tensor[i];
    n = put_string(h, n, cap, t->name);
    if (n < 0) break;
    n += snprintf(h + n, (size_t)(cap - n), ":{\"dtype\":\"%s\",\"shape\":[", t->dtype);
    for (int d = 0; d < t->ndim && n < cap; d++)
      n += snprintf(h + n, (size_t)(cap - n), "%s%llu", d ? "," : "", (unsigned long long)t->shape[d]);
    if (n < cap)
      n += snprintf(h + n, (size_t)(cap - n), "],\"data_offsets\":[%llu,%llu]},", (unsigned long long)off,
                    (unsigned long long)(off + t->nbytes));
    off += t->nbytes;
    if (n >= cap) n = -1;
  }
  if (n > 0 && n + 16 < cap) n += snprintf(h + n, (size_t)(cap - n), "\"__metadata__\":{");
  for (int i = 0; i < f->nmeta && n > 0; i++) {
    if (i) h[n++] = ',';
    n = put_string(h, n, cap - 4, f->meta[i].key);
    if (n > 0) h[n++] = ':';
    if (n > 0) n = put_string(h, n, cap - 4, f->meta[i].value);
  }
  if (n < 0 || n + 16 >= cap) { free(h); return WL_FAIL(WL_ERR_ARG); }
  h[n++] = '}';
  h[n++] = '}';
  while (n % 8) h[n++] = ' '; /* safetensors pads the header to 8 bytes with spaces */
  size_t total = 8 + (size_t)n + (size_t)off;
  uint8_t *o = malloc(total);
  if (!o) { free(h); return WL_FAIL(WL_ERR_NOMEM); }
  wl_put64(o, (uint64_t)n);
  memcpy(o + 8, h, (size_t)n);
  free(h);
  uint8_t *p = o + 8 + n;
  for (int i = 0; i < f->ntensors; i++) {
    memcpy(p, f->tensor[i].data, f->tensor[i].nbytes);
    p += f->tensor[i].nbytes;
  }
  *out = o;
  *outlen = total;
  return 0;
}

static void add_tensor(wl_st_file *f, const char *name, const char *dtype, int ndim, const uint64_t *shape,
                       const void *data, int size) {
  wl_st_tensor *t = &f->tensor[f->ntensors++];
  snprintf(t->name, sizeof t->name, "%s", name);
  snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
  t->ndim = ndim;
  t->nbytes = (uint64_t)size;
  for (int i = 0; i < ndim; i++) t->nbytes *= t->shape[i] = shape[i];
  t->data = data;
}

static void add_meta(wl_st_file *f, const char *key, const char *value) {
  if (f->nmeta >= WL_ST_MAX_ENTRIES) return;
  snprintf(f->meta[f->nmeta].key, WL_ST_NAME, "%s", key);
  snprintf(f->meta[f->nmeta].value, WL_ST_VALUE, "%s", value);
  f->nmeta++;
}

int wl_model_serialize(const wl_model *m, const wl_model_extra *x, uint8_t **out, size_t *outlen) {
  wl_st_file *f = calloc(1, sizeof *f);
  wl_tensor_ref *t = malloc(sizeof *t * WL_MAX_TENSORS);
  if (!f || !t) { free(f); free(t); return WL_FAIL(WL_ERR_NOMEM); }
  const int nt = wl_model_tensors(m, t);
  for (int i = 0; i < nt; i++) add_tensor(f, t[i].name, "F32", t[i].ndim, t[i].shape, t[i].data, 4);
  const uint64_t fshape[2] = {(uint64_t)m->d.K, (uint64_t)1 << m->d.bits}, vshape[1] = {(uint64_t)m->nparams};
  add_tensor(f, "entropy.freq", "U16", 2, fshape, m->freq, 2);
  for (int i = 0; x && i < x->nvec; i++) add_tensor(f, x->vname[i], "F32", 1, vshape, x->vdata[i], 4);
  char num[6][16];
  const int val[6] = {m->d.channels, m->d.J, m->d.K, m->d.bits, m->N, m->R};
  const char *key[6] = {"channels", "J", "K", "bits", "N", "R"};
  add_meta(f, "format", "walloc-model");
  add_meta(f, "kind", m->d.kind);
  add_meta(f, "name", m->d.name);
  for (int i = 0; i < (m->N ? 6 : 4); i++) {
    snprintf(num[i], 16, "%d", val[i]);
    add_meta(f, key[i], num[i]);
  }
  if (m->d.dims == 1) add_meta(f, "dims", "1");
  char taps[16], fine[2][16];
  snprintf(taps, sizeof taps, "%d", m->F);
  if (m->F) add_meta(f, "taps", taps);
  snprintf(fine[0], 16, "%d", m->Nf);
  snprintf(fine[1], 16, "%d", m->Rf);
  if (m->Nf) {
    add_meta(f, "fine_N", fine[0]);
    add_meta(f, "fine_R", fine[1]);
  }
  for (int i = 0; x && i < x->nmeta; i++) add_meta(f, x->key[i], x->value[i]);
  int e = wl_st_write(f, out, outlen);
  free(f); free(t);
  return e;
}
