/* sound.h: audio files in and out through libsndfile, a block of frames at a time (so memory
 * stays flat for any length, and stdin/stdout work).
 * In: WAV, FLAC, OGG (Vorbis, Opus), AIFF, AU, CAF, told apart by content.
 * Out: WAV or FLAC, with the rate, channel count, length and integer bit depth restored. */
#ifndef WL_CLI_SOUND_H
#define WL_CLI_SOUND_H
#include <stddef.h>
#include <stdint.h>
#include "walloc.h"
#include "cli/io.h"

#define SND_WHY 200    /* size of the message buffers below */
#define SND_BLOCK 4096 /* frames per libsndfile read or write call */

/* True when buf starts like a WAV (RIFF/RIFX/RF64 ... WAVE), FLAC, Ogg, AIFF, AU or CAF file
 * (or an ID3 tag): the inputs snd_open tries. */
int snd_is_audio(const uint8_t *buf, size_t len);

/* An audio input read in blocks. Integer PCM keeps its depth (8, 16, 24, 32) and exact samples;
 * compressed-sample formats (Vorbis, Opus, MP3, A-law ...) decode to 16-bit; float samples are
 * refused. A regular file is read in place; a pipe streams through libsndfile's pipe reader
 * (WAV, AIFF, AU, Ogg), or is read whole first for the formats that reader cannot take (FLAC,
 * CAF, RF64). The length is the frames that decode: a header that promises more is truncation,
 * except for Vorbis and Opus, whose header lengths are estimates (snd_declared). */
typedef struct snd_reader snd_reader;
/* Opens the audio of `in` (read from it until snd_close); the format in *fmt (samples NULL).
 * On failure -1 with a one-line message in why[SND_WHY]. */
int snd_open(io_input *in, snd_reader **r, wl_audio *fmt, char *why);
/* The next frames into *block (the format's fields; samples [channels][frames], valid until the
 * next call); frames 0 at the end. -1 with a message when the input is corrupt or ends before
 * its header's length. */
int snd_read(snd_reader *r, wl_audio *block, char *why);
/* The length the header stated when it differs from the frames read (Vorbis, Opus), else -1. */
long long snd_declared(const snd_reader *r);
void snd_close(snd_reader *r);
/* Reads all of an opened input into a (samples malloc'd: release with wl_audio_release),
 * within WL_MAX_FRAMES and WL_MAX_SAMPLES. */
int snd_read_all(snd_reader *r, wl_audio *a, char *why);

/* An audio output written in blocks: WAV (8-bit unsigned, as WAV requires) or FLAC of fmt's
 * rate, channels and depth into w. On stdout (WAV only), whose header cannot be rewritten at the
 * end, the header states `frames` (-1: unknown, written as 0xFFFFFFFF, which libsndfile, sox
 * and ffmpeg read as "to the end of the file"). A WAV file of more than 4 GiB of samples is RF64
 * when `frames` says so up front; one of unknown length fails when it gets there. */
typedef struct snd_writer snd_writer;
int snd_create(io_output *w, const wl_audio *fmt, int flac, long long frames, snd_writer **sw, char *why);
int snd_write(snd_writer *sw, const wl_audio *block, char *why);
/* Completes the file (its header's sizes) and frees sw; -1 with a message on failure. */
int snd_finish(snd_writer *sw, char *why);
/* Frees sw after a failure. */
void snd_abandon(snd_writer *sw);
#endif
