/* cli.h: options shared by the walloc subcommands and the helpers they share. */
#ifndef WL_CLI_H
#define WL_CLI_H
#include <stddef.h>
#include <stdint.h>
#include "walloc.h"
#include "walloc_train.h"

typedef struct {
  const char *out;   /* -o */
  const char *model; /* -m: built-in name or .wlm file */
  int to_stdout, force, verbosity, keep, refine, step, json;
  int nofill;         /* --no-fill: audio without a band envelope */
  int masks;          /* --masks: audio with per-segment masks (wl_encode_opts.masks) */
  int tile_masks;     /* --tile-masks: images with masks per tile at this level (wl_encode_opts.masks) */
  int fastread;       /* --fast-read: latents coded for reading speed (wl_encode_opts.fastread) */
  int quality;        /* -Q: 0..100, -1 unset */
  int target;         /* --size, --bpp, --psnr: WL_TARGET_*, 0 unset */
  double target_value;
  int linear, J, K, bits, channels, stride; /* train (J, K, channels: 0 until set or defaulted) */
  float gain;
  float zone;         /* --dead-zone: the detail layer's dead zone widened by this fraction of its step */
  const char *name;
  int N, R, fine_N, fine_R, crop, batch, warmup, val_every, steps, taps, loss, quant; /* train (neural); taps, loss -1: by input kind */
  float lr, weight_decay, lambda, jitter, full, time_s, ckpt_s; /* durations in seconds */
  int seed;
  unsigned given;     /* train settings given on the command line (GIVEN_*); --resume takes the others
                         from the checkpoint */
  long chunk; /* encode: frames per audio chunk (--chunk; 0: the library's default) */
  int threads; /* -T; 0: the default (all cores; image encode: see commands.c) */
  const char *val, *checkpoint, *resume;
  const char *detail; /* latents --detail: where the detail planes go */
  const char *mask;   /* latents --mask: where the masks per tile go (which latents are sent) */
  const char *diff;   /* show --diff: the original to compare with */
  const char *spectrogram; /* show --spectrogram: the original audio */
  const char *outdir; /* -O: outputs under it, mirroring the inputs' tree */
  int recurse, skip_existing, jobs, shard_i, shard_n; /* -r, --skip-existing, -j, --shard I/N */
  const char *rel;    /* batch.c: the current input's path under the directory it was found in */
  int skipped;        /* set by a command that skipped its input (--skip-existing) */
  int folder_err;     /* errno of making the output's folders (-O), told when it is opened */
  char *last_out;     /* the output path the current input was given (output_path) */
  const char *input;  /* that input: an output is never written over it (cli_out_open) */
  uint64_t last_model; /* the model id it was coded with (0: none) */
  const char *manifest; /* --manifest: one JSON line per file appended, and read to resume */
  char **inputs;
  int ninputs;
  char *command; /* the command line, recorded by train */
} cli_opts;
enum { GIVEN_SEED = 1, GIVEN_CROP = 2, GIVEN_BATCH = 4, GIVEN_LR = 8, GIVEN_LAMBDA = 16, GIVEN_JITTER = 32,
       GIVEN_FULL = 64, GIVEN_STEPS = 128, GIVEN_WARMUP = 256, GIVEN_DECAY = 512, GIVEN_LOSS = 1024,
       GIVEN_QUANT = 2048 };

/* batch.c: runs one() on every input (directories walked with -r for files of the extensions
 * exts, NULL-terminated), with -O, --shard, -j, progress and totals; the exit status. to_files:
 * one() writes only files, so that without -j and -T several inputs go a core each. */
int batch_run(cli_opts *o, int (*one)(cli_opts *, const char *), const char *const *exts, int to_files);
/* The inputs batch_run would take, as *n malloc'd paths (each and the array to free). */
int batch_files(cli_opts *o, const char *const *exts, char ***files, int *n);

