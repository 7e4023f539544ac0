/*
 * Message decoding of the C client: each text frame is decoded by the
 * server's own codec (sss_proto_decode, with from_server set) and handed to
 * the session, a request's callback or the application. The raw fields the
 * codec passes through ("err", "prot", "result", "records") are read with
 * sss_json: the first top-level member of a name counts. A frame that is not
 * a JSON object with a sys is a protocol error (the client closes with 1002);
 * an unknown sys is ignored. Uids "<a>-<b>" are compared as the pair of
 * decimal numbers (digit count, then digits: no overflow); a FEED whose uid
 * is not above its channel's lastUid is dropped.
 */
#include "sss_client_int.h"
#include "sss_alloc.h"
#include "sss_json.h"

#include <stdio.h>
#include <string.h>

/* Parse a raw JSON integer id (what we sent); -1 when it is not one. */
int64_t sss_client__span_id(struct sss_proto_span sp)
{
    int64_t v = 0;

    if (!sp.ptr || !sp.len || sp.len > 18)
        return -1;
    for (size_t i = 0; i < sp.len; i++) {
        if (sp.ptr[i] < '0' || sp.ptr[i] > '9')
            return -1;
        v = v * 10 + (sp.ptr[i] - '0');
    }
    return v;
}

/*
 * The first top-level member called key of a raw JSON object (a field of a
 * server message), read with sss_json. A string is copied into str (cut to
 * cap - 1 bytes) when str is not NULL; a number that starts with a digit
 * gives its leading digits in num.
 */
struct lookup {
    const char *key;
    bool found;
    enum sss_json_type type;
    char *str;
    size_t cap;
    int64_t num; /* -1: not a number that starts with a digit */
};

static int lookup_member(void *data, const struct sss_json_item *it)
{
    struct lookup *l = data;

    if (l->found || it->key_len != strlen(l->key) || memcmp(it->key, l->key, it->key_len))
        return 0;
    l->found = true;
    l->type = it->type;
    l->num = -1;
    if (it->type == SSS_JSON_STRING && l->str) {
        size_t n = it->str_len < l->cap - 1 ? it->str_len : l->cap - 1;

        memcpy(l->str, it->str, n);
        l->str[n] = '\0';
    } else if (it->type == SSS_JSON_NUMBER && it->raw[0] >= '0' && it->raw[0] <= '9') {
        l->num = 0;
        for (size_t i = 0; i < it->raw_len && it->raw[i] >= '0' && it->raw[i] <= '9' &&
                           l->num < INT64_MAX / 10;
             i++)
            l->num = l->num * 10 + (it->raw[i] - '0');
    }
    return 0;
}

/* Look key up in obj; false when obj is absent or not a JSON object, or has no such member. */
static bool lookup(struct sss_proto_span obj, struct lookup *l)
{
    l->found = false;
    return obj.ptr &&
           sss_json_each(obj.ptr, obj.len, SSS_JSON_OBJECT, SSS_PROTO_MAX_DEPTH, SSS_JSON_STRICT,
                         lookup_member, l) == 0 &&
           l->found;
}

/* Copy the string member key of obj into out; false when absent or not a string. */
bool sss_client__get_string(struct sss_proto_span obj, const char *key, char *out, size_t cap)
{
    struct lookup l = {.key = key, .str = out, .cap = cap};

    return lookup(obj, &l) && l.type == SSS_JSON_STRING;
}

/* The member key of obj when it is a number starting with a digit; dflt otherwise. */
int64_t sss_client__get_int(struct sss_proto_span obj, const char *key, int64_t dflt)
{
    struct lookup l = {.key = key};

    return lookup(obj, &l) && l.num >= 0 ? l.num : dflt;
}

/* Whether the member key of obj is true. */
bool sss_client__get_true(struct sss_proto_span obj, const char *key)
{
    struct lookup l = {.key = key};

    return lookup(obj, &l) && l.type == SSS_JSON_TRUE;
}

/* The digits of one part of a uid at *p (leading zeros skipped), up to stop; false if none. */
static bool uid_part(const char **p, char stop, const char **digits, size_t *n)
{
    const char *q = *p;

    while (*q >= '0' && *q <= '9')
        q++;
    if (q == *p || *q != stop)
        return false;
    *digits = *p;
    while (*digits < q - 1 && **digits == '0')
        (*digits)++;
    *n = (size_t)(q - *digits);
    *p = q + (stop ? 1 : 0);
    return true;
}

