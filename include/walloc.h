/* walloc.h: the one public API of libwalloc, a wavelet-packet neural codec (WaLLoC-style).
 * A signal (planar float samples: an image (C, H, W) or audio (C, T)) goes through a CDF 9/7
 * wavelet packet transform (2-D for images, 1-D for audio), a linear
 * encoder to K latent channels, companding + rounding to B-bit integers, and rANS coding
 * into a .wlc byte string. The library never prints or exits: every function that can fail
 * returns 0 or a negative WL_ERR_* code, named by wl_strerror(). A NULL pointer argument that a
 * function's comment does not say it takes is WL_ERR_ARG from a function that returns an error
 * code (wl_model_describe and the free and release functions, which return none, must not get
 * one but for the object freed). On an error, outputs a function allocates are left NULL.
 *
 * Threads: each call runs on omp_get_max_threads() OpenMP threads (omp_set_num_threads sets
 * it); encoded bytes and decoded samples are the same for every thread count. A model is
 * read-only once loaded and may serve calls on several threads at once; an audio encoder or
 * decoder is used by one thread at a time. libgomp's idle threads spin for some milliseconds
 * before they sleep, which costs a machine shared with other work dearly: a program can start
 * with OMP_WAIT_POLICY=passive in its environment (the walloc program sets it itself). A child
 * that a process fork()s after calls on several threads hangs in its first call (libgomp's
 * thread pool does not survive a fork): such a parent runs on one thread (OMP_NUM_THREADS=1),
 * or its workers start afresh (Python multiprocessing: the "spawn" or "forkserver" method). */
#ifndef WALLOC_H
#define WALLOC_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* WL_API marks what the shared library exports: exactly the functions of walloc.h and
 * walloc_train.h (it is built with -fvisibility=hidden). */
#if defined(__GNUC__)
#define WL_API __attribute__((visibility("default")))
#else
#define WL_API
#endif

#define WL_VERSION_MAJOR 0
#define WL_VERSION_MINOR 5
#define WL_VERSION_PATCH 0
#define WL_VERSION_NUMBER (WL_VERSION_MAJOR * 10000 + WL_VERSION_MINOR * 100 + WL_VERSION_PATCH)
#define WL_VERSION_STRING "0.5.0"
#define WL_FORMAT_VERSION 1       /* .wlc version of images (one block), written and read */
#define WL_FORMAT_VERSION_AUDIO 2 /* .wlc version of audio (a stream of chunk records) */
#define WL_FORMAT_VERSION_DETAIL 3 /* .wlc version of images with a detail layer (wl_encode_opts.step) */
#define WL_FORMAT_VERSION_FILL 4  /* .wlc version of audio with a band envelope (the default) */
#define WL_FORMAT_VERSION_SPLIT 5 /* .wlc version of images with a detail layer, written since 0.2: the
                                     layer refines the decoder network's packets split to level J
                                     (version 3, still read: the packets of its decoded samples) */

/* Limits checked on every input and every header field before allocation. */
#define WL_MAX_DIM (1 << 16)       /* width and height: 1 .. 65536 (so at most 2^32 pixels: the
                                      limit of a .wlc and of images coded by rows) */
#define WL_MAX_PIXELS (1 << 26)    /* width * height of an image held whole (wl_image: wl_encode,
                                      wl_decode, targets): at most 64 Mpixel */
#define WL_MAX_REFINE 1000         /* wl_encode_opts.refine */
#define WL_MAX_STEP 896            /* wl_encode_opts.step: the finest detail step, 2^-12 */
#define WL_MAX_MASKS 64            /* wl_encode_opts.masks of an image: its highest level */
#define WL_MAX_ZONE 0.5f           /* wl_encode_opts.zone: at most half a step */
#define WL_MAX_CHANNELS 16         /* signal channels a model may take */
#define WL_MAX_J 6                 /* wavelet packet levels for images */
#define WL_MAX_J1 10               /* wavelet packet levels for audio (1-D) */
#define WL_MAX_FRAMES (1L << 30)   /* in-memory audio (wl_audio) frames: 1 .. 2^30 */
#define WL_MAX_SAMPLES (1L << 30)  /* in-memory audio channels * frames, and channels * (chunk +
                                      2 overlap) of a stream: at most 2^30 */
