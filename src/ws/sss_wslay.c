/*
 * The glue to wslay (see sss_wslay.h): its callbacks read the bytes being
 * fed and hand its frames and messages to the owner.
 * May include: libc, common, ws, wslay.
 */
#include "sss_wslay.h"
#include "sss_err.h"

#include <errno.h>
#include <string.h>

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user_data)
{
    struct sss_wslay *ws = user_data;
    size_t n = len < ws->rx_len ? len : ws->rx_len;

    (void)flags;
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    memcpy(buf, ws->rx, n);
    ws->rx += n;
    ws->rx_len -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user_data)
{
    struct sss_wslay *ws = user_data;

    (void)flags;
    if (ws->io->write(ws->data, data, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

/* A message sent with RSV1: inflate it, or close (1009, 1007, 1011). */
static void inflate_msg(struct sss_wslay *ws, wslay_event_context_ptr ctx,
                        const struct wslay_event_on_msg_recv_arg *arg)
{
    struct sss_dynbuf out = SSS_DYNBUF_INIT;
    int rc = sss_deflate_inflate(&ws->inflater, arg->msg, arg->msg_length, ws->max_msg, &out);
    uint16_t code = 0;
    const char *why = "";

    if (rc == SSS_ELIMIT) {
        code = WSLAY_CODE_MESSAGE_TOO_BIG;
        why = "inflated message too big";
    } else if (rc == SSS_EPROTO) {
        code = WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA;
        why = "bad deflate data";
    } else if (rc < 0) {
        code = WSLAY_CODE_INTERNAL_SERVER_ERROR;
        why = "out of memory";
    } else if (arg->opcode == WSLAY_TEXT_FRAME &&
               !sss_deflate_utf8_valid((const uint8_t *)out.data, out.len)) {
        code = WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA;
        why = "invalid UTF-8";
    }
    if (code) {
        (void)wslay_event_queue_close(ctx, code, (const uint8_t *)why, strlen(why));
        (void)wslay_event_send(ctx);
    } else {
        ws->io->message(ws->data, arg->opcode, (const uint8_t *)out.data, out.len);
    }
    sss_dynbuf_fini(&out);
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user_data)
{
    struct sss_wslay *ws = user_data;

    /* wslay queued its pong (or close reply) before calling us: write it
     * now, so that it goes out before anything this message makes us send.
     * wslay_event_send only touches the send side of the context. */
    if (wslay_event_want_write(ctx) && wslay_event_send(ctx) < 0)
        return;
    if (wslay_is_ctrl_frame(arg->opcode))
        return;
    if (wslay_event_get_close_sent(ctx))
        return; /* no data may follow our close frame */
    if (arg->rsv & WSLAY_RSV1_BIT) {
        inflate_msg(ws, ctx, arg);
        return;
    }
    ws->io->message(ws->data, arg->opcode, arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_msg_recv_callback = msg_cb,
};

void sss_wslay_init(struct sss_wslay *ws, const struct sss_wslay_io *io, void *data,
                    size_t max_msg)
{
    memset(ws, 0, sizeof(*ws));
    ws->io = io;
    ws->data = data;
    ws->max_msg = max_msg;
}

void sss_wslay_deflate(struct sss_wslay *ws, const struct sss_deflate_params *p)
{
    ws->deflate = p->on;
    sss_deflate_rx_init(&ws->inflater, p);
    if (ws->ctx)
        wslay_event_config_set_allowed_rsv_bits(ws->ctx, p->on ? WSLAY_RSV1_BIT : WSLAY_RSV_NONE);
}

void sss_wslay_fini(struct sss_wslay *ws)
{
    sss_deflate_rx_fini(&ws->inflater);
    if (ws->ctx) {
        wslay_event_context_free(ws->ctx);
        if (ws->io->contexts)
            ws->io->contexts(ws->data, -1);
    }
    ws->ctx = NULL;
}

int sss_wslay_ctx(struct sss_wslay *ws)
{
    if (ws->ctx)
        return 0;
    if (wslay_event_context_server_init(&ws->ctx, &callbacks, ws) != 0) {
        ws->ctx = NULL;
        return -ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->max_msg);
    if (ws->deflate)
        wslay_event_config_set_allowed_rsv_bits(ws->ctx, WSLAY_RSV1_BIT);
    if (ws->io->contexts)
        ws->io->contexts(ws->data, 1);
    return 0;
}

/*
 * Whole small data frames that come while no context is held (the stream is
 * at a frame boundary): each unmasked into a scratch buffer and handed to
 * io->message, without making a context and without wslay's per-message
 * allocations (perf: about 7% of a worker's CPU in a connection storm, 8%
 * under ASK load). Only the plainest frames go this way: FIN, text or
 * binary, no RSV bit, masked, a payload under 64 KiB with its length in
 * the shortest form, within max_msg, all of it in the bytes fed, and valid
 * UTF-8 if text. The first frame that is anything else, and all after it,
 * go to wslay, which also answers whatever is wrong with it. The checks
 * are wslay's own for such a frame (fuzz_wslay compares the two paths).
 * Returns the bytes consumed.
 */
static size_t whole_frames(struct sss_wslay *ws, const uint8_t *p, size_t len)
{
    static uint8_t scratch[65535]; /* the largest payload taken; one thread per process */
    size_t off = 0;

    while (!ws->ctx && !ws->wslay_only && len - off >= 6) {
        const uint8_t *f = p + off, *mask, *in;
        unsigned op = f[0] & 0x0f;
        size_t hl = 6, plen = f[1] & 0x7f;

        if ((f[0] & 0xf0) != 0x80 || (op != WSLAY_TEXT_FRAME && op != WSLAY_BINARY_FRAME) ||
            !(f[1] & 0x80) || plen == 127)
            break;
        if (plen == 126) {
            if (len - off < 8)
                break;
            plen = (size_t)f[2] << 8 | f[3];
            if (plen < 126)
                break;
            hl = 8;
        }
        if (plen > ws->max_msg || len - off - hl < plen)
            break;
        mask = f + hl - 4;
        in = f + hl;
        for (size_t i = 0; i < plen; i++)
            scratch[i] = in[i] ^ mask[i & 3];
        if (op == WSLAY_TEXT_FRAME && !sss_deflate_utf8_valid(scratch, plen))
            break;
        off += hl + plen;
        ws->io->message(ws->data, (int)op, scratch, plen);
    }
    return off;
}

int sss_wslay_recv(struct sss_wslay *ws, const uint8_t *data, size_t len)
{
    int rc;

    if (!ws->ctx) {
        size_t n;

        ws->in_recv = 1;
        n = whole_frames(ws, data, len);
        ws->in_recv = 0;
        data += n;
        len -= n;
        if (!len)
            return 0;
    }
    if (sss_wslay_ctx(ws) < 0)
        return -ENOMEM;
    sss_ws_track_feed(&ws->track, data, len);
    ws->rx = data;
    ws->rx_len = len;
    ws->in_recv = 1;
    rc = wslay_event_recv(ws->ctx);
    ws->in_recv = 0;
    ws->rx = NULL;
    ws->rx_len = 0;
    if (rc < 0 && ws->ctx) {
        /* A frame-layer violation: wslay queued a close without a code. */
        if (wslay_event_want_write(ws->ctx))
            (void)wslay_event_send(ws->ctx);
        return SSS_EPROTO;
    }
    return 0;
}

int sss_wslay_pump(struct sss_wslay *ws)
{
    if (ws->in_recv || !ws->ctx)
        return 0; /* inside wslay_event_recv: the owner pumps when it returns */
    if (wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) < 0)
        return -1;
    /* Both closes exchanged, or reading stopped by an error wslay answered. */
    if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx))
        return 1;
    return 0;
}

int sss_wslay_close(struct sss_wslay *ws, uint16_t code, const char *reason)
{
    if (sss_wslay_ctx(ws) < 0)
        return -ENOMEM;
    (void)wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, strlen(reason));
    return 0;
}

