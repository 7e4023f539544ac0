/*
 * A connection's encoding of server messages (see sss_wire.h).
 * May include: common, proto, ws.
 */
#include "sss_wire.h"
#include "sss_dynbuf.h"
#include "sss_msgpack.h"
#include "sss_ws.h"

#include <string.h>

enum sss_wire_encoding sss_wire_encoding_of(const char *subprotocol)
{
    return strcmp(subprotocol, SSS_WIRE_MSGPACK_NAME) == 0 ? SSS_WIRE_MSGPACK : SSS_WIRE_JSON;
}

struct sss_buf *sss_wire_frame(enum sss_wire_encoding enc, const char *json, size_t len)
{
    char tmp[2048];
    struct sss_dynbuf mp;
    struct sss_buf *b = NULL;

    if (enc == SSS_WIRE_JSON || (len == 1 && json[0] == 'h'))
        return sss_ws_frame(SSS_WS_TEXT, json, len);
    sss_dynbuf_init(&mp, tmp, sizeof(tmp));
    if (sss_msgpack_from_json(&mp, json, len) == 0)
        b = sss_ws_frame(SSS_WS_BINARY, mp.data, mp.len);
    sss_dynbuf_fini(&mp);
    return b;
}

void sss_wire_payload(const struct sss_buf *frame, const char **p, size_t *len)
{
    uint8_t l7 = frame->data[1] & 0x7f;
    size_t hdr = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;

    *p = (const char *)frame->data + hdr;
    *len = frame->len - hdr;
}

void sss_wire_frames_init(struct sss_wire_frames *fs, struct sss_buf *json)
{
    memset(fs, 0, sizeof(*fs));
    fs->f[SSS_WIRE_JSON] = json ? sss_buf_ref(json) : NULL;
}

struct sss_buf *sss_wire_frames_get(struct sss_wire_frames *fs, enum sss_wire_encoding enc)
{
    const char *p;
    size_t len;

    if (fs->f[enc] || !fs->f[SSS_WIRE_JSON])
        return fs->f[enc];
    sss_wire_payload(fs->f[SSS_WIRE_JSON], &p, &len);
    fs->f[enc] = sss_wire_frame(enc, p, len);
    if (fs->f[enc])
        fs->built++;
    return fs->f[enc];
}

void sss_wire_frames_fini(struct sss_wire_frames *fs)
{
    for (int i = 0; i < SSS_WIRE_ENCODINGS; i++)
        if (fs->f[i])
            sss_buf_unref(fs->f[i]);
    memset(fs, 0, sizeof(*fs));
}
