/* alloc.c: the library's allocation of signal-sized buffers (wl_malloc_big, internal.h).
 *
 * Such a buffer is touched page by page on its first pass, and what a first touch costs depends
 * on the machine more than on anything walloc does. On bare metal and most virtual machines a
 * 4 KiB page fault costs well under 1 us, while a transparent huge page that the guest had
 * handed back to its host (free page reporting) may cost 10 ms per MiB to fault in again: there
 * huge pages lose (session 25's machine: 100 MB after 4 s idle, 926-1096 ms against 48-60 ms). In
 * guests whose page tables the host shadows, every 4 KiB fault costs 9-27 us, and huge pages win
 * even after a pause (session 31's machine: a 10-minute stereo encode faulted 22740 times, 0.2 s).
 * So the first call times 16 first touches of a fresh mapping, once per process, and advises
 * huge pages only where a 4 KiB fault took over SLOW_FAULT_NS. The bytes walloc writes do not
 * depend on it. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include "codec/internal.h"

#define HUGE_PAGE ((size_t)2 << 20)
#define SLOW_FAULT_NS 4000
#define PROBE_PAGES 16

#ifdef MADV_HUGEPAGE
static int slow_faults;
static pthread_once_t probed = PTHREAD_ONCE_INIT;

static void probe(void) {
  const size_t page = 4096, n = PROBE_PAGES * page;
  volatile char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct timespec a, b;
  if (p == MAP_FAILED) return;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (size_t i = 0; i < n; i += page) p[i] = 1;
  clock_gettime(CLOCK_MONOTONIC, &b);
  munmap((void *)p, n);
  slow_faults = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec) > PROBE_PAGES * SLOW_FAULT_NS;
}
#endif

void *wl_malloc_big(size_t bytes) {
#ifdef MADV_HUGEPAGE
  if (bytes >= HUGE_PAGE && bytes <= SIZE_MAX - HUGE_PAGE) {
    pthread_once(&probed, probe);
    if (slow_faults) { /* aligned to a huge page and rounded up to whole ones */
      const size_t n = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
      void *p = aligned_alloc(HUGE_PAGE, n);
      if (p) (void)madvise(p, n, MADV_HUGEPAGE);
      return p;
    }
  }
#endif
  return malloc(bytes);
}
