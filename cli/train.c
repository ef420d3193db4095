/* train.c: walloc train: loads images from directories (sorted *.png and *.npy), named files
 * or list files (one path per line), converts them to the model's channel count, and fits a
 * linear model (--linear) or hands them to the neural training loop (train_neural.c). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "cli/io.h"
#include "cli/npy.h"
#include "cli/png.h"

typedef struct { char **path; int n, cap; } pathlist;

static int push(pathlist *l, const char *dir, const char *name) {
  if (l->n == l->cap) {
    char **np = realloc(l->path, sizeof(char *) * (size_t)(l->cap = l->cap ? 2 * l->cap : 64));
    if (!np) return -1;
    l->path = np;
  }
  size_t n = strlen(dir) + strlen(name) + 2;
  if (!(l->path[l->n] = malloc(n))) return -1;
  snprintf(l->path[l->n++], n, "%s%s%s", dir, *dir ? "/" : "", name);
  return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_image_name(const char *name) { return !strcmp(io_ext(name), ".png") || !strcmp(io_ext(name), ".npy"); }

static int collect(const char *arg, pathlist *l) {
  struct stat st;
  if (stat(arg, &st)) return cli_fail(arg, "%s", strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(arg);
    struct dirent *e;
    int first = l->n;
    if (!d) return cli_fail(arg, "%s", strerror(errno));
    while ((e = readdir(d)))
      if (is_image_name(e->d_name) && push(l, arg, e->d_name)) { closedir(d); return cli_fail(arg, "out of memory"); }
    closedir(d);
    qsort(l->path + first, (size_t)(l->n - first), sizeof(char *), cmp);
    return 0;
  }
  uint8_t *buf;
  size_t len;
  if (io_read_all(arg, &buf, &len)) return cli_fail(arg, "%s", strerror(errno));
  if (png_is_png(buf, len) || npy_is_npy(buf, len)) {
    free(buf);
    return push(l, "", arg) ? cli_fail(arg, "out of memory") : 0;
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

static int load(const char *path, int channels, wl_image *img) {
  int rc = cli_read_image(path, img);
  if (rc) return rc;
  free(img->alpha);
  img->alpha = NULL;
  if (img->channels == 3 && channels == 1 && to_gray(img)) rc = cli_fail(path, "out of memory");
  else if (img->channels != channels) rc = cli_fail(path, "has %d channel(s), the model takes %d", img->channels, channels);
  if (rc) wl_image_release(img);
  return rc;
}

int train_load_set(const char *const *args, int nargs, int channels, wl_image **imgs, int *n) {
  pathlist l = {0};
  int rc = 0;
  *imgs = NULL;
  *n = 0;
  for (int i = 0; i < nargs && !rc; i++) rc = collect(args[i], &l);
  if (!rc && !l.n) rc = cli_fail(args[0], "no PNG or .npy images found");
  wl_image *v = rc ? NULL : calloc((size_t)l.n, sizeof *v);
  if (!rc && !v) rc = cli_fail("train", "out of memory");
  int loaded = 0;
  for (; loaded < l.n && !rc; loaded++) rc = load(l.path[loaded], channels, &v[loaded]);
  if (rc) loaded--;
  for (int i = 0; i < l.n; i++) free(l.path[i]);
  free(l.path);
  if (rc) {
    for (int i = 0; i < loaded; i++) wl_image_release(&v[i]);
    free(v);
    return rc;
  }
  *imgs = v;
  *n = l.n;
  return 0;
}

const char *train_default_name(int channels, char buf[16]) {
  snprintf(buf, 16, "%d-channel", channels);
  return channels == 1 ? "gray" : channels == 3 ? "rgb" : buf;
}

static int train_linear(cli_opts *o, const wl_image *imgs, int n) {
  uint8_t *model = NULL;
  size_t len = 0;
  char name[16];
  wl_linear_params p = {.name = o->name ? o->name : train_default_name(o->channels, name), .channels = o->channels,
                        .J = o->J, .K = o->K, .bits = o->bits, .gain = o->gain, .stride = o->stride,
                        .command = o->command};
  int e = wl_train_linear(imgs, n, &p, &model, &len), rc = 0;
  if (e) rc = cli_fail(o->out, "training failed: %s", wl_strerror(e));
  if (!rc) rc = cli_write(o, o->out, model, len);
  if (!rc && o->verbosity > 1) fprintf(stderr, "%s: linear model from %d images, %zu bytes\n", o->out, n, len);
  free(model);
  return rc;
}

int cmd_train(cli_opts *o) {
  if (!o->out) return cli_fail("train", "needs -o MODEL.wlm");
  wl_image *imgs;
  int n;
  int rc = train_load_set((const char *const *)o->inputs, o->ninputs, o->channels, &imgs, &n);
  if (rc) return rc;
  rc = o->linear ? train_linear(o, imgs, n) : train_neural(o, imgs, n);
  for (int i = 0; i < n; i++) wl_image_release(&imgs[i]);
  free(imgs);
  return rc;
}
