/* fuzz_sound.c: libFuzzer target (make fuzz): arbitrary bytes as an audio file (WAV, FLAC, OGG,
 * AIFF, AU, CAF) through the reader the CLI uses (cli/sound.c over cli/io.c), from a memory file
 * opened by its path as `walloc encode FILE` opens one, read block by block as encode streams it.
 * Reading stops after 2^20 frames, past every header and the first blocks of any format: a 64 KB
 * FLAC of constant frames can legally decode to 2^30 samples (encode's memory does not grow with
 * them), and at 2^24 frames the mutants of such a file ran at one a second. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cli/sound.h"

/* 0 when path reads as audio (released), else -1. */
static int read_audio(const char *path) {
  io_input in;
  snd_reader *r;
  wl_audio fmt, b;
  char why[SND_WHY];
  if (io_open(path, &in)) return -1;
  int rc = snd_is_audio(in.head, in.nhead) && !snd_open(&in, &r, &fmt, why) ? 0 : -1;
  if (!rc) {
    for (long frames = 0; !(rc = snd_read(r, &b, why) ? -1 : 0) && b.frames && frames < 1L << 20;) frames += b.frames;
    snd_close(r);
  }
  io_close(&in);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  const int fd = memfd_create("fuzz-sound", 0);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size) abort();
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  read_audio(path);
  close(fd);
  return 0;
}
