/* safetensors.h: reader and writer for the safetensors layout used by .wlm model files:
 * u64 header length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets"}, ...,
 * "__metadata__": {"key": "string", ...}}, then raw little-endian tensor bytes. */
#ifndef WL_SAFETENSORS_H
#define WL_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#define WL_ST_MAX_ENTRIES 96
#define WL_ST_MAX_DIMS 4
#define WL_ST_NAME 64
#define WL_ST_VALUE 1024

typedef struct {
  char name[WL_ST_NAME];
  char dtype[8];            /* "F32", "U16", ... */
  int ndim;
  uint64_t shape[WL_ST_MAX_DIMS];
  const uint8_t *data;      /* points into the parsed buffer */
  uint64_t nbytes;
} wl_st_tensor;

typedef struct {
  char key[WL_ST_NAME];
  char value[WL_ST_VALUE];
} wl_st_meta;

typedef struct {
  int ntensors, nmeta;
  wl_st_tensor tensor[WL_ST_MAX_ENTRIES];
  wl_st_meta meta[WL_ST_MAX_ENTRIES];
} wl_st_file;

/* Parses and validates buf (offsets within the data section, sizes match dtype x shape).
 * Returns 0 or WL_ERR_MODEL. The file keeps pointers into buf. */
int wl_st_parse(const uint8_t *buf, size_t len, wl_st_file *f);
const wl_st_tensor *wl_st_find(const wl_st_file *f, const char *name);
const char *wl_st_meta_get(const wl_st_file *f, const char *key);

/* Serialises f (tensor data taken from each .data) into a malloc'd buffer (train/model_write.c). */
int wl_st_write(const wl_st_file *f, uint8_t **out, size_t *outlen);
#endif