#define WL_MAX_STREAM_FRAMES 0x7fffffffL /* frames of an audio stream: 1 .. 2^31 - 1 (13.5 h at
                                            44.1 kHz) */
#define WL_MAX_TAPS 4095           /* post-filter taps of a 1-D model (odd) */
#define WL_MAX_CHUNK (1L << 24)    /* audio chunk length in frames: at most 2^24 */
#define WL_AUDIO_CHUNK_SAMPLES (1L << 23) /* default audio chunk: 2^23 samples over the channels
                                            (stereo: 2^22 frames, 95.1 s at 44.1 kHz) */
#define WL_MAX_RATE 0x7fffffff     /* audio sample rate in Hz: 1 .. 2^31 - 1 (stored, not used) */
#define WL_MAX_K 1024              /* latent channels */

enum {
  WL_OK = 0,
  WL_ERR_NOMEM = -1,     /* out of memory */
  WL_ERR_ARG = -2,       /* invalid argument */
  WL_ERR_MAGIC = -3,     /* not a walloc file (bad magic) */
  WL_ERR_VERSION = -4,   /* unsupported format version */
  WL_ERR_TRUNCATED = -5, /* data ends early */
  WL_ERR_CORRUPT = -6,   /* a field or stream is invalid */
  WL_ERR_CRC = -7,       /* checksum mismatch */
  WL_ERR_LIMIT = -8,     /* dimensions or counts outside the documented limits */
  WL_ERR_MODEL = -9,     /* model file is invalid */
  WL_ERR_MISMATCH = -10, /* file was made with a different model, or shapes differ */
  WL_ERR_NUMERIC = -11,  /* numerical failure (eigen-solver, empty training set) */
  WL_ERR_UNKNOWN_MODEL = -12 /* no built-in model by that name */
};

/* The version of the library at run time (WL_VERSION_NUMBER, WL_VERSION_STRING of the headers
 * it was built with), to check that a program runs with the library it was compiled for. */
WL_API unsigned wl_version_number(void);
WL_API const char *wl_version_string(void);

/* Returns a static English description of a WL_ERR_* code. */
WL_API const char *wl_strerror(int err);
/* More on err, when it is the last error raised by a call into the library on this thread:
 * what the code alone does not say, such as which training parameter is out of range and its
 * range ("" when there is nothing to add), and where in the library's sources it began
 * ("codec/container.c:95"). Both "" for another code (an earlier error's record is not
 * mistaken for this one's). */
WL_API const char *wl_error_detail(int err);
WL_API const char *wl_error_site(int err);

/* A planar signal. Image samples are integers stored as float in [0, 2^depth - 1];
 * `planes` is [channels][height][width]. `alpha` is an optional extra plane kept losslessly
 * (its samples are integers in that range; others are clamped to it, NaN to 0, and truncated). */
typedef struct {
  int channels, height, width;
  int depth;    /* bits per sample: 8 or 16 */
  float *planes;
  float *alpha; /* NULL when absent */
} wl_image;

/* Fills in the shape of `img` and allocates its planes, and an alpha plane when `alpha` is
 * non-zero (contents undefined), as wl_decode does. Returns 0, WL_ERR_ARG (channels, a side or
 * the depth out of the limits above: an image no function would take) or WL_ERR_NOMEM. */
WL_API int wl_image_alloc(wl_image *img, int channels, int height, int width, int depth, int alpha);
/* Frees the planes of an image from wl_image_alloc or wl_decode (not the struct itself). */
WL_API void wl_image_release(wl_image *img);

