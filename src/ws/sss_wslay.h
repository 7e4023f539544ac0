/*
 * The glue to wslay for one server-side WebSocket: wslay parses the frames
 * the client sends (masking, UTF-8, fragmentation, control frames, the size
 * limit) and answers control frames (pong, close); what it writes goes to
 * the owner's write callback, which must take the whole length (so its
 * frames never interleave with the owner's). Data frames the server sends
 * are built by sss_ws_frame and never pass through here.
 *
 * The wslay context (about 8.5 KB) can be given up whenever the stream is at
 * a frame boundary (sss_wslay_park) and is made again on demand; io->contexts
 * hears of each one made and given up. While none is held, whole small data
 * frames are read without one (see whole_frames in sss_wslay.c): an idle
 * connection's requests make no context at all.
 * No sockets: the owner feeds bytes in and takes bytes out.
 * May include: libc, common, ws, wslay.
 */
#ifndef SSS_WSLAY_H
#define SSS_WSLAY_H

#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "sss_deflate.h"
#include "sss_ws.h"

struct sss_wslay_io {
    /* Bytes of wslay's frames to send: take them all (0), or fail (< 0). */
    int (*write)(void *data, const uint8_t *bytes, size_t len);
    /* One complete data message (WSLAY_TEXT_FRAME or WSLAY_BINARY_FRAME), after
     * wslay's own replies were written; none comes after our close frame. */
    void (*message)(void *data, int opcode, const uint8_t *msg, size_t len);
    /* A context was made (+1) or given up (-1); NULL: not told. */
    void (*contexts)(void *data, int delta);
};

struct sss_wslay {
    wslay_event_context_ptr ctx; /* owned; NULL until needed and while parked */
    struct sss_ws_track track;   /* frame boundaries of what the client sent */
    const uint8_t *rx;           /* bytes being fed to wslay (borrowed for one call) */
    size_t rx_len;
    uint8_t in_recv;             /* inside wslay_event_recv (no re-entrant send) */
    size_t max_msg;              /* --max-message-size (also bounds an inflated message) */
    uint8_t deflate;             /* permessage-deflate negotiated: RSV1 allowed */
    uint8_t wslay_only;          /* tests: every frame through wslay (no whole_frames) */
    struct sss_deflate_rx inflater; /* inflates RSV1 messages (no zlib state while unused) */
    const struct sss_wslay_io *io;
    void *data;
};

void sss_wslay_init(struct sss_wslay *ws, const struct sss_wslay_io *io, void *data,
                    size_t max_msg);
void sss_wslay_fini(struct sss_wslay *ws);

/*
 * permessage-deflate was negotiated (p->on): messages with RSV1 are
 * inflated (bounded by max_msg: past it, close 1009; bad data or bad UTF-8
 * in a text message, 1007) before io->message. Without it RSV1 gets 1002.
 */
void sss_wslay_deflate(struct sss_wslay *ws, const struct sss_deflate_params *p);

/* Make the wslay context if there is none. Returns 0 or -ENOMEM. */
int sss_wslay_ctx(struct sss_wslay *ws);

/*
 * Feed the client's bytes to wslay (messages come through io->message).
 * Returns 0; -ENOMEM (no context: not even a close can be sent); or
 * SSS_EPROTO when the client broke the framing (wslay's close without a
 * code is already written: the owner closes after the flush).
 */
int sss_wslay_recv(struct sss_wslay *ws, const uint8_t *data, size_t len);

/*
 * Write what wslay queued (pongs, closes) unless inside sss_wslay_recv
 * (which pumps when it returns). Returns 1 when the connection is done
 * (both closes exchanged, or reading stopped after an error wslay
 * answered), -1 if writing failed, 0 otherwise.
 */
int sss_wslay_pump(struct sss_wslay *ws);

/* Queue a close frame with code and reason and write it. Returns 0 or -ENOMEM. */
int sss_wslay_close(struct sss_wslay *ws, uint16_t code, const char *reason);

/* Whether our close frame went out. */
int sss_wslay_close_sent(const struct sss_wslay *ws);

/* Whether the client's close frame came. */
int sss_wslay_close_received(const struct sss_wslay *ws);

/*
 * The code of the closing handshake so far: the client's (1005 when its
 * close frame had none) if its close came, else the one wslay sent (its
 * answer to a broken frame), else 1006 (no close either way, or parked).
 */
uint16_t sss_wslay_close_code(const struct sss_wslay *ws);

/* Whether wslay stopped reading without our close (an error it answered). */
int sss_wslay_failed(const struct sss_wslay *ws);

/*
 * Give the context up if the stream is at a frame boundary, wslay has
 * nothing to write and no close was exchanged. Returns 1 if it was freed.
 */
int sss_wslay_park(struct sss_wslay *ws);

#endif
