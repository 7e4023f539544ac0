/*
 * sss.v1.msgpack (docs/protocol.md, "MessagePack") for sss-bench: the client
 * messages it sends (BEGIN, SUBSCRIBE, PUBLISH, ASK), packed with msgpack-c
 * into a caller's buffer, and the few fields it reads from a server message
 * (sys, id, result, err). Pure functions over bytes, so the unit test
 * (tests/test_sb_mp.c) checks them against the server's own transcoder.
 *
 * Every message is the same map as in JSON, keys in the order JSON's
 * templates in proto_sss.c write them. A FEED's payload is a str whose bytes
 * are the payload as it is, so sb_deliveries finds the marker in the frame
 * without unpacking it.
 */
#ifndef SB_MP_H
#define SB_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_MP_SUBPROTOCOL "sss.v1.msgpack"

/* Each writes one message into dst (cap bytes); returns its length, 0 when cap is too small. */
size_t sb_mp_begin(char *dst, size_t cap);
size_t sb_mp_subscribe(char *dst, size_t cap, const char *channel, size_t clen, uint64_t id);
size_t sb_mp_publish(char *dst, size_t cap, const char *channel, size_t clen, const char *topic,
                     const char *payload, size_t len, uint64_t id);
size_t sb_mp_ask(char *dst, size_t cap, const char *topic, const char *payload, size_t len,
                 uint64_t id);

/* What sss-bench reads of a server message. */
struct sb_mp_msg {
    long long sys;     /* -1: absent or not an integer */
    long long id;      /* -1: absent or not a non-negative integer */
    int result;        /* SUBSCRIBE's result: 1 true, 0 false, -1 absent */
    bool err;          /* an "err" key (RESPONSE refused, ERROR) */
    const char *text;  /* err.message (points into the input), else NULL */
    size_t text_len;
};

/*
 * Read one message: buf must hold exactly one msgpack map. Returns 0 and
 * fills *m, or -1 when buf is not that (malformed, trailing bytes, not a
 * map). Allocates only inside msgpack-c's unpacker, freed before it returns.
 */
int sb_mp_read(const char *buf, size_t len, struct sb_mp_msg *m);

/*
 * Whether buf starts like a FEED as the server writes it: a map whose first
 * key is "sys" with the value 8 (the hot path: no unpacking). A FEED written
 * otherwise is still one for sb_mp_read.
 */
bool sb_mp_is_feed(const char *buf, size_t len);

#endif