/* Audio: `samples` is [channels][frames], integers of `depth` bits in the signed range
 * -2^(depth-1) .. 2^(depth-1) - 1 stored as float (32-bit samples lose their low bits to float
 * rounding). The codec scales them to [-0.5, 0.5] by 2^-depth, pads the length to a multiple of
 * 2^J by symmetric reflection and crops it back on decode; rate is carried through. */
typedef struct {
  int channels;
  long frames;  /* 1 .. WL_MAX_FRAMES */
  int rate;     /* samples per second per channel, 1 .. WL_MAX_RATE */
  int depth;    /* bits per sample: 8, 16, 24 or 32 */
  float *samples;
} wl_audio;

/* Frees the samples of audio filled by wl_decode_audio (not the struct itself). */
WL_API void wl_audio_release(wl_audio *a);

/* ---- models ---------------------------------------------------------------------------- */
typedef struct wl_model wl_model;

typedef struct {
  char name[32];
  char kind[16];    /* "linear" or "neural" */
  int channels;     /* C: signal channels */
  int J;            /* wavelet packet levels */
  int K;            /* latent channels */
  int bits;         /* B: latent integer bits */
  int dims;         /* 2: images, C*4^J bands per latent position; 1: audio, C*2^J bands */
  uint64_t id;      /* FNV-1a 64 of the model file bytes */
  int keep;         /* channels an encode sends when its options say 0: K, or fewer for a
                       built-in operating point such as "stereo-20x" */
} wl_model_desc;

/* Parses a .wlm model (safetensors layout) from memory; the buffer may be freed after. */
WL_API int wl_model_load(wl_model **model, const void *buf, size_t len);
/* Loads a built-in model by name: "rgb", "rgb-linear", "gray"; audio "stereo", "mono" and their
 * 20x operating points "stereo-20x", "mono-20x" (desc.keep channels sent by default). */
WL_API int wl_model_builtin(wl_model **model, const char *name);
/* Name of the i-th built-in model, or NULL past the end. */
WL_API const char *wl_model_builtin_name(int i);
/* Finds the built-in model whose id is `id`; WL_ERR_MISMATCH when none. */
WL_API int wl_model_builtin_by_id(wl_model **model, uint64_t id);
WL_API void wl_model_free(wl_model *model);
WL_API void wl_model_describe(const wl_model *model, wl_model_desc *desc);

/* ---- coding ---------------------------------------------------------------------------- */
typedef struct {
  int keep;   /* channels to send: 1..K, or 0 for all */
  long chunk; /* audio: frames per chunk, a multiple of 2^J, at least the overlap
                 (wl_audio_chunking); 0 for the default, WL_AUDIO_CHUNK_SAMPLES / channels
                 rounded down to a multiple of 2^J */
  int refine;  /* images: iterations (0 .. WL_MAX_REFINE) of rate-distortion refinement of the
                  latents against the model's decoder, each costing about three decodes; 0:
                  none, the encoder's rounding as is. Audio ignores it */
  int step;    /* images: 0, or a detail layer of step index 1 .. WL_MAX_STEP: what the
                  latents leave out, sent with a uniform step of 2^(2 - step/64) (signal units,
                  the samples' full range being 1), so each 64 more halve the error; the
                  encoder decodes its latents to find it. Audio: a detail layer per chunk,
                  the same way (wl_quality_opts and the audio targets choose steps too) */
  int nofill;  /* audio: 1 sends no band envelope, so the decoder neither fills the bands the
                  latents leave nearly empty with noise of their coded energy nor tames bands
                  that come out too loud (format version 2 instead of 4). Images ignore it */
  float zone;  /* images with a detail layer: its dead zone widened by this fraction of the step
                  (0 .. WL_MAX_ZONE), which moves the bytes and PSNR between those of the step
                  and of the next coarser one; encoder side only. A rate or PSNR target may
                  choose it (wl_encode_target). 0: none. Audio ignores it */
  int fastread; /* 1 codes the latents for reading speed (WL_ENTROPY_BUCKETS: a static table per
                   activity bucket, sent in the stream, in place of adaptive context models):
                   wl_latents and the entropy part of decoding take about half the time, for
                   files about 6% larger. Files so made need walloc 0.3 or later */
  int masks;   /* audio: 1 masks per segment on chunks with a detail layer: each segment of 64
                  latent positions keeps the first channels that pay for their bits (D + lambda
                  R), the rest at their fill's integer, left to the detail layer (the format is
                  unchanged). A higher SNR for the bytes, but not the default: the first rungs
                  with a detail layer can then take fewer bytes than the rung before them, so
                  wl_quality_opts' ladder is not monotone in size there.
                  Images: 0, or a level 1 .. WL_MAX_MASKS of masks per tile: each tile of 8 x 8
                  latent positions keeps the first channels that pay for their bits at lambda
                  2^((level - 16) / 4) (higher levels mask more), the rest at the image's
                  commonest integer of their channel (the format is unchanged: any decoder reads
                  them). A PSNR target chooses a level where channels alone pass it by far */
  int reserved[3]; /* zero (WL_ERR_ARG otherwise): room for later fields, so that a program
                      built with this header keeps working with later libraries */
} wl_encode_opts;

