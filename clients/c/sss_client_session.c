/*
 * The session of the C client: its status, the subscriptions and the
 * requests in flight, BEGIN on the first connect and SYNC on the later ones
 * (only the channels the server confirmed, with their lastUid and query;
 * the others go as SUBSCRIBE once the SYNC reply came), the replies to
 * BEGIN, SUBSCRIBE and SYNC, and what a lost connection cancels. What a
 * failure does next (redial or stop) is sss_client_retry.c's.
 */
#include "sss_client_int.h"
#include "sss_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sss_client__set_status(struct sss_client *c, enum sss_client_status s)
{
    enum sss_client_status old = c->status;

    if (old == s)
        return;
    c->status = s;
    if (c->o.on_status)
        c->o.on_status(c, s, old, c->o.data);
}

bool sss_client__final_status(enum sss_client_status s)
{
    return s == SSS_CLIENT_BOOTED || s == SSS_CLIENT_CLOSED || s == SSS_CLIENT_FAILED;
}

bool sss_client__ready(const struct sss_client *c)
{
    return c->status == SSS_CLIENT_READY && c->ws && !c->close_now && !c->fail_code;
}

void sss_client__report(struct sss_client *c, const char *channel, const char *name, const char *m)
{
    if (c->o.on_error)
        c->o.on_error(c, channel, name, m, c->o.data);
}

struct sss_client_sub *sss_client__find_sub(const struct sss_client *c, const char *channel)
{
    for (struct sss_client_sub *s = c->subs; s; s = s->next)
        if (!s->dead && !strcmp(s->channel, channel))
            return s;
    return NULL;
}

static void sub_free(struct sss_client_sub *s)
{
    sss_free(s->query);
    sss_free(s);
}

void sss_client__sub_remove(struct sss_client *c, struct sss_client_sub *s)
{
    struct sss_client_sub **p = &c->subs;

    if (s->dead)
        return;
    s->dead = true;
    if (c->busy)
        return; /* a loop up the stack may hold it: sss_client__gc frees it */
    while (*p != s)
        p = &(*p)->next;
    *p = s->next;
    sub_free(s);
}

void sss_client__gc(struct sss_client *c)
{
    struct sss_client_sub **p = &c->subs;

    if (c->busy)
        return;
    while (*p) {
        struct sss_client_sub *s = *p;

        if (s->dead) {
            *p = s->next;
            sub_free(s);
        } else {
            p = &s->next;
        }
    }
}

void sss_client__fail_sub_replies(struct sss_client *c, const char *name, const char *detail)
{
    c->busy++;
    for (struct sss_client_sub *s = c->subs; s; s = s->next)
        if (!s->dead)
            sss_client__sub_answer(c, s, name, detail);
    c->busy--;
    sss_client__gc(c);
}

struct sss_client_req *sss_client__take_req(struct sss_client *c, int64_t id)
{
    for (struct sss_client_req **p = &c->reqs; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            struct sss_client_req *r = *p;

            *p = r->next;
            return r;
        }
    return NULL;
}

void sss_client__fail_reqs(struct sss_client *c, const char *name)
{
    struct sss_client_req *r = c->reqs;

    c->reqs = NULL;
    while (r) {
        struct sss_client_req *next = r->next;

        if (r->cb)
            r->cb(c, name, r->what, NULL, 0, r->data);
        sss_free(r);
        r = next;
    }
    /* Requests made by the callbacks above were refused: not READY. */
}

void sss_client__sub_answer(struct sss_client *c, struct sss_client_sub *s, const char *name,
                            const char *message)
{
    sss_client_reply_cb cb = s->reply;
    char q[SSS_PROTO_LASTUID_MAX + 3];
    int n;

    if (!cb)
        return;
    s->reply = NULL;
    if (name) {
        cb(c, name, message, NULL, 0, s->reply_data);
        return;
    }
    n = s->has_uid ? snprintf(q, sizeof(q), "\"%s\"", s->last_uid) : snprintf(q, sizeof(q), "null");
    cb(c, NULL, NULL, q, (size_t)n, s->reply_data);
}

struct sss_client_req *sss_client__new_req(struct sss_client *c, enum sss_client_req_kind kind,
                                          sss_client_reply_cb cb, void *data, const char *verb,
                                          const char *name)
{
    struct sss_client_req *r = sss_calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->id = c->next_id++;
    r->kind = kind;
    r->cb = cb;
    r->data = data;
    snprintf(r->what, sizeof(r->what), "%s \"%s\"", verb, name);
    return r;
}

