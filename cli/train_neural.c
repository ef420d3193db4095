/* train_neural.c: the neural training loop of `walloc train` (images, or audio clips for a 1-D
 * model): steps, a progress line on a terminal, validation PSNR at several k, periodic
 * checkpoints (--resume continues them), a stop on --time or Ctrl-C that still saves, and the
 * final model. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/io.h"

#define NKEEP 4 /* validation at k = K/4, K/2, 3K/4, K */

static volatile sig_atomic_t interrupted; /* the signal that stops the run */
static void on_signal(int sig) { interrupted = sig; }

char *train_checkpoint_path(const cli_opts *o) {
  if (o->checkpoint) return strdup(o->checkpoint);
  char *p = malloc(strlen(o->out) + 6);
  if (p) sprintf(p, "%s.ckpt", o->out);
  return p;
}

void train_catch_signals(void) { io_catch_signals(on_signal, NULL); }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double psnr(double mse) { return -10.0 * log10(mse > 1e-12 ? mse : 1e-12); }

/* Mean PSNR and rate over the validation set at each k in keep[]: bits per pixel for images;
 * for audio, kbps and the PSNR of peak-to-peak full scale (as the training loss). */
static int validate(wl_trainer *t, const train_set *val, const int *keep, double *db, double *bpp) {
  const int nval = val->n;
  for (int j = 0; j < NKEEP; j++) {
    db[j] = bpp[j] = 0;
    for (int i = 0; i < nval; i++) {
      double mse, bits;
      int e = val->audio ? wl_trainer_validate_audio(t, &val->clips[i], keep[j], &mse, &bits)
                         : wl_trainer_validate(t, &val->imgs[i], keep[j], &mse, &bits);
      if (e) return e;
      db[j] += psnr(mse) / nval;
      bpp[j] += bits / nval;
    }
  }
  return 0;
}

static int save(cli_opts *o, wl_trainer *t, int checkpoint, const char *path) {
  uint8_t *buf;
  size_t len;
  int e = wl_trainer_save(t, checkpoint, &buf, &len);
  if (e) return cli_fail(path, "cannot save: %s", cli_error(e));
  int rc = 0;
  if (io_write_atomic(path, buf, len, checkpoint || o->force))
    rc = errno == EEXIST ? cli_fail(path, "already exists (use -f to overwrite)")
                         : cli_fail(path, "cannot write: %s", strerror(errno));
  free(buf);
  return rc;
}

static int resume(wl_trainer *t, const char *path) {
  uint8_t *buf;
  size_t len;
  if (io_read_all(path, &buf, &len)) return cli_fail(path, "cannot read checkpoint: %s", strerror(errno));
  int e = wl_trainer_resume(t, buf, len);
  const char *why = e == WL_ERR_MISMATCH ? wl_error_detail(e) : ""; /* the setting that differs */
  wl_model *m = NULL;
  if (e && e != WL_ERR_MISMATCH && !wl_model_load(&m, buf, len)) /* a finished model, not its checkpoint */
    why = "a model, not a checkpoint (training writes its checkpoint beside the model, as MODEL.wlm.ckpt)";
  wl_model_free(m);
  free(buf);
  return e ? cli_fail(path, "cannot resume: %s", *why ? why : cli_error(e)) : 0;
}

/* Images: "train DB dB BPP bpp ... val DB@BPP ..."; audio: bits per frame in training, and
 * "val DB@KBPS ... dB@kbps". */
static void progress(FILE *f, const char *end, const cli_opts *o, int audio, long step, double db, double bpp,
                     double rate, const double *val, const double *vbpp, int have_val) {
  long left = o->steps - step;
  double eta = rate > 0 && left > 0 ? (double)left / rate : 0;
  fprintf(f, "step %ld/%d", step, o->steps);
  if (db > 0) /* training PSNR, masked channels included: below the validation PSNR at k = K */
    fprintf(f, "  train %.2f dB  %.3f %s  %.1f steps/s  ETA %ld:%02ld", db, bpp, audio ? "bits/frame" : "bpp", rate,
            (long)eta / 3600, (long)eta / 60 % 60);
  if (have_val) {
    fputs("  val", f);
    for (int j = 0; j < NKEEP; j++) fprintf(f, audio ? " %.2f@%.1f" : " %.2f@%.3f", val[j], vbpp[j]);
    if (audio) fputs(" dB@kbps", f);
  }
  fputs(end, f);
  fflush(f);
}

/* --resume: the settings the user did not give, from the checkpoint (wl_trainer_recorded), so
 * that the run goes on as the one that wrote it; one not readable there is left to resume() to
 * report. */
void train_inherit(cli_opts *o) {
  uint8_t *buf;
  size_t len;
  wl_train_params r = {.warmup = o->warmup, .weight_decay = o->weight_decay, .loss = o->loss, .quant = o->quant};
  if (io_read_all(o->resume, &buf, &len)) return;
  const int e = wl_trainer_recorded(buf, len, &r);
  free(buf);
  if (e) return;
  if (!(o->given & GIVEN_SEED)) o->seed = (int)r.seed;
  if (!(o->given & GIVEN_CROP)) o->crop = r.crop;
  if (!(o->given & GIVEN_BATCH)) o->batch = r.batch;
  if (!(o->given & GIVEN_LR)) o->lr = r.lr;
  if (!(o->given & GIVEN_LAMBDA)) o->lambda = r.lambda;
  if (!(o->given & GIVEN_JITTER)) o->jitter = r.jitter;
  if (!(o->given & GIVEN_FULL)) o->full = r.full;
  if (!(o->given & GIVEN_STEPS)) o->steps = (int)r.steps;
  if (!(o->given & GIVEN_WARMUP)) o->warmup = r.warmup; /* these four: as given, from checkpoints before 0.5 */
  if (!(o->given & GIVEN_DECAY)) o->weight_decay = r.weight_decay;
  if (!(o->given & GIVEN_LOSS)) o->loss = r.loss;
  if (!(o->given & GIVEN_QUANT)) o->quant = r.quant;
}

