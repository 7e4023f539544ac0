/*
 * Static files over plain HTTP GET on the WebSocket port (`--static DIR`),
 * so that a demo page and the browser tests need no other server.
 *
 * A GET without "Upgrade: websocket" is answered from DIR: the path is
 * percent-decoded and resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS), so neither "..", an absolute path nor a symbolic
 * link can lead outside DIR; "/" and paths ending in "/" mean index.html.
 * A path with a segment that starts with '.' (".env", ".git/config") is
 * refused (404) unless --static-dotfiles. The file is opened O_NONBLOCK (a
 * FIFO or device cannot block the open) and checked with fstat: only
 * regular files up to max_file bytes (--static-max-file) are served, with a
 * Content-Type from the extension and the --static-csp policy; everything
 * else is 404 (or 400 for a malformed path).
 *
 * This module only decides and builds the head: the body is read by the
 * worker in chunks of SSS_STATIC_CHUNK bytes (src/worker/sss_conn.c, one
 * io_uring read per chunk, the next one once the previous left the send
 * queue), so a request holds at most one chunk however big the file and
 * however slow its reader.
 */
#ifndef SSS_STATIC_H
#define SSS_STATIC_H

#include <stddef.h>

#include "sss_buf.h"

#define SSS_STATIC_CHUNK 16384 /* bytes of a file read at once, the most a request holds */

/* What the worker's settings say about static files (all borrowed). */
struct sss_static_cfg {
    int dirfd;       /* the --static folder (O_PATH), or -1 */
    size_t max_file; /* larger files count as absent */
    int dotfiles;    /* serve paths with a segment starting with '.' */
    const char *csp; /* Content-Security-Policy of every answer ("": none) */
};

/* The answer to one GET. */
struct sss_static_reply {
    struct sss_buf *head; /* the head, and the whole body unless fd >= 0 (one reference) */
    int fd;               /* the file whose size bytes follow the head (owned), or -1 */
    size_t size;          /* bytes of the file (Content-Length) when fd >= 0 */
    int status;           /* the HTTP status */
};

/*
 * Answer GET target from cfg->dirfd into *out. Returns 0, or -ENOMEM (out
 * holds nothing then). Never blocks on the file: it is only opened and
 * fstat'ed; the caller reads its body from out->fd and closes it.
 */
int sss_static_open(const struct sss_static_cfg *cfg, const char *target,
                    struct sss_static_reply *out);

/* The Content-Type for a file name, by its extension. */
const char *sss_static_type(const char *name);

#endif
