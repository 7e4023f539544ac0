/*
 * Plain WebSocket echo (sss-server --echo or any echo server): every message
 * sent comes back unchanged. The connect workload only upgrades.
 */
#include "sb.h"

static int echo_open(struct sb_worker *w, struct sb_conn *c)
{
    sb_ready(w, c);
    return 0;
}

static int echo_message(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    if (c->role == SB_ROLE_ECHO)
        sb_answer(w, c, msg, len);
    return 0;
}

static void echo_echo(struct sb_worker *w, struct sb_conn *c, const char *payload, size_t len)
{
    sb_send_text(w, c, payload, len);
}

const struct sb_proto sb_proto_echo = {
    .name = "echo",
    .caps = SB_CAP_ECHO,
    .on_open = echo_open,
    .on_message = echo_message,
    .echo = echo_echo,
};