/* Encodes `img` into a malloc'd .wlc byte string (*out, *outlen); free it with free(). */
WL_API int wl_encode(const wl_model *model, const wl_image *img, const wl_encode_opts *opts, uint8_t **out,
                     size_t *outlen);
/* The same, transforming img's colour planes in place, which saves a buffer of their size: they
 * hold no image afterwards (alpha is kept). With opts->refine > 0 it is wl_encode (refinement
 * reads the planes to the end). */
WL_API int wl_encode_inplace(const wl_model *model, wl_image *img, const wl_encode_opts *opts, uint8_t **out,
                             size_t *outlen);

/* The same, the image read a block of rows at a time, top to bottom, for memory bounded by the
 * width rather than the area (up to 65536 x 65536 pixels: no WL_MAX_PIXELS here): get(user, y0, n, planes) fills planes [channels][n][width] with
 * rows y0 .. y0+n-1 (a nonzero return stops the encode and is returned). `shape` gives the
 * channels, height, width and depth, and whether the image has alpha (shape->alpha not NULL;
 * neither it nor the planes are read): then get fills [channels + 1][n][width], alpha last. No
 * detail layer, dead zone or refinement (WL_ERR_ARG): those code the image whole. The bytes are
 * those of wl_encode. */
typedef int (*wl_rows_in)(void *user, int y0, int n, float *planes);
WL_API int wl_encode_rows(const wl_model *model, const wl_image *shape, const wl_encode_opts *opts, wl_rows_in get,
                          void *user, uint8_t **out, size_t *outlen);

/* Rate control (codec/search/target.c). A ladder orders the settings by rate and quality: the
 * first 1 .. K/4 latent channels alone, then K/4 channels with a detail layer of step index 1 ..
 * 200, then K/2 channels with steps 201 .. WL_MAX_STEP. wl_quality_opts_depth sets keep and
 * step (other fields zero) for quality 0..100 on it, for images of `depth` bits (8 or 16):
 * 0..10 add channels, 11..38 steps 64 .. 200 on K/4 channels (photos: about 0.12 to 0.23 bpp),
 * 39..75 steps 202 .. 320 on K/2 (photos: about 31 to 37 dB), 76..100 to 608 (about 55 dB) at
 * 8 bits, to 864 (about 77 dB: near-lossless) at 16. Audio models (any depth): 0..20
 * send 1 .. K/8 channels, 21..100 K/8 and a detail layer of step 206 .. 680 (16 kHz speech with
 * `mono`: about 1 to 20 kbps; 44.1 kHz stereo music with `stereo`: about 2 to 200 kbps).
 * wl_quality_opts is wl_quality_opts_depth at 8 bits. */
