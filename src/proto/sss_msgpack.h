/*
 * The sss.v1.msgpack encoding of the wire protocol (docs/protocol.md 1): every
 * message is the same map as in JSON, MessagePack-encoded, in a binary frame.
 * The codec of sss_proto.h stays the one definition of the messages; this
 * file transcodes whole messages between the two forms, at the edge of a
 * connection: a client's binary frame becomes the JSON text the decoder
 * reads, and a message the server built as JSON becomes MessagePack once per
 * message (a FEED once per worker, whatever the number of subscribers).
 *
 * MessagePack -> JSON (sss_msgpack_to_json), for untrusted input:
 *   - First a walk over the bytes that allocates nothing: exactly one value,
 *     a map at the top, at most SSS_MSGPACK_MAX_DEPTH nested maps and arrays
 *     (the top map counts as 1; msgpack-c's unpacker has a fixed stack of 32),
 *     every declared length and count within the bytes left in the frame
 *     (so a count can never make the unpacker allocate beyond about 24 bytes
 *     per byte of input), string keys in every map, no ext (the 0xc1 byte
 *     and ext types are refused), no NaN or infinity (JSON has none).
 *   - Then msgpack-c's unpacker (msgpack_unpack_next) builds the object
 *     tree, which is written out as JSON: nil, booleans and integers as
 *     themselves, floats in the shortest form that reads back the same
 *     (always with a '.' or an exponent, so they stay floats the other way),
 *     str as a JSON string (invalid UTF-8 becomes \ufffd, as the encoders
 *     write it), bin as a base64 string (RFC 4648, padded).
 *
 * JSON -> MessagePack (sss_msgpack_from_json), for JSON the server built or
 * decoded: objects become maps and arrays arrays, with the smallest headers
 * (fix, 16 or 32), keys and strings as str, integers in the smallest int or
 * uint form that holds them, any other number (a fraction, an exponent, an
 * integer beyond 64 bits) as float64, null/true/false as nil and booleans.
 * Key order is kept. Nothing is added and nothing dropped, so a message
 * round-trips: JSON -> MessagePack -> JSON gives the same value.
 *
 * Pure and reentrant: no state between calls.
 * May include: libc, src/common, sss_proto.h, sss_json.h, msgpack-c, OpenSSL (base64).
 */
#ifndef SSS_MSGPACK_H
#define SSS_MSGPACK_H

#include <stddef.h>

#include "sss_dynbuf.h"
#include "sss_err.h"

#define SSS_MSGPACK_MAX_DEPTH 32 /* nested maps and arrays of a client's frame, the top map too */
#define SSS_MSGPACK_JSON_DEPTH 72 /* of a JSON text to transcode: a SYNC reply's records nest
                                   * a FEED's msg (SSS_PROTO_MAX_DEPTH) three levels down */

/* Why a MessagePack frame was refused (the text of the ERROR reply: sss_msgpack_strerror). */
enum sss_msgpack_error {
    SSS_MSGPACK_OK = 0,
    SSS_MSGPACK_E_MALFORMED, /* "malformed msgpack" (truncated, or the byte 0xc1) */
    SSS_MSGPACK_E_TRAILING,  /* "bytes after the msgpack message" */
    SSS_MSGPACK_E_NOT_MAP,   /* "message must be a msgpack map" */
    SSS_MSGPACK_E_DEPTH,     /* "nesting too deep" */
    SSS_MSGPACK_E_LENGTH,    /* "msgpack length beyond the frame" */
    SSS_MSGPACK_E_KEY,       /* "msgpack map keys must be strings" */
    SSS_MSGPACK_E_EXT,       /* "msgpack ext values are not accepted" */
    SSS_MSGPACK_E_FLOAT,     /* "NaN and infinity are not accepted" */
    SSS_MSGPACK_E_NOMEM,     /* "out of memory" */
};

/*
 * Append the JSON text of the MessagePack message in buf (len bytes: one map,
 * checked as above before anything is allocated) to out. On failure out may
 * hold a partial text (reset it); *err says why.
 *
 * Returns 0; SSS_EPROTO for input that is not such a message (*err: which
 * rule), SSS_ELIMIT for nesting too deep; -ENOMEM (out->oom, or the
 * unpacker's zone). Never reads outside buf; never blocks.
 */
int sss_msgpack_to_json(struct sss_dynbuf *out, const void *buf, size_t len,
                        enum sss_msgpack_error *err) SSS_WUR;

/*
 * Append the MessagePack form of the JSON object in json (len bytes, nested at
 * most SSS_MSGPACK_JSON_DEPTH deep) to out.
 *
 * Returns 0; SSS_EPROTO when json is not one JSON object (SSS_ELIMIT: too
 * deep); -ENOMEM. On failure out may hold a partial message (reset it).
 */
int sss_msgpack_from_json(struct sss_dynbuf *out, const char *json, size_t len) SSS_WUR;

/* The short English text of a refusal, for the ERROR reply's message. */
const char *sss_msgpack_strerror(enum sss_msgpack_error e);

#endif
