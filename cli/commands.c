/* commands.c: walloc encode, decode, info and latents. Each input is read whole, processed
 * in memory and written atomically; a failure prints one line and leaves no output. Images
 * are PNG (gray or RGB, alpha) or .npy (any channel count), told apart by their magic. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/io.h"
#include "cli/npy.h"
#include "cli/png.h"

/* The output path for `in`: -o, stdout (-c or stdin input), or `in` with extension `ext`. */
static char *output_path(const cli_opts *o, const char *in, const char *ext) {
  if (o->out) return strdup(o->out);
  if (o->to_stdout || !strcmp(in, "-")) return strdup("-");
  return io_replace_ext(in, ext);
}

static int read_input(const char *in, uint8_t **buf, size_t *len) {
  if (io_read_all(in, buf, len)) return cli_fail(in, "cannot read: %s", strerror(errno));
  if (*len == 0) { free(*buf); return cli_fail(in, "empty input"); }
  return 0;
}

int cli_read_image(const char *in, wl_image *img) {
  uint8_t *buf;
  size_t len;
  const char *why;
  char npy_why[NPY_WHY];
  if (read_input(in, &buf, &len)) return 1;
  int rc = png_is_png(buf, len) ? (png_decode(buf, len, img, &why) ? cli_fail(in, "%s", why) : 0)
           : npy_is_npy(buf, len) ? (npy_decode(buf, len, img, npy_why) ? cli_fail(in, "%s", npy_why) : 0)
           : cli_fail(in, "not a PNG or .npy image");
  free(buf);
  return rc;
}

static int encode_one(cli_opts *o, const char *in) {
  uint8_t *enc = NULL;
  size_t enclen = 0;
  wl_image img;
  wl_model *m = NULL;
  if (cli_read_image(in, &img)) return 1;
  const int C = img.channels;
  const char *spec = o->model ? o->model : C == 1 ? "gray" : C == 3 ? "rgb" : NULL;
  int rc = spec ? cli_load_model(spec, &m)
                : cli_fail(in, "%d channels and no built-in model for them (train one: walloc train --channels %d ...; "
                           "use -m)", C, C);
  wl_model_desc d = {0};
  if (!rc) wl_model_describe(m, &d);
  if (!rc && d.channels != C) {
    char hint[64];
    if (C == 1 || C == 3) snprintf(hint, sizeof hint, "without -m the built-in '%s' is used", C == 1 ? "gray" : "rgb");
    else snprintf(hint, sizeof hint, "train one with walloc train --channels %d", C);
    rc = cli_fail(in, "image has %d channel(s) but model '%s' takes %d; %s", C, d.name, d.channels, hint);
  }
  if (!rc && o->keep > d.K) rc = cli_fail(in, "--keep %d is more than the model's %d channels", o->keep, d.K);
  if (!rc) {
    wl_encode_opts eo = {.keep = o->keep};
    int e = wl_encode(m, &img, &eo, &enc, &enclen);
    if (e) rc = cli_fail(in, "%s", wl_strerror(e));
  }
  char *out = rc ? NULL : output_path(o, in, ".wlc");
  if (!rc) rc = out ? cli_write(o, out, enc, enclen) : cli_fail(in, "out of memory");
  if (!rc && o->verbosity > 1) {
    double px = (double)img.width * img.height, raw = px * (img.channels + (img.alpha != NULL)) * img.depth / 8;
    fprintf(stderr, "%s -> %s: %dx%d, %zu bytes, %.4f bpp, ratio %.1f:1\n", in, out, img.width, img.height,
            enclen, 8.0 * enclen / px, raw / enclen);
  }
  free(out); free(enc);
  wl_image_release(&img);
  wl_model_free(m);
  return rc;
}

int cli_open_wlc(const cli_opts *o, const char *in, uint8_t **buf, size_t *len, wl_header *h, wl_model **m) {
  *m = NULL;
  if (read_input(in, buf, len)) return 1;
  int e = wl_header_read(*buf, *len, h), rc = 0;
  if (e) rc = cli_fail(in, "%s", wl_strerror(e));
  else if (o->model) rc = cli_load_model(o->model, m);
  else if ((e = wl_model_builtin_by_id(m, h->model_id)))
    rc = e == WL_ERR_MISMATCH ? cli_fail(in, "made with model %016" PRIx64 ", which is not built in (use -m)", h->model_id)
                              : cli_fail(in, "built-in model: %s", wl_strerror(e));
  if (rc) free(*buf);
  return rc;
}

/* PNG holds gray or RGB (alpha aside); other channel counts go to .npy. */
static int png_holds(int channels) { return channels == 1 || channels == 3; }

static int decode_one(cli_opts *o, const char *in) {
  uint8_t *buf, *enc = NULL;
  size_t len, enclen = 0;
  wl_header h;
  wl_model *m;
  wl_image img = {0};
  if (cli_open_wlc(o, in, &buf, &len, &h, &m)) return 1;
  char *out = output_path(o, in, png_holds(h.channels) ? ".png" : ".npy");
  const char *ext = out && strcmp(out, "-") ? io_ext(out) : NULL; /* NULL: stdout */
  const int npy = ext ? !strcmp(ext, ".npy") : !png_holds(h.channels);
  int rc = !out ? cli_fail(in, "out of memory")
           : ext && strcmp(ext, ".png") && !npy ? cli_fail(out, "unsupported output format (use .png or .npy)")
           : !npy && !png_holds(h.channels)
             ? cli_fail(out, "PNG holds 1 or 3 channels, the image has %d (write .npy)", h.channels) : 0;
  int e = rc ? 0 : wl_decode(m, buf, len, &img);
  if (e) rc = cli_fail(in, "%s", wl_strerror(e));
  if (!rc && (npy ? npy_encode_image : png_encode)(&img, &enc, &enclen))
    rc = cli_fail(out, "cannot encode %s: out of memory", npy ? ".npy" : "PNG");
  if (!rc) rc = cli_write(o, out, enc, enclen);
  free(out); free(enc); free(buf);
  wl_image_release(&img);
  wl_model_free(m);
  return rc;
}