WL_API int wl_quality_opts_depth(const wl_model *model, int depth, int quality, wl_encode_opts *opts);
WL_API int wl_quality_opts(const wl_model *model, int quality, wl_encode_opts *opts);
/* Encodes an image at a setting that meets a target: WL_TARGET_BYTES (a file of at most `value`
 * bytes), WL_TARGET_BPP (at most `value` bits per pixel: bytes = floor(value W H / 8)),
 * WL_TARGET_PSNR (a file whose decoded PSNR, over every colour channel with peak 2^depth - 1,
 * is at least `value` dB): on each ladder searched (K/2 channels, and where its answer has no
 * step finer than 200, K/4; see target.c) the largest such file, or the smallest, and of those
 * the one of higher PSNR, or the smaller. *chosen: its fastread is read (zero it otherwise),
 * then it receives the setting. Every rung tried is
 * measured exactly, so the target holds for this library's encoder and decoder. WL_ERR_ARG
 * when no rung meets it (a size below the one-channel file, a PSNR past the finest step). */
enum { WL_TARGET_BYTES = 1, WL_TARGET_BPP = 2, WL_TARGET_PSNR = 3, WL_TARGET_KBPS = 4, WL_TARGET_SNR = 5 };
WL_API int wl_encode_target(const wl_model *model, const wl_image *img, int target, double value,
                            wl_encode_opts *chosen, uint8_t **out, size_t *outlen);

/* Decodes a .wlc byte string into `img` (planes allocated; release with wl_image_release); an
 * image over WL_MAX_PIXELS is WL_ERR_LIMIT (decode it by rows). */
WL_API int wl_decode(const wl_model *model, const uint8_t *buf, size_t len, wl_image *img);
/* The same image a stripe of rows at a time, top to bottom, for memory bounded by the width
 * rather than the area: put(user, rows, y0) receives rows y0 .. y0 + rows->height - 1 as an
 * image of that height (planes [channels][height][width], alpha when the image has one; both
 * the decoder's, valid during the call). A nonzero return from put stops the decode and is
 * returned. `stripe` sets the latent rows per stripe (2^J image rows each); 0 decodes an image
 * of up to 4 Mpixel whole (one stripe: faster there) and a larger one in stripes of about 4096
 * latent positions (4 to 16 rows). The samples depend on neither the stripes nor the thread
 * count: they are those of wl_decode. Any image of the format (up to 65536 x 65536) decodes
 * this way but one with a detail layer over WL_MAX_PIXELS (its planes are held whole:
 * WL_ERR_LIMIT). Memory in stripes: the latents, and a window of each of the decoder's layers,
 * the rows its readers lag behind plus a piece of at most 16 blocks of 512 latent positions (140
 * MB peak for a 6000x4000 RGB photo with rgb, 216 MB for 12500x8000). */
typedef int (*wl_rows_fn)(void *user, const wl_image *rows, int y0);
WL_API int wl_decode_rows(const wl_model *model, const uint8_t *buf, size_t len, int stripe, wl_rows_fn put,
                          void *user);

/* The same for a whole clip in memory, with a 1-D model (dims 1): one pipeline, 1-D packets,
 * through the audio stream coder below (the clip is cut into chunks). wl_decode of an audio
 * file and wl_decode_audio of an image file return WL_ERR_MISMATCH, as does a model of the
 * other dimensionality or channel count; a stream longer than WL_MAX_FRAMES (or channels *
 * frames over WL_MAX_SAMPLES) is WL_ERR_LIMIT for wl_decode_audio (decode it as a stream). */
WL_API int wl_encode_audio(const wl_model *model, const wl_audio *a, const wl_encode_opts *opts,
                           uint8_t **out, size_t *outlen);
WL_API int wl_decode_audio(const wl_model *model, const uint8_t *buf, size_t len, wl_audio *a);

