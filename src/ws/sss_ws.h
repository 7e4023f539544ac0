/*
 * WebSocket framing that sss does itself, beside wslay.
 *
 * wslay parses every incoming frame and answers control frames (pong,
 * close), but its send path copies each message per connection. Server to
 * client frames are never masked (RFC 6455 5.1), so a data frame is built
 * once here, header and payload in one sss_buf, and shared by every
 * connection that sends it.
 */
#ifndef SSS_WS_H
#define SSS_WS_H

#include <stddef.h>
#include <stdint.h>

#include "sss_buf.h"

enum sss_ws_opcode {
    SSS_WS_CONT = 0x0,
    SSS_WS_TEXT = 0x1,
    SSS_WS_BINARY = 0x2,
    SSS_WS_CLOSE = 0x8,
    SSS_WS_PING = 0x9,
    SSS_WS_PONG = 0xa,
};

/* Close codes used by sss (PROTOCOL.md section 7). */
enum sss_ws_close {
    SSS_WS_CLOSE_NORMAL = 1000,
    SSS_WS_CLOSE_GOING_AWAY = 1001,
    SSS_WS_CLOSE_PROTOCOL = 1002,
    SSS_WS_CLOSE_INVALID_DATA = 1007,
    SSS_WS_CLOSE_POLICY = 1008,
    SSS_WS_CLOSE_TOO_BIG = 1009,
    SSS_WS_CLOSE_INTERNAL = 1011, /* the server failed (out of memory) */
    SSS_WS_CLOSE_BOOTED = 4001,
    SSS_WS_CLOSE_TOO_SLOW = 4008,
};

/* Largest header of an unmasked frame: 2 + 8 bytes. */
#define SSS_WS_MAX_HEADER 10

/*
 * Write the header of a final, unmasked frame of opcode carrying len payload
 * bytes into out. Returns the header length (2, 4 or 10).
 */
size_t sss_ws_frame_header(uint8_t out[SSS_WS_MAX_HEADER], enum sss_ws_opcode opcode, size_t len);

/*
 * A new buffer holding one whole unmasked frame (header + a copy of payload),
 * one reference owned by the caller. NULL on ENOMEM.
 */
struct sss_buf *sss_ws_frame(enum sss_ws_opcode opcode, const void *payload, size_t len);

/*
 * Where a client's byte stream stands between frames, so that a connection
 * whose wslay context holds nothing can give it up while idle (wslay keeps
 * about 8.5 KB of buffers per context) and get a fresh one with its next
 * bytes. Fed the same bytes as wslay; knows only frame lengths and whether a
 * fragmented message is open. Bytes wslay would reject are never a reason
 * to park: the connection closes anyway.
 */
struct sss_ws_track {
    uint8_t hdr[14];    /* the header being read */
    uint8_t hlen;       /* its bytes so far */
    uint8_t in_message; /* a fragmented data message is open */
    uint64_t payload;   /* payload bytes of the current frame still to come */
};

void sss_ws_track_feed(struct sss_ws_track *t, const uint8_t *p, size_t len);

/* At a frame boundary with no fragmented message open. */
int sss_ws_track_idle(const struct sss_ws_track *t);

#endif
