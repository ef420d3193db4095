/* common.c: what the subcommands share: error lines, loading -m, and writing outputs (atomically,
 * through cli/io.c). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/io.h"

/* Set while a progress line (batch.c) stands on the terminal without its newline: each other line
 * first clears it, so that it does not end up at the end of the progress line. */
static int progress_shown;

void cli_progress_shown(int on) { progress_shown = on; }

/* One line on stderr in one write (-j workers write beside the progress line's process),
 * clearing the progress line first. */
static void line(const char *head, const char *fmt, va_list ap) {
  char s[2 * PATH_MAX + 512];
  const int start = snprintf(s, sizeof s, "%s", progress_shown ? "\r\033[K" : "");
  int n = start + snprintf(s + start, sizeof s - (size_t)start, "%s", head);
  n += vsnprintf(s + n, sizeof s - (size_t)n, fmt, ap);
  if (n > (int)sizeof s - 2) n = (int)sizeof s - 2;
  for (int i = start; i < n; i++) /* one line, whatever a file name holds (a newline, a tab) */
    if ((unsigned char)s[i] < 0x20) s[i] = '?';
  s[n] = '\n', s[n + 1] = 0;
  fputs(s, stderr);
}

void cli_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  line("", fmt, ap);
  va_end(ap);
}

int cli_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  line("walloc: ", fmt, ap);
  va_end(ap);
  fputs("Try 'walloc --help'.\n", stderr);
  return 2;
}

/* The bytes of the valid UTF-8 character at s (RFC 3629: no overlong forms, no surrogates, at
 * most U+10FFFF), or 0. */
static int utf8_length(const unsigned char *s) {
  const int n = s[0] < 0x80 ? 1 : s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;
  const unsigned lo = s[0] == 0xe0 ? 0xa0 : s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xed ? 0x9f : s[0] == 0xf4 ? 0x8f : 0xbf;
  for (int k = 1; k < n; k++)
    if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xbf)) return 0;
  return n;
}

void cli_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    const int n = utf8_length(p);
    if (!n) fprintf(f, "\\udc%02x", *p++); /* a byte of no character: Python's surrogateescape */
    else if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p++);
    else if (*p < 0x20) fprintf(f, "\\u%04x", *p++);
    else for (int k = 0; k < n; k++) fputc(*p++, f);
  }
  fputc('"', f);
}

int cli_fail(const char *file, const char *fmt, ...) {
  char head[PATH_MAX + 16];
  snprintf(head, sizeof head, "walloc: %s: ", strcmp(file, "-") ? file : "(stdin)");
  va_list ap;
  va_start(ap, fmt);
  line(head, fmt, ap);
  va_end(ap);
  return 1;
}

const char *cli_error(int e) {
  static char msg[320];
  const char *why = wl_error_detail(e), *debug = getenv("WALLOC_DEBUG"), *site = wl_error_site(e);
  const int at = debug && *debug && *site; /* none where the error came from another thread's work */
  snprintf(msg, sizeof msg, "%s%s%s%s%s%s", wl_strerror(e), *why ? ": " : "", why, at ? " (at " : "", at ? site : "",
           at ? ")" : "");
  return msg;
}

int cli_load_model(const char *spec, wl_model **m) {
  uint8_t *buf;
  size_t len;
  for (int i = 0; wl_model_builtin_name(i); i++)
    if (!strcmp(spec, wl_model_builtin_name(i))) {
      int e = wl_model_builtin(m, spec);
      return e ? cli_fail(spec, "built-in model: %s", cli_error(e)) : 0;
    }
  if (io_read_all(spec, &buf, &len)) {
    const int bare = errno == ENOENT && !strchr(spec, '/') && !strchr(spec, '.'); /* a name, not a path */
    if (bare && !wl_model_builtin_name(0))
      return cli_fail(spec, "this walloc has no built-in models (made with BUILTIN=0): give -m FILE.wlm");
    if (!bare) return cli_fail(spec, "cannot read model: %s", strerror(errno));
    char names[256] = "";
    for (int i = 0; wl_model_builtin_name(i); i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", wl_model_builtin_name(i));
    return cli_fail(spec, "no such model: not a built-in one (%s) nor a file", names);
  }
  int e = wl_model_load(m, buf, len);
  free(buf);
  return e ? cli_fail(spec, "%s", cli_error(e)) : 0;
}

/* An output's name in messages: "stdout" for "-". */
const char *cli_out_name(const char *path) { return strcmp(path, "-") ? path : "stdout"; }

int cli_same_file(const char *a, const char *b) {
  struct stat x, y;
  return strcmp(a, "-") && strcmp(b, "-") && !stat(a, &x) && !stat(b, &y) && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int cli_out_open(const cli_opts *o, const char *path, io_output *w) {
  if (!strcmp(path, "-") && !o->force && isatty(STDOUT_FILENO))
    return cli_fail("stdout", "refusing to write binary data to a terminal (use -f or -o)");
  if (o->input && cli_same_file(path, o->input)) /* -f would replace what was read */
    return cli_fail(path, "is the input %s (give another output)", o->input);
  struct stat st;
  if (o->folder_err) return cli_fail(path, "cannot make its folder: %s", strerror(o->folder_err));
  if (strcmp(path, "-") && !stat(path, &st) && S_ISDIR(st.st_mode))
    return cli_fail(path, "is a folder (name a file, or give -O %s for outputs in it)", path);
  if (io_out_open(w, path, o->force))
    return errno == EEXIST ? cli_fail(path, "already exists (use -f to overwrite)")
                           : cli_fail(cli_out_name(path), "cannot write: %s", strerror(errno));
  return 0;
}

int cli_write(const cli_opts *o, const char *path, const uint8_t *buf, size_t len) {
  io_output w;
  if (cli_out_open(o, path, &w)) return 1;
  if (io_out_write(&w, buf, len)) {
    io_out_abort(&w);
    return cli_fail(cli_out_name(path), "cannot write: %s", strerror(errno));
  }
  return cli_commit(&w, path);
}

int cli_commit(io_output *w, const char *path) {
  if (!io_out_commit(w)) return 0;
  return errno == EEXIST ? cli_fail(path, "already exists (written meanwhile; use -f to overwrite)")
                         : cli_fail(cli_out_name(path), "cannot write: %s", strerror(errno));
}

int cli_write_pair(const cli_opts *o, const char *path, const uint8_t *buf, size_t len, const char *path2,
                   const uint8_t *buf2, size_t len2) {
  if (!o->force && strcmp(path2, "-") && !access(path2, F_OK)) return cli_fail(path2, "already exists (use -f to overwrite)");
  if (cli_write(o, path, buf, len)) return 1;
  if (!cli_write(o, path2, buf2, len2)) return 0;
  if (strcmp(path, "-")) unlink(path);
  return 1;
}
