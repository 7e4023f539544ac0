/*
 * The C client's sss.v1.msgpack encoding (opts.msgpack): the client builds
 * and reads every message as JSON, exactly as with sss.v1.json, and
 * transcodes at the socket with the server's own transcoder
 * (src/proto/sss_msgpack.h): each message out becomes one binary frame, each
 * binary frame in is checked (one map, bounded depth, lengths within the
 * frame) before it is unpacked, and becomes the JSON text the decoder reads.
 * The heartbeat stays the text frame h; any other text frame, or a frame the
 * transcoder refuses, is a protocol error (close 1002), as bad JSON is.
 */
#include "sss_client_int.h"
#include "sss_msgpack.h"

#include <stdio.h>

const char *sss_client__protocol(const struct sss_client *c)
{
    return c->o.msgpack ? "sss.v1.msgpack" : "sss.v1.json";
}

int sss_client__send_msgpack(struct sss_client *c, const char *json, size_t len)
{
    char tmp[1024];
    struct sss_dynbuf mp;
    struct wslay_event_msg m = {WSLAY_BINARY_FRAME, NULL, 0};
    int rc;

    sss_dynbuf_init(&mp, tmp, sizeof(tmp));
    rc = sss_msgpack_from_json(&mp, json, len);
    if (rc == 0) {
        m.msg = (const uint8_t *)mp.data;
        m.msg_length = mp.len;
        rc = wslay_event_queue_msg(c->ws, &m) ? -ENOMEM : 0; /* wslay copies it */
    } else if (rc != -ENOMEM) {
        rc = SSS_CLIENT_EJSON; /* the application's raw msg or query is not JSON */
    }
    sss_dynbuf_fini(&mp);
    return rc;
}

static void protocol_error(struct sss_client *c, const char *why)
{
    if (c->fail_code)
        return;
    c->fail_code = SSS_CLIENT_PROTOCOL_ERROR;
    snprintf(c->fail_detail, sizeof(c->fail_detail), "a frame from the server: %s", why);
    (void)wslay_event_queue_close(c->ws, 1002, NULL, 0);
}

void sss_client__on_message(struct sss_client *c, bool binary, const uint8_t *data, size_t len)
{
    enum sss_msgpack_error err;
    struct sss_dynbuf json;
    char tmp[2048];

    if (!c->o.msgpack || (!binary && len == 1 && data[0] == 'h')) {
        sss_client__on_frame(c, (const char *)data, len);
        return;
    }
    if (!binary) {
        protocol_error(c, "a text frame (not h) on a sss.v1.msgpack connection");
        return;
    }
    sss_dynbuf_init(&json, tmp, sizeof(tmp));
    if (sss_msgpack_to_json(&json, data, len, &err) == 0)
        sss_client__on_frame(c, json.data, json.len);
    else
        protocol_error(c, sss_msgpack_strerror(err));
    sss_dynbuf_fini(&json);
}
