/* safetensors.c: a strict little JSON reader for safetensors headers (the writer: train/model_write.c).
 * Accepts exactly the header grammar: one object of tensor objects and an optional
 * "__metadata__" object of strings. Everything is bounds-checked: input may be hostile. */
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/safetensors.h"

#define MAX_HEADER (1u << 20) /* a header larger than 1 MiB is not one of ours */

typedef struct { const char *p, *end; } cursor;

static void ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

static int take(cursor *c, char ch) {
  ws(c);
  if (c->p < c->end && *c->p == ch) { c->p++; return 1; }
  return 0;
}

/* A JSON string into out[cap]; escapes \" \\ \/ \n \t and \u00XX (ASCII) only. */
static int string(cursor *c, char *out, size_t cap) {
  size_t n = 0;
  if (!take(c, '"')) return -1;
  while (c->p < c->end && *c->p != '"') {
    char ch = *c->p++;
    if ((unsigned char)ch < 0x20) return -1;
    if (ch == '\\') {
      if (c->p >= c->end) return -1;
      ch = *c->p++;
      if (ch == 'n') ch = '\n';
      else if (ch == 't') ch = '\t';
      else if (ch == 'u') {
        unsigned v = 0;
        if (c->end - c->p < 4) return -1;
        for (int i = 0; i < 4; i++) {
          char h = *c->p++;
          v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                  : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 999);
        }
        if (v >= 0x80) return -1;
        ch = (char)v;
      } else if (ch != '"' && ch != '\\' && ch != '/') return -1;
    }
    if (n + 1 >= cap) return -1;
    out[n++] = ch;
  }
  if (c->p >= c->end) return -1;
  c->p++;
  out[n] = 0;
  return 0;
}

static int uint64(cursor *c, uint64_t *v) {
  ws(c);
  if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
  *v = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    if (*v > (UINT64_MAX - 9) / 10) return -1;
    *v = *v * 10 + (uint64_t)(*c->p++ - '0');
  }
  return 0;
}

/* [a, b, ...] of up to `max` unsigned integers. */
static int uint_array(cursor *c, uint64_t *v, int max, int *n) {
  *n = 0;
  if (!take(c, '[')) return -1;
  if (take(c, ']')) return 0;
  do {
    if (*n >= max || uint64(c, &v[*n]) < 0) return -1;
    (*n)++;
  } while (take(c, ','));
  return take(c, ']') ? 0 : -1;
}

static int dtype_size(const char *d) {
  static const struct { const char *name; int size; } t[] = {
    {"F64", 8}, {"I64", 8}, {"U64", 8}, {"F32", 4}, {"I32", 4}, {"U32", 4},
    {"F16", 2}, {"BF16", 2}, {"I16", 2}, {"U16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(d, t[i].name)) return t[i].size;
  return 0;
}

static int tensor(cursor *c, wl_st_tensor *t, const uint8_t *data, uint64_t datalen) {
  char key[32];
  uint64_t off[2];
  int have = 0, noff = 0;
  if (!take(c, '{')) return -1;
  do {
    if (string(c, key, sizeof key) < 0 || !take(c, ':')) return -1;
    if (!strcmp(key, "dtype") && string(c, t->dtype, sizeof t->dtype) == 0) have |= 1;
    else if (!strcmp(key, "shape") && uint_array(c, t->shape, WL_ST_MAX_DIMS, &t->ndim) == 0) have |= 2;
    else if (!strcmp(key, "data_offsets") && uint_array(c, off, 2, &noff) == 0 && noff == 2) have |= 4;
    else return -1;
  } while (take(c, ','));
  if (!take(c, '}') || have != 7) return -1;
  uint64_t count = (uint64_t)dtype_size(t->dtype);
  if (!count || off[0] > off[1] || off[1] > datalen) return -1;
  for (int i = 0; i < t->ndim; i++) {
    if (t->shape[i] > (1u << 30) || (t->shape[i] && count > UINT64_MAX / t->shape[i])) return -1;
    count *= t->shape[i];
  }
  if (count != off[1] - off[0]) return -1;
  t->data = data + off[0];
  t->nbytes = count;
  return 0;
}

static int metadata(cursor *c, wl_st_file *f) {
  if (!take(c, '{')) return -1;
  if (take(c, '}')) return 0;
  do {
    if (f->nmeta >= WL_ST_MAX_ENTRIES) return -1;
    wl_st_meta *m = &f->meta[f->nmeta++];
    if (string(c, m->key, sizeof m->key) < 0 || !take(c, ':') || string(c, m->value, sizeof m->value) < 0)
      return -1;
  } while (take(c, ','));
  return take(c, '}') ? 0 : -1;
}

int wl_st_parse(const uint8_t *buf, size_t len, wl_st_file *f) {
  memset(f, 0, sizeof *f);
  if (len < 8) return WL_FAIL(WL_ERR_MODEL);
  uint64_t hlen = wl_get64(buf);
  if (hlen < 2 || hlen > MAX_HEADER || hlen > len - 8) return WL_FAIL(WL_ERR_MODEL);
  const uint8_t *data = buf + 8 + hlen;
  cursor c = {(const char *)buf + 8, (const char *)data};
  char key[WL_ST_NAME];
  if (!take(&c, '{')) return WL_FAIL(WL_ERR_MODEL);
  do {
    if (string(&c, key, sizeof key) < 0 || !take(&c, ':')) return WL_FAIL(WL_ERR_MODEL);
    if (!strcmp(key, "__metadata__")) {
      if (metadata(&c, f) < 0) return WL_FAIL(WL_ERR_MODEL);
      continue;
    }
    if (f->ntensors >= WL_ST_MAX_ENTRIES || wl_st_find(f, key)) return WL_FAIL(WL_ERR_MODEL);
    wl_st_tensor *t = &f->tensor[f->ntensors++];
    memcpy(t->name, key, sizeof key);
    if (tensor(&c, t, data, len - 8 - hlen) < 0) return WL_FAIL(WL_ERR_MODEL);
  } while (take(&c, ','));
  if (!take(&c, '}')) return WL_FAIL(WL_ERR_MODEL);
  ws(&c);
  return c.p == c.end ? 0 : WL_FAIL(WL_ERR_MODEL);
}

const wl_st_tensor *wl_st_find(const wl_st_file *f, const char *name) {
  for (int i = 0; i < f->ntensors; i++)
    if (!strcmp(f->tensor[i].name, name)) return &f->tensor[i];
  return NULL;
}

const char *wl_st_meta_get(const wl_st_file *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++)
    if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
  return NULL;
}
