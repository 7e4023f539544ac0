/*
 * Socket.IO v5 over Engine.IO v4 on a raw WebSocket
 * (/socket.io/?EIO=4&transport=websocket): the server opens with
 * 0{"sid":..}, the client connects the main namespace with 40 and gets
 * 40{"sid":..}; the server pings with 2 and the client answers 3.
 * The bench peer (bench/peers) speaks: 421["sub","<ch>"] -> 431[true];
 * 42["pub","<ch>","<payload>"] -> subscribers get 42["m","<payload>"];
 * 42<id>["ask","<payload>"] -> 43<id>["<payload>"];
 * 42["echo","<payload>"] -> 42["echo","<payload>"].
 */
#include "sb.h"

enum { ST_OPEN = 0, ST_CONNECT, ST_SUBSCRIBE, ST_READY };

static int sio_open(struct sb_worker *w, struct sb_conn *c)
{
    (void)w;
    c->pstate = ST_OPEN;
    return 0;
}

static int sio_message(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    if (len == 0)
        return sb_fail(w, c, "socket.io: empty packet");
    switch (msg[0]) {
    case '2': /* Engine.IO ping */
        sb_send_text(w, c, "3", 1);
        return 0;
    case '0':
        if (c->pstate != ST_OPEN)
            return 0;
        sb_send_text(w, c, "40", 2);
        c->pstate = ST_CONNECT;
        return 0;
    case '1':
        return sb_fail(w, c, "socket.io: the server closed the session");
    case '4':
        break;
    default:
        return 0;
    }
    if (len < 2)
        return sb_fail(w, c, "socket.io: short packet");
    if (msg[1] == '2') { /* EVENT */
        if (c->role == SB_ROLE_ECHO)
            sb_answer(w, c, msg, len);
        else if (c->role == SB_ROLE_SUB)
            sb_deliveries(w, c, msg, len);
        return 0;
    }
    if (msg[1] == '0') { /* CONNECT answered */
        if (c->pstate != ST_CONNECT)
            return 0;
        return sb_session_open(w, c, "421[\"sub\",\"%c\"]", ST_READY, ST_SUBSCRIBE);
    }
    if (msg[1] == '3') { /* ACK */
        if (c->pstate == ST_SUBSCRIBE)
            return sb_subscribed(w, c, len >= 4 && msg[2] == '1' && memmem(msg, len, "true", 4),
                                 "socket.io: subscribe", msg, len, ST_READY);
        if (c->role == SB_ROLE_ASK)
            sb_answer(w, c, msg, len);
        return 0;
    }
    if (msg[1] == '4')
        return sb_fail(w, c, "socket.io: connect refused: %.*s", (int)(len > 100 ? 100 : len),
                       msg);
    return 0;
}

const struct sb_proto sb_proto_socketio = {
    .name = "socketio",
    .caps = SB_CAP_PUBSUB | SB_CAP_ASK | SB_CAP_ECHO,
    .default_path = "/socket.io/?EIO=4&transport=websocket",
    .on_open = sio_open,
    .on_message = sio_message,
    .publish = "42[\"pub\",\"%c\",\"%p\"]",
    .ask = "42%i[\"ask\",\"%p\"]",
    .ask_id_base = 1, /* ack id 1 is the subscribe's */
    .echo = "42[\"echo\",\"%p\"]",
};