struct sss_proto_span sss_client__id_span(int64_t id, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%lld", (long long)id);

    return (struct sss_proto_span){buf, (size_t)n};
}

struct sss_proto_span sss_client__msg_span(const char *msg)
{
    return sss_proto_span_str(msg ? msg : "null");
}

int sss_client__send_subscribe(struct sss_client *c, struct sss_client_sub *s)
{
    char idb[24];
    int rc;

    sss_proto_out_reset(&c->out);
    s->sub_id = c->next_id++;
    rc = sss_proto_encode_subscribe(&c->out, s->channel, sss_client__msg_span(s->query),
                                    sss_client__id_span(s->sub_id, idb, sizeof(idb)));
    if (!rc)
        rc = sss_client__send_out(c);
    if (!rc)
        s->sent = true;
    return rc;
}

int sss_client__begin(struct sss_client *c)
{
    char idb[24];
    int rc;

    sss_proto_out_reset(&c->out);
    if (c->ever_ready) {
        struct sss_proto_sub *subs;
        size_t n = 0, i = 0;

        for (struct sss_client_sub *s = c->subs; s; s = s->next)
            n += !s->dead && s->known;
        subs = sss_calloc(n ? n : 1, sizeof(*subs));
        if (!subs)
            return -ENOMEM;
        for (struct sss_client_sub *s = c->subs; s; s = s->next) {
            /* Never SYNC a channel the server has not confirmed: it would
             * replay the whole history. Those go as SUBSCRIBE after the reply. */
            s->sent = false;
            if (s->dead || !s->known)
                continue;
            snprintf(subs[i].channel, sizeof(subs[i].channel), "%s", s->channel);
            subs[i].channel_len = (uint8_t)strlen(s->channel);
            subs[i].query = sss_client__msg_span(s->query);
            subs[i].has_last_uid = s->has_uid;
            if (s->has_uid) {
                snprintf(subs[i].last_uid, sizeof(subs[i].last_uid), "%s", s->last_uid);
                subs[i].last_uid_len = (uint8_t)strlen(s->last_uid);
            }
            s->sent = true;
            i++;
        }
        c->sync_id = c->next_id++;
        rc = sss_proto_encode_sync(&c->out, sss_client__id_span(c->sync_id, idb, sizeof(idb)),
                                   subs, n);
        sss_free(subs);
        if (!rc && c->session) {
            /* (ext) "session" rides along: replace the closing brace. */
            c->out.len--;
            rc = sss_proto_out_append(&c->out, ",\"session\":", 11);
            if (!rc) {
                struct sss_proto_out tmp;

                /* Reuse the tell encoder's string escaping through a scratch buffer. */
                sss_proto_out_init(&tmp, NULL, 0);
                rc = sss_proto_encode_begin(&tmp, c->session); /* {"sys":3,"session":"..."} */
                if (!rc)
                    rc = sss_proto_out_append(&c->out, tmp.data + 19, tmp.len - 19);
                sss_proto_out_fini(&tmp);
            }
        }
        c->deadline = c->now + c->o.sync_timeout_ms;
        if (!rc)
            rc = sss_client__send_out(c);
        sss_client__set_status(c, SSS_CLIENT_SYNCING);
    } else {
        rc = sss_proto_encode_begin(&c->out, c->session);
        c->deadline = c->now + c->o.begin_timeout_ms;
        if (!rc)
            rc = sss_client__send_out(c);
        sss_client__set_status(c, SSS_CLIENT_BEGINNING);
    }
    return rc;
}

void sss_client__conn_lost(struct sss_client *c)
{
    uint64_t gen = c->gen;

    c->busy++;
    for (struct sss_client_sub *s = c->subs; s && c->gen == gen; s = s->next) {
        if (s->dead)
            continue;
        if (s->sent && s->reply) /* in flight: answered now, sent again after the redial */
            sss_client__sub_answer(c, s, REQ_DROPPED, "the connection was lost");
        s->sent = false;
    }
    c->busy--;
    sss_client__gc(c);
    sss_client__fail_reqs(c, REQ_DROPPED);
}

