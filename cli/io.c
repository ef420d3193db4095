/* io.c: file and stdin/stdout I/O for the CLI, whole or in pieces; outputs appear atomically
 * or not at all. */
#define _GNU_SOURCE /* renameat2 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli/io.h"

/* read(2) of up to n bytes, retried on EINTR. */
/* Bytes read from standard input and written to standard output so far (io_std_bytes). */
static long long std_in, std_out;

void io_std_bytes(long long *in, long long *out) {
  *in = std_in;
  *out = std_out;
}

static ssize_t read_some(int fd, void *buf, size_t n) {
  ssize_t r;
  while ((r = read(fd, buf, n)) < 0 && errno == EINTR) {}
  if (r > 0 && fd == STDIN_FILENO) std_in += r;
  return r;
}

int io_open(const char *path, io_input *in) {
  struct stat st;
  memset(in, 0, sizeof *in);
  in->fd = strcmp(path, "-") ? open(path, O_RDONLY) : STDIN_FILENO;
  in->size = -1;
  if (in->fd < 0) return -1;
  const int known = fstat(in->fd, &st) == 0;
  if (known && S_ISDIR(st.st_mode)) {
    io_close(in);
    errno = EISDIR;
    return -1;
  }
  const off_t at = known && S_ISREG(st.st_mode) ? lseek(in->fd, 0, SEEK_CUR) : -1;
  for (ssize_t r = 1; r > 0 && in->nhead < IO_HEAD; in->nhead += (size_t)r)
    if ((r = read_some(in->fd, in->head + in->nhead, IO_HEAD - in->nhead)) < 0) {
      int saved = errno;
      io_close(in);
      errno = saved;
      return -1;
    }
  if (at >= 0 && lseek(in->fd, at, SEEK_SET) == at) { /* a file: read again from where it starts */
    in->start = at;
    in->size = st.st_size - at;
    in->hpos = in->nhead;
  }
  return 0;
}

ssize_t io_read(io_input *in, void *buf, size_t n) {
  if (in->hpos == in->nhead) return read_some(in->fd, buf, n);
  if (n > in->nhead - in->hpos) n = in->nhead - in->hpos;
  memcpy(buf, in->head + in->hpos, n);
  in->hpos += n;
  return (ssize_t)n;
}