/* Prints "walloc: FILE: message" on stderr and returns 1 (the exit status for bad input). */
int cli_fail(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A usage error: "walloc: " and the message, then where help is; returns 2, the exit status. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* s as a JSON string (quoted, escaped) on f. */
void cli_json_string(FILE *f, const char *s);
/* Whether paths a and b name one file (hard and symbolic links included; "-" names none). */
int cli_same_file(const char *a, const char *b);
/* A library error's message: wl_strerror's, then what the library adds (wl_error_detail), then,
 * when WALLOC_DEBUG is set, where it began in the library's sources. */
const char *cli_error(int e);
/* Loads -m (a built-in name or a file path) into *m; prints the error itself. */
int cli_load_model(const char *spec, wl_model **m);
/* Writes an output, refusing binary data to a terminal without -f; prints the error itself. */
int cli_write(const cli_opts *o, const char *path, const uint8_t *buf, size_t len);
/* Two outputs that go together (an array and its mask, latents and their detail planes): the
 * first is not written where the second may not be (it exists, without -f), and is removed where
 * writing the second fails. */
int cli_write_pair(const cli_opts *o, const char *path, const uint8_t *buf, size_t len, const char *path2,
                   const uint8_t *buf2, size_t len2);
/* A progress line is on the terminal (1) or not (0): cli_fail and cli_note clear it first. */
void cli_progress_shown(int on);
/* A line (fmt without its newline) on stderr, written at once. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens an output to write in pieces (io_out_*), with cli_write's checks and messages. */
struct io_output;
/* "stdout" for "-", else path: the name an output's errors give. */
const char *cli_out_name(const char *path);
/* -o's extension against `writes`, the extensions `command` writes (in words): 2 (a usage error,
 * printed) where it names another format walloc knows (encode -o x.png), else 0 (names of the
 * user's own pass). */
int cli_out_named(const cli_opts *o, const char *command, const char *writes);
/* io_out_commit, its failure printed; 0 or 1. */
int cli_commit(struct io_output *w, const char *path);
int cli_out_open(const cli_opts *o, const char *path, struct io_output *w);

/* An input signal: an image (PNG, .npy) or audio (WAV, FLAC, OGG ... through libsndfile). */
typedef struct {
  int audio;    /* 1: the signal is snd; 0: img */
  wl_image img;
  wl_audio snd;
} cli_signal;
/* Reads a file ("-" = stdin) and tells image from audio by its content; prints the error
 * itself. The one signal reader of encode, eval and train. */
int cli_read_signal(const char *in, cli_signal *s);
void cli_signal_release(cli_signal *s);
/* Reads a .wlc, validates its header and loads its model (-m, or the built-in one whose id
 * the header names); prints the error itself. On success *buf is the file (caller frees). */
int cli_open_wlc(cli_opts *o, const char *in, uint8_t **buf, size_t *len, wl_info *h, wl_model **m);

int cmd_encode(cli_opts *o);
int cmd_decode(cli_opts *o);
int cmd_info(cli_opts *o);
int cmd_latents(cli_opts *o);
int cmd_show(cli_opts *o);
/* The output path of input in with extension ext (-o, -c, -O DIR: DIR/its path under the
 * directory it was found in), its folders made; remembered in o->last_out (malloc'd). */
char *cli_output_path(cli_opts *o, const char *in, const char *ext);
/* --skip-existing: whether out is there already (o->skipped), checked before any coding. */
int cli_skip(cli_opts *o, const char *out);
int cmd_train(cli_opts *o);
int cmd_eval(cli_opts *o);

/* Loaded training or validation inputs: n images, or n audio clips when audio is set. */
typedef struct { int audio, n; wl_image *imgs; wl_audio *clips; } train_set;
/* train_data.c: the images (PNG, .npy) or audio clips of DIRs, files or list files, all of the
 * kind `audio` (1, 0, or -1: the first input's), converted to *channels channels (0: 3 for
 * images, the first clip's for audio, which is stored there); prints errors. */
int train_load_set(const char *const *args, int nargs, int *channels, int audio, train_set *set);
void train_set_free(train_set *set);
/* train_data.c: the name a trained model gets without --name: gray, rgb or "C-channel" for
 * images; mono, stereo or "C-ch-audio" for audio (in buf[16]). */
const char *train_default_name(int channels, int audio, char buf[16]);
/* train_neural.c: the training loop of a neural model (2-D on images, 1-D on audio). */
int train_neural(cli_opts *o, const train_set *set);
/* SIGINT, SIGTERM and SIGHUP (unless ignored) stop training at the next step, which saves a
 * checkpoint and the model, then ends by the signal; caught from before the inputs are read. */
void train_catch_signals(void);
/* The checkpoint's path: --checkpoint, or -o's with .ckpt added (malloc'd; NULL: no memory). */
char *train_checkpoint_path(const cli_opts *o);
/* --resume: the settings the command line does not give, from the checkpoint (train_neural.c). */
void train_inherit(cli_opts *o);
#endif