static int each_input(cli_opts *o, int (*one)(cli_opts *, const char *)) {
  int rc = 0;
  if (o->out && o->ninputs > 1) {
    fprintf(stderr, "walloc: -o takes one input file\nTry 'walloc --help'.\n");
    return 2;
  }
  for (int i = 0; i < o->ninputs; i++) rc |= one(o, o->inputs[i]);
  return rc;
}

int cmd_encode(cli_opts *o) { return each_input(o, encode_one); }
int cmd_decode(cli_opts *o) { return each_input(o, decode_one); }

/* The name of the built-in model with this id, or "" */
static const char *builtin_name(uint64_t id) {
  static wl_model_desc d;
  wl_model *m;
  if (wl_model_builtin_by_id(&m, id)) return "";
  wl_model_describe(m, &d);
  wl_model_free(m);
  return d.name;
}

static void print_info(const char *in, const wl_header *h, size_t len) {
  const double px = (double)h->width * h->height;
  const double raw = px * (h->channels + h->has_alpha) * h->depth / 8;
  const char *name = builtin_name(h->model_id);
  if (!strcmp(in, "-")) in = "(stdin)";
  printf("file:          %s\n", in);
  printf("format:        walloc %d, image\n", h->version);
  printf("model:         %016" PRIx64 "%s%s\n", h->model_id, *name ? " built-in " : "", name);
  printf("image:         %dx%d, %d channel(s), %d-bit%s\n", h->width, h->height, h->channels, h->depth,
         h->has_alpha ? ", alpha" : "");
  printf("latents:       %d of %d channels, %dx%d, %d-bit, J=%d\n", h->keep, h->K, h->lat_w, h->lat_h, h->bits, h->J);
  printf("size:          %zu bytes, %.4f bpp, ratio %.2f:1\n", len, 8.0 * len / px, raw / len);
  printf("reduction:     %.2fx (samples per latent)\n", px * h->channels / ((double)h->K * h->lat_w * h->lat_h));
  if (h->has_alpha) printf("alpha:         %u bytes (zstd)\n", h->alpha_len);
  for (int c = 0; c < h->keep; c++)
    printf("channel %-4d   %-10s %u bytes\n", c, wl_entropy_name(h->entropy[c]), h->stream_len[c]);
}

static void print_json(const char *in, const wl_header *h, size_t len) {
  printf("{\"file\": \"");
  for (const char *p = strcmp(in, "-") ? in : "(stdin)"; *p; p++)
    printf((*p == '"' || *p == '\\') ? "\\%c" : (unsigned char)*p < 0x20 ? "\\u%04x" : "%c", *p);
  printf("\", \"version\": %d, \"modality\": \"image\", \"model_id\": \"%016" PRIx64 "\", \"model\": \"%s\", ",
         h->version, h->model_id, builtin_name(h->model_id));
  printf("\"width\": %d, \"height\": %d, \"channels\": %d, \"depth\": %d, \"alpha\": %s, ", h->width, h->height,
         h->channels, h->depth, h->has_alpha ? "true" : "false");
  printf("\"J\": %d, \"K\": %d, \"keep\": %d, \"bits\": %d, \"latent_shape\": [%d, %d, %d], ", h->J, h->K, h->keep,
         h->bits, h->keep, h->lat_h, h->lat_w);
  printf("\"bytes\": %zu, \"bpp\": %.6f, \"alpha_bytes\": %u, \"streams\": [", len,
         8.0 * len / ((double)h->width * h->height), h->alpha_len);
  for (int c = 0; c < h->keep; c++)
    printf("%s{\"entropy\": \"%s\", \"bytes\": %u}", c ? ", " : "", wl_entropy_name(h->entropy[c]), h->stream_len[c]);
  printf("]}\n");
}

static int info_one(cli_opts *o, const char *in) {
  uint8_t *buf;
  size_t len;
  wl_header h;
  if (read_input(in, &buf, &len)) return 1;
  int e = wl_header_read(buf, len, &h);
  free(buf);
  if (e) return cli_fail(in, "%s", wl_strerror(e));
  (o->json ? print_json : print_info)(in, &h, len);
  return 0;
}

int cmd_info(cli_opts *o) { return each_input(o, info_one); }

static int latents_one(cli_opts *o, const char *in) {
  uint8_t *buf, *npy = NULL;
  size_t len, npylen = 0;
  int16_t *q = NULL;
  wl_header h;
  wl_model *m;
  if (!o->out && !o->to_stdout && strcmp(in, "-")) return cli_fail(in, "latents needs -o OUT.npy or -c");
  if (cli_open_wlc(o, in, &buf, &len, &h, &m)) return 1;
  char *out = output_path(o, in, ".npy");
  int e = wl_latents(m, buf, len, &q, &h), rc = e ? cli_fail(in, "%s", wl_strerror(e)) : 0;
  const int shape[3] = {h.keep, h.lat_h, h.lat_w};
  if (!rc && (!out || npy_encode(q, shape, h.bits, &npy, &npylen))) rc = cli_fail(in, "out of memory");
  if (!rc) rc = cli_write(o, out, npy, npylen);
  free(out); free(npy); free(q); free(buf);
  wl_model_free(m);
  return rc;
}

int cmd_latents(cli_opts *o) { return each_input(o, latents_one); }
