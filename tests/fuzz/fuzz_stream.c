/* fuzz_stream.c: libFuzzer target (make fuzz): an audio stream pushed into the stream decoder in
 * pieces whose sizes the first two bytes choose, with the built-in model the stream names
 * (stereo or mono), as `walloc decode` reads a pipe. After an error the decoder must keep
 * returning it. Checksums are taken as they are (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION). */
#include <stdlib.h>
#include "codec/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wl_info h;
  wl_model *m;
  wl_audio_decoder *d;
  if (size < 2 + WL_HEADER_PEEK || wl_info_peek(data + 2, size - 2, &h) || h.modality != WL_MODALITY_AUDIO ||
      (long)h.channels * (h.chunk + 2 * h.overlap) > 1 << 22 || wl_model_builtin_by_id(&m, h.model_id))
    return 0;
  const size_t step[2] = {1 + data[0] % 97, 1 + (size_t)data[1] * 61};
  int e = wl_audio_decoder_new(&d, m);
  for (size_t off = 2, used = 0, k = 0; !e && off < size; off += used, k++) {
    wl_audio v;
    const size_t n = size - off < step[k & 1] ? size - off : step[k & 1];
    e = wl_audio_decoder_push(d, data + off, n, &used, &v);
    if (e && wl_audio_decoder_push(d, data + off, n, &used, &v) != e) abort();
  }
  if (d) wl_audio_decoder_finish(d);
  wl_audio_decoder_free(d);
  wl_model_free(m);
  return 0;
}
