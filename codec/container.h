/* container.h: .wlc layouts (see container.c for the byte maps): the one-block image file and
 * the chunked audio stream (a file header, chunk records, an end record). */
#ifndef WL_CONTAINER_H
#define WL_CONTAINER_H
#include "codec/internal.h"

#define WL_HDR_FIXED 36   /* bytes before the per-channel entries (image file, audio chunk header) */
#define WL_AUDIO_HDR WL_HEADER_PEEK /* 40: audio file header, its CRC-32 included */
#define WL_CHUNK_FIXED 10 /* chunk record bytes before its per-channel entries */
#define WL_END_LEN WL_STREAM_TAIL /* 14: end record */
enum { WL_TAG_CHUNK = 'C', WL_TAG_END = 'E' };

/* Reads and validates a .wlc's header (and of audio every record), or only its first fields:
 * wl_info_read and wl_info_peek with each kept channel's mode and bytes. */
int wl_header_read(const uint8_t *buf, size_t len, wl_header *hdr);
int wl_header_peek(const uint8_t *buf, size_t len, wl_header *hdr);

size_t wl_header_size(int keep);
/* Writes h into p[0 .. wl_header_size(h->keep)). */
void wl_header_write(const wl_header *h, uint8_t *p);

/* Audio streams. The file header h (modality audio: J, bits, model_id, rate, channels, depth,
 * K, keep, chunk, overlap) into p[0 .. WL_AUDIO_HDR). */
void wl_audio_header_write(const wl_header *h, uint8_t *p);
/* Chunk i's span start in the signal: 0 for chunk 0, i L - O after it. */
int64_t wl_chunk_start(const wl_header *file, uint32_t i);
/* Frames of chunk i's span unless it is the last: L + O for chunk 0, L + 2 O after it. */
long wl_chunk_span(const wl_header *file, uint32_t i);
/* The bytes of a chunk record's head: WL_CHUNK_FIXED, 5 per kept channel and, with a band
 * envelope, 5 per signal channel. */
size_t wl_chunk_table_size(const wl_header *file);
/* Writes the head of a chunk record, the wl_chunk_table_size bytes that it returns, from ch: the
 * file's fields with width = frames of the span, the entropy and stream_len of each kept channel
 * and, with a band envelope, env_mode and env_len of each signal channel. The latent streams, the
 * envelope streams and the record's CRC-32 follow. */
size_t wl_chunk_head_write(const wl_header *ch, uint32_t index, int last, uint8_t *p);

/* Where a reader of the records after the file header stands. */
typedef struct {
  uint32_t index; /* the next chunk's */
  int last;       /* the last chunk was read: the end record follows */
  int done;       /* the end record was read: nothing follows */
  int64_t frames; /* after the last chunk: the signal's length */
  uint32_t crc;   /* CRC-32 of every byte read so far, the file header included */
} wl_stream_pos;

/* The size of the record at p (len bytes of it at hand) in *need: the whole record's once the
 * first len bytes tell it, otherwise more than len (the bytes needed to tell). Fails on a tag
 * out of place or a stream longer than its chunk's bound, before anything is sized by it. */
int wl_record_size(const wl_header *file, const wl_stream_pos *at, const uint8_t *p, size_t len, size_t *need);
/* Checks the whole record p[0 .. size) in sequence and moves `at` past it. A chunk record fills
 * *ch: the file's fields with width = frames of its span, lat_w = ceil(width / 2^J), entropy,
 * stream_len, header_len (the offset of its first stream) and total_len = size. */
int wl_record_read(const wl_header *file, wl_stream_pos *at, const uint8_t *p, size_t size, wl_header *ch);
#endif
