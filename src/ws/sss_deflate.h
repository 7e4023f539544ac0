/*
 * permessage-deflate (RFC 7692) for the server side of sss.
 *
 * Negotiation: sss_deflate_negotiate reads the client's Sec-WebSocket-Extensions
 * offers and accepts the first permessage-deflate offer it can honour. The
 * answer always carries server_no_context_takeover: every outgoing message is
 * compressed on its own, so one compressed frame serves every connection that
 * negotiated the same window (server_max_window_bits, 9..15; 8 is declined,
 * as zlib's raw deflate has no 256-byte window).
 *
 * Outgoing: struct sss_deflate_tx is one per worker: a zlib deflate stream per
 * window size, made on first use and reset per message (about 260 KB each at
 * level 1 and 15 bits, zlib's deflateInit2 with memLevel 8).
 *
 * Incoming: struct sss_deflate_rx is one per connection and holds no zlib state
 * until a compressed message arrives. With client_no_context_takeover the
 * inflate stream lives only while that message is inflated; otherwise (the
 * client keeps its window across messages) it lives until the connection
 * closes. An inflate stream costs about 7 KB of zlib state plus a window of
 * 2^client_max_window_bits bytes (32 KB at 15), allocated on first use.
 * Inflating stops at a limit (--max-message-size): a bomb costs no more.
 *
 * No sockets, no wslay: pure functions over bytes, unit-tested and fuzzed.
 * May include: libc, common, zlib.
 */
#ifndef SSS_DEFLATE_H
#define SSS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "sss_dynbuf.h"

#define SSS_DEFLATE_EXT_MAX 128 /* the longest answer written (with room to spare) */

/* What a connection negotiated; zeroed = no permessage-deflate. */
struct sss_deflate_params {
    uint8_t on;
    uint8_t server_bits;        /* window of what we send: 9..15 */
    uint8_t client_bits;        /* window of what the client sends: 8..15 */
    uint8_t client_no_takeover; /* each client message compressed on its own */
};

/*
 * Choose among the offers of a Sec-WebSocket-Extensions value (len bytes,
 * several header lines joined by ", "): the first permessage-deflate offer
 * whose parameters are all known, unrepeated and valid. Other extensions and
 * refused offers are skipped. On acceptance fills p and writes the answer
 * header value into answer (NUL-terminated, SSS_DEFLATE_EXT_MAX bytes).
 * Returns 1 if accepted, 0 if not (p zeroed, answer "").
 */
int sss_deflate_negotiate(const char *offers, size_t len, struct sss_deflate_params *p,
                          char answer[SSS_DEFLATE_EXT_MAX]);

/* A worker's compressor: one zlib stream per window size, made on first use. */
struct sss_deflate_tx {
    void *z[16]; /* z_stream *, owned, by window bits; NULL until needed */
    int level;   /* --deflate-level: 1..9 */
    size_t min_size; /* --deflate-min-size: smaller payloads go uncompressed */
    uint64_t compressed; /* messages compressed */
    /* The last frames compressed, each with a reference on its source frame so
     * that the source's address names it: a FEED delivered to many clients in
     * one run is compressed once (per encoding and window). */
    struct {
        struct sss_buf *src, *out; /* one reference each, or NULL */
        uint8_t bits;
    } cache[4];
    unsigned next; /* the cache entry to replace next */
};

void sss_deflate_tx_init(struct sss_deflate_tx *tx, int level, size_t min_size);
void sss_deflate_tx_fini(struct sss_deflate_tx *tx);

/*
 * Compress one whole message (len bytes) for a window of bits (9..15) with
 * no context takeover, into out (reset first), without the final empty
 * block's 00 00 ff ff tail (RFC 7692 7.2.1). Returns 0, -ENOMEM, or
 * SSS_EINVAL (bits out of range).
 */
int sss_deflate_compress(struct sss_deflate_tx *tx, int bits, const void *in, size_t len,
                         struct sss_dynbuf *out);

/*
 * The frame to send instead of src (one whole unmasked frame that sss_ws_frame
 * built; the caller's reference, which this takes over) to a connection that
 * negotiated a window of bits: src itself when it is not a text or binary
 * frame, is shorter than min_size or cannot be compressed (ENOMEM: it goes
 * as it is); else the same message compressed (RSV1 set), built once and
 * shared. Returns a reference for the caller.
 */
struct sss_buf *sss_deflate_frame(struct sss_deflate_tx *tx, struct sss_buf *src, int bits);

/* A connection's decompressor (caller's storage, zeroed = none yet). */
struct sss_deflate_rx {
    void *z;          /* z_stream *, owned; NULL while no message uses one */
    uint8_t bits;     /* client_max_window_bits */
    uint8_t takeover; /* keep the stream between messages */
};

void sss_deflate_rx_init(struct sss_deflate_rx *rx, const struct sss_deflate_params *p);
void sss_deflate_rx_fini(struct sss_deflate_rx *rx);

/*
 * Inflate one whole compressed message (len bytes, as received with RSV1)
 * into out (reset first), appending the 00 00 ff ff tail itself. Returns 0;
 * SSS_ELIMIT once the output would pass max bytes (close 1009); SSS_EPROTO
 * for data that is not deflate (close 1007); -ENOMEM. After an error the
 * stream is gone: the connection is closing.
 */
int sss_deflate_inflate(struct sss_deflate_rx *rx, const void *in, size_t len, size_t max,
                        struct sss_dynbuf *out);

/* Whether rx holds a zlib stream now (for tests). */
int sss_deflate_rx_holding(const struct sss_deflate_rx *rx);

/* Whether s (len bytes) is valid UTF-8 (a text message after inflating). */
int sss_deflate_utf8_valid(const uint8_t *s, size_t len);

#endif
