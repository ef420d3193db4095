/* coder.c: the event recorder and decoder plumbing behind entropy/coder.h, shared by the modes
 * (table.c, context.c). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "entropy/coder.h"
#include "entropy/entropy.h"

/* rans_rcp of every frequency, made once: the encoder's per-event division becomes a table read
 * (off the state's dependency chain) and a multiplication. */
static uint32_t rcp[IO_ONE + 1];
static pthread_once_t rcp_once = PTHREAD_ONCE_INIT;
static void rcp_init(void) {
  for (uint32_t f = 1; f <= IO_ONE; f++) rcp[f] = rans_rcp(f);
}

int wle_io_reserve(wle_io *io, size_t more) {
  if (io->n + more <= io->cap) return 0;
  size_t cap = io->cap ? io->cap : 4096; /* then doubling: O(1) amortised per event */
  while (cap < io->n + more) cap *= 2;
  uint32_t *ev = realloc(io->ev, cap * sizeof *ev);
  if (!ev) {
    io->err = WLE_ERR_NOMEM;
    return -1;
  }
  io->ev = ev;
  io->cap = cap;
  if (io->s) io->s->ev = ev, io->s->ev_cap = cap;
  return 0;
}

void wle_io_init_enc(wle_io *io, wle_scratch *s) {
  memset(io, 0, sizeof *io);
  io->s = s;
  if (s) io->ev = s->ev, io->cap = s->ev_cap;
}

void wle_io_drop(wle_io *io) {
  if (!io->s) free(io->ev);
  io->ev = NULL;
  io->n = io->cap = 0;
}

void *wle_grow(void **buf, size_t *cap, size_t n) {
  if (*buf && *cap >= n) return *buf;
  free(*buf);
  *buf = malloc(n);
  *cap = *buf ? n : 0;
  return *buf;
}

void *wle_io_work(wle_io *io, size_t n) { return io->s ? wle_grow(&io->s->work, &io->s->work_cap, n) : malloc(n); }

void wle_io_work_done(const wle_io *io, void *work) {
  if (!io->s) free(work);
}

void wle_scratch_free(wle_scratch *s) {
  if (!s) return;
  free(s->ev);
  free(s->work);
  free(s->trial);
  memset(s, 0, sizeof *s);
}

int wle_io_init_dec(wle_io *io, const uint8_t *src, size_t len) {
  memset(io, 0, sizeof *io);
  io->dec = 1;
  return rans_dec_init(&io->d, src, len) ? WLE_ERR_CORRUPT : WLE_OK;
}

int wle_io_finish_enc(wle_io *io, uint8_t *dst, size_t cap, size_t *len) {
  uint8_t *p = dst + cap;
  uint32_t x = RANS_L;
  int rc = WLE_OK;
  pthread_once(&rcp_once, rcp_init);
  const uint32_t *ev = io->ev; /* in a register: the byte stores could alias io->ev */
  const uint8_t *lo = cap / 2 > io->n ? NULL : dst; /* NULL: room for the most, 2 bytes an event */
  for (size_t i = io->n; i-- > 0 && !rc;)
    if (rans_enc_put(&x, &p, lo, ev[i] & 0xffff, ev[i] >> 16, IO_SCALE, rcp[ev[i] >> 16])) rc = WLE_ERR_OVERFLOW;
  if (!rc && rans_enc_flush(x, &p, dst)) rc = WLE_ERR_OVERFLOW;
  if (!rc) {
    *len = (size_t)(dst + cap - p);
    memmove(dst, p, *len);
  }
  wle_io_drop(io);
  return rc;
}

int wle_io_finish_dec(const wle_io *io) { return rans_dec_done(&io->d) ? WLE_OK : WLE_ERR_CORRUPT; }
