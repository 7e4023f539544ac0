/*
 * The envelopes hosts exchange through Redis pub/sub (MessagePack, msgpack-c).
 *
 * A message envelope is a 9-element array
 *   [uid "E-O", version 1, channel, topic, msg, origin host, origin worker,
 *    origin connection, publish flags]
 * whose first element only the publish script knows (it is the stream entry
 * id), so the scaler packs the other eight (sss_envelope_pack_tail) and the
 * script prepends the array header and the uid (sss_envelope_head builds the
 * same bytes, for tests). A control envelope is [record type, record bytes]:
 * a broadcast or a boot for every host's bus.
 *
 * Decoding is for bytes that came from Redis: any input gives 0 or
 * SSS_EPROTO, never a crash, and decoded strings point into the input.
 */
#ifndef SSS_ENVELOPE_H
#define SSS_ENVELOPE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "sss_proto.h"

#define SSS_ENVELOPE_VERSION 1

struct sss_envelope {
    struct sss_uid uid;
    const char *chan, *topic, *msg, *host; /* into the decoded bytes */
    size_t chan_len, topic_len, msg_len, host_len;
    int32_t worker; /* -1: not published by a worker (the HTTP API) */
    uint64_t conn;
    uint32_t flags;
};

/* Elements 2..9 into sb (cleared first). */
void sss_envelope_pack_tail(msgpack_sbuffer *sb, const char *chan, size_t chan_len,
                            const char *topic, size_t topic_len, const char *msg, size_t msg_len,
                            const char *host, size_t host_len, int32_t worker, uint64_t conn,
                            uint32_t flags);

/* What the publish script puts before the tail: array header and uid (buf >= 64 bytes). */
size_t sss_envelope_head(char *buf, const char *uid, size_t uid_len);

/* A whole message envelope. 0 or SSS_EPROTO (malformed, or not version 1). */
int sss_envelope_decode(const char *p, size_t len, struct sss_envelope *e);

/* [type, record]: control envelopes. */
void sss_envelope_pack_control(msgpack_sbuffer *sb, uint32_t type, const void *rec, size_t len);
int sss_envelope_decode_control(const char *p, size_t len, uint32_t *type, const char **rec,
                                size_t *rec_len);

#endif