long io_read_full(io_input *in, void *buf, size_t n, int64_t at) {
  size_t got = 0;
  if (at >= 0 && in->size < 0) return errno = ESPIPE, -1;
  while (got < n) {
    ssize_t r;
    if (at < 0) r = io_read(in, (uint8_t *)buf + got, n - got);
    else while ((r = pread(in->fd, (uint8_t *)buf + got, n - got, in->start + at + (off_t)got)) < 0 && errno == EINTR) {}
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (long)got;
}

int io_read_rest(io_input *in, uint8_t **buf, size_t *len) {
  size_t cap = in->size > 0 ? (size_t)in->size + 1 : 1 << 16, n = 0;
  uint8_t *b = NULL;
  for (;;) {
    if (!b || n == cap) {
      uint8_t *nb = realloc(b, b ? (cap *= 2) : cap);
      if (!nb) { free(b); errno = ENOMEM; return -1; }
      b = nb;
    }
    ssize_t r = io_read(in, b + n, cap - n);
    if (r < 0) { int saved = errno; free(b); errno = saved; return -1; }
    if (r == 0) break;
    n += (size_t)r;
  }
  *buf = b;
  *len = n;
  return 0;
}

void io_close(io_input *in) {
  if (in->fd > STDIN_FILENO) close(in->fd);
  in->fd = -1;
}

int io_read_all(const char *path, uint8_t **buf, size_t *len) {
  io_input in;
  if (io_open(path, &in)) return -1;
  int rc = io_read_rest(&in, buf, len), saved = errno;
  io_close(&in);
  errno = saved;
  return rc;
}

int io_out_write(io_output *w, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len) {
    ssize_t r = write(w->fd, p, len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (w->fd == STDOUT_FILENO) std_out += r;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

int io_out_write_at(io_output *w, const void *buf, size_t len, int64_t at) {
  const uint8_t *p = buf;
  if (!w->tmp) return errno = ESPIPE, -1;
  while (len) {
    ssize_t r = pwrite(w->fd, p, len, (off_t)at);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    p += r, at += r;
    len -= (size_t)r;
  }
  return 0;
}

/* The temporary file being written, for the signal handler: it unlinks it and dies by the
 * signal again, so that SIGINT, SIGTERM or SIGHUP leave no partial output behind. */
static char pending[PATH_MAX + 32];
static volatile sig_atomic_t is_pending;
/* io_hold_commits: from a commit until io_release, a signal waits (deferred), so that a batch
 * records each output it has written before it dies (batch.c). A flag rather than a signal mask,
 * which would hold only the thread that set it, not the OpenMP threads. */
static int hold;
static volatile sig_atomic_t holding, deferred;

static void on_signal(int sig) {
  if (holding) {
    deferred = sig;
    return;
  }
  if (is_pending) unlink(pending);
  signal(sig, SIG_DFL);
  raise(sig);
}

void io_hold_commits(int on) { hold = on; }

void io_release(void) {
  holding = 0;
  if (deferred) {
    signal(deferred, SIG_DFL);
    raise(deferred);
  }
}

static const int stops[3] = {SIGINT, SIGTERM, SIGHUP};

void io_catch_signals(void (*fn)(int), struct sigaction *was) {
  const struct sigaction on = {.sa_handler = fn, .sa_flags = SA_RESTART};
  for (int i = 0; i < 3; i++) {
    struct sigaction before;
    if (sigaction(stops[i], NULL, &before)) continue;
    if (was) was[i] = before;
    if (before.sa_handler != SIG_IGN) sigaction(stops[i], &on, NULL); /* one ignored from the start (nohup) stays so */
  }
}

void io_restore_signals(const struct sigaction *was) {
  for (int i = 0; i < 3; i++) sigaction(stops[i], &was[i], NULL);
}

static void watch(const char *tmp) {
  static int installed;
  if (!installed) io_catch_signals(on_signal, NULL);
  installed = 1;
  is_pending = 0;
  if (!tmp || strlen(tmp) >= sizeof pending) return;
  strcpy(pending, tmp);
  is_pending = 1;
}

/* Creates the file tmp, its name ending in XXXXXX, which this replaces: like mkstemp, but the
 * name is watched before the file exists, so that a signal at any moment finds it (with mkstemp
 * first, SIGINT between the two left the file behind). */
static int create_temp(char *tmp) {
  static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  static unsigned long counter;
  char *x = tmp + strlen(tmp) - 6;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  for (int tries = 0; tries < 100; tries++) {
    unsigned long v = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 20) ^ (++counter * 2654435761u);
    for (int i = 0; i < 6; i++, v /= 62) x[i] = digits[v % 62];
    watch(tmp);
    const int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0 || errno != EEXIST) {
      if (fd < 0) watch(NULL);
      return fd;
    }
  }
  watch(NULL);
  errno = EEXIST;
  return -1;
}

int io_is_stream(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode));
}

/* The temporary name beside path: "path.tmp-XXXXXX", or "DIR/.wl-XXXXXX" when the file name
 * would grow past NAME_MAX (any legal output name has a temporary name). */
static char *temp_name(const char *path) {
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  const size_t n = strlen(path), dir = (size_t)(base - path);
  char *tmp = malloc(n + 16);
  if (tmp && strlen(base) + 11 <= NAME_MAX) snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
  else if (tmp) snprintf(tmp, n + 16, "%.*s.wl-XXXXXX", (int)dir, path);
  return tmp;
}

