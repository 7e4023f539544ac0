/*
 * The uWebSockets.js peer (bench/peers/uws): "s <channel>" -> "ok";
 * "p <channel> <payload>" publishes on the topic, subscribers get the bare
 * payload; "a <payload>" -> "<payload>"; on /echo every message comes back.
 */
#include "sb.h"

enum { ST_SUBSCRIBE = 0, ST_READY };

static const char *uws_path(struct sb_worker *w, struct sb_conn *c, const struct sb_url *u,
                            char *buf, size_t n)
{
    (void)w, (void)buf, (void)n;
    return c->role == SB_ROLE_ECHO && strcmp(u->path, "/") == 0 ? "/echo" : u->path;
}

static int uws_open(struct sb_worker *w, struct sb_conn *c)
{
    return sb_session_open(w, c, "s %c", ST_READY, ST_SUBSCRIBE);
}

static int uws_message(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    if (c->role == SB_ROLE_SUB && c->pstate == ST_SUBSCRIBE)
        return sb_subscribed(w, c, len == 2 && memcmp(msg, "ok", 2) == 0, "uws: subscribe", msg,
                             len, ST_READY);
    return sb_route(w, c, msg, len);
}

const struct sb_proto sb_proto_uws = {
    .name = "uws",
    .caps = SB_CAP_PUBSUB | SB_CAP_ASK | SB_CAP_ECHO,
    .path = uws_path,
    .on_open = uws_open,
    .on_message = uws_message,
    .publish = "p %c %p",
    .ask = "a %p",
};
