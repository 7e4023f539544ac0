/*
 * Message decoding of the C client: each text frame is decoded by the
 * server's own codec (sss_proto_decode, with from_server set) and handed to
 * the session, a request's callback or the application. The raw fields the
 * codec passes through ("err", "prot", "result", "records") are read with
 * sss_json: the first top-level member of a name counts.
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
    if (m->uid.ptr && m->uid.len >= 2 && m->uid.len - 2 < sizeof(uid) && m->uid.ptr[0] == '"') {
        struct sss_uid a, b;

        memcpy(uid, m->uid.ptr + 1, m->uid.len - 2);
        uid[m->uid.len - 2] = '\0';
        /* Never twice, never backwards (uids we can read; others are opaque). */
        if (s->has_uid && !sss_proto_uid_parse(&a, uid, strlen(uid)) &&
            !sss_proto_uid_parse(&b, s->last_uid, strlen(s->last_uid)) &&
            sss_proto_uid_cmp(&a, &b) <= 0)
            return;
        memcpy(s->last_uid, uid, sizeof(uid));
        s->has_uid = true;
    }
    cb = s->on_feed ? s->on_feed : c->o.on_feed;
    data = s->on_feed ? s->data : c->o.data;
    if (cb)
        cb(c, m->channel, (m->has & SSS_PROTO_HAS_TOPIC) ? m->topic : "",
           m->msg.ptr ? m->msg.ptr : "null", m->msg.ptr ? m->msg.len : 4, uid, data);
}

static void set_uid_from_span(struct sss_client_sub *s, struct sss_proto_span sp)
{
    if (sp.ptr && sp.len >= 2 && sp.ptr[0] == '"' && sp.len - 2 <= SSS_PROTO_LASTUID_MAX) {
        memcpy(s->last_uid, sp.ptr + 1, sp.len - 2);
        s->last_uid[sp.len - 2] = '\0';
        s->has_uid = true;
    }
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

    if (sss_proto_decode(&c->dec, buf, len, m) != 0)
        return;
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

        if (s)
            set_uid_from_span(s, m->uid);
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
        c->booted = true;
        sss_client__set_status(c, SSS_CLIENT_BOOTED);
        if (c->o.on_boot)
            c->o.on_boot(c, m->reason.ptr ? m->reason.ptr : "null",
                         m->reason.ptr ? m->reason.len : 4, c->o.data);
        break;
    case SSS_PROTO_BOOTCHANNEL:
        if (m->has & SSS_PROTO_HAS_CHANNEL) {
            struct sss_client_sub **p = &c->subs;

            while (*p && strcmp((*p)->channel, m->channel))
                p = &(*p)->next;
            if (*p) {
                struct sss_client_sub *s = *p;

                *p = s->next;
                sss_client__report(c, s->channel, "Removed from channel", "the server removed us");
                sss_free(s->query);
                sss_free(s);
            }
        }
        break;
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
