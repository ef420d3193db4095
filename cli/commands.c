/* commands.c: walloc encode, decode, info and latents. Images (PNG, gray or RGB, alpha; .npy,
 * any channel count) are read whole and processed in memory; audio (anything libsndfile reads:
 * WAV, FLAC, OGG ...) streams a block at a time through the library's chunk coder, so memory
 * stays flat for any length. Inputs are told apart by content. Outputs are written atomically;
 * a failure prints one line and leaves no output file (on stdout, what was written stays).
 * Audio decodes to WAV or FLAC. */
#include <errno.h>
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/io.h"
#include "cli/npy.h"
#include "cli/png.h"
#include "cli/sound.h"

/* The output path for `in`: -o, stdout (-c or stdin input), or `in` with extension `ext`. */
/* Makes the folders above path, as mkdir -p; 0 or -1 (errno set). */
static int make_parents(char *path) {
  for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = 0;
    const int bad = mkdir(path, 0777) && errno != EEXIST;
    *s = '/';
    if (bad) return -1;
  }
  return 0;
}

char *cli_output_path(cli_opts *o, const char *in, const char *ext) {
  char *out = NULL, *rel;
  o->folder_err = 0;
  if (o->out) out = strdup(o->out);
  else if (o->to_stdout || !strcmp(in, "-")) out = strdup("-");
  else if (!o->outdir) out = io_replace_ext(in, ext);
  else if ((rel = io_replace_ext(o->rel ? o->rel : in, ext))) {
    out = io_join(o->outdir, rel);
    o->folder_err = out && make_parents(out) ? errno : 0; /* told when the output is opened */
    free(rel);
  }
  free(o->last_out);
  o->last_out = out ? strdup(out) : NULL;
  o->input = in;
  return out;
}

int cli_skip(cli_opts *o, const char *out) {
  o->skipped = o->skip_existing && out && strcmp(out, "-") && !access(out, F_OK);
  if (o->skipped && o->verbosity > 1) fprintf(stderr, "walloc: %s: skipped, %s exists (--skip-existing)\n", o->input, out);
  return o->skipped;
}

/* Opens an input and looks at its first bytes; prints the error itself. */
static int open_input(const char *in, io_input *f) {
  if (io_open(in, f)) return cli_fail(in, "cannot read: %s", strerror(errno));
  if (f->nhead == 0) { io_close(f); return cli_fail(in, "empty input"); }
  return 0;
}

/* A whole .wlc, read only once its first bytes are those of one (so /dev/zero or a photo given by
 * mistake is refused after 4 KB, not after filling the memory); with model (info), a .wlm model
 * file is taken too, *model then set. Prints the error itself. */
static int read_sniffed(const char *in, uint8_t **buf, size_t *len, int *model) {
  io_input f;
  wl_info h;
  if (open_input(in, &f)) return 1;
  /* a .wlm starts with the u64 length of its JSON header, then '{' (safetensors) */
  const int wlm = model && f.nhead > 8 && f.head[8] == '{' && !f.head[7] && !f.head[6];
  int e = wlm ? 0 : wl_info_peek(f.head, f.nhead, &h);
  int rc = e ? cli_fail(in, "%s", cli_error(e))
             : io_read_rest(&f, buf, len) ? cli_fail(in, "cannot read: %s", strerror(errno)) : 0;
  io_close(&f);
  if (model) *model = wlm;
  return rc;
}

static int read_wlc(const char *in, uint8_t **buf, size_t *len) { return read_sniffed(in, buf, len, NULL); }

/* Whether an opened input is a PNG (*png set) or a .npy, told by its first bytes before it is
 * read; prints the error. */
static int image_kind(const char *in, const io_input *f, int *png) {
  *png = png_is_png(f->head, f->nhead);
  return *png || npy_is_npy(f->head, f->nhead) ? 0 : cli_fail(in, "not a PNG, .npy or audio (WAV, FLAC, OGG) file");
}

/* The rest of an opened input that is a PNG (*png set) or .npy, read into *buf. */
static int read_input(const char *in, io_input *f, uint8_t **buf, size_t *len, int *png) {
  *buf = NULL;
  if (image_kind(in, f, png)) return 1;
  return io_read_rest(f, buf, len) ? cli_fail(in, "cannot read: %s", strerror(errno)) : 0;
}

/* The image of a PNG or .npy input (read_input) into s->img. */
static int decode_input(const char *in, const uint8_t *buf, size_t len, int png, cli_signal *s) {
  const char *why;
  char msg[NPY_WHY];
  if (png) return png_decode(buf, len, &s->img, &why) ? cli_fail(in, "%s", why) : 0;
  return npy_decode(buf, len, &s->img, msg) ? cli_fail(in, "%s", msg) : 0;
}

/* A PNG or .npy image from the rest of an opened input into s->img. */
static int read_image(const char *in, io_input *f, cli_signal *s) {
  uint8_t *buf;
  size_t len;
  int png, rc = read_input(in, f, &buf, &len, &png);
  if (!rc) rc = decode_input(in, buf, len, png, s);
  free(buf);
  return rc;
}

int cli_read_signal(const char *in, cli_signal *s) {
  io_input f;
  snd_reader *r;
  char why[SND_WHY];
  wl_audio fmt;
  memset(s, 0, sizeof *s);
  if (open_input(in, &f)) return 1;
  int rc;
  if (!(s->audio = snd_is_audio(f.head, f.nhead))) rc = read_image(in, &f, s);
  else if (snd_open(&f, &r, &fmt, why)) rc = cli_fail(in, "%s", why);
  else {
    rc = snd_read_all(r, &s->snd, why) ? cli_fail(in, "%s", why) : 0;
    snd_close(r);
  }
  io_close(&f);
  return rc;
}

void cli_signal_release(cli_signal *s) {
  wl_image_release(&s->img);
  wl_audio_release(&s->snd);
}

/* The built-in model for C channels of audio or an image, or NULL. */
static const char *builtin_for(int C, int audio) {
  if (audio) return C == 1 ? "mono" : C == 2 ? "stereo" : NULL;
  return C == 1 ? "gray" : C == 3 ? "rgb" : NULL;
}

/* The model for a signal of C channels (audio or an image): -m, or the built-in one for its kind;
 * prints errors. */