int train_neural(cli_opts *o, const train_set *set) {
  const int audio = set->audio, n = set->n;
  train_set val = {0};
  int rc = 0;
  int ch = o->channels;
  if (o->val && (rc = train_load_set(&o->val, 1, &ch, audio, &val))) return rc;
  const int nval = val.n;
  char *ckpt = train_checkpoint_path(o);
  char name[16];
  wl_train_params p = {.name = o->name ? o->name : train_default_name(o->channels, audio, name), .command = o->command,
                       .channels = o->channels, .J = o->J, .K = o->K, .bits = o->bits, .N = o->N, .R = o->R,
                       .fine_N = o->fine_N, .fine_R = o->fine_R,
                       .crop = o->crop, .batch = o->batch, .steps = o->steps, .warmup = o->warmup, .lr = o->lr,
                       .weight_decay = o->weight_decay, .lambda = o->lambda, .jitter = o->jitter, .full = o->full, .gain = o->gain, .taps = o->taps, .loss = o->loss, .quant = o->quant,
                       .seed = (uint64_t)o->seed};
  wl_trainer *t = NULL;
  int e = !ckpt ? WL_ERR_NOMEM : audio ? wl_trainer_new_audio(&t, set->clips, n, &p) : wl_trainer_new(&t, set->imgs, n, &p);
  if (e) rc = cli_fail("train", "%s", cli_error(e));
  if (!rc && o->resume) rc = resume(t, o->resume);
  if (!rc && o->resume && wl_trainer_step_count(t) > o->steps)
    rc = cli_fail(o->resume, "at step %ld, past --steps %d (the schedule's length: give at least that)",
                  wl_trainer_step_count(t), o->steps);
  const int K = o->K, keep[NKEEP] = {K / 4 > 0 ? K / 4 : 1, K / 2 > 0 ? K / 2 : 1, 3 * K / 4 > 0 ? 3 * K / 4 : 1, K};
  const int tty = isatty(STDERR_FILENO) && o->verbosity > 0;
  double vpsnr[NKEEP] = {0}, vbpp[NKEEP] = {0}, db = 0, bpp = 0, sum_db = 0, sum_bpp = 0, rate = 0;
  const double start = now();
  double last_ckpt = start, last_print = tty ? 0 : start - 50, window_t = start; /* a log: first at 10 s */
  long window_s = t ? wl_trainer_step_count(t) : 0, nsum = 0, step = window_s;
  const long first = step;
  int have_val = 0;
  if (!rc && o->verbosity > 1)
    fprintf(stderr, "train: %d %s, %d validation, starting at step %ld\n", n, audio ? "clips" : "images", nval, step);
  if (!rc && nval && !(rc = validate(t, &val, keep, vpsnr, vbpp) ? cli_fail(o->val, "validation failed") : 0) &&
      o->verbosity > 0) {
    progress(stderr, "\n", o, audio, step, 0, 0, 0, vpsnr, vbpp, 1);
    have_val = 1;
  }
  while (!rc && step < o->steps && !interrupted && !(o->time_s > 0 && now() - start > o->time_s)) {
    if ((e = wl_trainer_step(t, &db, &bpp))) { rc = cli_fail("train", "step failed: %s", cli_error(e)); break; }
    step = wl_trainer_step_count(t);
    sum_db += db; sum_bpp += bpp; nsum++;
    const double tnow = now();
    if (tnow - window_t > 2.0) { rate = (double)(step - window_s) / (tnow - window_t); window_t = tnow; window_s = step; }
    else if (window_s == first && tnow > start) rate = (double)(step - first) / (tnow - start); /* the first 2 s */
    if (nval && (step % o->val_every == 0 || step == o->steps)) {
      if ((e = validate(t, &val, keep, vpsnr, vbpp))) { rc = cli_fail(o->val, "validation: %s", cli_error(e)); break; }
      have_val = 1;
      if (o->verbosity > 0) progress(stderr, "\n", o, audio, step, sum_db / nsum, sum_bpp / nsum, rate, vpsnr, vbpp, 1);
      sum_db = sum_bpp = 0; nsum = 0;
    } else if (o->verbosity > 0 && tnow - last_print > (tty ? 0.5 : 60)) { /* a log: a line a minute */
      progress(stderr, tty ? "\r" : "\n", o, audio, step, sum_db / nsum, sum_bpp / nsum, rate, vpsnr, vbpp, have_val);
      last_print = tnow;
    }
    if (tnow - last_ckpt > o->ckpt_s) {
      rc = save(o, t, 1, ckpt);
      last_ckpt = tnow;
    }
  }
  const int trained = !(interrupted && step == first); /* stopped before a step: nothing new to save */
  if (!rc && trained) rc = save(o, t, 1, ckpt);
  if (!rc && trained) rc = save(o, t, 0, o->out);
  if (!rc && o->verbosity > 0 && !trained)
    fprintf(stderr, "train: stopped before its first step: nothing written\n");
  else if (!rc && o->verbosity > 0)
    fprintf(stderr, "train: %s at step %ld of %d (%.0f s)%s\n", o->out, step, o->steps, now() - start,
            step < o->steps ? "; stopped early, continue with --resume" : "");
  wl_trainer_free(t);
  train_set_free(&val);
  free(ckpt);
  if (interrupted) { /* saved: now the signal's own end, so that a scheduler sees the run stopped */
    signal(interrupted, SIG_DFL);
    raise(interrupted);
  }
  return rc;
}
