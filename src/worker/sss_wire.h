/*
 * The encodings of a connection (docs/protocol.md 1): every server message is
 * built as JSON by src/proto's encoders, and goes out as a text frame to a
 * sss.v1.json client or, transcoded once (src/proto/sss_msgpack.h), as a
 * binary frame to a sss.v1.msgpack one. The heartbeat h is a text frame in
 * both. A frame meant for many connections (a FEED, a BROADCAST) is built
 * once per encoding that has a recipient, lazily: struct sss_wire_frames.
 * May include: common, proto, ws.
 */
#ifndef SSS_WIRE_H
#define SSS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "sss_buf.h"

enum sss_wire_encoding {
    SSS_WIRE_JSON = 0, /* sss.v1.json, or no sub-protocol offered */
    SSS_WIRE_MSGPACK,  /* sss.v1.msgpack */
    SSS_WIRE_ENCODINGS,
};

#define SSS_WIRE_MSGPACK_NAME "sss.v1.msgpack"

/* The encoding of a chosen sub-protocol ("" when none was offered). */
enum sss_wire_encoding sss_wire_encoding_of(const char *subprotocol);

/*
 * A new frame (one reference, the caller's) carrying the server message json
 * (len bytes, as the encoders wrote it) in encoding. NULL on ENOMEM (or for
 * text the transcoder refuses, which the encoders never write).
 */
struct sss_buf *sss_wire_frame(enum sss_wire_encoding enc, const char *json, size_t len);

/* The payload of a frame sss_ws_frame built (after its header). */
void sss_wire_payload(const struct sss_buf *frame, const char **p, size_t *len);

/*
 * One message's frames, one per encoding, each built on first use. json is
 * the frame of SSS_WIRE_JSON (a reference held); the others are made from its
 * payload. Callers zero it, then set json (sss_wire_frames_init).
 */
struct sss_wire_frames {
    struct sss_buf *f[SSS_WIRE_ENCODINGS]; /* one reference each, or NULL */
    uint64_t built;                        /* frames transcoded from f[JSON] */
};

/* Start with the JSON frame (takes a new reference on it; json may be NULL). */
void sss_wire_frames_init(struct sss_wire_frames *fs, struct sss_buf *json);

/* The frame for enc, borrowed (NULL on ENOMEM); the first call for an encoding builds it. */
struct sss_buf *sss_wire_frames_get(struct sss_wire_frames *fs, enum sss_wire_encoding enc);

/* Drop every reference; fs is as zeroed after. */
void sss_wire_frames_fini(struct sss_wire_frames *fs);

#endif