static int encode_model(cli_opts *o, const char *in, int C, int audio, wl_model **m, wl_model_desc *d) {
  const char *spec = o->model ? o->model : builtin_for(C, audio);
  *m = NULL;
  if (!spec)
    return cli_fail(in, "%d channels and no built-in %s model for them (train one: walloc train --channels %d ...; "
                    "use -m)", C, audio ? "audio" : "image", C);
  if (cli_load_model(spec, m)) return 1;
  wl_model_describe(*m, d);
  o->last_model = d->id;
  if ((d->dims == 1) != audio)
    return cli_fail(in, audio ? "model '%s' is an image model; audio needs a 1-D model (walloc train on audio "
                                   "files)" : "model '%s' is an audio (1-D) model, not an image model", d->name);
  if (d->channels != C) {
    char hint[64];
    if (builtin_for(C, audio)) snprintf(hint, sizeof hint, "without -m the built-in '%s' is used", builtin_for(C, audio));
    else snprintf(hint, sizeof hint, "train one with walloc train --channels %d", C);
    return cli_fail(in, "%s has %d channel(s) but model '%s' takes %d; %s", audio ? "audio" : "image", C, d->name,
                    d->channels, hint);
  }
  if (o->keep > d->K) return cli_fail(in, "--keep %d is more than the model's %d channels", o->keep, d->K);
  if (o->refine && audio) return cli_fail(in, "--refine applies to images only");
  if (o->nofill && !audio) return cli_fail(in, "--no-fill applies to audio only");
  if (o->masks && !audio) return cli_fail(in, "--masks applies to audio only (images: --tile-masks)");
  if (o->tile_masks && audio) return cli_fail(in, "--tile-masks applies to images only (audio: --masks)");
  if (o->zone > 0 && audio) return cli_fail(in, "--dead-zone applies to images only");
  if (o->chunk && !audio) return cli_fail(in, "--chunk applies to audio only");
  if (audio && (o->target == WL_TARGET_BPP || o->target == WL_TARGET_PSNR))
    return cli_fail(in, "--bpp and --psnr apply to images only (audio: --kbps, --size, --snr, -Q or --keep)");
  if (!audio && (o->target == WL_TARGET_KBPS || o->target == WL_TARGET_SNR))
    return cli_fail(in, "--kbps and --snr apply to audio only (images: --bpp, --psnr)");
  return 0;
}

static void audio_summary(const char *in, const char *out, const wl_audio *a, size_t enclen) {
  const double sec = (double)a->frames / a->rate, raw = (double)a->frames * a->channels * a->depth / 8;
  cli_note("%s -> %s: %d ch, %d Hz, %ld frames, %zu bytes, %.2f kbps, ratio %.1f:1", in, out, a->channels,
          a->rate, a->frames, enclen, 8.0 * enclen / sec / 1000, raw / enclen);
}

static void image_summary(const char *in, const char *out, const wl_image *img, size_t enclen) {
  double px = (double)img->width * img->height, raw = px * (img->channels + (img->alpha != NULL)) * img->depth / 8;
  cli_note("%s -> %s: %dx%d, %zu bytes, %.4f bpp, ratio %.1f:1", in, out, img->width, img->height, enclen,
          8.0 * enclen / px, raw / enclen);
}

/* Without -T, an image under one megapixel is encoded on one thread: waking a second thread for
 * each parallel step cost more than it saved (768x512 on two cores: medians 20.0 ms with two,
 * 15.7 ms with one), while a 2-megapixel one gains (82 ms against 107). Refinement runs the
 * decoder network: every image takes all threads. */
#define SMALL_IMAGE (1 << 20)
static void image_threads(const cli_opts *o, const wl_image *img) {
  static int all;
  if (o->threads) return;
  if (!all) all = omp_get_max_threads();
  const int network = o->refine || o->step || o->quality > 20 || o->target; /* the encoder runs the decoder */
  omp_set_num_threads((long)img->width * img->height < SMALL_IMAGE && !network ? 1 : all);
}

/* A plain encode of a large image reads it a block of rows at a time (wl_encode_rows), for
 * memory bounded by the width, the same bytes as a whole-image encode:
 * - a PNG over STREAM_PIXELS from the file held in memory as its unfiltered rows (png_decode_raw:
 *   3 bytes per 8-bit RGB pixel instead of the image's 12 as floats, a little faster) when they
 *   take at most RAW_RATIO times the file (a photo); else (a flat image, a pipe, over
 *   WL_MAX_PIXELS) from the input through libpng (png_reader), memory by the width; its alpha
 *   rows come after the planes;
 * - a .npy over STREAM_PIXELS from a file (each channel's rows read at their place) or, with
 *   one channel, from a pipe. */
#define STREAM_PIXELS (1L << 21)
#define RAW_RATIO 8
/* What the shape of an image read by rows with alpha points its alpha at: wl_encode_rows reads
 * only whether it is NULL. */
static float rows_alpha;
typedef struct {
  png_reader *png;
  npy_rows npy;
  png_raw raw;
  char why[NPY_WHY];
} rows_in;

static int rows_get(void *user, int y0, int n, float *planes) {
  rows_in *r = user;
  const char *why;
  if (r->png && png_reader_rows(r->png, n, planes, &why)) return snprintf(r->why, sizeof r->why, "%s", why), 1;
  if (r->npy.buf && npy_rows_read(&r->npy, y0, n, planes, r->why)) return 1;
  if (r->raw.raw) png_raw_rows(&r->raw, y0, n, planes);
  return 0;
}

static long input_read(void *user, void *buf, size_t n) { return io_read(user, buf, n); }

/* Opens the rows of an image input that a plain encode reads by rows (above), or leaves r empty
 * (*rows 0); fills shape. The size comes from the first bytes (a PNG's IHDR, a .npy's header; 0
 * when they do not say). Prints errors. */
static int rows_open(int plain, const char *in, io_input *f, int png, rows_in *r, wl_image *shape, int *rows) {
  npy_shape s;
  const long px = png ? png_head_pixels(f->head, f->nhead) : npy_header(f->head, f->nhead, &s, r->why) ? 0
                                                                                                      : (long)s.H * s.W;
  const char *why;
  int alpha;
  *rows = 0;
  if (px > WL_MAX_PIXELS && !plain)
    return cli_fail(in, "over 64 Mpixel: only a plain encode (no -Q, target, --step or --refine) takes it, by rows");
  const long raw = png ? png_head_rows_bytes(f->head, f->nhead) : 0; /* 0: interlaced, held whole */
  if (png && (px > WL_MAX_PIXELS || (plain && px > STREAM_PIXELS && raw && (f->size < 0 || raw > RAW_RATIO * f->size)))) {
    if (png_reader_open(&r->png, input_read, f, shape, &alpha, &why)) return cli_fail(in, "%s", why);
    shape->alpha = alpha ? &rows_alpha : NULL;
    return *rows = 1, 0;
  }
  if (!png && plain && px > STREAM_PIXELS && (f->size >= 0 || s.C == 1)) {
    if (npy_rows_open(&r->npy, f, &s, r->why)) return cli_fail(in, "%s", r->why);
    *shape = (wl_image){s.C, s.H, s.W, 8 * s.bytes, NULL, NULL};
    return *rows = 1, 0;
  }
  return 0;
}

/* The end of an input read by rows: what follows the rows is checked. Prints errors. */
static int rows_end(const char *in, rows_in *r) {
  const char *why;
  if (r->png && png_reader_end(r->png, &why)) return cli_fail(in, "%s", why);
  if (r->npy.buf && npy_rows_end(&r->npy, r->why)) return cli_fail(in, "%s", r->why);
  return 0;
}

static void rows_free(rows_in *r) {
  png_reader_free(r->png);
  npy_rows_free(&r->npy);
  png_raw_free(&r->raw);
}

/* A PNG file read whole into the image's own memory and decoded there (png_place), unless it does
 * not fit or changes size while read: then nothing is done (img untouched), for the read below. */
