/* alloc.c: see alloc.h. */
#include "wavelet/alloc.h"

#include <stdlib.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)

void *wl_alloc_large(size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  void *p;
  if (bytes < HUGE_PAGE / 8) return malloc(bytes);
  bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  if (posix_memalign(&p, HUGE_PAGE, bytes)) return NULL;
  madvise(p, bytes, MADV_HUGEPAGE); /* advice only: without THP the buffer still works */
  return p;
#else
  return malloc(bytes);
#endif
}
