/*
 * Plain WebSocket echo (sss-server --echo or any echo server): every message
 * sent comes back unchanged. The connect workload only upgrades.
 */
#include "sb.h"

const struct sb_proto sb_proto_echo = {
    .name = "echo",
    .caps = SB_CAP_ECHO,
    .on_message = sb_route,
};