static int read_png_placed(const char *in, io_input *f, wl_image *img) {
  const char *why;
  uint8_t *at = png_place(f->head, f->nhead, (size_t)f->size, img), more;
  long n = at ? io_read_full(f, at, (size_t)f->size, 0) : 0;
  if (n < 0) {
    const int saved = errno;
    wl_image_release(img);
    return cli_fail(in, "cannot read: %s", strerror(saved));
  }
  if (at && (n != f->size || io_read_full(f, &more, 1, f->size) != 0)) wl_image_release(img);
  else if (at && png_decode_placed(at, (size_t)n, img, &why)) return cli_fail(in, "%s", why);
  return 0;
}

static int encode_image(cli_opts *o, const char *in, io_input *f, const char *out) {
  uint8_t *enc = NULL, *buf = NULL;
  size_t enclen = 0, len = 0;
  cli_signal s = {0};
  wl_model *m = NULL;
  wl_model_desc d = {0};
  rows_in r = {0};
  const int plain = o->quality < 0 && !o->target && !o->refine && !o->step;
  int png, rows = 0, e = 0, rc = image_kind(in, f, &png);
  if (!rc) rc = rows_open(plain, in, f, png, &r, &s.img, &rows);
  if (!rc && !rows && png && f->size > 0 && !(plain && png_head_pixels(f->head, f->nhead) > STREAM_PIXELS))
    rc = read_png_placed(in, f, &s.img); /* else read by rows below */
  if (!rc && !rows && !s.img.planes) { /* the file in memory: a PNG's raw rows, or the image */
    rc = io_read_rest(f, &buf, &len) ? cli_fail(in, "cannot read: %s", strerror(errno)) : 0;
    rows = !rc && png && plain && png_head_pixels(buf, len) > STREAM_PIXELS && !png_decode_raw(buf, len, &r.raw);
    if (rows)
      s.img = (wl_image){r.raw.channels, r.raw.height, r.raw.width, r.raw.depth, NULL, r.raw.alpha ? &rows_alpha : NULL};
    else if (!rc) rc = decode_input(in, buf, len, png, &s);
    if (!rows) png_raw_free(&r.raw);
    free(buf);
  }
  if (!rc) rc = encode_model(o, in, s.img.channels, 0, &m, &d);
  if (!rc && o->verbosity > 0 && !strcmp(d.kind, "neural") && o->quality < 0 && !o->target && !o->step &&
      (s.img.width < 4 << d.J || s.img.height < 4 << d.J)) /* under 4 latents a side */
    cli_note("walloc: %s: %dx%d is under %d pixels on a side, where a neural model's decoder sees mostly padding: "
             "on flat areas, errors up to 25%% of the range at 8x8, 4%% at 16x16 at this rate (-Q 100: under 2%%), "
             "and more where the picture has detail",
             in, s.img.width, s.img.height, 4 << d.J);
  if (!rc) {
    image_threads(o, &s.img);
    wl_encode_opts eo = {.keep = o->keep, .refine = o->refine, .step = o->step, .zone = o->zone};
    e = o->quality >= 0 ? wl_quality_opts_depth(m, s.img.depth, o->quality, &eo) : 0;
    eo.fastread = o->fastread;
    eo.masks = o->tile_masks;
    if (!e && rows) e = wl_encode_rows(m, &s.img, &eo, rows_get, &r, &enc, &enclen);
    else if (!e && o->target) e = wl_encode_target(m, &s.img, o->target, o->target_value, &eo, &enc, &enclen);
    else if (!e) e = wl_encode_inplace(m, &s.img, &eo, &enc, &enclen); /* the planes are not needed after */
    if (e > 0) rc = cli_fail(in, "%s", r.why);
    else if (e) rc = cli_fail(in, "%s", cli_error(e));
    else if (rows) rc = rows_end(in, &r);
    if (!rc && o->verbosity > 1 && (o->target || o->quality >= 0))
      cli_note("walloc: %s: %d channel(s), detail step %d, dead zone %.9g, tile masks %d", in, eo.keep, eo.step, eo.zone,
               eo.masks);
    wl_info got;
    if (!rc && o->verbosity > 0 && eo.step && !o->target && !wl_info_read(enc, enclen, &got) && got.step < eo.step)
      cli_note("walloc: %s: step %d is finer than this image's detail fits in 16 bits: coded at step %d", in, eo.step,
               got.step);
  }
  rows_free(&r);
  if (!rc) rc = cli_write(o, out, enc, enclen);
  if (!rc && o->verbosity > 1) image_summary(in, out, &s.img, enclen);
  free(enc);
  if (rows) s.img.alpha = NULL; /* rows_alpha */
  cli_signal_release(&s);
  wl_model_free(m);
  return rc;
}

/* An audio encoder for fmt with -m, --keep and --chunk; prints errors. */
static int audio_encoder(cli_opts *o, const char *in, const wl_audio *fmt, wl_model **m, wl_audio_encoder **e) {
  wl_model_desc d;
  long L, O;
  wl_encode_opts eo = {.keep = o->keep, .step = o->step};
  *e = NULL;
  if (encode_model(o, in, fmt->channels, 1, m, &d)) return 1;
  if (o->quality >= 0) wl_quality_opts(*m, o->quality, &eo);
  eo.fastread = o->fastread;
  eo.chunk = o->chunk;
  eo.nofill = o->nofill;
  eo.masks = o->masks;
  int err = wl_audio_encoder_new(e, *m, fmt->channels, fmt->rate, fmt->depth, &eo);
  if (err == WL_ERR_ARG && wl_audio_chunking(*m, o->chunk, &L, &O))
    return cli_fail(in, "--chunk %ld: must be a multiple of %d (2^J), at least %ld (the overlap) and at most %ld",
                    o->chunk, 1 << d.J, O, WL_MAX_CHUNK);
  return err ? cli_fail(in, "%s", cli_error(err)) : 0;
}

/* Audio with --kbps, --size or --snr: the whole clip read into memory, coded at the rung of the
 * ladder that meets the target (wl_encode_audio_target), written to out; *total its bytes. */
static int encode_audio_target(cli_opts *o, const char *in, snd_reader *r, wl_model *m, const char *out, size_t *total,
                               long *frames) {
  wl_audio a;
  char why[SND_WHY];
  uint8_t *b = NULL;
  wl_encode_opts eo = {.chunk = o->chunk, .nofill = o->nofill, .masks = o->masks, .fastread = o->fastread}, chosen;
  if (snd_read_all(r, &a, why)) return cli_fail(in, "%s", why);
  *frames = a.frames;
  const int e = wl_encode_audio_target(m, &a, o->target, o->target_value, &eo, &chosen, &b, total);
  wl_audio_release(&a);
  if (e) return cli_fail(in, "%s", cli_error(e));
  if (o->verbosity > 1) cli_note("walloc: %s: %d channel(s), detail step %d", in, chosen.keep, chosen.step);
  const int rc = cli_write(o, out, b, *total);
  free(b);
  return rc;
}

/* Streams audio: blocks from the reader into the encoder, its records to out; *total their
 * bytes, fmt->frames the frames read. */
