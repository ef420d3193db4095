/* alloc.h: large buffers (signals, wavelet packets, chunks of audio) that are written once
 * right after allocation. Internal to the library; it lives in its lowest layer so that every
 * layer can use it. */
#ifndef WL_WAVELET_ALLOC_H
#define WL_WAVELET_ALLOC_H
#include <stddef.h>

/* malloc(bytes), except that buffers of 256 KiB or more are rounded up to whole 2 MiB,
 * 2 MiB-aligned and, on Linux, marked for transparent huge pages, so first touch costs one
 * fault per 2 MiB instead of one per 4 KiB. On the project's KVM machine a 4 KiB fault costs
 * about 11 us, against 0.3-0.5 us per 4 KiB under a huge page, and faults were 40% of a 768x512
 * encode. The rounding costs at most 2 MiB of memory a buffer, and zeroing a huge page costs
 * what its 512 small faults would on bare metal: for buffers that are filled, not for small
 * scratch taken and freed per call, which the heap reuses without faults. Release with free().
 * The CLI fixes malloc's mmap threshold at 2 MiB (cli/main.c), so that these buffers are always
 * mapped on their own and their advice never stays on heap memory that smaller ones reuse. */
void *wl_alloc_large(size_t bytes);
#endif
