/*
 * Centrifugo v6, Protobuf protocol (--proto centrifugo --encoding protobuf):
 * the sub-protocol centrifuge-protobuf on /connection/websocket, binary
 * frames, each a sequence of messages prefixed by their length as a varint.
 * The messages are those of centrifugal/protocol's client.proto, of which
 * sss-bench writes and reads only these fields:
 *
 *   Command  { uint32 id = 1; ConnectRequest connect = 4;
 *              SubscribeRequest subscribe = 5; PublishRequest publish = 7; }
 *   SubscribeRequest { string channel = 1; }
 *   PublishRequest   { string channel = 1; bytes data = 2; }
 *   Reply    { uint32 id = 1; Error error = 2; Push push = 4; ... }
 *   Push     { string channel = 2; Publication pub = 4; ... }
 *   Publication { bytes data = 4; ... }
 *
 * connect is id 1, subscribe id 2, publish n has id n + 2. The server's ping
 * is an empty Reply (a zero length) and the answer an empty Command. Fields
 * not listed are skipped by their wire type; a Reply that does not parse is a
 * protocol error. Deliveries are found by their marker inside each Push.
 */
#include "sb.h"

enum { ST_CONNECT = 0, ST_SUBSCRIBE, ST_READY };

#define ID_BASE 2 /* publish n (from 1) has id n + ID_BASE */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Read a varint at *p (before end) into *v. Returns 0, or -1 when truncated or over 10 bytes. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;

    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;

        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/*
 * The next field of the message [*p, end): its number and wire type; for a
 * varint its value in *v, for a length-delimited field its bytes in
 * [*val, *val + *v). Fixed 32/64-bit fields are skipped. Returns 0, or -1
 * when the message is malformed.
 */
