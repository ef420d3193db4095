/* io.h: whole-file input (files or stdin) and atomic output (temp file + rename, or stdout). */
#ifndef WL_CLI_IO_H
#define WL_CLI_IO_H
#include <stddef.h>
#include <stdint.h>

/* Reads all of `path` ("-" = stdin) into a malloc'd buffer. Returns 0, or -1 with errno set. */
int io_read_all(const char *path, uint8_t **buf, size_t *len);

/* Writes buf to `path` ("-" = stdout). A file is written to a temporary name in the same
 * directory and renamed over `path` only when complete; without `force`, an existing path is
 * refused (errno EEXIST). Returns 0, or -1 with errno set and no file left behind. */
int io_write_atomic(const char *path, const uint8_t *buf, size_t len, int force);

/* "x/y.png" -> "x/y" + ext (a malloc'd string); returns NULL on allocation failure. */
char *io_replace_ext(const char *path, const char *ext);
/* Lower-case extension of path including the dot ("" when none), in a static buffer. */
const char *io_ext(const char *path);
#endif
