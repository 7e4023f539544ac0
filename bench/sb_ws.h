/*
 * The client side of RFC 6455 that sss-bench needs: the upgrade request and
 * the check of its 101 answer, masked frame writing, and a reader that turns
 * received bytes (split or merged anyhow) into whole messages, reassembling
 * fragments. No io_uring in here, so the unit tests drive it directly.
 */
#ifndef SB_WS_H
#define SB_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
    SB_WS_CONT = 0x0,
    SB_WS_TEXT = 0x1,
    SB_WS_BINARY = 0x2,
    SB_WS_CLOSE = 0x8,
    SB_WS_PING = 0x9,
    SB_WS_PONG = 0xa,
    /* Or'ed into the op given to a sb_ws_msg_fn: the message was sent compressed (RSV1 on its
     * first frame, permessage-deflate) and data is still deflated (sb_inflate_msg). */
    SB_WS_DEFLATED = 0x100,
};

/* A growable byte buffer (owned). */
struct sb_buf {
    uint8_t *p;
    size_t len, cap;
};

/* Make room for n more bytes; returns the write position (aborts on ENOMEM). */
uint8_t *sb_buf_reserve(struct sb_buf *b, size_t n);
void sb_buf_free(struct sb_buf *b);

struct sb_ws_hdr {
    int fin, op, masked, rsv1;
    uint64_t len; /* payload length */
    uint32_t mask;
};

/*
 * Parse one frame header at p (n bytes). Returns the header length, 0 when
 * more bytes are needed, -1 when it is invalid (RSV2 or RSV3, RSV1 on a
 * control frame, unknown opcode, fragmented or oversized control frame).
 * RSV1 is returned in h->rsv1; whether it is allowed is the reader's call.
 */
int sb_ws_header(const uint8_t *p, size_t n, struct sb_ws_hdr *h);

/*
 * Write one frame (FIN set) of op with payload masked by mask into dst,
 * which must hold len + 14 bytes. Returns the bytes written.
 */
size_t sb_ws_frame(uint8_t *dst, int op, const void *payload, size_t len, uint32_t mask);
/* XOR n bytes with the 4-byte mask, starting at mask phase 0 (8 bytes a step). */
void sb_ws_mask(uint8_t *p, size_t n, uint32_t mask);

/*
 * A message handler: op is TEXT, BINARY, PING, PONG or CLOSE; data may be
 * changed in place and is lent for the call. Return 0 to go on, non-zero to
 * stop (sb_wsr_feed returns that value).
 */
typedef int (*sb_ws_msg_fn)(void *arg, int op, uint8_t *data, size_t len);

struct sb_wsr {
    struct sb_buf carry; /* bytes of an incomplete frame */
    struct sb_buf frag;  /* payload of a fragmented message so far */
    int frag_op;         /* 0: no fragmented message under way (else op | SB_WS_DEFLATED) */
    uint64_t max_msg;    /* larger messages are an error */
    int deflate;         /* permessage-deflate on: RSV1 allowed on a message's first frame */
};

void sb_wsr_init(struct sb_wsr *r, uint64_t max_msg);
void sb_wsr_fini(struct sb_wsr *r);
/*
 * Feed n received bytes: call fn for every complete message, keep the rest.
 * Returns 0, -1 on a protocol violation (bad header, masked server frame,
 * continuation without a start, oversized message, RSV1 without deflate or on
 * a continuation) or fn's non-zero value.
 */
int sb_wsr_feed(struct sb_wsr *r, uint8_t *in, size_t n, sb_ws_msg_fn fn, void *arg);

/* Fill key with a fresh random Sec-WebSocket-Key (24 chars + NUL; key holds 25). */
void sb_ws_key(char key[25], uint64_t *rng);
/* Sec-WebSocket-Accept for key (29 bytes with NUL). */
void sb_ws_accept(const char *key, char out[29]);
/* Write the upgrade request, offering subprotocol and extensions (Sec-WebSocket-Extensions, e.g.
 * SB_WS_DEFLATE_OFFER; NULL: none); returns its length or 0 when n is too small. */
size_t sb_ws_request(char *dst, size_t n, const char *host, int port, const char *path,
                     const char *key, const char *subprotocol, const char *extensions);
/*
 * Check the server's answer in buf (n bytes so far). Returns the length of
 * the head (> 0) when it is a valid 101 for key that names subprotocol in
 * Sec-WebSocket-Protocol (NULL: not checked), 0 when the
 * head is not complete yet, -1 with a one-line reason in err otherwise.
 */
int sb_ws_response(const char *buf, size_t n, const char *key, const char *subprotocol, char *err,
                   size_t errn);

/*
 * permessage-deflate (RFC 7692) as sss-bench offers it: it never compresses
 * what it sends, so it offers client_no_context_takeover (the server needs no
 * inflate context kept for it) and leaves the server's own context to the
 * server: sss-server answers server_no_context_takeover anyway, and a server
 * that keeps its context (uWS.js's dedicated compressor) is measured as it is.
 */
#define SB_WS_DEFLATE_OFFER "permessage-deflate; client_no_context_takeover"

/* What the 101 agreed to. */
struct sb_ws_deflate {
    int on;                  /* permessage-deflate is in use */
    int server_no_takeover;  /* server_no_context_takeover: every message inflates on its own */
    int server_window_bits;  /* server_max_window_bits (15 when not named) */
};

/*
 * Check the Sec-WebSocket-Extensions of the 101 head (n bytes, as measured by
 * sb_ws_response) against what was offered (offered: SB_WS_DEFLATE_OFFER or
 * nothing). Returns 0 with *d filled, or -1 with a one-line reason in err: an
 * extension answered that was not offered, deflate offered and not answered,
 * an unknown or repeated parameter, window bits outside 8..15.
 */
int sb_ws_deflate_answer(const char *head, size_t n, int offered, struct sb_ws_deflate *d,
                         char *err, size_t errn);

/* One raw-inflate stream (zlib), made on first use. */
struct sb_inflate {
    void *z;        /* z_stream (owned); NULL until the first message */
};

/*
 * Inflate one compressed message (RFC 7692 7.2.2: the payload plus 00 00 ff
 * ff) into out (replacing its contents, NUL-terminated). reset: a fresh
 * context (server_no_context_takeover); otherwise the context of the
 * previous messages is kept. Returns 0, or -1 when it is not valid deflate
 * data or inflates to more than max bytes.
 */
int sb_inflate_msg(struct sb_inflate *z, int reset, const uint8_t *in, size_t n,
                   struct sb_buf *out, uint64_t max);
void sb_inflate_fini(struct sb_inflate *z);

/* xorshift64*: the bench's cheap random numbers (keys, masks). */
uint64_t sb_rand(uint64_t *s);

#endif