static int stream_audio(cli_opts *o, const char *in, snd_reader *r, wl_audio_encoder *e, const char *out,
                        wl_audio *fmt, size_t *total) {
  wl_audio b = {0};
  io_output w;
  char why[SND_WHY];
  const uint8_t *bytes;
  size_t n;
  int rc = cli_out_open(o, out, &w);
  if (rc) return rc;
  for (int more = 1; !rc && more;) {
    if (snd_read(r, &b, why)) { rc = cli_fail(in, "%s", why); break; }
    fmt->frames += b.frames;
    more = b.frames > 0;
    const int err = more ? wl_audio_encoder_push(e, &b, &bytes, &n) : wl_audio_encoder_finish(e, &bytes, &n);
    if (err) rc = cli_fail(in, "%s", cli_error(err));
    else if (n && io_out_write(&w, bytes, n)) rc = cli_fail(cli_out_name(out), "cannot write: %s", strerror(errno));
    *total += n;
  }
  if (!rc) rc = cli_commit(&w, out);
  else if (rc) io_out_abort(&w);
  return rc;
}

/* Audio: streamed, or with a target read whole (encode_audio_target). */
static int encode_audio(cli_opts *o, const char *in, io_input *f, const char *out) {
  snd_reader *r;
  wl_model *m = NULL;
  wl_audio_encoder *e = NULL;
  wl_audio fmt;
  char why[SND_WHY];
  size_t total = 0;
  if (snd_open(f, &r, &fmt, why)) return cli_fail(in, "%s", why);
  int rc = audio_encoder(o, in, &fmt, &m, &e); /* with a target, only to check the options */
  if (!rc && o->target) {
    wl_audio_encoder_free(e); /* its chunk buffers are not needed beside the whole clip */
    e = NULL;
    rc = encode_audio_target(o, in, r, m, out, &total, &fmt.frames);
  } else if (!rc) {
    rc = stream_audio(o, in, r, e, out, &fmt, &total);
  }
  if (!rc && o->verbosity > 1 && snd_declared(r) >= 0)
    fprintf(stderr, "walloc: %s: its header says %lld frames, %ld decode (a Vorbis/Opus length is an estimate)\n",
            in, snd_declared(r), fmt.frames);
  if (!rc && o->verbosity > 1) audio_summary(in, out, &fmt, total);
  snd_close(r);
  wl_audio_encoder_free(e);
  wl_model_free(m);
  return rc;
}

/* The output path is known before anything is read: --skip-existing costs no coding. */
static int encode_one(cli_opts *o, const char *in) {
  io_input f;
  char *out = cli_output_path(o, in, ".wlc");
  int rc = out ? 0 : cli_fail(in, "out of memory");
  if (!rc && !cli_skip(o, out) && !(rc = open_input(in, &f))) {
    rc = snd_is_audio(f.head, f.nhead) ? encode_audio(o, in, &f, out) : encode_image(o, in, &f, out);
    io_close(&f);
  }
  free(out);
  return rc;
}

/* The model of a .wlc whose header is h: -m, or the built-in one it names; prints errors. */
static const char *builtin_name(uint64_t id) {
  static wl_model_desc d;
  wl_model *m;
  if (wl_model_builtin_by_id(&m, id)) return "";
  wl_model_describe(m, &d);
  wl_model_free(m);
  return d.name;
}

static int wlc_model(cli_opts *o, const char *in, const wl_info *h, wl_model **m) {
  o->last_model = h->model_id;
  int e;
  wl_model_desc d;
  *m = NULL;
  if (o->model && cli_load_model(o->model, m)) return 1;
  if (o->model) wl_model_describe(*m, &d);
  if (o->model && d.id != h->model_id) /* name both, so the user knows which -m to give */
    return cli_fail(in, "made with model %016" PRIx64 "%s%s, not with -m %s (%016" PRIx64 ")", h->model_id,
                    *builtin_name(h->model_id) ? ", built-in " : "", builtin_name(h->model_id), o->model, d.id);
  if (o->model) return 0;
  if (!(e = wl_model_builtin_by_id(m, h->model_id))) return 0;
  return e == WL_ERR_MISMATCH ? cli_fail(in, "made with model %016" PRIx64 ", which is not built in (use -m)", h->model_id)
                              : cli_fail(in, "built-in model: %s", cli_error(e));
}

int cli_open_wlc(cli_opts *o, const char *in, uint8_t **buf, size_t *len, wl_info *h, wl_model **m) {
  *m = NULL;
  if (read_wlc(in, buf, len)) return 1;
  int e = wl_info_read(*buf, *len, h);
  int rc = e ? cli_fail(in, "%s", cli_error(e)) : wlc_model(o, in, h, m);
  if (rc) free(*buf);
  return rc;
}

/* PNG holds gray or RGB (alpha aside); other channel counts go to .npy. */
static int png_holds(int channels) { return channels == 1 || channels == 3; }

/* An image on an output as wl_decode_rows hands out stripes: a PNG written as they come, or a
 * .npy whose planes' rows are written at their place in the file (in order with one plane). */
typedef struct {
  io_output *w;
  png_writer *pw; /* NULL: .npy */
  int planes, bytes, height, width;
  size_t head, cap;
  uint8_t *buf;
  int werr; /* errno of a failed write, 0 for none */
} image_out;

static int out_write(void *user, const void *data, size_t n) {
  image_out *p = user;
  if (io_out_write(p->w, data, n)) return p->werr = errno ? errno : EIO, -1;
  return 0;
}

static int npy_out_rows(image_out *p, const wl_image *rows, int y0) {
  const size_t n = (size_t)rows->height * rows->width, bytes = n * (size_t)p->bytes;
  if (bytes > p->cap) {
    free(p->buf);
    if (!(p->buf = malloc(p->cap = bytes))) return p->cap = 0, 1;
  }
  for (int k = 0; k < p->planes; k++) {
    npy_put_samples(p->buf, k < rows->channels ? rows->planes + k * n : rows->alpha, n, p->bytes);
    const int64_t at = (int64_t)p->head + ((int64_t)k * p->height + y0) * p->width * p->bytes;
    if (p->planes == 1 ? io_out_write(p->w, p->buf, bytes) : io_out_write_at(p->w, p->buf, bytes, at))
      return p->werr = errno ? errno : EIO, 1;
  }
  return 0;
}

static int out_rows(void *user, const wl_image *rows, int y0) {
  image_out *p = user;
  return p->pw ? png_writer_rows(p->pw, rows) ? 1 : 0 : npy_out_rows(p, rows, y0);
}

/* The whole image as a .npy on w (stdout or a stream, with several planes: written one after
 * another, they need the whole image). Prints errors. */
static int npy_whole(const char *in, const uint8_t *buf, size_t len, const wl_model *m, const wl_info *h,
                     const char *out, image_out *p) {
  uint8_t *enc = NULL;
  size_t enclen = 0;
  wl_image img = {0};
  if ((long)h->width * h->height > WL_MAX_PIXELS)
    return cli_fail(in, "%dx%d is over 64 Mpixel: a .npy of several planes on stdout or a pipe holds the image whole; "
                    "decode to a file", h->width, h->height);
  int e = wl_decode(m, buf, len, &img), rc = e ? cli_fail(in, "%s", cli_error(e)) : 0;
  if (!rc && npy_encode_image(&img, &enc, &enclen)) rc = cli_fail(in, "cannot encode .npy: out of memory");
  if (!rc && out_write(p, enc, enclen)) rc = cli_fail(cli_out_name(out), "cannot write: %s", strerror(p->werr));
  free(enc);
  wl_image_release(&img);
  return rc;
}

