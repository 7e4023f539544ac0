/*
 * Static files over plain HTTP GET on the WebSocket port (`--static DIR`),
 * so that a demo page and the browser tests need no other server.
 *
 * A GET without "Upgrade: websocket" is answered from DIR: the path is
 * percent-decoded and resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS), so neither "..", an absolute path nor a symbolic
 * link can lead outside DIR; "/" and paths ending in "/" mean index.html.
 * Only regular files up to max_file bytes (--static-max-file) are served, with a
 * Content-Type from the extension; everything else is 404 (or 400 for a
 * malformed path). Files are read synchronously: they are meant to be small
 * pages and scripts in the page cache, not a download service.
 */
#ifndef SSS_STATIC_H
#define SSS_STATIC_H

#include "sss_buf.h"

/*
 * The whole HTTP response (head and body) for GET target from the directory
 * dirfd (files over max_file bytes count as absent), as a new buffer (one reference for the caller), and its status in
 * *status. NULL on ENOMEM.
 */
struct sss_buf *sss_static_answer(int dirfd, const char *target, size_t max_file, int *status);

/* The Content-Type for a file name, by its extension. */
const char *sss_static_type(const char *name);

#endif
