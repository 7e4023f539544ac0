/*
 * sss's own protocol (PROTOCOL.md, JSON): BEGIN, then SUBSCRIBE for a
 * subscriber; publishes with the client PUBLISH ext (sys 13, the server needs
 * --allow-client-publish 'bench-*' --max-message-rate 0); asks go to the
 * topic "echo" of bench_app.c. Heartbeats "h" are answered with "h". With
 * the echo workload it talks raw WebSocket (sss-server --echo).
 */
#include "sb.h"

#include <stdio.h>

enum { ST_BEGIN = 0, ST_SUBSCRIBE, ST_READY };

static int sss_open(struct sb_worker *w, struct sb_conn *c)
{
    if (c->role == SB_ROLE_ECHO) {
        sb_ready(w, c);
        return 0;
    }
    c->pstate = ST_BEGIN;
    sb_send_text(w, c, "{\"sys\":3}", 9);
    return 0;
}

static int sss_message(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    long long sys;

    if (c->role == SB_ROLE_ECHO) {
        sb_answer(w, c, msg, len);
        return 0;
    }
    if (len == 1 && msg[0] == 'h') {
        sb_send_text(w, c, "h", 1);
        return 0;
    }
    if (len > 9 && memcmp(msg, "{\"sys\":8,", 9) == 0) { /* the hot path: a FEED */
        sb_deliveries(w, c, msg, len);
        return 0;
    }
    sys = sb_json_uint(msg, len, "\"sys\"");
    switch (sys) {
    case 8:
        sb_deliveries(w, c, msg, len);
        return 0;
    case 3:
        if (c->pstate != ST_BEGIN)
            return 0;
        return sb_session_open(w, c, "{\"sys\":1,\"id\":1,\"channel\":\"%c\"}", ST_READY,
                               ST_SUBSCRIBE);
    case 1:
        if (c->pstate != ST_SUBSCRIBE)
            return 0;
        return sb_subscribed(w, c, memmem(msg, len, "\"result\":true", 13) != NULL, "SUBSCRIBE",
                             msg, len, ST_READY);
    case 7: {
        long long id = sb_json_uint(msg, len, "\"id\"");
        bool err = memmem(msg, len, "\"err\":", 6) != NULL;

        if (c->role == SB_ROLE_PUB) {
            sb_pub_reply(w, c, !err, id > 0 ? (uint64_t)id : 0);
            return 0;
        }
        if (err)
            return sb_fail(w, c, "ASK answered with an error (is --app libsss-bench.so "
                                 "loaded?): %.*s",
                           (int)(len > 150 ? 150 : len), msg);
        sb_answer(w, c, msg, len);
        return 0;
    }
    case 14:
        if (c->role == SB_ROLE_PUB && c->pstate == ST_READY && sb_json_uint(msg, len, "\"id\"") > 0) {
            sb_pub_reply(w, c, false, (uint64_t)sb_json_uint(msg, len, "\"id\""));
            return 0;
        }
        return sb_fail(w, c, "server error: %.*s", (int)(len > 150 ? 150 : len), msg);
    default:
        return 0; /* UPDATESUB, TELL, BROADCAST...: not ours */
    }
}

const struct sb_proto sb_proto_sss = {
    .name = "sss",
    .caps = SB_CAP_PUBSUB | SB_CAP_ASK | SB_CAP_ECHO | SB_CAP_PUB_ACK,
    .on_open = sss_open,
    .on_message = sss_message,
    .publish = "{\"sys\":13,\"channel\":\"%c\",\"topic\":\"b\",\"msg\":\"%p\",\"id\":%i}",
    .ask = "{\"sys\":5,\"id\":%i,\"topic\":\"echo\",\"msg\":\"%p\"}",
};
