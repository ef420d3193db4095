/* alloc.h: large buffers (signals, wavelet packets, chunks of audio) that are written once
 * right after allocation. Internal to the library; it lives in its lowest layer so that every
 * layer can use it. */
#ifndef WL_WAVELET_ALLOC_H
#define WL_WAVELET_ALLOC_H
#include <stddef.h>

/* malloc(bytes), except that buffers of 2 MiB or more are 2 MiB-aligned and, on Linux, marked
 * for transparent huge pages, so first touch costs one fault per 2 MiB instead of one per
 * 4 KiB (the faults were a quarter of a 768x512 encode). Release with free(). */
void *wl_alloc_large(size_t bytes);
#endif