/* Decodes an image .wlc to PNG or .npy at out (ext: its extension, NULL for stdout), a stripe
 * at a time (memory bounded by the width), but for a .npy of several planes on stdout or a
 * stream (npy_whole). */
static int decode_image(cli_opts *o, const char *in, const uint8_t *buf, size_t len, const wl_model *m,
                        const wl_info *h, const char *out, const char *ext) {
  const int npy = ext ? !strcmp(ext, ".npy") : !png_holds(h->channels), planes = h->channels + h->has_alpha;
  if (ext && strcmp(ext, ".png") && !npy) return cli_fail(in, "an image decodes to .png or .npy, not %s", ext);
  if (!npy && !png_holds(h->channels))
    return cli_fail(cli_out_name(out), "PNG holds 1 or 3 channels, the image has %d (write .npy)", h->channels);
  io_output w;
  image_out p = {&w, NULL, planes, h->depth / 8, h->height, h->width, 0, 0, NULL, 0};
  if (cli_out_open(o, out, &w)) return 1;
  int rc = 0, e = 0;
  if (npy && planes > 1 && !w.tmp) {
    rc = npy_whole(in, buf, len, m, h, out, &p);
  } else {
    uint8_t head[NPY_HEAD_MAX];
    if (npy) rc = out_write(&p, head, p.head = npy_image_head(head, planes, h->height, h->width, h->depth));
    else rc = png_writer_new(&p.pw, h->channels, h->height, h->width, h->depth, h->has_alpha, out_write, &p);
    if (!rc) e = wl_decode_rows(m, buf, len, 0, out_rows, &p);
    if (!rc && !e && p.pw) rc = png_writer_end(p.pw);
    if (e < 0) rc = cli_fail(in, "%s", cli_error(e));
    else if ((rc || e) && p.werr) rc = cli_fail(cli_out_name(out), "cannot write: %s", strerror(p.werr));
    else if (rc || e) rc = cli_fail(cli_out_name(out), "cannot encode %s: out of memory", npy ? ".npy" : "PNG");
  }
  png_writer_free(p.pw);
  free(p.buf);
  if (rc) io_out_abort(&w);
  else rc = cli_commit(&w, out);
  return rc;
}

/* Streams an audio .wlc (f) to WAV (also on stdout) or FLAC, by the extension of out: records
 * from the input into the decoder, its final frames to the writer as they come. */
static int decode_audio(cli_opts *o, const char *in, io_input *f, const wl_model *m, const char *out, const char *ext) {
  const int flac = ext && !strcmp(ext, ".flac");
  if (ext && strcmp(ext, ".wav") && !flac) return cli_fail(in, "audio decodes to .wav or .flac, not %s", ext);
  enum { READ = 1 << 16 };
  uint8_t tail[WL_STREAM_TAIL], *buf = malloc(READ);
  long frames = -1; /* a file's end record tells the length up front, for a WAV header on stdout */
  const off_t end = f->start + f->size - WL_STREAM_TAIL;
  if (f->size < WL_STREAM_TAIL || pread(f->fd, tail, sizeof tail, end) != WL_STREAM_TAIL || wl_stream_frames(tail, &frames))
    frames = -1;
  wl_audio_decoder *d = NULL;
  snd_writer *sw = NULL;
  io_output w;
  wl_audio v;
  char why[SND_WHY];
  int e = buf ? wl_audio_decoder_new(&d, m) : WL_ERR_NOMEM, rc = e ? cli_fail(in, "%s", cli_error(e)) : 0, opened = 0;
  if (!rc) opened = !(rc = cli_out_open(o, out, &w));
  for (ssize_t n = 1; !rc && n;) {
    if ((n = io_read(f, buf, READ)) < 0) rc = cli_fail(in, "cannot read: %s", strerror(errno));
    for (size_t off = 0, used; !rc && off < (size_t)n; off += used) {
      if ((e = wl_audio_decoder_push(d, buf + off, (size_t)n - off, &used, &v))) rc = cli_fail(in, "%s", cli_error(e));
      else if (v.channels && !sw && snd_create(&w, &v, flac, frames, &sw, why)) rc = cli_fail(cli_out_name(out), "%s", why);
      else if (v.frames && snd_write(sw, &v, why)) rc = cli_fail(cli_out_name(out), "%s", why);
    }
  }
  if (!rc && (e = wl_audio_decoder_finish(d))) rc = cli_fail(in, "%s", cli_error(e));
  if (!rc && snd_finish(sw, why)) rc = cli_fail(cli_out_name(out), "%s", why);
  else if (rc) snd_abandon(sw);
  if (opened && !rc) rc = cli_commit(&w, out);
  else if (opened && rc) io_out_abort(&w);
  wl_audio_decoder_free(d);
  free(buf);
  return rc;
}

static const char *const signal_exts[] = {".png", ".npy", ".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff",
                                          ".au", ".caf", ".w64", ".rf64", NULL};
static const char *const wlc_exts[] = {".wlc", NULL};

/* Whether path's extension names a format (a name of the user's own, out.bin or out, does not). */
static int names_format(const char *path) {
  static const char *const other[] = {".wlc", ".wlm", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".gif", ".bmp", ".jxl",
                                      ".jp2", ".j2k", ".avif", ".heic", ".mp3", ".m4a", ".aac", ".wma", ".mka", NULL};
  return io_ext_in(path, other) || io_ext_in(path, signal_exts);
}

static int decode_one(cli_opts *o, const char *in) {
  io_input f;
  wl_info h;
  wl_model *m = NULL;
  uint8_t *buf = NULL;
  size_t len;
  if (open_input(in, &f)) return 1;
  int e = wl_info_peek(f.head, f.nhead, &h), rc = e ? cli_fail(in, "%s", cli_error(e)) : wlc_model(o, in, &h, &m);
  const int audio = h.modality == WL_MODALITY_AUDIO;
  char *out = rc ? NULL : cli_output_path(o, in, audio ? ".wav" : png_holds(h.channels) ? ".png" : ".npy");
  /* NULL, the default format (stdout's): stdout, a FIFO or device named without an extension
   * (/dev/null), a name of the user's own (out.bin, out) */
  const char *ext = out && strcmp(out, "-") && names_format(out) ? io_ext(out) : NULL;
  if (!rc && !out) rc = cli_fail(in, "out of memory");
  const int skipped = !rc && cli_skip(o, out);
  if (skipped) { /* nothing decoded */ }
  else if (!rc && audio) rc = decode_audio(o, in, &f, m, out, ext);
  else if (!rc && io_read_rest(&f, &buf, &len)) rc = cli_fail(in, "cannot read: %s", strerror(errno));
  else if (!rc && (e = wl_info_read(buf, len, &h))) rc = cli_fail(in, "%s", cli_error(e));
  else if (!rc) rc = decode_image(o, in, buf, len, m, &h, out, ext);
  if (!rc && !skipped && o->verbosity > 1 && audio)
    cli_note("%s -> %s: %d ch, %d Hz, %d-bit", in, cli_out_name(out), h.channels, h.rate, h.depth);
  else if (!rc && !skipped && o->verbosity > 1)
    cli_note("%s -> %s: %dx%d, %d channel(s), %d-bit", in, cli_out_name(out), h.width, h.height,
             h.channels + h.has_alpha, h.depth);
  io_close(&f);
  free(out); free(buf);
  wl_model_free(m);
  return rc;
}

