/*
 * Centrifugo v6, JSON protocol (/connection/websocket): connect (id 1),
 * subscribe (id 2), publishes with ids from 3, each answered by
 * {"id":N,"publish":{}} or {"id":N,"error":{..}}. Pushes are
 * {"push":{"channel":..,"pub":{"data":"<payload>",..}}}. One frame may hold
 * several replies and pushes separated by newlines. The server's ping is
 * {} and the client answers {}. No ask, no echo.
 */
#include "sb.h"

enum { ST_CONNECT = 0, ST_SUBSCRIBE, ST_READY };

#define ID_BASE 2 /* publish n (from 1) has id n + ID_BASE */

static int cf_open(struct sb_worker *w, struct sb_conn *c)
{
    c->pstate = ST_CONNECT;
    sb_send_text(w, c, "{\"id\":1,\"connect\":{}}", 21);
    return 0;
}

static int cf_line(struct sb_worker *w, struct sb_conn *c, char *l, size_t len)
{
    long long id;
    bool err;

    if (len == 2 && l[0] == '{' && l[1] == '}') {
        sb_send_text(w, c, "{}", 2);
        return 0;
    }
    if (len > 8 && memcmp(l, "{\"push\":", 8) == 0) {
        if (c->role == SB_ROLE_SUB)
            sb_deliveries(w, c, l, len);
        return 0;
    }
    id = sb_json_uint(l, len, "\"id\"");
    if (id <= 0)
        return 0;
    err = memmem(l, len, "\"error\":", 8) != NULL;
    if (c->pstate == ST_CONNECT && id == 1) {
        if (err)
            return sb_fail(w, c, "centrifugo: connect refused: %.*s", (int)(len > 150 ? 150 : len),
                           l);
        return sb_session_open(w, c, "{\"id\":2,\"subscribe\":{\"channel\":\"%c\"}}", ST_READY,
                               ST_SUBSCRIBE);
    }
    if (c->pstate == ST_SUBSCRIBE && id == 2)
        return sb_subscribed(w, c, !err, "centrifugo: subscribe", l, len, ST_READY);
    if (c->role == SB_ROLE_PUB && id > ID_BASE)
        sb_pub_reply(w, c, !err, (uint64_t)(id - ID_BASE));
    return 0;
}

static int cf_message(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    char *end = msg + len, *nl;

    while (msg < end) {
        nl = memchr(msg, '\n', (size_t)(end - msg));
        if (!nl)
            nl = end;
        if (nl > msg && cf_line(w, c, msg, (size_t)(nl - msg)) < 0)
            return -1;
        msg = nl + 1;
    }
    return 0;
}

const struct sb_proto sb_proto_centrifugo = {
    .name = "centrifugo",
    .caps = SB_CAP_PUBSUB | SB_CAP_PUB_ACK,
    .default_path = "/connection/websocket",
    .on_open = cf_open,
    .on_message = cf_message,
    .publish = "{\"id\":%i,\"publish\":{\"channel\":\"%c\",\"data\":\"%p\"}}",
    .publish_id_base = ID_BASE,
};
