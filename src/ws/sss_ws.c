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
