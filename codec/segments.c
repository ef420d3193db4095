/* segments.c: per-segment channel masks for audio (issue 20's masks chosen by rate-distortion).
 * Each segment of SEG latent positions of a chunk keeps its first k channels, k chosen per
 * segment; the channels past k take the fill's integer there, which the context coder codes in
 * almost nothing, and the chunk's detail layer codes what they carried. Used only on chunks with
 * a detail layer: without one the noise fill stands in for the masked content, which measured
 * worse in every measure (codec/models/README.md, "Per-segment masks for audio").
 *
 * D of masking channel c over a segment is the squared distance of its dequantised latents from
 * the fill's (what the linear path loses, in the encoder's output space); R the bits its values
 * take under the channel's own histogram over the chunk, less the fill's. A segment keeps the k
 * minimising the sum over c >= k of D - lambda R, with lambda = LAMBDA d^2, d the step of the
 * companded scale at channel 0's fill. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"

#define SEG 64       /* latent positions a segment: 0.37 s at 44.1 kHz and J = 8 */
#define LAMBDA 32.0  /* measured against 8: more bytes saved at every rung, SNR higher */

int wl_mask_segments(const wl_model *m, int16_t *q, int keep, long P) {
  const int half = 1 << (m->d.bits - 1);
  const long nseg = (P + SEG - 1) / SEG;
  double *D = malloc(sizeof(double) * (size_t)(keep * nseg)), *R = malloc(sizeof(double) * (size_t)(keep * nseg));
  double *cost = malloc(sizeof(double) * 2 * (size_t)half);
  uint32_t *cnt = malloc(sizeof(uint32_t) * 2 * (size_t)half);
  int16_t *fill = malloc(sizeof(int16_t) * (size_t)(keep ? keep : 1));
  int rc = D && R && cost && cnt && fill ? 0 : WL_FAIL(WL_ERR_NOMEM);
  for (int c = 0; !rc && c < keep; c++) {
    const int16_t *qc = q + c * P;
    const int f = fill[c] = wl_quantise(m, m->fill[c]);
    const float yf = wl_dequant_q(m, f);
    memset(cnt, 0, sizeof(uint32_t) * 2 * (size_t)half);
    for (long i = 0; i < P; i++) cnt[qc[i] + half]++;
    for (int v = 0; v < 2 * half; v++)
      if (cnt[v] || v == f + half) cost[v] = -log2((cnt[v] + 0.5) / (P + 1.0));
    for (long t = 0; t < nseg; t++) {
      double d = 0, r = 0;
      for (long i = t * SEG; i < P && i < (t + 1) * SEG; i++) {
        const double e = wl_dequant_q(m, qc[i]) - yf;
        d += e * e;
        r += cost[qc[i] + half] - cost[f + half];
      }
      D[c * nseg + t] = d;
      R[c * nseg + t] = r;
    }
  }
  const double step = keep ? wl_dequant_q(m, fill[0] + 1) - wl_dequant_q(m, fill[0]) : 0, lambda = LAMBDA * step * step;
  for (long t = 0; !rc && t < nseg; t++) {
    int k = keep;
    double sum = 0, best = 0;
    for (int c = keep - 1; c >= 0; c--) {
      sum += D[c * nseg + t] - lambda * R[c * nseg + t];
      if (sum < best) best = sum, k = c;
    }
    for (int c = k; c < keep; c++)
      for (long i = t * SEG; i < P && i < (t + 1) * SEG; i++) q[c * P + i] = (int16_t)fill[c];
  }
  free(D); free(R); free(cost); free(cnt); free(fill);
  return rc;
}