/* ---- audio streams ---------------------------------------------------------------------
 * An audio .wlc is a file header, chunk records and an end record (layout: codec/container.c),
 * coded and decoded a chunk at a time, so memory stays flat for any length. Chunk i codes
 * frames [i L - O, (i + 1) L + O) of the signal, clipped to it (the last chunk's end padded by
 * reflection as a whole clip's is); the decoder drops the O/2 frames at each inner end of a
 * chunk, where the periodic packet transform joins the chunk's two ends, and cross-fades the
 * middle O frames of each 2 O-frame overlap with complementary raised-cosine weights, so every
 * frame comes from one chunk or from two whose weights sum to 1. L is the chunk length
 * (opts->chunk), O = 2 ceil(((8 + 2 R) 2^J + 128) / 2^J) 2^J frames: room for the level-J
 * wavelet supports, the R residual blocks of a neural model and a post-filter of up to 257 taps
 * (linear models at J 8: 4608 frames, 2 O / L = 0.44% more latents at the default stereo L).
 * Frames further than O from the signal's ends decode as in one block, within float rounding.
 * Bytes are identical on any thread count. */

/* The chunk length L that opts->chunk (0: the default) gives with this model, and the model's
 * overlap O; WL_ERR_ARG when the chunk is not a multiple of 2^J, is shorter than O, longer than
 * WL_MAX_CHUNK, or channels * (L + 2 O) is over WL_MAX_SAMPLES; WL_ERR_MISMATCH for an image
 * model (*L and *O then untouched). */
WL_API int wl_audio_chunking(const wl_model *model, long chunk, long *L, long *O);

typedef struct wl_audio_encoder wl_audio_encoder;
/* An encoder of audio of this many channels, rate and depth (8, 16, 24, 32) with a 1-D model
 * (kept by pointer: it must outlive the encoder). */
WL_API int wl_audio_encoder_new(wl_audio_encoder **enc, const wl_model *model, int channels, int rate, int depth,
                                const wl_encode_opts *opts);
/* Takes a->frames more frames (0 or more; channels, rate and depth as at creation); *out and
 * *outlen: the bytes of the stream this call completed (the file header, then each chunk record
 * as soon as the frames after its span arrive), valid until the next call. */
WL_API int wl_audio_encoder_push(wl_audio_encoder *enc, const wl_audio *a, const uint8_t **out, size_t *outlen);
/* Codes the last chunk and writes the end record: the rest of the stream in *out, *outlen.
 * WL_ERR_LIMIT when no frames came, or more than WL_MAX_STREAM_FRAMES. After an error the
 * encoder only accepts wl_audio_encoder_free. */
WL_API int wl_audio_encoder_finish(wl_audio_encoder *enc, const uint8_t **out, size_t *outlen);
WL_API void wl_audio_encoder_free(wl_audio_encoder *enc);

/* Audio rate control (codec/search/audio_target.c): an audio stream cut to its first `keep`
 * latent channels (1 .. the stream's keep), in a malloc'd *out: byte for byte the stream that
 * encoding with that keep writes, as each channel's code depends only on the channels before it.
 * Encode once with every channel, then cut to any rate. A cut drops a detail layer: cut a stream
 * with one only if it was encoded without masks, since its per-segment masks left to the layer
 * what the latents do not carry (the cut decodes, with less). */
WL_API int wl_audio_truncate(const uint8_t *buf, size_t len, int keep, uint8_t **out, size_t *outlen);
/* The largest keep whose cut stream is at most `value` bytes (WL_TARGET_BYTES) or kbps
 * (WL_TARGET_KBPS, over the stream's duration). WL_ERR_ARG when even one channel is larger,
 * or for another target. */
WL_API int wl_audio_target_keep(const uint8_t *buf, size_t len, int target, double value, int *keep);
/* Encodes a clip at the rung of the audio ladder (1 .. K/8 channels, then K/8 and a detail
 * layer of step 1 .. WL_MAX_STEP) that meets a target: the largest file of at most `value` bytes
 * (WL_TARGET_BYTES) or kbps (WL_TARGET_KBPS), or the smallest whose decoded SNR (every channel,
 * as walloc eval reports it) is at least `value` dB (WL_TARGET_SNR). Channels come from one
 * encode, cut; steps and SNR are searched by halving, each rung tried encoded (and for SNR
 * decoded) in full. opts: chunk and nofill (keep and step must be 0); *chosen: the rung's
 * options. WL_ERR_ARG when no rung meets the target. */
