/* batch.c: the files a command works on and how they are run: directories walked with -r
 * (sorted, so every run and every --shard I/N sees one order), outputs under -O DIR mirroring
 * the tree, --skip-existing, -j N worker processes, --manifest (a JSON line per file, and a
 * rerun that leaves what it records as done), a progress line on a terminal and a totals line
 * at the end. */
#define _GNU_SOURCE
#include <dirent.h>
#include <omp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/io.h"

typedef struct {
  char **in, **rel; /* path, and its path under the directory it was found in (-O) */
  int n, cap;
  int failed;       /* inputs that failed before any coding: a folder unread, or given without -r */
} list;

static int add(list *l, const char *in, const char *rel) {
  if (l->n == l->cap) {
    const int cap = l->cap ? 2 * l->cap : 64;
    char **a = realloc(l->in, sizeof(char *) * cap), **b = a ? realloc(l->rel, sizeof(char *) * cap) : NULL;
    if (a) l->in = a;
    if (!a || !b) return -1;
    l->rel = b;
    l->cap = cap;
  }
  l->in[l->n] = strdup(in);
  l->rel[l->n] = strdup(rel);
  return l->in[l->n] && l->rel[l->n++] ? 0 : -1;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A folder on the way down (walk), so that a link back up is not walked round and round. */
typedef struct seen { dev_t dev; ino_t ino; const struct seen *up; } seen;

/* The files under dir with one of exts, recursively, sorted; rel: their paths under root. A
 * folder linked from below itself is left with a note; one that cannot be read is named and
 * counted as failed (l->failed), and the walk goes on. Nonzero: out of memory. */
static int walk(list *l, const char *dir, size_t root, const char *const *exts, const seen *up) {
  struct stat ds;
  if (stat(dir, &ds)) return cli_fail(dir, "cannot read: %s", strerror(errno)), l->failed++, 0;
  for (const seen *a = up; a; a = a->up)
    if (a->dev == ds.st_dev && a->ino == ds.st_ino) {
      cli_note("walloc: %s: a link to a folder above it, not walked again", dir);
      return 0;
    }
  const seen me = {ds.st_dev, ds.st_ino, up};
  DIR *d = opendir(dir);
  if (!d) return cli_fail(dir, "cannot read: %s", strerror(errno)), l->failed++, 0;
  list here = {0};
  int rc = 0;
  for (struct dirent *e; !rc && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue; /* ., .., hidden files and temporary outputs */
    char *p = io_join(dir, e->d_name);
    if (!p) { rc = cli_fail(dir, "out of memory"); break; }
    if (add(&here, p, p)) rc = cli_fail(dir, "out of memory");
    free(p);
  }
  closedir(d);
  qsort(here.in, (size_t)here.n, sizeof(char *), by_name);
  for (int i = 0; !rc && i < here.n; i++) {
    struct stat st;
    if (stat(here.in[i], &st)) continue; /* a dangling link */
    if (S_ISDIR(st.st_mode)) rc = walk(l, here.in[i], root, exts, &me);
    else if (io_ext_in(here.in[i], exts) && add(l, here.in[i], here.in[i] + root)) rc = cli_fail(dir, "out of memory");
  }
  for (int i = 0; i < here.n; i++) { free(here.in[i]); free(here.rel[i]); }
  free(here.in); free(here.rel);
  return rc;
}

/* Per file (index i of the list): 0 done, 1 failed, 2 skipped; the bytes read and written, the
 * model, the output path. Sent whole up a pipe by -j workers: under PIPE_BUF, so never split. */
typedef struct {
  int i, status;
  long long in, out;
  uint64_t model;
  char path[3968];
} outcome;

static long long size_of(const char *path) {
  struct stat st;
  return path && strcmp(path, "-") && !stat(path, &st) && S_ISREG(st.st_mode) ? (long long)st.st_size : 0;
}

static outcome run_one(cli_opts *o, int (*one)(cli_opts *, const char *), const list *l, int i) {
  o->rel = l->rel[i];
  o->skipped = 0;
  o->last_model = 0;
  free(o->last_out);
  o->last_out = NULL;
  long long in0, out0, in1, out1; /* standard input's and output's bytes, counted as they pass */
  io_std_bytes(&in0, &out0);
  const int rc = one(o, l->in[i]);
  io_std_bytes(&in1, &out1);
  const int status = rc ? 1 : o->skipped ? 2 : 0; /* bytes only of what was coded: the ratio is theirs */
  const long long in = strcmp(l->in[i], "-") ? size_of(l->in[i]) : in1 - in0,
                  out = o->last_out && !strcmp(o->last_out, "-") ? out1 - out0 : size_of(o->last_out);
  outcome r = {i, status, status ? 0 : in, status ? 0 : out, o->last_model, ""};
  snprintf(r.path, sizeof r.path, "%s", o->last_out ? o->last_out : "");
  return r;
}

typedef struct {
  int done, ok, failed, skipped;
  long long in, out;
  double t0;
  FILE *manifest;
  const char *manifest_name, *cwd; /* its name; the working folder, recorded with each line */
  int manifest_errno; /* the first failure to write it (0: none) */
} totals;

/* The JSON string after `"key": ` in line, as cli_json_string wrote it, into out (size n); 0 or -1. */
static int json_field(const char *line, const char *key, char *out, size_t n) {
  char pat[32];
  snprintf(pat, sizeof pat, "\"%s\": \"", key);
  const char *p = strstr(line, pat);
  if (!p) return -1;
  size_t k = 0;
  for (p += strlen(pat); *p && *p != '"' && k + 1 < n; p++) {
    unsigned u;
    if (*p == '\\' && p[1] == 'u' && sscanf(p + 2, "%4x", &u) == 1) { out[k++] = (char)u; p += 5; }
    else out[k++] = *p == '\\' && p[1] ? *++p : *p;
  }
  out[k] = 0;
  return *p == '"' ? 0 : -1;
}

/* path without repeated or trailing slashes and "." components, into out (apart from path, at
 * least strlen(path) + 1 bytes): data//a/./x.png and ./data/a/x.png are data/a/x.png. */
static void normal(const char *path, char *out) {
  char *o = out;
  for (const char *p = path; *p;) {
    if (*p == '/') {
      if (o == out || o[-1] != '/') *o++ = '/';
      p++;
    } else if (p[0] == '.' && (p[1] == '/' || !p[1]) && (p == path || p[-1] == '/')) {
      for (p++; *p == '/'; p++) {} /* with its slashes: .//data is data */
    } else {
      *o++ = *p++;
    }
  }
  while (o - out > 1 && o[-1] == '/') o--;
  *o = 0;
}

/* path from the root (cwd, the working folder, joined to a relative one; NULL: as it is), as
 * normal() spells it, without its extension where ext is 0 (malloc'd; NULL: no memory). */
static char *key_of(const char *cwd, const char *path, int ext) {
  char *abs = NULL;
  if (path && path[0] != '/' && cwd) abs = io_join(cwd, path);
  else if (path) abs = strdup(path);
  char *stem = abs && !ext ? io_replace_ext(abs, "") : abs, *s = stem ? malloc(strlen(stem) + 1) : NULL;
  if (s) normal(stem, s);
  if (stem != abs) free(stem);
  free(abs);
  return s;
}
static char *stem_of(const char *cwd, const char *path) { return key_of(cwd, path, 0); }

/* The stem of the output of input i (-O DIR: DIR/its path under its folder; -o; else beside
 * it), without the extension, which decode picks by content (malloc'd; NULL: no memory). */
static char *out_stem(const char *cwd, const cli_opts *o, const list *l, int i) {
  char *out = o->outdir ? io_join(o->outdir, l->rel[i]) : strdup(o->out ? o->out : l->in[i]), *s = stem_of(cwd, out);
  free(out);
  return s;
}

/* --manifest resume: marks (done[i] = 1) the inputs the manifest records as coded to the output
 * this run would write (an earlier run's -O elsewhere does not count), still there; the paths
 * compared from the root as normal() spells them (data/, ./data and $PWD/data name one folder),
 * a record's relative paths from the folder it was written in ("dir"; lines without one: this
 * run's). */
static int manifest_done(const cli_opts *o, const list *l, char *done) {
  FILE *f = fopen(o->manifest, "r");
  if (!f) return errno == ENOENT ? 0 : cli_fail(o->manifest, "cannot read: %s", strerror(errno));
  char *line = NULL, in[4096], out[4096], dir[4096], status[16], **mine = calloc((size_t)l->n + 1, sizeof *mine),
       here[PATH_MAX];
  const char *cwd = getcwd(here, sizeof here);
  size_t cap = 0;
  int rc = mine ? 0 : cli_fail(o->manifest, "out of memory");
  for (int i = 0; !rc && i < l->n; i++)
    if (!(mine[i] = key_of(cwd, l->in[i], 1))) rc = cli_fail(o->manifest, "out of memory");
  for (ssize_t n; !rc && (n = getline(&line, &cap, f)) > 0;) {
    if (n < 2 || strcmp(line + n - 2, "}\n") || /* a line cut short (a full disk, a kill) records nothing */
        json_field(line, "input", in, sizeof in) || json_field(line, "output", out, sizeof out) ||
        json_field(line, "status", status, sizeof status) || strcmp(status, "done"))
      continue;
    const char *from = json_field(line, "dir", dir, sizeof dir) ? cwd : dir;
    char *rec = key_of(from, in, 1), *at = key_of(from, out, 1);
    const int there = at && !access(at, F_OK);
    free(at);
    for (int i = 0; !rc && rec && there && i < l->n; i++) {
      if (strcmp(mine[i], rec)) continue;
      char *a = out_stem(cwd, o, l, i), *b = stem_of(from, out);
      if (!a || !b) rc = cli_fail(o->manifest, "out of memory");
      else if (!strcmp(a, b)) done[i] = 1;
      free(a);
      free(b);
    }
    if (!rec) rc = cli_fail(o->manifest, "out of memory");
    free(rec);
  }
  for (int i = 0; mine && i < l->n; i++) free(mine[i]);
  free(mine);
  free(line);
  fclose(f);
  return rc;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void count(totals *t, const list *l, const outcome *r, int progress) {
  const int n = l->n;
  if (t->manifest) {
    static const char *const status[] = {"done", "failed", "skipped"};
    fprintf(t->manifest, "{\"input\": ");
    cli_json_string(t->manifest, l->in[r->i]);
    fprintf(t->manifest, ", \"output\": ");
    cli_json_string(t->manifest, r->path);
    if (t->cwd) {
      fprintf(t->manifest, ", \"dir\": ");
      cli_json_string(t->manifest, t->cwd);
    }
    fprintf(t->manifest, ", \"status\": \"%s\", \"in_bytes\": %lld, \"out_bytes\": %lld, \"model_id\": \"%016llx\"}\n",
            status[r->status], r->in, r->out, (unsigned long long)r->model);
    if ((fflush(t->manifest) || ferror(t->manifest)) && !t->manifest_errno) {
      t->manifest_errno = errno ? errno : EIO; /* named once, here; the run goes on and ends with 1 */
      cli_fail(t->manifest_name, "cannot write: %s (the files coded from here on are not recorded)",
               strerror(t->manifest_errno));
    }
  }
  t->done++;
  t->ok += r->status == 0;
  t->failed += r->status == 1;
  t->skipped += r->status == 2;
  t->in += r->in;
  t->out += r->out;
  if (!progress) return;
  const double dt = now() - t->t0, eta = t->done < n ? dt / t->done * (n - t->done) : 0;
  fprintf(stderr, "\rwalloc: %d/%d files, %.1f MB in, %.1f MB out, %.1f files/s, ETA %.0f s \033[K", t->done, n,
          t->in / 1e6, t->out / 1e6, t->done / (dt > 0 ? dt : 1e-9), eta);
  if (t->done == n) fputc('\n', stderr);
  cli_progress_shown(t->done < n);
}

static volatile sig_atomic_t stop_sig;
static void on_stop(int sig) { stop_sig = sig; }

/* -j N: N workers take the next file from a shared counter as they become free (files differ
 * in size: dealt in turn, 16 photos of four sizes took 12% longer than one process); each sends
 * its outcomes up a pipe. */
static int run_parallel(cli_opts *o, int (*one)(cli_opts *, const char *), const list *l, totals *t, int progress,
                        int jobs) {
  int fd[2];
  const int N = jobs < l->n ? jobs : l->n;
  int *next = mmap(NULL, sizeof *next, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (next == MAP_FAILED) return cli_fail("walloc", "cannot start workers: %s", strerror(errno));
  *next = 0;
  if (pipe(fd)) return cli_fail("walloc", "cannot start workers: %s", strerror(errno));
  fflush(NULL);
  const pid_t parent = getpid();
  pid_t pids[N];
  for (int w = 0; w < N; w++) {
    const pid_t pid = pids[w] = fork();
    if (pid < 0) return cli_fail("walloc", "cannot start workers: %s", strerror(errno));
    if (pid) continue;
#ifdef __linux__
    /* a parent killed (SIGTERM to its pid alone) takes its workers along: each then removes its
     * temporary file (io.c) instead of writing an output the manifest never records */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent) _exit(1);
#endif
    cli_progress_shown(progress); /* the parent's line may stand there */
    close(fd[0]);
    if (!o->threads) o->threads = 1; /* N files at once take the cores */
    omp_set_num_threads(o->threads);
    for (int i; (i = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED)) < l->n;) {
      const outcome r = run_one(o, one, l, i);
      if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
      io_release(); /* the output is reported: a signal that came after its commit ends the worker now */
    }
    fflush(NULL);
    _exit(0);
  }
  close(fd[1]);
  /* SIGINT, SIGTERM, SIGHUP: no more files are handed out, the workers are stopped (a file being
   * coded leaves no output; one written is reported first), what they report is recorded, and
   * the process ends by the signal */
  struct sigaction was[3];
  io_catch_signals(on_stop, was);
  outcome r;
  int rc = 0, stopped = 0;
  char *reported = calloc((size_t)l->n, 1);
  for (struct pollfd p = {fd[0], POLLIN, 0};;) {
    if (stop_sig && !stopped) {
      __atomic_store_n(next, l->n, __ATOMIC_RELAXED);
      for (int w = 0; w < N; w++) kill(pids[w], SIGTERM);
      stopped = 1;
    }
    if (poll(&p, 1, 100) <= 0) continue; /* a signal, or every 100 ms: stop_sig is looked at */
    const ssize_t k = read(fd[0], &r, sizeof r);
    if (k < 0 && errno == EINTR) continue;
    if (k != (ssize_t)sizeof r) break; /* every worker has closed the pipe */
    count(t, l, &r, progress);
    if (reported && r.i >= 0 && r.i < l->n) reported[r.i] = 1;
  }
  close(fd[0]);
  for (int status; wait(&status) > 0;) rc |= !WIFEXITED(status) || WEXITSTATUS(status);
  munmap(next, sizeof *next);
  if (stop_sig) {
    if (t->manifest) fflush(t->manifest);
    signal(stop_sig, SIG_DFL);
    raise(stop_sig);
  }
  io_restore_signals(was);
  /* a worker that died (killed, out of memory) took its file along: named, counted and recorded
   * as failed, so that a rerun with the manifest codes it again */
  for (int i = 0; i < l->n; i++)
    if (reported && !reported[i]) { /* (no memory to tell: none named) */
      cli_fail(l->in[i], "not done: the worker coding it stopped");
      const outcome lost = {i, 1, 0, 0, 0, ""};
      count(t, l, &lost, progress);
      rc = 1;
    }
  free(reported);
  return rc;
}

typedef struct { char *stem; int i; } named;
static int by_stem(const void *a, const void *b) { return strcmp(((const named *)a)->stem, ((const named *)b)->stem); }

/* Two inputs whose outputs would have one name (a.png and a.npy side by side; two a.png given
 * by name with -O): refused before any coding, as one would fail (or, with -f, replace the
 * other); the exit status 2. Outputs are compared without their extensions, which decode picks
 * by content. */
static int clash(const cli_opts *o, const list *l) {
  named *s = calloc((size_t)l->n, sizeof *s);
  char here[PATH_MAX];
  const char *cwd = getcwd(here, sizeof here);
  int rc = s ? 0 : cli_fail("walloc", "out of memory");
  for (int i = 0; !rc && i < l->n; i++)
    if (!(s[i] = (named){out_stem(cwd, o, l, i), i}).stem) rc = cli_fail("walloc", "out of memory");
  if (!rc) qsort(s, (size_t)l->n, sizeof *s, by_stem);
  for (int k = 1; !rc && k < l->n; k++)
    if (!strcmp(s[k - 1].stem, s[k].stem)) {
      const int a = s[k - 1].i < s[k].i ? s[k - 1].i : s[k].i, b = s[k - 1].i ^ s[k].i ^ a;
      rc = !strcmp(l->in[a], "-") && !strcmp(l->in[b], "-")
               ? cli_usage("%s", "standard input (-) given twice")
               : cli_usage("%s and %s: both would be written as %s.*", l->in[a], l->in[b], s[k].stem);
    }
  for (int i = 0; s && i < l->n; i++) free(s[i].stem);
  free(s);
  return rc;
}

/* Drops the entries i with gone[i] set, keeping the order. */
static void drop(list *l, const char *gone) {
  int kept = 0;
  for (int i = 0; i < l->n; i++) {
    if (gone[i]) { free(l->in[i]); free(l->rel[i]); continue; }
    l->in[kept] = l->in[i];
    l->rel[kept++] = l->rel[i];
  }
  l->n = kept;
}

static void list_free(list *l) {
  for (int i = 0; i < l->n; i++) { free(l->in[i]); free(l->rel[i]); }
  free(l->in);
  free(l->rel);
  memset(l, 0, sizeof *l);
}

/* The inputs: directories walked with -r, then --shard's share; prints errors. */
static int collect(cli_opts *o, const char *const *exts, list *out) {
  list l = {0};
  int rc = 0;
  for (int i = 0; !rc && i < o->ninputs; i++) {
    const char *in = o->inputs[i];
    struct stat st;
    if (strcmp(in, "-") && !stat(in, &st) && S_ISDIR(st.st_mode)) {
      if (!o->recurse) { /* failed, as a file that cannot be read is, and the others go on */
        cli_fail(in, "is a directory (-r: the files in it, recursively)");
        l.failed++;
        continue;
      }
      char *dir = strdup(in); /* without trailing slashes, so that paths below it have one */
      if (!dir) { rc = cli_fail(in, "out of memory"); break; }
      size_t root = strlen(dir);
      while (root > 1 && dir[root - 1] == '/') dir[--root] = 0;
      rc = walk(&l, dir, root + (dir[root - 1] != '/'), exts, NULL);
      free(dir);
    } else {
      const char *base = strrchr(in, '/');
      if (add(&l, in, base ? base + 1 : in)) rc = cli_fail(in, "out of memory");
    }
  }
  char *other = o->shard_n && l.n ? malloc((size_t)l.n) : NULL; /* --shard I/N: files I-1, I-1+N, ... kept */
  if (o->shard_n && l.n && !other) rc = cli_fail("walloc", "out of memory");
  for (int i = 0; other && i < l.n; i++) other[i] = i % o->shard_n != o->shard_i - 1;
  if (other) drop(&l, other);
  free(other);
  *out = l;
  return rc;
}

int batch_files(cli_opts *o, const char *const *exts, char ***files, int *n) {
  list l;
  const int rc = collect(o, exts, &l) || l.failed;
  *files = l.in;
  *n = l.n;
  for (int i = 0; i < l.n; i++) free(l.rel[i]);
  free(l.rel);
  if (rc) {
    for (int i = 0; i < l.n; i++) free(l.in[i]);
    free(l.in);
    *files = NULL;
    *n = 0;
  }
  return rc;
}

int batch_run(cli_opts *o, int (*one)(cli_opts *, const char *), const char *const *exts, int to_files) {
  list l;
  int rc = collect(o, exts, &l), resumed = 0;
  char *done = calloc((size_t)l.n + 1, 1);
  if (!rc && !done) rc = cli_fail("walloc", "out of memory");
  struct stat ms;
  if (!rc && o->manifest && !stat(o->manifest, &ms) && !S_ISREG(ms.st_mode)) /* a device or a FIFO has no end to read */
    rc = cli_usage("--manifest %s: not a regular file", o->manifest);
  if (!rc && o->manifest) rc = manifest_done(o, &l, done);
  for (int i = 0; done && i < l.n; i++) resumed += done[i]; /* counted as skipped and left */
  if (done) drop(&l, done);
  free(done);
  if (!rc && (o->out || o->to_stdout) && l.n > 1) { /* files one after another on stdout decode as none */
    rc = cli_usage("%s takes one input file", o->to_stdout ? "-c" : strcmp(o->out, "-") ? "-o" : "-o - (stdout)");
  }
  if (!rc && to_files && !o->out && !o->to_stdout) rc = clash(o, &l);
  char here[PATH_MAX];
  totals t = {.t0 = now(), .skipped = resumed, .failed = l.failed, .manifest_name = o->manifest,
              .cwd = getcwd(here, sizeof here)};
  io_hold_commits(1); /* each output recorded (count) before a signal ends the run */
  if (!rc && o->manifest && !(t.manifest = fopen(o->manifest, "a+")))
    rc = cli_fail(o->manifest, "cannot write: %s", strerror(errno));
  if (t.manifest && fseek(t.manifest, -1, SEEK_END) == 0 && fgetc(t.manifest) != '\n')
    fputc('\n', t.manifest); /* after a line cut short, the next starts a line of its own */
  const int batch = l.n + resumed + l.failed > 1 || o->recurse, progress = batch && o->verbosity > 0 && isatty(2);
  /* several files coded to files: as many at once as there are cores, each on one thread, unless
   * -j or -T says otherwise (one file's threads share their work less well: 11 photos of 1
   * Mpixel took 356 ms on two cores either way, 214 ms two at a time) */
  const int jobs = o->jobs ? o->jobs : to_files && !o->threads ? omp_get_num_procs() : 1;
  if (!rc && jobs > 1 && l.n > 1) rc = run_parallel(o, one, &l, &t, progress, jobs);
  else
    for (int i = 0; !rc && i < l.n; i++) {
      const outcome r = run_one(o, one, &l, i);
      count(&t, &l, &r, progress);
      io_release();
    }
  if (rc != 2 && batch && o->verbosity > 0 && (o->verbosity > 1 || !isatty(2)))
  {
    /* the larger to the smaller (encode: in to out; decode: out to in); none without bytes out
     * (info, everything skipped or failed) */
    char ratio[32] = "";
    if (t.out && t.in) snprintf(ratio, sizeof ratio, " (%.2f:1)", t.in > t.out ? (double)t.in / t.out : (double)t.out / t.in);
    fprintf(stderr, "walloc: %d file(s): %d done, %d failed, %d skipped; %lld bytes in, %lld out%s, %.1f s\n",
            t.done + resumed + l.failed, t.ok, t.failed, t.skipped, t.in, t.out, ratio, now() - t.t0);
  }
  if (t.manifest && fclose(t.manifest) && !t.manifest_errno) {
    t.manifest_errno = errno;
    cli_fail(o->manifest, "cannot write: %s", strerror(errno));
  }
  if (t.manifest_errno && !rc) rc = 1;
  list_free(&l);
  free(o->last_out);
  o->last_out = NULL;
  return rc ? rc : t.failed ? 1 : 0;
}
