/* io.c: file and stdin/stdout I/O for the CLI; outputs appear atomically or not at all. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/io.h"

int io_read_all(const char *path, uint8_t **buf, size_t *len) {
  int fd = strcmp(path, "-") ? open(path, O_RDONLY) : STDIN_FILENO;
  size_t cap = 1 << 16, n = 0;
  uint8_t *b = NULL;
  struct stat st;
  if (fd < 0) return -1;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    errno = EISDIR;
    return -1;
  }
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) cap = (size_t)st.st_size + 1;
  for (;;) {
    if (!b || n == cap) {
      uint8_t *nb = realloc(b, b ? (cap *= 2) : cap);
      if (!nb) { errno = ENOMEM; break; }
      b = nb;
    }
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (r == 0) {
      if (fd != STDIN_FILENO) close(fd);
      *buf = b;
      *len = n;
      return 0;
    }
    n += (size_t)r;
  }
  int saved = errno;
  if (fd != STDIN_FILENO) close(fd);
  free(b);
  errno = saved;
  return -1;
}

static int write_all(int fd, const uint8_t *buf, size_t len) {
  while (len) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

int io_write_atomic(const char *path, const uint8_t *buf, size_t len, int force) {
  if (!strcmp(path, "-")) return write_all(STDOUT_FILENO, buf, len);
  struct stat st;
  if (!force && lstat(path, &st) == 0) { errno = EEXIST; return -1; }
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) return -1;
  snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) { free(tmp); return -1; }
  int rc = write_all(fd, buf, len);
  if (rc == 0) rc = fchmod(fd, 0644 & ~umask(umask(0)));
  if (close(fd) != 0) rc = -1;
  if (rc == 0) rc = rename(tmp, path);
  int saved = errno;
  if (rc != 0) unlink(tmp);
  free(tmp);
  errno = saved;
  return rc;
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

const char *io_ext(const char *path) {
  static char ext[16];
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  ext[0] = 0;
  if (dot && (!slash || dot > slash) && strlen(dot) < sizeof ext)
    for (int i = 0; (ext[i] = (char)tolower((unsigned char)dot[i])); i++) {}
  return ext;
}
