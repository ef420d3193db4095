/* sound.h: audio files <-> wl_audio through libsndfile, in memory (so stdin/stdout work).
 * In: WAV, FLAC, OGG (Vorbis, Opus), AIFF, AU, CAF, told apart by content.
 * Out: WAV or FLAC, with the rate, channel count, length and integer bit depth restored. */
#ifndef WL_CLI_SOUND_H
#define WL_CLI_SOUND_H
#include <stddef.h>
#include <stdint.h>
#include "walloc.h"

#define SND_WHY 200 /* size of the message buffer snd_decode and snd_encode fill */

/* True when buf starts like a WAV (RIFF/RIFX/RF64 ... WAVE), FLAC, Ogg, AIFF, AU or CAF file
 * (or an ID3 tag): the files snd_decode tries. */
int snd_is_audio(const uint8_t *buf, size_t len);
/* Decodes an audio file into a (samples [C][T], integers of a's depth as float). Integer PCM
 * keeps its depth (8, 16, 24, 32) and exact samples; compressed-sample formats (Vorbis, Opus,
 * MP3, A-law ...) decode to 16-bit; float samples are refused. A WAV whose data chunk is
 * longer than the file is refused as truncated. On failure returns -1 with a one-line
 * message in why[SND_WHY]; `known` != 0 when the bytes start like audio (snd_is_audio). */
int snd_decode(const uint8_t *buf, size_t len, wl_audio *a, int *known, char *why);
/* Encodes a as WAV (flac 0) or FLAC (flac 1) of a->depth bits (WAV 8-bit is unsigned, as WAV
 * requires) into a malloc'd buffer. Returns 0 or -1 with a message in why[SND_WHY]. */
int snd_encode(const wl_audio *a, int flac, uint8_t **out, size_t *outlen, char *why);
#endif