int sss_wslay_close_sent(const struct sss_wslay *ws)
{
    return ws->ctx && wslay_event_get_close_sent(ws->ctx);
}

int sss_wslay_close_received(const struct sss_wslay *ws)
{
    return ws->ctx && wslay_event_get_close_received(ws->ctx);
}

uint16_t sss_wslay_close_code(const struct sss_wslay *ws)
{
    if (ws->ctx && wslay_event_get_close_received(ws->ctx))
        return wslay_event_get_status_code_received(ws->ctx);
    if (ws->ctx && wslay_event_get_close_sent(ws->ctx))
        return wslay_event_get_status_code_sent(ws->ctx);
    return WSLAY_CODE_ABNORMAL_CLOSURE;
}

int sss_wslay_failed(const struct sss_wslay *ws)
{
    return ws->ctx && !wslay_event_want_read(ws->ctx) && !wslay_event_get_close_sent(ws->ctx);
}

int sss_wslay_park(struct sss_wslay *ws)
{
    wslay_event_context_ptr ctx = ws->ctx;

    if (!ctx || ws->in_recv || !sss_ws_track_idle(&ws->track) || wslay_event_want_write(ctx) ||
        !wslay_event_want_read(ctx) || wslay_event_get_close_received(ctx) ||
        wslay_event_get_close_sent(ctx))
        return 0;
    wslay_event_context_free(ctx);
    ws->ctx = NULL;
    if (ws->io->contexts)
        ws->io->contexts(ws->data, -1);
    return 1;
}