void sss_client__on_subscribe_reply(struct sss_client *c, const struct sss_proto_msg *m)
{
    struct sss_client_sub *s =
        (m->has & SSS_PROTO_HAS_CHANNEL) ? sss_client__find_sub(c, m->channel) : NULL;
    bool ok = m->result.ptr && m->result.len == 4 && !memcmp(m->result.ptr, "true", 4);
    char name[256] = "Subscription refused", message[1024] = "";
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
    sss_client_reply_cb cb;
    void *data;

    if (!s || !s->sent || sss_client__span_id(m->id) != s->sub_id)
        return; /* not ours, or the reply to a SUBSCRIBE since replaced */
    if (ok) {
        s->known = true;
        if (!s->has_uid && (m->has & SSS_PROTO_HAS_LAST_UID))
            (void)sss_client__advance_uid(s, m->last_uid, strlen(m->last_uid));
        sss_client__sub_answer(c, s, NULL, NULL);
        return;
    }
    if (m->err.ptr) {
        (void)sss_client__get_string(m->err, "name", name, sizeof(name));
        (void)sss_client__get_string(m->err, "message", message, sizeof(message));
    }
    /* Gone before the callback runs: it may subscribe to the channel again. */
    cb = s->reply;
    data = s->reply_data;
    s->reply = NULL;
    snprintf(channel, sizeof(channel), "%s", s->channel);
    sss_client__sub_remove(c, s);
    if (cb)
        cb(c, name, message, NULL, 0, data);
    else
        sss_client__report(c, channel, name, message);
}

/* READY: SUBSCRIBE what was asked for while the session was starting. */
static void now_ready(struct sss_client *c)
{
    uint64_t gen = c->gen;

    c->attempts = 0;
    c->auth_retried = false;
    c->deadline = 0;
    sss_client__set_status(c, SSS_CLIENT_READY);
    for (struct sss_client_sub *s = c->subs; s && c->gen == gen && c->status == SSS_CLIENT_READY;
         s = s->next)
        if (!s->dead && !s->sent && sss_client__send_subscribe(c, s))
            sss_client__report(c, s->channel, "Super Scaled Sockets Error",
                               "could not send SUBSCRIBE");
}

/* hbInterval and hbThreshold, re-read from every BEGIN reply and SYNC reply with prot. */
static void read_prot(struct sss_client *c, struct sss_proto_span prot)
{
    c->hb = sss_client__get_true(prot, "hb");
    c->hb_timeout = sss_client__get_int(prot, "hbInterval", 30000) +
                    sss_client__get_int(prot, "hbThreshold", 2500);
}

void sss_client__on_sync_reply(struct sss_client *c, const struct sss_proto_msg *m)
{
    const char *why = "the server refused the channel or its history no longer reaches lastUid";
    uint64_t gen = c->gen;

    if (c->status != SSS_CLIENT_SYNCING || sss_client__span_id(m->id) != c->sync_id)
        return;
    c->sync_id = -1;
    c->deadline = 0;
    if (m->prot.ptr)
        read_prot(c, m->prot);
    sss_client__deliver_records(c, m->records);
    for (struct sss_client_sub *s = c->subs; s; s = s->next) {
        if (c->gen != gen || c->status != SSS_CLIENT_SYNCING)
            return; /* a callback closed the client */
        if (s->dead || !s->sent)
            continue; /* subscribed during the SYNC: sent once READY */
        if (sss_client__get_true(m->result, s->channel))
            sss_client__sub_answer(c, s, NULL, NULL);
        else if (s->reply)
            sss_client__sub_answer(c, s, "Unable to sync", why);
        else
            sss_client__report(c, s->channel, "Unable to sync", why);
    }
    if (c->gen != gen || c->status != SSS_CLIENT_SYNCING)
        return;
    now_ready(c);
    if (c->gen == gen && c->status == SSS_CLIENT_READY && c->o.on_reconnect)
        c->o.on_reconnect(c, c->o.data);
}

void sss_client__on_begin_reply(struct sss_client *c, const struct sss_proto_msg *m)
{
    if (c->status != SSS_CLIENT_BEGINNING)
        return;
    read_prot(c, m->prot);
    if ((m->has & SSS_PROTO_HAS_CHANNEL) && m->channel_len <= SSS_PROTO_CHANNEL_MAX &&
        !sss_client__find_sub(c, m->channel)) {
        struct sss_client_sub *s = sss_calloc(1, sizeof(*s));

        if (s) {
            memcpy(s->channel, m->channel, m->channel_len + 1);
            s->sent = true;
            s->known = true;
            if (m->has & SSS_PROTO_HAS_LAST_UID)
                (void)sss_client__advance_uid(s, m->last_uid, strlen(m->last_uid));
            s->next = c->subs;
            c->subs = s;
        }
    }
    c->ever_ready = true;
    now_ready(c);
}