int cli_out_named(const cli_opts *o, const char *command, const char *writes) {
  const char *ext = o->out ? io_ext(o->out) : "";
  if (!o->out || !strcmp(o->out, "-") || !names_format(o->out) || (*ext && strstr(writes, ext)))
    return 0; /* also a name of the user's own (out.bin, out) */
  return cli_usage("-o %s: %s writes %s, not %s", o->out, command, writes, ext);
}

int cmd_encode(cli_opts *o) {
  const int rc = cli_out_named(o, "encode", ".wlc");
  return rc ? rc : batch_run(o, encode_one, signal_exts, 1);
}
int cmd_decode(cli_opts *o) {
  return cli_out_named(o, "decode", ".png, .npy (images), .wav or .flac (audio)") ? 2 : batch_run(o, decode_one, wlc_exts, 1);
}

/* The name of the built-in model with this id, or "" */
/* Samples per latent sent and the raw PCM size of a header's signal, and its bits per pixel or kbps. */
static double raw_bytes(const wl_info *h) {
  return (double)h->width * h->height * (h->channels + h->has_alpha) * h->depth / 8;
}
static double reduction(const wl_info *h) {
  return (double)h->width * h->height * h->channels / ((double)h->keep * h->lat_w * h->lat_h);
}
static double kbps(const wl_info *h, size_t len) { return 8.0 * len * h->rate / (double)h->frames / 1000; }

/* A .wlc's header, each kept channel's entropy mode and bytes, and an image's masks per tile
 * (wl_tile_masks: the channels each tile sends, rows x cols; NULL where its model is not at hand). */
typedef struct { wl_info h; uint8_t *mode; uint64_t *bytes; uint16_t *tiles; int rows, cols; } wlc_info;

/* The masks per tile of image file buf into w, if its model is built in or given with -m (which
 * must be the file's); otherwise none. 0, or 1 after printing an error. */
static int info_masks(cli_opts *o, const char *in, const uint8_t *buf, size_t len, wlc_info *w) {
  wl_model *m = NULL;
  int16_t *q = NULL;
  wl_info h;
  if (w->h.modality != WL_MODALITY_IMAGE) return 0;
  if (o->model ? wlc_model(o, in, &w->h, &m) : wl_model_builtin_by_id(&m, w->h.model_id) != 0) return o->model != NULL;
  w->rows = (w->h.lat_h + WL_MASK_TILE - 1) / WL_MASK_TILE, w->cols = (w->h.lat_w + WL_MASK_TILE - 1) / WL_MASK_TILE;
  w->tiles = malloc(sizeof *w->tiles * (size_t)w->rows * w->cols);
  int e = w->tiles ? wl_latents(m, buf, len, &q, &h) : WL_ERR_NOMEM;
  if (!e) e = wl_tile_masks(q, h.keep, h.lat_h, h.lat_w, h.bits, w->tiles, NULL, NULL);
  free(q);
  wl_model_free(m);
  return e ? cli_fail(in, "%s", cli_error(e)) : 0;
}

/* The least, mean and most channels a tile sends, and the share of tiles that send none. */
static void mask_stats(const wlc_info *w, int *lo, double *mean, int *hi, double *empty) {
  const long n = (long)w->rows * w->cols;
  long sum = 0, none = 0;
  *lo = w->h.keep, *hi = 0;
  for (long t = 0; t < n; t++) {
    const int c = w->tiles[t];
    sum += c, none += !c;
    *lo = c < *lo ? c : *lo, *hi = c > *hi ? c : *hi;
  }
  *mean = (double)sum / n, *empty = (double)none / n;
}

/* Bytes of an image's detail layer: what the header, alpha, latents and CRC leave. */
static uint64_t detail_bytes(const wlc_info *w, size_t len) {
  uint64_t used = w->h.header_len + w->h.alpha_len + 4;
  for (int c = 0; c < w->h.keep; c++) used += w->bytes[c];
  return w->h.step && len > used ? len - used : 0;
}

static void print_info(const char *in, const wlc_info *w, size_t len) {
  const wl_info *h = &w->h;
  const int audio = h->modality == WL_MODALITY_AUDIO;
  const double px = (double)h->width * h->height;
  const char *name = builtin_name(h->model_id);
  if (!strcmp(in, "-")) in = "(stdin)";
  printf("file:          %s\n", in);
  printf("format:        walloc %d, %s\n", h->version, audio ? "audio" : "image");
  printf("model:         %016" PRIx64 "%s%s\n", h->model_id, *name ? " built-in " : "", name);
  if (audio) {
    printf("audio:         %d channel(s), %d Hz, %ld frames (%.3f s), %d-bit\n", h->channels, h->rate, h->frames,
           (double)h->frames / h->rate, h->depth);
    printf("latents:       %d of %d channels, %d positions, %d-bit, J=%d\n", h->keep, h->K, h->lat_w, h->bits, h->J);
    printf("chunks:        %ld of %ld frames, overlap %ld\n", h->chunks, h->chunk, h->overlap);
    printf("size:          %zu bytes, %.2f kbps, ratio %.2f:1 (vs %d-bit PCM)\n", len, kbps(h, len), raw_bytes(h) / len,
           h->depth);
    if (h->fill)
      printf("envelope:      %" PRIu64 " bytes, %.2f kbps (band energies: noise fill)\n", h->fill_bytes,
             kbps(h, h->fill_bytes));
    else
      printf("envelope:      none (--no-fill)\n");
    if (h->step)
      printf("detail:        step %d (2^%g), %" PRIu64 " bytes, %.2f kbps\n", h->step, 2 - h->step / 64.0,
             h->detail_bytes, kbps(h, h->detail_bytes));
  } else {
    printf("image:         %dx%d, %d channel(s), %d-bit%s\n", h->width, h->height, h->channels, h->depth,
           h->has_alpha ? ", alpha" : "");
    printf("latents:       %d of %d channels, %dx%d, %d-bit, J=%d\n", h->keep, h->K, h->lat_w, h->lat_h, h->bits, h->J);
    printf("size:          %zu bytes, %.4f bpp, ratio %.2f:1\n", len, 8.0 * len / px, raw_bytes(h) / len);
  }
  printf("reduction:     %.2fx (samples per latent sent)\n", reduction(h));
  if (h->has_alpha) printf("alpha:         %u bytes (zstd)\n", h->alpha_len);
  for (int c = 0; c < h->keep; c++)
    printf("channel %-4d   %-10s %" PRIu64 " bytes\n", c, wl_entropy_name(w->mode[c]), w->bytes[c]);
  if (h->step && !audio) /* audio's detail line is above */
    printf("detail:        step %d (2^%g), %d of %d planes sent, %" PRIu64 " bytes\n", h->step, 2 - h->step / 64.0,
           h->detail_planes, h->channels << (2 * h->J), detail_bytes(w, len));
  if (w->tiles) {
    int lo, hi;
    double mean, empty;
    mask_stats(w, &lo, &mean, &hi, &empty);
    printf("masks:         %d to %d channels per %dx%d tile, mean %.2f; %.1f%% of %d tiles send none\n", lo, hi,
           WL_MASK_TILE, WL_MASK_TILE, mean, 100 * empty, w->rows * w->cols);
  }
}

