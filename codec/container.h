/* container.h: .wlc header layout (see container.c for the byte map). */
#ifndef WL_CONTAINER_H
#define WL_CONTAINER_H
#include "walloc.h"

#define WL_HDR_FIXED 36 /* bytes before the per-channel entries */

size_t wl_header_size(int keep);
/* Writes h into p[0 .. wl_header_size(h->keep)). */
void wl_header_write(const wl_header *h, uint8_t *p);
#endif
