/*
 * Plain WebSocket echo (sss-server --echo or any echo server): every message
 * sent comes back unchanged. The connect workload only upgrades.
 */
#include "sb.h"

static int echo_message(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    if (c->role == SB_ROLE_ECHO)
        sb_answer(w, c, msg, len);
    return 0;
}

const struct sb_proto sb_proto_echo = {
    .name = "echo",
    .caps = SB_CAP_ECHO,
    .on_message = echo_message,
};
