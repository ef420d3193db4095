/* io.h: file and stdin input, whole or in pieces after a look at its first bytes; atomic
 * output (temp file + rename, or stdout), whole or in pieces. */
#ifndef WL_CLI_IO_H
#define WL_CLI_IO_H
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads all of `path` ("-" = stdin) into a malloc'd buffer. Returns 0, or -1 with errno set. */
int io_read_all(const char *path, uint8_t **buf, size_t *len);

/* An input read in pieces, its first bytes at hand first to tell what it is. A regular file is
 * read again from its start after the look (fd at its start); a pipe's first bytes come from
 * head (size -1). */
#define IO_HEAD 4096
typedef struct {
  int fd;
  off_t start, size; /* a regular file: where it starts (its offset when opened) and its bytes */
  uint8_t head[IO_HEAD];
  size_t nhead, hpos; /* head bytes (fewer than IO_HEAD: the whole input), and those read */
} io_input;
/* Opens path ("-" = stdin) and reads its head. Returns 0, or -1 with errno set. */
int io_open(const char *path, io_input *in);
/* Up to n more bytes of the input: the count, 0 at the end, or -1 with errno set. */
ssize_t io_read(io_input *in, void *buf, size_t n);
/* The bytes read from standard input and written to standard output so far. */
void io_std_bytes(long long *in, long long *out);
/* n bytes, or fewer at the end: the next ones (at < 0), or those `at` bytes from the start of
 * a regular file (size >= 0; else -1 with errno ESPIPE). The count, or -1 with errno set. */
long io_read_full(io_input *in, void *buf, size_t n, int64_t at);
/* The rest of the input (all of it, just after io_open) in a malloc'd buffer; 0 or -1. */
int io_read_rest(io_input *in, uint8_t **buf, size_t *len);
void io_close(io_input *in);

/* An output written in pieces: a file goes to a temporary name in its directory, renamed over
 * `path` by io_out_commit only when complete; "-" is stdout; an existing FIFO or device
 * (/dev/null) is written to as a stream. Without `force`, an existing path of any other kind is
 * refused (errno EEXIST); with it a symlink is replaced, not its target. Each returns 0, or -1
 * with errno set; io_out_commit and io_out_abort leave no temporary file behind, and neither
 * does SIGINT, SIGTERM or SIGHUP while one is open. */
typedef struct io_output {
  int fd;
  char *tmp, *path; /* NULL for stdout and streams */
  int stream;       /* an existing FIFO or device, opened for writing */
  int force;        /* may replace an existing path (else it must still be free at the commit) */
  mode_t mode;      /* the file's permissions: those of the file it replaces, else 0666 less the umask */
} io_output;
int io_out_open(io_output *w, const char *path, int force);
int io_out_write(io_output *w, const void *buf, size_t len);
/* The same at byte `at` of a file being written to its temporary name (else -1, errno ESPIPE). */
int io_out_write_at(io_output *w, const void *buf, size_t len, int64_t at);
int io_out_commit(io_output *w);
void io_out_abort(io_output *w);
/* io_hold_commits(1): from each io_out_commit on, SIGINT, SIGTERM and SIGHUP are deferred until
 * io_release(), which then ends the process by the signal (a batch records the output first). */
void io_hold_commits(int on);
void io_release(void);
/* fn handles SIGINT, SIGTERM and SIGHUP, the signals that stop walloc (calls restart), but one
 * the process was started to ignore (nohup); was (3 entries, or NULL) receives what they had
 * before, which io_restore_signals puts back. */
void io_catch_signals(void (*fn)(int), struct sigaction *was);
void io_restore_signals(const struct sigaction *was);

/* Writes buf to `path` ("-" = stdout) atomically: io_out_open, io_out_write, io_out_commit. */
int io_write_atomic(const char *path, const uint8_t *buf, size_t len, int force);

/* Whether path is an existing FIFO, device or socket: written to as a stream, not replaced. */
int io_is_stream(const char *path);
/* "x/y.png" -> "x/y" + ext (a malloc'd string); returns NULL on allocation failure. */
char *io_replace_ext(const char *path, const char *ext);
/* dir "/" name, one slash between them where dir ends with one, name alone for dir "" (a
 * malloc'd string, or NULL). */
char *io_join(const char *dir, const char *name);
/* Lower-case extension of path including the dot ("" when none), in a static buffer. */
const char *io_ext(const char *path);
/* Whether io_ext(path) is one of exts (NULL-terminated). */
int io_ext_in(const char *path, const char *const *exts);
#endif