WL_API int wl_encode_audio_target(const wl_model *model, const wl_audio *a, int target, double value,
                                  const wl_encode_opts *opts, wl_encode_opts *chosen, uint8_t **out, size_t *outlen);

typedef struct wl_audio_decoder wl_audio_decoder;
/* A decoder of one audio stream made with `model` (kept by pointer). */
WL_API int wl_audio_decoder_new(wl_audio_decoder **dec, const wl_model *model);
/* Reads up to len bytes of the stream, in any pieces: *used of them are consumed (all of them,
 * unless a record completes first: call again with the rest). When a chunk record completes it
 * is decoded, and *out describes the frames that became final (channels, rate and depth of the
 * stream; frames 0 when none; samples [channels][frames] valid until the next call). A chunk's
 * frames come a segment (2^19 frames at J = 8) at a time: while more are to come, a call
 * consumes nothing (*used 0) and gives the next, so a caller that pushes until its bytes are
 * used gets them all (the end record follows the last chunk). Errors:
 * those of wl_info_read, WL_ERR_MISMATCH for another model, WL_ERR_CORRUPT for bytes after
 * the end record, WL_ERR_NOMEM. After an error the decoder has failed: every later push and
 * finish returns the same error (nothing more is read); only wl_audio_decoder_free remains. */
WL_API int wl_audio_decoder_push(wl_audio_decoder *dec, const uint8_t *buf, size_t len, size_t *used, wl_audio *out);
/* 0 once the end record has been read (every frame was given out), WL_ERR_TRUNCATED before. */
WL_API int wl_audio_decoder_finish(const wl_audio_decoder *dec);
WL_API void wl_audio_decoder_free(wl_audio_decoder *dec);
/* The frame count that the end record of an audio stream states; tail: the stream's last
 * WL_STREAM_TAIL bytes. Checked no further than its tag (the decoder checks it against the chunks
 * and the CRC): for sizing an output before the stream is decoded. */
#define WL_STREAM_TAIL 14
WL_API int wl_stream_frames(const uint8_t *tail, long *frames);

/* What a .wlc says of itself, read and validated without a model. */
enum { WL_MODALITY_IMAGE = 1, WL_MODALITY_AUDIO = 2 };
enum { WL_ENTROPY_STATIC = 0, WL_ENTROPY_TABLE = 1, WL_ENTROPY_ADAPTIVE = 2,
       WL_ENTROPY_PREDICTIVE = 3, WL_ENTROPY_BUCKETS = 4, WL_ENTROPY_MODES = 5 };
typedef struct {
  int version, modality;
  uint64_t model_id;
  int channels, height, width, depth, has_alpha; /* audio: height 1, width = frames */
  int rate;                        /* audio: samples per second; 0 for images */
  long frames;                     /* audio: frames per channel; 0 for images */
  long chunk, overlap, chunks;     /* audio: chunk length L and overlap O in frames; chunks */
  int J, K, keep, bits;
  int lat_h, lat_w;                /* latent plane size: padded size / 2^J (audio: 1, T/2^J) */
  uint32_t alpha_len;              /* bytes of the zstd alpha plane, 0 when absent */
  size_t header_len, total_len;    /* total_len includes the CRC32 trailer */
  int step;                        /* the detail layer's step index, 0 for none (audio: the finest
                                      of any chunk) */
  int detail_planes;               /* its planes up to the last one sent */
  int fill;                        /* audio: 1 when the stream has a band envelope (version 4) */
  int reserved;                    /* zero: room for a later field */
  uint64_t detail_bytes;           /* audio: every chunk's detail layer (tables and streams) */
  uint64_t fill_bytes;             /* audio: every chunk's band envelope */
} wl_info;

/* Reads and validates the header and CRC32 of a .wlc byte string; of audio, every record
 * (their CRCs, order and lengths) without decoding it. */
