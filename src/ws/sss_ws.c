/* Building unmasked server frames once, for sharing (see sss_ws.h). */
#include "sss_ws.h"

#include <string.h>

size_t sss_ws_frame_header(uint8_t out[SSS_WS_MAX_HEADER], enum sss_ws_opcode opcode, size_t len)
{
    out[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

struct sss_buf *sss_ws_frame(enum sss_ws_opcode opcode, const void *payload, size_t len)
{
    struct sss_buf *b = sss_buf_new(len + SSS_WS_MAX_HEADER);

    if (!b)
        return NULL;
    b->len = (uint32_t)sss_ws_frame_header(b->data, opcode, len);
    if (len)
        memcpy(b->data + b->len, payload, len);
    b->len += (uint32_t)len;
    return b;
}

/* Bytes of a header whose first two bytes are b0 b1: 2, + 2 or 8 of length, + 4 of mask. */
static size_t header_size(uint8_t b1)
{
    size_t n = 2 + ((b1 & 0x7f) == 126 ? 2 : (b1 & 0x7f) == 127 ? 8 : 0);

    return n + ((b1 & 0x80) ? 4 : 0);
}

void sss_ws_track_feed(struct sss_ws_track *t, const uint8_t *p, size_t len)
{
    while (len) {
        if (t->payload) {
            size_t n = len < t->payload ? len : (size_t)t->payload;

            t->payload -= n;
            p += n;
            len -= n;
            continue;
        }
        t->hdr[t->hlen++] = *p++;
        len--;
        if (t->hlen < 2 || t->hlen < header_size(t->hdr[1]))
            continue;
        {
            uint8_t fin = t->hdr[0] & 0x80, op = t->hdr[0] & 0x0f, l7 = t->hdr[1] & 0x7f;
            uint64_t plen = l7;

            if (l7 == 126)
                plen = (uint64_t)t->hdr[2] << 8 | t->hdr[3];
            else if (l7 == 127)
                for (int i = 0; i < 8; i++)
                    plen = plen << 8 | t->hdr[2 + i];
            if (op == SSS_WS_TEXT || op == SSS_WS_BINARY)
                t->in_message = !fin;
            else if (op == SSS_WS_CONT && fin)
                t->in_message = 0;
            t->payload = plen;
            t->hlen = 0;
        }
    }
}

int sss_ws_track_idle(const struct sss_ws_track *t)
{
    return t->hlen == 0 && t->payload == 0 && !t->in_message;
}