static int next_field(const uint8_t **p, const uint8_t *end, uint32_t *field, uint32_t *type,
                      uint64_t *v, const uint8_t **val)
{
    uint64_t key;

    if (get_varint(p, end, &key) < 0 || key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return -1;
    *field = (uint32_t)(key >> 3);
    *type = (uint32_t)(key & 7);
    switch (*type) {
    case 0:
        return get_varint(p, end, v);
    case 1:
    case 5: {
        size_t n = *type == 1 ? 8 : 4;

        if ((size_t)(end - *p) < n)
            return -1;
        *p += n;
        return 0;
    }
    case 2:
        if (get_varint(p, end, v) < 0 || *v > (uint64_t)(end - *p))
            return -1;
        *val = *p;
        *p += *v;
        return 0;
    default:
        return -1; /* groups: not in client.proto */
    }
}

/* Queue one Command (len bytes at cmd) as its own binary frame, length-prefixed. */
static void send_command(struct sb_worker *w, struct sb_conn *c, const uint8_t *cmd, size_t len)
{
    size_t cap;
    uint8_t *buf = (uint8_t *)sb_scratch(w, &cap), *p = buf;

    p = put_varint(p, len);
    memcpy(p, cmd, len);
    sb_send_binary(w, c, buf, (size_t)(p - buf) + len);
}

/* A Command {id, <field> {channel = 1: name of ch; data = 2: payload}} (no data if NULL). */
static void send_channel_cmd(struct sb_worker *w, struct sb_conn *c, uint64_t id, uint32_t field,
                             long ch, const char *payload, size_t len)
{
    uint8_t head[64], inner[64], *p = head, *q = inner;
    char name[32];
    int nl = sb_channel_name(name, sizeof(name), ch);
    size_t cap, inner_len;
    uint8_t *buf = (uint8_t *)sb_scratch(w, &cap), *o;

    *q++ = 0x0a; /* channel = 1, length-delimited */
    q = put_varint(q, (uint64_t)nl);
    memcpy(q, name, (size_t)nl);
    q += nl;
    if (payload) {
        *q++ = 0x12; /* data = 2 */
        q = put_varint(q, len);
    }
    inner_len = (size_t)(q - inner) + (payload ? len : 0);
    *p++ = 0x08; /* id = 1, varint */
    p = put_varint(p, id);
    *p++ = (uint8_t)(field << 3 | 2);
    p = put_varint(p, inner_len);
    /* the frame: varint(command length), head, inner, payload */
    o = put_varint(buf, (uint64_t)(p - head) + inner_len);
    memcpy(o, head, (size_t)(p - head));
    o += p - head;
    memcpy(o, inner, (size_t)(q - inner));
    o += q - inner;
    if (payload) {
        memcpy(o, payload, len);
        o += len;
    }
    sb_send_binary(w, c, buf, (size_t)(o - buf));
}

static int cfp_open(struct sb_worker *w, struct sb_conn *c)
{
    static const uint8_t connect[] = {0x08, 0x01, 0x22, 0x00}; /* {id: 1, connect: {}} */

    c->pstate = ST_CONNECT;
    send_command(w, c, connect, sizeof(connect));
    return 0;
}

/* One Reply (len bytes). */
static int cfp_reply(struct sb_worker *w, struct sb_conn *c, const uint8_t *m, size_t len)
{
    const uint8_t *p = m, *end = m + len, *val = NULL, *err_msg = NULL, *push = NULL;
    uint64_t id = 0, v, push_len = 0, err_len = 0;
    const uint8_t *e, *eend;
    uint32_t field, type;
    bool err = false;

    if (len == 0) { /* the server's ping: answer with an empty Command */
        static const uint8_t pong[] = {0x00};

        sb_send_binary(w, c, pong, 1);
        return 0;
    }
    while (p < end) {
        if (next_field(&p, end, &field, &type, &v, &val) < 0) {
            return sb_fail(w, c, "centrifugo (protobuf): a Reply that does not parse");
        }
        if (field == 1 && type == 0) {
            id = v;
        } else if (field == 2 && type == 2) {
            /* Error { uint32 code = 1; string message = 2; }: keep the message */
            err = true;
            e = val;
            eend = val + v;
            while (e < eend && next_field(&e, eend, &field, &type, &v, &val) == 0)
                if (field == 2 && type == 2) {
                    err_msg = val;
                    err_len = v;
                }
        } else if (field == 4 && type == 2) {
            push = val;
            push_len = v;
        }
    }
    if (push) {
        if (c->role == SB_ROLE_SUB)
            sb_deliveries(w, c, (const char *)push, (size_t)push_len);
        return 0;
    }
    if (id == 0)
        return 0;
    if (c->pstate == ST_CONNECT && id == 1) {
        if (err)
            return sb_fail(w, c, "centrifugo (protobuf): connect refused: %.*s",
                           (int)(err_len > 150 ? 150 : err_len),
                           err_msg ? (const char *)err_msg : "");
        c->pstate = ST_SUBSCRIBE;
        if (c->role != SB_ROLE_SUB)
            return sb_session_open(w, c, NULL, ST_READY, ST_SUBSCRIBE);
        send_channel_cmd(w, c, 2, 5, c->chan, NULL, 0);
        return 0;
    }
    if (c->pstate == ST_SUBSCRIBE && id == 2)
        return sb_subscribed(w, c, !err, "centrifugo (protobuf): subscribe",
                             err_msg ? (const char *)err_msg : "", (size_t)err_len,
                             ST_READY);
    if (c->role == SB_ROLE_PUB && id > ID_BASE)
        sb_pub_reply(w, c, !err, id - ID_BASE);
    return 0;
}

static int cfp_message(struct sb_worker *w, struct sb_conn *c, char *msg, size_t len)
{
    const uint8_t *p = (const uint8_t *)msg, *end = p + len;

    while (p < end) {
        uint64_t n;

        if (get_varint(&p, end, &n) < 0 || n > (uint64_t)(end - p)) {
            return sb_fail(w, c, "centrifugo (protobuf): a frame whose length prefixes do not "
                                 "add up");
        }
        if (cfp_reply(w, c, p, (size_t)n) < 0)
            return -1;
        p += n;
    }
    return 0;
}

static void cfp_publish(struct sb_worker *w, struct sb_conn *c, long channel, const char *payload,
                        size_t len, uint64_t id)
{
    send_channel_cmd(w, c, id, 7, channel, payload, len);
}

const struct sb_proto sb_proto_centrifugo_protobuf = {
    .name = "centrifugo",
    .encoding = SB_ENC_PROTOBUF,
    .caps = SB_CAP_PUBSUB | SB_CAP_PUB_ACK,
    .subprotocol = "centrifuge-protobuf",
    .default_path = "/connection/websocket",
    .on_open = cfp_open,
    .on_message = cfp_message,
    .publish_id_base = ID_BASE,
    .send_publish = cfp_publish,
};