WL_API int wl_info_read(const uint8_t *buf, size_t len, wl_info *info);
/* Reads and validates only the fields at the start of a .wlc (its first WL_HEADER_PEEK bytes
 * are enough; for audio the file header and its CRC): the model id, modality, shape (not an
 * audio stream's frames), J, K, keep, bits, chunk and overlap, to choose a model and a reader
 * before the rest arrives. No stream lengths or image CRC. */
WL_API int wl_info_peek(const uint8_t *buf, size_t len, wl_info *info);
#define WL_HEADER_PEEK 40
/* wl_info_read, and per kept channel c < n (n at most info->keep; wl_info_peek tells keep):
 * its entropy mode (WL_ENTROPY_*; audio: the one most chunks chose) and bytes (audio: over every
 * chunk). */
WL_API int wl_info_channels(const uint8_t *buf, size_t len, wl_info *info, int n, uint8_t *mode, uint64_t *bytes);
/* Name of an entropy mode ("static", "table", "adaptive", "predictive", "buckets"). */
WL_API const char *wl_entropy_name(int mode);

/* Decodes only the integer latents: *q is malloc'd, shape (keep, lat_h, lat_w), row-major.
 * Audio: (keep, 1, ceil(frames / 2^J)), latent t covering frames [t 2^J, (t + 1) 2^J), taken
 * from the chunk whose own L frames ([i L, (i + 1) L)) hold them: the chunks' latents without
 * their overlaps, in time order. */
WL_API int wl_latents(const wl_model *model, const uint8_t *buf, size_t len, int16_t **q, wl_info *info);

/* The masks per tile of an image's latents q (keep, h, w) (wl_latents' layout), read back as
 * wl_encode_opts.masks leaves them: a tile of WL_MASK_TILE x WL_MASK_TILE positions sends
 * channel c unless c and every channel after it hold their channel's commonest integer (the
 * fill; ties: the smallest) throughout the tile. counts (ceil(h / WL_MASK_TILE) rows of
 * ceil(w / WL_MASK_TILE), row-major): the channels each tile sends; sent (keep, h, w), unless
 * NULL: 1 where the latent's channel is sent in its tile, else 0; fill (keep), unless NULL: the
 * fills. Any file has such masks: a plain encode's are the tiles that happen to hold only
 * fills. bits: the latents' (2 .. 16, wl_info.bits); a latent outside them is WL_ERR_ARG. */
#define WL_MASK_TILE 8
WL_API int wl_tile_masks(const int16_t *q, int keep, int h, int w, int bits, uint16_t *counts, uint8_t *sent,
                         int16_t *fill);
/* The integer planes of an image's detail layer (no model needed): *v malloc'd, shape
 * (C 4^J, lat_h, lat_w), plane b C + k the k-th coefficient of an orthonormal DCT-II across the
 * C colour channels of packet band b (wl_wpt2_forward's band order), in units of the step
 * 2^(2 - info.step / 64). *v is NULL (and info->step 0) for a file without one; NULL for audio,
 * whose detail layers are per chunk (info->step: the finest). */
WL_API int wl_detail_planes(const uint8_t *buf, size_t len, int16_t **v, wl_info *info);
/* The latents in the encoder's output space, as the decoder network takes them: y (K, n) from
 * the first `keep` channels of q (keep, n) (wl_latents' layout, n = lat_h lat_w), each integer
 * through the inverse companding, y = s Phi^-1(clamp(q / (2L) + 1/2, 1e-4, 1 - 1e-4)) with
 * L = 2^(B-1) - 1/2 - 1e-3 and s = (2^(B-1) - 1) / 1.85 for the model's B bits, and the
 * channels not sent at the model's fill values. WL_ERR_ARG for a latent outside the B-bit
 * range (clamped in y). */
WL_API int wl_dequantise(const wl_model *model, const int16_t *q, int keep, long n, float *y);

#ifdef __cplusplus
}
#endif
#endif
