/* train_data.c: the inputs of walloc train: images (sorted *.png, *.npy) or audio (*.wav,
 * *.flac, *.ogg, *.oga) from directories, named files or list files (one path per line),
 * converted to the model's channel count (RGB -> gray, stereo -> mono). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "cli/io.h"
#include "cli/npy.h"
#include "cli/png.h"
#include "cli/sound.h"

typedef struct { char **path; int n, cap; } pathlist;

static int push(pathlist *l, const char *dir, const char *name) {
  if (l->n == l->cap) {
    char **np = realloc(l->path, sizeof(char *) * (size_t)(l->cap = l->cap ? 2 * l->cap : 64));
    if (!np) return -1;
    l->path = np;
  }
  return (l->path[l->n] = io_join(dir, name)) ? (l->n++, 0) : -1;
}

#define MAX_LIST (64 << 20) /* bytes of a list file of paths */

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_input_name(const char *name) {
  static const char *ext[] = {".png", ".npy", ".wav", ".flac", ".ogg", ".oga"};
  if (name[0] == '.') return 0; /* hidden files (a macOS ._x.png), as -r leaves them */
  for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
    if (!strcmp(io_ext(name), ext[i])) return 1;
  return 0;
}

static int collect(const char *arg, pathlist *l) {
  struct stat st;
  if (!strcmp(arg, "-")) return cli_usage("%s", "train reads files, folders or lists of paths, not standard input (-)");
  if (stat(arg, &st)) return cli_fail(arg, "%s", strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(arg);
    struct dirent *e;
    int first = l->n;
    if (!d) return cli_fail(arg, "%s", strerror(errno));
    while ((e = readdir(d)))
      if (is_input_name(e->d_name) && push(l, arg, e->d_name)) { closedir(d); return cli_fail(arg, "out of memory"); }
    closedir(d);
    qsort(l->path + first, (size_t)(l->n - first), sizeof(char *), cmp);
    return 0;
  }
  io_input f; /* an image or clip by its first bytes; otherwise a list of paths, one a line */
  if (io_open(arg, &f)) return cli_fail(arg, "%s", strerror(errno));
  if (png_is_png(f.head, f.nhead) || npy_is_npy(f.head, f.nhead) || snd_is_audio(f.head, f.nhead)) {
    io_close(&f);
    return push(l, "", arg) ? cli_fail(arg, "out of memory") : 0;
  }
  uint8_t *buf = memchr(f.head, 0, f.nhead) ? NULL : malloc(MAX_LIST + 1);
  size_t len = 0;
  ssize_t r = 1;
  while (buf && r > 0 && len <= MAX_LIST)
    if ((r = io_read(&f, buf + len, MAX_LIST + 1 - len)) > 0) len += (size_t)r;
  io_close(&f);
  if (!buf || r < 0 || len > MAX_LIST) {
    free(buf);
    return cli_fail(arg, "not an image, an audio file or a list of paths (text, at most %d MB)", MAX_LIST >> 20);
  }
  char *text = realloc(buf, len + 1), *save = NULL;
  if (!text) { free(buf); return cli_fail(arg, "out of memory"); }
  text[len] = 0;
  for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save))
    if (*line && push(l, "", line)) { free(text); return cli_fail(arg, "out of memory"); }
  free(text);
  return 0;
}

/* ITU-R BT.601 luma from RGB planes, rounded: how gray models see colour images. */
static int to_gray(wl_image *img) {
  const size_t n = (size_t)img->height * img->width;
  float *y = malloc(sizeof(float) * n);
  if (!y) return -1;
  for (size_t i = 0; i < n; i++)
    y[i] = (float)(int)(0.299f * img->planes[i] + 0.587f * img->planes[n + i] + 0.114f * img->planes[2 * n + i] + 0.5f);
  free(img->planes);
  img->planes = y;
  img->channels = 1;
  return 0;
}

/* Stereo -> mono: the rounded mean of the two channels. */
static int to_mono(wl_audio *a) {
  float *m = malloc(sizeof(float) * (size_t)a->frames);
  if (!m) return -1;
  for (long t = 0; t < a->frames; t++) m[t] = (float)floor(0.5 * ((double)a->samples[t] + a->samples[a->frames + t]) + 0.5);
  free(a->samples);
  a->samples = m;
  a->channels = 1;
  return 0;
}

/* Loads one input as `*channels` channels (0: 3 for images, the first clip's for audio); every
 * input must be of the kind of the first (*audio -1: not known yet). */
static int load(const char *path, int *channels, int *audio, cli_signal *s) {
  int rc = cli_read_signal(path, s);
  if (rc) return rc;
  free(s->img.alpha);
  s->img.alpha = NULL;
  const int C = s->audio ? s->snd.channels : s->img.channels;
  if (!*channels) *channels = s->audio ? C : 3;
  if (*audio >= 0 && *audio != s->audio)
    rc = cli_fail(path, "is %s, the other inputs are %s", s->audio ? "audio" : "an image", *audio ? "audio" : "images");
  else if (C == (s->audio ? 2 : 3) && *channels == 1) {
    if (s->audio ? to_mono(&s->snd) : to_gray(&s->img)) rc = cli_fail(path, "out of memory");
  } else if (C != *channels) rc = cli_fail(path, "has %d channel(s), the model takes %d", C, *channels);
  *audio = s->audio;
  if (rc) cli_signal_release(s);
  return rc;
}

int train_load_set(const char *const *args, int nargs, int *channels, int audio, train_set *set) {
  pathlist l = {0};
  int rc = 0;
  memset(set, 0, sizeof *set);
  for (int i = 0; i < nargs && !rc; i++) rc = collect(args[i], &l);
  if (!rc && !l.n) rc = cli_fail(args[0], "no images (PNG, .npy) or audio files (WAV, FLAC, OGG) found");
  cli_signal *v = rc ? NULL : calloc((size_t)l.n, sizeof *v);
  if (!rc && !v) rc = cli_fail("train", "out of memory");
  int loaded = 0;
  for (; loaded < l.n && !rc; loaded++) rc = load(l.path[loaded], channels, &audio, &v[loaded]);
  if (rc) loaded--;
  for (int i = 0; i < l.n; i++) free(l.path[i]);
  free(l.path);
  if (!rc) {
    set->audio = audio;
    set->imgs = audio ? NULL : calloc((size_t)loaded, sizeof *set->imgs);
    set->clips = audio ? calloc((size_t)loaded, sizeof *set->clips) : NULL;
    if (!set->imgs && !set->clips) rc = cli_fail("train", "out of memory");
  }
  for (int i = 0; i < loaded; i++) {
    if (rc) cli_signal_release(&v[i]);
    else if (audio) set->clips[i] = v[i].snd;
    else set->imgs[i] = v[i].img;
  }
  free(v);
  if (!rc) set->n = loaded;
  return rc;
}

void train_set_free(train_set *set) {
  for (int i = 0; set->imgs && i < set->n; i++) wl_image_release(&set->imgs[i]);
  for (int i = 0; set->clips && i < set->n; i++) wl_audio_release(&set->clips[i]);
  free(set->imgs);
  free(set->clips);
  memset(set, 0, sizeof *set);
}

const char *train_default_name(int channels, int audio, char buf[16]) {
  snprintf(buf, 16, audio ? "%d-ch-audio" : "%d-channel", channels);
  if (audio) return channels == 1 ? "mono" : channels == 2 ? "stereo" : buf;
  return channels == 1 ? "gray" : channels == 3 ? "rgb" : buf;
}
