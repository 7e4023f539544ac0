/*
 * Nchan (nginx): a subscriber opens <prefix>/sub/<channel> and every text
 * frame is one message; a publisher opens <prefix>/pub/<channel> and every
 * frame it sends is published there (a reply frame per publish is ignored).
 * So a publisher connection is bound to one channel (SB_CAP_PUB_CHANNEL):
 * sss-bench opens at least one per channel. No ask, no echo.
 */
#include "sb.h"

#include <stdio.h>

static const char *nchan_path(struct sb_worker *w, struct sb_conn *c, const struct sb_url *u,
                              char *buf, size_t n)
{
    size_t pl = strlen(u->path);

    (void)w;
    while (pl && u->path[pl - 1] == '/')
        pl--;
    snprintf(buf, n, "%.*s/%s/bench-%ld", (int)pl, u->path,
             c->role == SB_ROLE_PUB ? "pub" : "sub", c->chan);
    return buf;
}

const struct sb_proto sb_proto_nchan = {
    .name = "nchan",
    .caps = SB_CAP_PUBSUB | SB_CAP_PUB_CHANNEL,
    .path = nchan_path,
    .on_message = sb_route, /* a publisher's replies are ignored */
    .publish = "%p",
};
