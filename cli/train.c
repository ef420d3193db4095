/* train.c: walloc train: loads the inputs (train_data.c) and fits a linear model (--linear) or
 * hands them to the neural training loop (train_neural.c): 2-D for images, 1-D for audio. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
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

static int train_linear(cli_opts *o, const train_set *set) {
  uint8_t *model = NULL;
  size_t len = 0;
  char name[16];
  wl_linear_params p = {.name = o->name ? o->name : train_default_name(o->channels, set->audio, name),
                        .channels = o->channels, .J = o->J, .K = o->K, .bits = o->bits, .gain = o->gain,
                        .stride = o->stride, .command = o->command};
  int e = set->audio ? wl_train_linear_audio(set->clips, set->n, &p, &model, &len)
                     : wl_train_linear(set->imgs, set->n, &p, &model, &len), rc = 0;
  if (e) rc = cli_fail(o->out, "training failed: %s", cli_error(e));
  if (!rc) rc = cli_write(o, o->out, model, len);
  if (!rc && o->verbosity > 1)
    fprintf(stderr, "%s: linear %s model from %d %s, %zu bytes\n", o->out, set->audio ? "1-D" : "2-D", set->n,
            set->audio ? "clips" : "images", len);
  free(model);
  return rc;
}

#define MAX_PCA 4096

/* Defaults that depend on the kind of input, and the limits of -J and -K for it (usage errors). */
static int resolve_shape(cli_opts *o, int audio) {
  const int maxJ = audio ? WL_MAX_J1 : WL_MAX_J;
  if (!o->J) o->J = audio ? 8 : 3;
  if (!o->crop) o->crop = audio ? 8192 : 128; /* audio: segment length in frames */
  if (o->taps < 0) o->taps = audio ? 129 : 0;
  if (o->loss < 0) o->loss = audio ? WL_LOSS_MSE : WL_LOSS_PSNR;
  if (o->J > maxJ) return cli_usage("-J is at most %d for %s", maxJ, audio ? "audio" : "images");
  if (o->fine_N && (audio || o->J < 2)) return cli_usage("--fine needs images and -J 2 or more");
  if (o->fine_R != 1 && !o->fine_N) return cli_usage("%s", "--fine-blocks needs --fine (the fine stage's width)");
  if (o->taps > 0 && !audio) return cli_usage("--taps %d: the post-filter of audio models; images have none", o->taps);
  if (!audio && o->crop > 4096) return cli_usage("--crop %d: at most 4096 pixels for images", o->crop);
  if (o->crop % (1 << o->J)) return cli_usage("--crop %d: a multiple of 2^J = %d", o->crop, 1 << o->J);
  const long bands = (long)o->channels << ((audio ? 1 : 2) * o->J);
  /* the PCA (both kinds start from it) of bands-long vectors: a bands^2 covariance and all of its
   * eigenvectors, 55 s at 4096 on 2 cores, hours and 2 GB at 16384 */
  if (bands > MAX_PCA)
    return cli_usage("-J %d with %d channel(s) makes %ld wavelet bands: the PCA takes at most %d (a smaller -J)",
                     o->J, o->channels, bands, MAX_PCA);
  if (!o->K) { /* audio a quarter of the bands, images 12; never more than the bands, at least one */
    const long k = audio ? bands / 4 : 12;
    o->K = (int)(k > bands ? bands : k < 1 ? 1 : k > WL_MAX_K ? WL_MAX_K : k);
  }
  if (o->K > bands)
    return cli_usage("-K %d is more than the %ld wavelet bands (channels * %s^J)", o->K, bands, audio ? "2" : "4");
  return 0;
}

/* Whether path could be written: its folder exists and takes files; an existing file only with
 * -f (or, for the checkpoint, when it is the one resumed); prints why not. Checked before the
 * inputs are read and the model trained, which would be lost at the end. */
static int writable(const cli_opts *o, const char *path, int resumed) {
  char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
  if (!dir) return cli_fail(path, "out of memory");
  if (slash) slash[slash == dir] = 0; /* "/x": the root */
  const int ok = !access(slash ? dir : ".", W_OK | X_OK), why = errno;
  free(dir);
  if (!ok) return cli_fail(path, "its folder cannot take it: %s", strerror(why));
  struct stat st;
  if (!stat(path, &st) && S_ISDIR(st.st_mode)) return cli_fail(path, "is a folder (name a file)");
  if (!o->force && !resumed && !lstat(path, &st)) return cli_fail(path, "already exists (use -f to overwrite)");
  return 0;
}

/* -o and, for neural training, its checkpoint. */
static int outputs_ok(const cli_opts *o) {
  if (!strcmp(o->out, "-")) {
    if (!o->linear && !o->checkpoint) return cli_fail("-o -", "neural training needs --checkpoint FILE beside a model on stdout");
    return o->linear ? 0 : writable(o, o->checkpoint, o->resume && !strcmp(o->resume, o->checkpoint));
  }
  if (writable(o, o->out, 0)) return 1;
  if (o->linear) return 0;
  char *ckpt = train_checkpoint_path(o);
  if (ckpt && (!strcmp(ckpt, o->out) || cli_same_file(ckpt, o->out))) {
    free(ckpt);
    return cli_usage("--checkpoint %s is -o's file: the model would replace its checkpoint", o->out);
  }
  /* resuming from the checkpoint that will be written again */
  const int rc = ckpt ? writable(o, ckpt, o->resume && cli_same_file(o->resume, ckpt)) : cli_fail("train", "out of memory");
  free(ckpt);
  return rc;
}

int cmd_train(cli_opts *o) {
  if (!o->out) return cli_usage("train needs -o MODEL.wlm");
  const int bad = outputs_ok(o);
  if (bad) return bad;
  if (!o->linear) train_catch_signals();
  train_set set;
  int rc = train_load_set((const char *const *)o->inputs, o->ninputs, &o->channels, -1, &set);
  if (rc) return rc;
  if (o->resume && !o->linear) train_inherit(o); /* before the defaults by kind of input */
  rc = resolve_shape(o, set.audio);
  int small = 0; /* images under the crop: sample_crop repeats their edge pixels to fill it */
  for (int i = 0; !rc && !o->linear && !set.audio && i < set.n; i++)
    small += set.imgs[i].height < o->crop || set.imgs[i].width < o->crop;
  if (small && o->verbosity > 0)
    cli_note("walloc: train: %d of %d images are smaller than --crop %d on a side: their crops repeat the edge pixels",
             small, set.n, o->crop);
  if (!rc) rc = o->linear ? train_linear(o, &set) : train_neural(o, &set);
  train_set_free(&set);
  return rc;
}
