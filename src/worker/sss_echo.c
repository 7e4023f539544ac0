/*
 * --echo: the raw echo mode for conformance tests (Autobahn) and benchmarks.
 * Every data message goes back to its sender as it came, text or binary,
 * framed once; no subprotocol, no scaler, no shared memory.
 * May include: common, ws, sss_conn.
 */
#include "sss_conn.h"
#include "sss_ws.h"

static void echo_message(void *data, struct sss_conn *c, int opcode, const uint8_t *msg,
                         size_t len)
{
    struct sss_buf *b = sss_ws_frame((enum sss_ws_opcode)opcode, msg, len);

    (void)data;
    if (!b) {
        sss_conn_close(c, SSS_WS_CLOSE_INTERNAL, "out of memory", 0);
        return;
    }
    sss_conn_send(c, b);
}

static const char *const no_subprotocols[] = {NULL};

const struct sss_conn_handler sss_echo_handler = {
    .subprotocols = no_subprotocols,
    .message = echo_message,
};