/* {"file": "IN" with IN as a JSON string ("(stdin)" for "-"): the start of info --json. */
static void print_file_json(const char *in) {
  printf("{\"file\": ");
  cli_json_string(stdout, strcmp(in, "-") ? in : "(stdin)");
}

static void print_json(const char *in, const wlc_info *w, size_t len) {
  const wl_info *h = &w->h;
  const int audio = h->modality == WL_MODALITY_AUDIO;
  print_file_json(in);
  printf(", \"version\": %d, \"modality\": \"%s\", \"model_id\": \"%016" PRIx64 "\", \"model\": \"%s\", ",
         h->version, audio ? "audio" : "image", h->model_id, builtin_name(h->model_id));
  if (audio)
    printf("\"channels\": %d, \"rate\": %d, \"frames\": %ld, \"seconds\": %.6f, \"depth\": %d, \"chunk\": %ld, "
           "\"overlap\": %ld, \"chunks\": %ld, ", h->channels, h->rate, h->frames, (double)h->frames / h->rate, h->depth,
           h->chunk, h->overlap, h->chunks);
  else
    printf("\"width\": %d, \"height\": %d, \"channels\": %d, \"depth\": %d, \"alpha\": %s, ", h->width, h->height,
           h->channels, h->depth, h->has_alpha ? "true" : "false");
  printf("\"J\": %d, \"K\": %d, \"keep\": %d, \"bits\": %d, \"latent_shape\": [%d, %d, %d], ", h->J, h->K, h->keep,
         h->bits, h->keep, h->lat_h, h->lat_w);
  if (audio)
    printf("\"bytes\": %zu, \"kbps\": %.6f, \"ratio\": %.6f, \"envelope_bytes\": %" PRIu64 ", \"detail_step\": %d, "
           "\"detail_bytes\": %" PRIu64 ", \"streams\": [", len, kbps(h, len), raw_bytes(h) / len, h->fill_bytes, h->step,
           h->detail_bytes);
  else
    printf("\"bytes\": %zu, \"bpp\": %.6f, \"alpha_bytes\": %u, \"detail_step\": %d, \"detail_planes\": %d, "
           "\"detail_bytes\": %" PRIu64 ", \"streams\": [", len, 8.0 * len / ((double)h->width * h->height), h->alpha_len,
           h->step, h->detail_planes, detail_bytes(w, len));
  for (int c = 0; c < h->keep; c++)
    printf("%s{\"entropy\": \"%s\", \"bytes\": %" PRIu64 "}", c ? ", " : "", wl_entropy_name(w->mode[c]), w->bytes[c]);
  printf("]");
  if (w->tiles) {
    int lo, hi;
    double mean, empty;
    mask_stats(w, &lo, &mean, &hi, &empty);
    printf(", \"masks\": {\"tile\": %d, \"min\": %d, \"mean\": %.6f, \"max\": %d, \"empty\": %.6f, \"map\": [", WL_MASK_TILE,
           lo, mean, hi, empty);
    for (int r = 0; r < w->rows; r++)
      for (int c = 0; c < w->cols; c++)
        printf("%s%d%s", c ? ", " : r ? ", [" : "[", w->tiles[(long)r * w->cols + c], c == w->cols - 1 ? "]" : "");
    printf("]}");
  } else if (!audio) {
    printf(", \"masks\": null");
  }
  printf("}\n");
}

/* A .wlm model file's description (info on a model): what wl_model_describe says. */
static int info_model(cli_opts *o, const char *in, const uint8_t *buf, size_t len) {
  wl_model *m;
  wl_model_desc d;
  int e = wl_model_load(&m, buf, len);
  if (e) return cli_fail(in, "%s", cli_error(e));
  wl_model_describe(m, &d);
  wl_model_free(m);
  if (o->json) {
    print_file_json(in);
    printf(", \"model\": ");
    cli_json_string(stdout, d.name); /* a name given to train */
    printf(", \"kind\": \"%s\", \"id\": \"%016" PRIx64 "\", \"channels\": %d, \"dims\": %d, \"J\": %d, \"K\": %d, "
           "\"bits\": %d}\n", d.kind, d.id, d.channels, d.dims, d.J, d.K, d.bits);
  }
  else
    printf("file:          %s\nmodel:         %s (%s), id %016" PRIx64 "\nsignal:        %d channel(s), %s\n"
           "latents:       K=%d, %d-bit, J=%d\n", in, d.name, d.kind, d.id, d.channels, d.dims == 1 ? "audio" : "image",
           d.K, d.bits, d.J);
  return 0;
}

static int info_one(cli_opts *o, const char *in) {
  uint8_t *buf;
  size_t len;
  int model, e = 0;
  wlc_info w = {0};
  if (read_sniffed(in, &buf, &len, &model)) return 1;
  if (model) {
    int rc = info_model(o, in, buf, len);
    free(buf);
    return rc;
  }
  e = wl_info_peek(buf, len, &w.h); /* keep, to size the per-channel arrays */
  w.mode = malloc((size_t)w.h.keep);
  w.bytes = malloc(sizeof *w.bytes * (size_t)w.h.keep);
  if (!e) e = w.mode && w.bytes ? wl_info_channels(buf, len, &w.h, w.h.keep, w.mode, w.bytes) : WL_ERR_NOMEM;
  int rc = e ? cli_fail(in, "%s", cli_error(e)) : info_masks(o, in, buf, len, &w);
  free(buf);
  if (!rc) (o->json ? print_json : print_info)(in, &w, len);
  free(w.mode); free(w.bytes); free(w.tiles);
  return rc;
}

int cmd_info(cli_opts *o) { return batch_run(o, info_one, wlc_exts, 0); }

/* latents --detail: the detail planes of the .wlc in buf as a .npy in *npy (checked before
 * anything is written). */
static int detail_npy(const char *in, const uint8_t *buf, size_t len, uint8_t **npy, size_t *npylen) {
  int16_t *v;
  wl_info h;
  int e = wl_detail_planes(buf, len, &v, &h), rc = e ? cli_fail(in, "%s", cli_error(e)) : 0;
  if (!rc && !v && h.modality == WL_MODALITY_AUDIO)
    rc = cli_fail(in, "--detail writes an image's detail layer; an audio file's are per chunk");
  else if (!rc && !v) rc = cli_fail(in, "has no detail layer (encode with --step, a target or -Q: images from 11, audio from 21)");
  const long shape[3] = {h.channels << (2 * h.J), h.lat_h, h.lat_w};
  if (!rc && npy_encode(v, shape, 3, 16, npy, npylen)) rc = cli_fail(in, "out of memory");
  free(v);
  return rc;
}

/* latents --mask: which of q's latents (h's shape) their tile sends (wl_tile_masks), as a .npy
 * bool array (keep, h, w) in *npy. */
