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
    int fin, op, masked;
    uint64_t len; /* payload length */
    uint32_t mask;
};

/*
 * Parse one frame header at p (n bytes). Returns the header length, 0 when
 * more bytes are needed, -1 when it is invalid (reserved bits, unknown
 * opcode, fragmented or oversized control frame).
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
    int frag_op;         /* 0: no fragmented message under way */
    uint64_t max_msg;    /* larger messages are an error */
};

void sb_wsr_init(struct sb_wsr *r, uint64_t max_msg);
void sb_wsr_fini(struct sb_wsr *r);
/*
 * Feed n received bytes: call fn for every complete message, keep the rest.
 * Returns 0, -1 on a protocol violation (bad header, masked server frame,
 * continuation without a start, oversized message) or fn's non-zero value.
 */
int sb_wsr_feed(struct sb_wsr *r, uint8_t *in, size_t n, sb_ws_msg_fn fn, void *arg);

/* Fill key with a fresh random Sec-WebSocket-Key (24 chars + NUL; key holds 25). */
void sb_ws_key(char key[25], uint64_t *rng);
/* Sec-WebSocket-Accept for key (29 bytes with NUL). */
void sb_ws_accept(const char *key, char out[29]);
/* Write the upgrade request, offering subprotocol (NULL: none); returns its length or 0 when n
 * is too small. */
size_t sb_ws_request(char *dst, size_t n, const char *host, int port, const char *path,
                     const char *key, const char *subprotocol);
/*
 * Check the server's answer in buf (n bytes so far). Returns the length of
 * the head (> 0) when it is a valid 101 for key that names subprotocol in
 * Sec-WebSocket-Protocol (NULL: not checked), 0 when the
 * head is not complete yet, -1 with a one-line reason in err otherwise.
 */
int sb_ws_response(const char *buf, size_t n, const char *key, const char *subprotocol, char *err,
                   size_t errn);

/* xorshift64*: the bench's cheap random numbers (keys, masks). */
uint64_t sb_rand(uint64_t *s);

#endif
