/*
 * libFuzzer target for the envelopes hosts exchange through Redis
 * (src/scaler/sss_envelope.c). Any input decodes to 0 or SSS_EPROTO; a
 * decoded envelope's strings lie inside the input and its channel is valid;
 * packing what was decoded and decoding again gives the same fields.
 */
#include "fuzz_check.h"
#include "sss_envelope.h"
#include "sss_err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Non-empty strings point into the input; empty ones are "" (never NULL). */
static int inside(const char *p, size_t len, const uint8_t *data, size_t size)
{
    if (len == 0)
        return p != NULL;
    return p >= (const char *)data && p + len <= (const char *)data + size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *rec;
    struct sss_envelope e, e2;
    size_t rec_len;
    uint32_t type;
    int rc = sss_envelope_decode(in, size, &e);

    require(rc == 0 || rc == SSS_EPROTO);
    if (rc == 0) {
        char uid[SSS_PROTO_UID_BUF], head[64];
        msgpack_sbuffer sb;
        char *whole;
        size_t hl, ul;

        require(inside(e.chan, e.chan_len, data, size) && inside(e.topic, e.topic_len, data, size));
        require(inside(e.msg, e.msg_len, data, size) && inside(e.host, e.host_len, data, size));
        require(sss_proto_channel_valid(e.chan, e.chan_len));
        ul = sss_proto_uid_format(&e.uid, uid, sizeof(uid));
        hl = sss_envelope_head(head, uid, ul);
        msgpack_sbuffer_init(&sb);
        sss_envelope_pack_tail(&sb, e.chan, e.chan_len, e.topic, e.topic_len, e.msg, e.msg_len,
                               e.host, e.host_len, e.worker, e.conn, e.flags);
        whole = malloc(hl + sb.size);
        require(whole != NULL);
        memcpy(whole, head, hl);
        memcpy(whole + hl, sb.data, sb.size);
        require(sss_envelope_decode(whole, hl + sb.size, &e2) == 0);
        require(sss_proto_uid_cmp(&e.uid, &e2.uid) == 0 && e2.worker == e.worker &&
                e2.conn == e.conn && e2.flags == e.flags);
        require(e2.msg_len == e.msg_len && !memcmp(e2.msg, e.msg, e.msg_len));
        require(e2.chan_len == e.chan_len && !memcmp(e2.chan, e.chan, e.chan_len));
        free(whole);
        msgpack_sbuffer_destroy(&sb);
    }
    rc = sss_envelope_decode_control(in, size, &type, &rec, &rec_len);
    require(rc == 0 || rc == SSS_EPROTO);
    if (rc == 0)
        require(inside(rec, rec_len, data, size));
    return 0;
}