static int num_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int r;

    if (an != bn)
        return an < bn ? -1 : 1;
    r = memcmp(a, b, an);
    return r < 0 ? -1 : r > 0;
}

int sss_client__uid_cmp(const char *a, const char *b)
{
    const char *a1, *a2, *b1, *b2;
    size_t a1n, a2n, b1n, b2n;
    int r;

    if (!uid_part(&a, '-', &a1, &a1n) || !uid_part(&a, '\0', &a2, &a2n) ||
        !uid_part(&b, '-', &b1, &b1n) || !uid_part(&b, '\0', &b2, &b2n))
        return 2;
    r = num_cmp(a1, a1n, b1, b1n);
    return r ? r : num_cmp(a2, a2n, b2, b2n);
}

bool sss_client__advance_uid(struct sss_client_sub *s, const char *uid, size_t len)
{
    char u[SSS_PROTO_LASTUID_MAX + 1];

    if (len > SSS_PROTO_LASTUID_MAX || memchr(uid, '\0', len))
        return false;
    memcpy(u, uid, len);
    u[len] = '\0';
    if (s->has_uid) {
        int r = sss_client__uid_cmp(u, s->last_uid);

        /* Not above: a duplicate or older. A uid we cannot read only may not repeat. */
        if (r == 2 ? !strcmp(u, s->last_uid) : r <= 0)
            return false;
    }
    memcpy(s->last_uid, u, len + 1);
    s->has_uid = true;
    return true;
}

static void deliver_feed(struct sss_client *c, const struct sss_proto_msg *m)
{
    struct sss_client_sub *s;
    sss_client_feed_cb cb;
    void *data;
    char uid[SSS_PROTO_LASTUID_MAX + 1] = "";

    if (!(m->has & SSS_PROTO_HAS_CHANNEL))
        return;
    s = sss_client__find_sub(c, m->channel);
    if (!s)
        return;
    if (m->uid.ptr && m->uid.len >= 2 && m->uid.ptr[0] == '"') {
        if (m->uid.len - 2 >= sizeof(uid) ||
            !sss_client__advance_uid(s, m->uid.ptr + 1, m->uid.len - 2))
            return; /* never twice, never backwards */
        memcpy(uid, s->last_uid, sizeof(uid));
    }
    cb = s->on_feed ? s->on_feed : c->o.on_feed;
    data = s->on_feed ? s->data : c->o.data;
    if (cb)
        cb(c, m->channel, (m->has & SSS_PROTO_HAS_TOPIC) ? m->topic : "",
           m->msg.ptr ? m->msg.ptr : "null", m->msg.ptr ? m->msg.len : 4, uid, data);
}

static void on_response(struct sss_client *c, const struct sss_proto_msg *m)
{
    struct sss_client_req *r = sss_client__take_req(c, sss_client__span_id(m->id));
    char name[256], message[1024];

    if (!r)
        return;
    if (m->err.ptr) {
        if (!sss_client__get_string(m->err, "name", name, sizeof(name)))
            snprintf(name, sizeof(name), "Super Scaled Sockets Error");
        if (!sss_client__get_string(m->err, "message", message, sizeof(message)))
            message[0] = '\0';
        if (r->cb)
            r->cb(c, name, message, NULL, 0, r->data);
    } else if (r->cb) {
        r->cb(c, NULL, NULL, m->msg.ptr ? m->msg.ptr : "null", m->msg.ptr ? m->msg.len : 4,
              r->data);
    }
    sss_free(r);
}

/* One element of a SYNC reply's records: a FEED, decoded and delivered. */
static int deliver_record(void *data, const struct sss_json_item *it)
{
    struct sss_client *c = data;

    if (it->type != SSS_JSON_OBJECT)
        return SSS_EPROTO; /* records are objects: stop at anything else */
    if (c->status != SSS_CLIENT_SYNCING || c->close_now)
        return SSS_EPROTO; /* a callback closed the client: stop delivering */
    if (sss_proto_decode(&c->dec, it->raw, it->raw_len, &c->rec) == 0 &&
        c->rec.sys == SSS_PROTO_FEED)
        deliver_feed(c, &c->rec);
    return 0;
}

