/* image_equal.h: two decoded images alike in shape, depth, alpha and every sample; for the
 * tools and fuzz targets that compare cli/png.c's readers. */
#ifndef WL_TESTS_IMAGE_EQUAL_H
#define WL_TESTS_IMAGE_EQUAL_H
#include <string.h>
#include "walloc.h"

static inline int images_equal(const wl_image *a, const wl_image *b) {
  const size_t plane = sizeof(float) * (size_t)a->height * (size_t)a->width;
  return a->channels == b->channels && a->height == b->height && a->width == b->width && a->depth == b->depth &&
         !a->alpha == !b->alpha && !memcmp(a->planes, b->planes, plane * (size_t)a->channels) &&
         (!a->alpha || !memcmp(a->alpha, b->alpha, plane));
}
#endif