static int mask_npy(const char *in, const int16_t *q, const wl_info *h, uint8_t **npy, size_t *npylen) {
  if (h->modality == WL_MODALITY_AUDIO) return cli_fail(in, "--mask: masks are per tile of an image; this is audio");
  const long shape[3] = {h->keep, h->lat_h, h->lat_w};
  const size_t n = (size_t)h->keep * h->lat_h * h->lat_w, tiles = (size_t)((h->lat_h + WL_MASK_TILE - 1) / WL_MASK_TILE) *
                                                                  ((h->lat_w + WL_MASK_TILE - 1) / WL_MASK_TILE);
  uint8_t *sent = malloc(n ? n : 1);
  uint16_t *counts = malloc(sizeof *counts * tiles);
  int e = sent && counts ? wl_tile_masks(q, h->keep, h->lat_h, h->lat_w, h->bits, counts, sent, NULL) : WL_ERR_NOMEM;
  if (!e && npy_encode_bool(sent, shape, 3, npy, npylen)) e = WL_ERR_NOMEM;
  free(sent); free(counts);
  return e ? cli_fail(in, "%s", cli_error(e)) : 0;
}

static int latents_one(cli_opts *o, const char *in) {
  uint8_t *buf, *npy = NULL, *npy2 = NULL; /* the second output: --detail or --mask */
  size_t len, npylen = 0, len2 = 0;
  int16_t *q = NULL;
  wl_info h;
  wl_model *m;
  char *out = cli_output_path(o, in, ".npy");
  if (cli_skip(o, out) || cli_open_wlc(o, in, &buf, &len, &h, &m)) {
    free(out);
    return !o->skipped;
  }
  int e = wl_latents(m, buf, len, &q, &h), rc = e ? cli_fail(in, "%s", cli_error(e)) : 0;
  const long shape[3] = {h.keep, h.lat_h, h.lat_w};
  if (!rc && (!out || npy_encode(q, shape, 3, h.bits, &npy, &npylen))) rc = cli_fail(in, "out of memory");
  if (!rc && o->detail) rc = detail_npy(in, buf, len, &npy2, &len2);
  if (!rc && o->mask) rc = mask_npy(in, q, &h, &npy2, &len2);
  const char *second = o->detail ? o->detail : o->mask;
  if (!rc) rc = second ? cli_write_pair(o, out, npy, npylen, second, npy2, len2) : cli_write(o, out, npy, npylen);
  if (!rc && o->verbosity > 1) cli_note("%s -> %s: (%d, %d, %d)", in, cli_out_name(out), h.keep, h.lat_h, h.lat_w);
  free(out); free(npy); free(npy2); free(q); free(buf);
  wl_model_free(m);
  return rc;
}

/* latents -o OUT.npy of several files: one (N, K, h, w) array, channels not sent at 0, and
 * OUT.mask.npy, (N, K) bool: the channels each file sent. One model and latent shape only. */
static int stack_latents(cli_opts *o, char **files, int n) {
  int16_t *all = NULL;
  uint8_t *mask = NULL, *npy = NULL;
  size_t npylen = 0;
  wl_info first = {0};
  long P = 0;
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    uint8_t *buf;
    size_t len;
    int16_t *q = NULL;
    wl_info h;
    wl_model *m;
    if (cli_open_wlc(o, files[i], &buf, &len, &h, &m)) { rc = 1; break; }
    int e = wl_latents(m, buf, len, &q, &h);
    if (e) rc = cli_fail(files[i], "%s", cli_error(e));
    else if (!i) {
      first = h;
      P = (long)h.lat_h * h.lat_w;
      all = calloc((size_t)n * h.K * P, sizeof *all);
      mask = calloc((size_t)n * h.K, 1);
      if (!all || !mask) rc = cli_fail(files[i], "out of memory");
    } else if (h.K != first.K || h.lat_h != first.lat_h || h.lat_w != first.lat_w || h.bits != first.bits ||
               h.model_id != first.model_id)
      rc = cli_fail(files[i], "latents (%d, %d, %d) of model %016" PRIx64 " differ from %s's (%d, %d, %d) of %016" PRIx64
                    ": one array holds one model and size (one .npy per file: -O DIR)", h.K, h.lat_h, h.lat_w,
                    h.model_id, files[0], first.K, first.lat_h, first.lat_w, first.model_id);
    for (int c = 0; !rc && c < h.keep; c++) {
      memcpy(all + ((size_t)i * h.K + c) * P, q + (size_t)c * P, sizeof *q * (size_t)P);
      mask[(size_t)i * h.K + c] = 1;
    }
    free(q);
    free(buf);
    wl_model_free(m);
  }
  const long shape[4] = {n, first.K, first.lat_h, first.lat_w}, mshape[2] = {n, first.K};
  char *mpath = rc ? NULL : io_replace_ext(o->out, ".mask.npy");
  uint8_t *mnpy = NULL;
  size_t mlen = 0;
  if (!rc && (!mpath || npy_encode(all, shape, 4, first.bits, &npy, &npylen) || npy_encode_bool(mask, mshape, 2, &mnpy, &mlen)))
    rc = cli_fail(o->out, "out of memory");
  if (!rc) rc = cli_write_pair(o, o->out, npy, npylen, mpath, mnpy, mlen);
  free(mnpy);
  if (!rc && o->verbosity > 1) fprintf(stderr, "walloc: %d files -> %s (%d, %d, %d, %d) and %s\n", n, o->out, n, first.K,
                                       first.lat_h, first.lat_w, mpath);
  free(npy); free(mpath); free(all); free(mask);
  return rc;
}

int cmd_latents(cli_opts *o) {
  if (cli_out_named(o, "latents", ".npy")) return 2;
  for (int i = 0; !o->out && !o->to_stdout && !o->outdir && i < o->ninputs; i++)
    if (strcmp(o->inputs[i], "-")) return cli_usage("latents needs -o OUT.npy, -O DIR or -c"); /* stdin's go to stdout */
  /* -o OUT.npy of several inputs or a folder's: one stacked array */
  const int stack = o->out && strcmp(o->out, "-") && !o->to_stdout && (o->ninputs > 1 || o->recurse);
  if (o->detail && o->mask) return cli_usage("%s", "--detail and --mask: one at a time");
  const char *second = o->detail ? "--detail" : "--mask", *path = o->detail ? o->detail : o->mask;
  if (path && (o->ninputs > 1 || o->recurse))
    return cli_usage("%s writes one file's %s: give one input", second, o->detail ? "detail layer" : "masks");
  if (path && o->out && (!strcmp(path, o->out) || cli_same_file(path, o->out)))
    return cli_usage("%s %s: the same file as -o", second, path);
  if (stack && o->manifest) return cli_usage("--manifest records one output per input: not with -o %s stacking them", o->out);
  if (!stack) return batch_run(o, latents_one, wlc_exts, !o->out && !o->to_stdout);
  if (cli_skip(o, o->out)) return 0;
  char **files;
  int n;
  if (batch_files(o, wlc_exts, &files, &n)) return 1;
  const int rc = n ? stack_latents(o, files, n) : cli_fail(o->inputs[0], "no .wlc file to stack into %s", o->out);
  for (int i = 0; i < n; i++) free(files[i]);
  free(files);
  return rc;
}
