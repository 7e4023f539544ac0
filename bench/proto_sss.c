/*
 * sss's own protocol (PROTOCOL.md): BEGIN, then SUBSCRIBE for a subscriber;
 * publishes with the client PUBLISH ext (sys 13, the server needs
 * --allow-client-publish 'bench-*' --max-message-rate 0); asks go to the
 * topic "echo" of bench_app.c. Heartbeats "h" are answered with "h". With
 * the echo workload it talks raw WebSocket (sss-server --echo).
 *
 * Two encodings (--encoding): JSON text frames (sb_proto_sss, no
 * sub-protocol offered, as the original clients), and sss.v1.msgpack
 * (sb_proto_sss_msgpack): the same maps in binary frames (sb_mp.c), the
 * heartbeat still a text "h". Both read a message into struct sss_msg and
 * share sss_handle; a FEED is recognised by its first bytes and its payload
 * found by the marker, without decoding it, in either encoding.
 */
#include "sb.h"
#include "sb_mp.h"

#include <stdio.h>

enum { ST_BEGIN = 0, ST_SUBSCRIBE, ST_READY };

/* What both encodings read of a server message. */
struct sss_msg {
    long long sys, id; /* -1: absent */
    bool result;       /* SUBSCRIBE's result is true */
    bool err;          /* an "err" key */
    const char *text;  /* what an error line shows */
    size_t text_len;
};

#define SHOW(len) ((int)((len) > 150 ? 150 : (len)))

/* One server message of either encoding; msg/len is the whole message (payloads inside). */
static int sss_handle(struct sb_worker *w, struct sb_conn *c, const struct sss_msg *m, char *msg,
                      size_t len, bool msgpack)
{
    switch (m->sys) {
    case 8:
        sb_deliveries(w, c, msg, len);
        return 0;
    case 3:
        if (c->pstate != ST_BEGIN)
            return 0;
        if (!msgpack)
            return sb_session_open(w, c, "{\"sys\":1,\"id\":1,\"channel\":\"%c\"}", ST_READY,
                                   ST_SUBSCRIBE);
        if (c->role == SB_ROLE_SUB) {
            size_t cap, n;
            char *s = sb_scratch(w, &cap), name[64];
            int nl = sb_channel_name(name, sizeof(name), c->chan);

            n = sb_mp_subscribe(s, cap, name, (size_t)nl, 1);
            sb_send_binary(w, c, s, n);
            c->pstate = ST_SUBSCRIBE;
            return 0;
        }
        return sb_session_open(w, c, "", ST_READY, ST_SUBSCRIBE);
    case 1:
        if (c->pstate != ST_SUBSCRIBE)
            return 0;
        return sb_subscribed(w, c, m->result, "SUBSCRIBE", m->text, m->text_len, ST_READY);
    case 7:
        if (c->role == SB_ROLE_PUB) {
            sb_pub_reply(w, c, !m->err, m->id > 0 ? (uint64_t)m->id : 0);
            return 0;
        }
        if (m->err)
            return sb_fail(w, c, "ASK answered with an error (is --app libsss-bench.so "
                                 "loaded?): %.*s",
                           SHOW(m->text_len), m->text);
        sb_answer(w, c, msg, len);
        return 0;
    case 14:
        if (c->role == SB_ROLE_PUB && c->pstate == ST_READY && m->id > 0) {
            sb_pub_reply(w, c, false, (uint64_t)m->id);
            return 0;
        }
        return sb_fail(w, c, "server error: %.*s", SHOW(m->text_len), m->text);
    default:
        return 0; /* UPDATESUB, TELL, BROADCAST...: not ours */
    }
}

/* ---- JSON ---- */

static int json_open(struct sb_worker *w, struct sb_conn *c)
{
    if (c->role == SB_ROLE_ECHO) {
        sb_ready(w, c);
        return 0;
    }
    c->pstate = ST_BEGIN;
    sb_send_text(w, c, "{\"sys\":3}", 9);
    return 0;
}

static int json_message(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    struct sss_msg m = {.text = msg, .text_len = len};

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
    m.sys = sb_json_uint(msg, len, "\"sys\"");
    m.id = sb_json_uint(msg, len, "\"id\"");
    m.result = memmem(msg, len, "\"result\":true", 13) != NULL;
    m.err = memmem(msg, len, "\"err\":", 6) != NULL;
    return sss_handle(w, c, &m, msg, len, false);
}

const struct sb_proto sb_proto_sss = {
    .name = "sss",
    .encoding = SB_ENC_JSON,
    .caps = SB_CAP_PUBSUB | SB_CAP_ASK | SB_CAP_ECHO | SB_CAP_PUB_ACK,
    .on_open = json_open,
    .on_message = json_message,
    .publish = "{\"sys\":13,\"channel\":\"%c\",\"topic\":\"b\",\"msg\":\"%p\",\"id\":%i}",
    .ask = "{\"sys\":5,\"id\":%i,\"topic\":\"echo\",\"msg\":\"%p\"}",
};

/* ---- sss.v1.msgpack ---- */

static int mp_open(struct sb_worker *w, struct sb_conn *c)
{
    size_t cap, n;
    char *s;

    if (c->role == SB_ROLE_ECHO) {
        sb_ready(w, c);
        return 0;
    }
    c->pstate = ST_BEGIN;
    s = sb_scratch(w, &cap);
    n = sb_mp_begin(s, cap);
    sb_send_binary(w, c, s, n);
    return 0;
}

static int mp_message(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    struct sb_mp_msg mm;
    struct sss_msg m;

    if (c->role == SB_ROLE_ECHO) {
        sb_answer(w, c, msg, len);
        return 0;
    }
    if (len == 1 && msg[0] == 'h') { /* the text heartbeat (a msgpack message is a map) */
        sb_send_text(w, c, "h", 1);
        return 0;
    }
    if (sb_mp_is_feed(msg, len)) { /* the hot path */
        sb_deliveries(w, c, msg, len);
        return 0;
    }
    if (sb_mp_read(msg, len, &mm) < 0)
        return sb_fail(w, c, "a server message that is not one msgpack map (%zu bytes)", len);
    m.sys = mm.sys;
    m.id = mm.id;
    m.result = mm.result == 1;
    m.err = mm.err;
    m.text = mm.text ? mm.text : "(no err.message)";
    m.text_len = mm.text ? mm.text_len : 16;
    return sss_handle(w, c, &m, msg, len, true);
}

static void mp_publish(struct sb_worker *w, struct sb_conn *c, long channel, const char *payload,
                       size_t len, uint64_t id)
{
    size_t cap, n;
    char *s = sb_scratch(w, &cap), name[64];
    int nl = sb_channel_name(name, sizeof(name), channel);

    n = sb_mp_publish(s, cap, name, (size_t)nl, "b", payload, len, id);
    sb_send_binary(w, c, s, n);
}

static void mp_ask(struct sb_worker *w, struct sb_conn *c, const char *payload, size_t len,
                   uint64_t id)
{
    size_t cap, n;
    char *s = sb_scratch(w, &cap);

    n = sb_mp_ask(s, cap, "echo", payload, len, id);
    sb_send_binary(w, c, s, n);
}

const struct sb_proto sb_proto_sss_msgpack = {
    .name = "sss",
    .encoding = SB_ENC_MSGPACK,
    .caps = SB_CAP_PUBSUB | SB_CAP_ASK | SB_CAP_ECHO | SB_CAP_PUB_ACK,
    .subprotocol = SB_MP_SUBPROTOCOL,
    .on_open = mp_open,
    .on_message = mp_message,
    .send_publish = mp_publish,
    .send_ask = mp_ask,
};