/* Each element of the raw JSON array records, in order, up to the first flaw. */
void sss_client__deliver_records(struct sss_client *c, struct sss_proto_span recs)
{
    int rc = 0;

    if (recs.ptr)
        rc = sss_json_each(recs.ptr, recs.len, SSS_JSON_ARRAY, SSS_PROTO_MAX_DEPTH + 1,
                           SSS_JSON_STRICT, deliver_record, c);
    (void)rc; /* a flaw only stops the walk: the records before it were delivered */
}

void sss_client__on_frame(struct sss_client *c, const char *buf, size_t len)
{
    struct sss_proto_msg *m = &c->msg;
    char name[256], message[1024];

    if (c->close_now || c->fail_code || sss_client__final_status(c->status))
        return; /* closed from a callback: the rest of this read is not ours */
    if (sss_proto_decode(&c->dec, buf, len, m) != 0) {
        if (m->error == SSS_PROTO_E_JSON || m->error == SSS_PROTO_E_NOT_OBJECT ||
            m->error == SSS_PROTO_E_DEPTH || m->error == SSS_PROTO_E_NO_SYS) {
            c->fail_code = SSS_CLIENT_PROTOCOL_ERROR;
            snprintf(c->fail_detail, sizeof(c->fail_detail), "a frame from the server: %s",
                     sss_proto_strerror(m->error));
            (void)wslay_event_queue_close(c->ws, 1002, NULL, 0);
        }
        return;
    }
    switch (m->sys) {
    case SSS_PROTO_HEARTBEAT: {
        struct wslay_event_msg h = {WSLAY_TEXT_FRAME, (const uint8_t *)"h", 1};

        (void)wslay_event_queue_msg(c->ws, &h);
        break;
    }
    case SSS_PROTO_BEGIN: sss_client__on_begin_reply(c, m); break;
    case SSS_PROTO_SYNC: sss_client__on_sync_reply(c, m); break;
    case SSS_PROTO_SUBSCRIBE: sss_client__on_subscribe_reply(c, m); break;
    case SSS_PROTO_RESPONSE: on_response(c, m); break;
    case SSS_PROTO_FEED: deliver_feed(c, m); break;
    case SSS_PROTO_UPDATESUB: {
        struct sss_client_sub *s =
            (m->has & SSS_PROTO_HAS_CHANNEL) ? sss_client__find_sub(c, m->channel) : NULL;

        if (s && m->uid.ptr && m->uid.len >= 2 && m->uid.ptr[0] == '"')
            (void)sss_client__advance_uid(s, m->uid.ptr + 1, m->uid.len - 2);
        break;
    }
    case SSS_PROTO_TELL:
        if (c->o.on_tell)
            c->o.on_tell(c, m->topic, m->msg.ptr ? m->msg.ptr : "null",
                         m->msg.ptr ? m->msg.len : 4, c->o.data);
        break;
    case SSS_PROTO_BROADCAST:
        if (c->o.on_broadcast)
            c->o.on_broadcast(c, m->topic, m->msg.ptr ? m->msg.ptr : "null",
                              m->msg.ptr ? m->msg.len : 4, c->o.data);
        break;
    case SSS_PROTO_BOOT:
        c->booted = true; /* final when the 4001 close (or the end) comes */
        if (c->o.on_boot)
            c->o.on_boot(c, m->reason.ptr ? m->reason.ptr : "null",
                         m->reason.ptr ? m->reason.len : 4, c->o.data);
        break;
    case SSS_PROTO_BOOTCHANNEL: {
        struct sss_client_sub *s =
            (m->has & SSS_PROTO_HAS_CHANNEL) ? sss_client__find_sub(c, m->channel) : NULL;

        if (s) {
            bool pending = s->reply != NULL;

            sss_client__sub_remove(c, s);
            if (pending)
                sss_client__sub_answer(c, s, "Removed from channel", "the server removed us");
            else
                sss_client__report(c, m->channel, "Removed from channel", "the server removed us");
        }
        break;
    }
    case SSS_PROTO_ERROR: {
        struct sss_client_req *r =
            m->id.ptr ? sss_client__take_req(c, sss_client__span_id(m->id)) : NULL;

        if (!sss_client__get_string(m->err, "name", name, sizeof(name)))
            snprintf(name, sizeof(name), "Super Scaled Sockets Error");
        if (!sss_client__get_string(m->err, "message", message, sizeof(message)))
            message[0] = '\0';
        if (r) {
            if (r->cb)
                r->cb(c, name, message, NULL, 0, r->data);
            sss_free(r);
        } else {
            sss_client__report(c, NULL, name, message);
        }
        break;
    }
    default: break;
    }
}
