/* work.c: the buffers that analysis and synthesis keep from one signal to the next (wl_work,
 * internal.h). */
#include <stdlib.h>
#include "codec/internal.h"
#include "codec/decoder.h"
#include "wavelet/wpt.h"

void wl_work_free(wl_work *w) {
  free(w->x);
  free(w->scratch);
  free(w->y);
  free(w->net);
  memset(w, 0, sizeof *w);
}

int wl_grow(float **buf, size_t *cap, size_t n) {
  if (*cap >= n) return 0;
  free(*buf);
  *cap = 0;
  if (!(*buf = wl_malloc_big(sizeof(float) * n))) return WL_FAIL(WL_ERR_NOMEM);
  *cap = n;
  return 0;
}

int wl_work_reserve(wl_work *w, const wl_signal *s, int J) {
  int Hp, Wp;
  wl_signal_padded(s, J, &Hp, &Wp);
  WL_TRY(wl_grow(&w->x, &w->xcap, (size_t)s->channels * Hp * Wp));
  return s->dims == 1 ? wl_grow(&w->scratch, &w->scap, wl_wpt_scratch_floats(s->channels, 1, Wp)) : 0;
}

/* Sizes w for synthesising h's shape: latents and decoder activations, then the padded signal
 * and its 1-D scratch as for analysis. */
int wl_work_reserve_synthesis(wl_work *w, const wl_model *m, const wl_header *h) {
  const int audio = h->modality == WL_MODALITY_AUDIO;
  const wl_signal padded = {audio ? 1 : 2, h->channels, audio ? 1 : h->lat_h << h->J, h->lat_w << h->J, h->depth, NULL, 0};
  WL_TRY(wl_grow(&w->y, &w->ycap, (size_t)h->K * h->lat_h * h->lat_w));
  WL_TRY(wl_grow(&w->net, &w->ncap, wl_decoder_work_floats(m, h->lat_h, h->lat_w)));
  return wl_work_reserve(w, &padded, h->J);
}