int io_out_open(io_output *w, const char *path, int force) {
  struct stat st;
  memset(w, 0, sizeof *w);
  w->fd = STDOUT_FILENO;
  if (!strcmp(path, "-")) return 0;
  if (io_is_stream(path)) {
    /* a FIFO or a device (/dev/null, a terminal) takes the bytes as a stream: nothing to replace */
    if ((w->fd = open(path, O_WRONLY)) < 0) return -1;
    w->stream = 1;
    return 0;
  }
  if (!force && lstat(path, &st) == 0) { errno = EEXIST; return -1; }
  const mode_t mask = umask(0);
  umask(mask);
  w->mode = force && !stat(path, &st) && S_ISREG(st.st_mode) ? st.st_mode & 07777 : 0666 & ~mask;
  w->force = force;
  w->tmp = temp_name(path);
  w->path = strdup(path);
  if (!w->tmp || !w->path || (w->fd = create_temp(w->tmp)) < 0) {
    int saved = w->tmp && w->path ? errno : ENOMEM;
    free(w->tmp); free(w->path);
    w->tmp = w->path = NULL;
    errno = saved;
    return -1;
  }
  return 0;
}

/* rename(tmp, path) that fails (EEXIST) where path has appeared since io_out_open: another
 * process, or another file of a batch, wrote it meanwhile. Where the file system has no
 * RENAME_NOREPLACE, a hard link does the same (and where it has neither, rename). */
static int rename_new(const char *tmp, const char *path) {
#ifdef RENAME_NOREPLACE
  if (!renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE)) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
#endif
  if (!link(tmp, path)) return unlink(tmp), 0;
  return errno == EPERM || errno == ENOSYS ? rename(tmp, path) : -1;
}

int io_out_commit(io_output *w) {
  if (w->stream) return close(w->fd);
  if (!w->path) return 0;
  int rc = fchmod(w->fd, w->mode);
  if (close(w->fd) != 0) rc = -1;
  if (hold) holding = 1;
  if (rc == 0) rc = w->force ? rename(w->tmp, w->path) : rename_new(w->tmp, w->path);
  int saved = errno;
  if (rc != 0) unlink(w->tmp);
  watch(NULL);
  free(w->tmp); free(w->path);
  errno = saved;
  return rc;
}

void io_out_abort(io_output *w) {
  int saved = errno;
  if (w->stream || w->path) close(w->fd);
  if (w->path) {
    unlink(w->tmp);
    watch(NULL);
    free(w->tmp); free(w->path);
  }
  errno = saved;
}

int io_write_atomic(const char *path, const uint8_t *buf, size_t len, int force) {
  io_output w;
  if (io_out_open(&w, path, force)) return -1;
  if (io_out_write(&w, buf, len)) { io_out_abort(&w); return -1; }
  return io_out_commit(&w);
}

char *io_replace_ext(const char *path, const char *ext) {
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  size_t stem = dot && (!slash || dot > slash) && dot != (slash ? slash + 1 : path) ? (size_t)(dot - path) : strlen(path);
  char *out = malloc(stem + strlen(ext) + 1);
  if (out) {
    memcpy(out, path, stem);
    strcpy(out + stem, ext);
  }
  return out;
}

char *io_join(const char *dir, const char *name) {
  const size_t n = strlen(dir);
  const int slash = !n || dir[n - 1] == '/'; /* "" joins to name alone */
  char *out = malloc(n + !slash + strlen(name) + 1);
  if (out) sprintf(out, "%s%s%s", dir, slash ? "" : "/", name);
  return out;
}

int io_ext_in(const char *path, const char *const *exts) {
  for (; *exts; exts++)
    if (!strcmp(io_ext(path), *exts)) return 1;
  return 0;
}

const char *io_ext(const char *path) {
  static char ext[16];
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  ext[0] = 0;
  if (dot && (!slash || dot > slash) && strlen(dot) < sizeof ext)
    for (int i = 0; (ext[i] = (char)tolower((unsigned char)dot[i])); i++) {}
  return ext;
}
