/*
 * The session of the C client: its status, the subscriptions and the
 * requests in flight, BEGIN on the first connect and SYNC (every channel's
 * lastUid and query) on the later ones, the replies to BEGIN, SUBSCRIBE and
 * SYNC, and what a lost connection does: requests fail, on_drop runs, and
 * the redial waits min(max, interval * 2^n) with equal jitter, or the
 * client stops (FAILED) after retry_attempts.
 */
#include "sss_client_int.h"
#include "sss_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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

void sss_client__report(struct sss_client *c, const char *channel, const char *name, const char *m)
{
    if (c->o.on_error)
        c->o.on_error(c, channel, name, m, c->o.data);
}

struct sss_client_sub *sss_client__find_sub(const struct sss_client *c, const char *channel)
{
    for (struct sss_client_sub *s = c->subs; s; s = s->next)
        if (!strcmp(s->channel, channel))
            return s;
    return NULL;
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

/* Answer a subscription's pending reply callback once. */
static void sub_answer(struct sss_client *c, struct sss_client_sub *s, const char *name,
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
    rc = sss_proto_encode_subscribe(&c->out, s->channel, sss_client__msg_span(s->query),
                                    sss_client__id_span(c->next_id++, idb, sizeof(idb)));
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
            n++;
        subs = sss_calloc(n ? n : 1, sizeof(*subs));
        if (!subs)
            return -ENOMEM;
        for (struct sss_client_sub *s = c->subs; s; s = s->next, i++) {
            snprintf(subs[i].channel, sizeof(subs[i].channel), "%s", s->channel);
            subs[i].channel_len = (uint8_t)strlen(s->channel);
            subs[i].query = sss_client__msg_span(s->query);
            subs[i].has_last_uid = s->has_uid;
            if (s->has_uid) {
                snprintf(subs[i].last_uid, sizeof(subs[i].last_uid), "%s", s->last_uid);
                subs[i].last_uid_len = (uint8_t)strlen(s->last_uid);
            }
            s->sent = true;
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
        sss_client__set_status(c, SSS_CLIENT_SYNCING);
    } else {
        rc = sss_proto_encode_begin(&c->out, c->session);
        sss_client__set_status(c, SSS_CLIENT_BEGINNING);
    }
    return rc ? rc : sss_client__send_out(c);
}

static int64_t backoff(const struct sss_client *c, int n)
{
    int64_t base = c->o.retry_interval_ms;
    uint32_t r = 0;

    for (int i = 0; i < n && base < c->o.max_retry_interval_ms; i++)
        base *= 2;
    if (base > c->o.max_retry_interval_ms)
        base = c->o.max_retry_interval_ms;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
        r = (uint32_t)rand();
    return base / 2 + (int64_t)((double)(base / 2) * (r / 4294967296.0)); /* equal jitter */
}

/* The connection is gone (or never came): fail requests, then wait and redial or stop. */
void sss_client__dropped(struct sss_client *c, const char *why)
{
    bool was_open = c->status == SSS_CLIENT_READY || c->status == SSS_CLIENT_SYNCING ||
                    c->status == SSS_CLIENT_BEGINNING;

    sss_client__close_socket(c);
    for (struct sss_client_sub *s = c->subs; s; s = s->next)
        s->sent = false;
    sss_client__fail_reqs(c, REQ_DROPPED);
    if (was_open && c->o.on_drop)
        c->o.on_drop(c, c->o.data);
    if (sss_client__final_status(c->status))
        return;
    if (!was_open)
        c->attempts++;
    if (c->o.no_reconnect || (c->o.retry_attempts > 0 && c->attempts > c->o.retry_attempts)) {
        sss_client__set_status(c, SSS_CLIENT_FAILED);
        sss_client__fail_reqs(c, REQ_DROPPED);
        sss_client__report(c, NULL, "Unable to connect to the server", why);
        return;
    }
    c->retry_at = c->now + backoff(c, c->attempts);
    sss_client__set_status(c, SSS_CLIENT_WAITING);
}

void sss_client__on_subscribe_reply(struct sss_client *c, const struct sss_proto_msg *m)
{
    struct sss_client_sub *s =
        (m->has & SSS_PROTO_HAS_CHANNEL) ? sss_client__find_sub(c, m->channel) : NULL;
    bool ok = m->result.ptr && m->result.len == 4 && !memcmp(m->result.ptr, "true", 4);
    char name[256] = "Subscription refused", message[1024] = "";

    if (!s)
        return;
    if (ok && !s->has_uid && (m->has & SSS_PROTO_HAS_LAST_UID)) {
        snprintf(s->last_uid, sizeof(s->last_uid), "%s", m->last_uid);
        s->has_uid = true;
    }
    if (ok) {
        sub_answer(c, s, NULL, NULL);
        return;
    }
    if (m->err.ptr) {
        (void)sss_client__get_string(m->err, "name", name, sizeof(name));
        (void)sss_client__get_string(m->err, "message", message, sizeof(message));
    }
    if (s->reply)
        sub_answer(c, s, name, message);
    else
        sss_client__report(c, s->channel, name, message);
    {
        struct sss_client_sub **p = &c->subs;

        while (*p != s)
            p = &(*p)->next;
        *p = s->next;
        sss_free(s->query);
        sss_free(s);
    }
}

/* READY: SUBSCRIBE what was asked for while the session was starting. */
static void now_ready(struct sss_client *c)
{
    c->attempts = 0;
    sss_client__set_status(c, SSS_CLIENT_READY);
    for (struct sss_client_sub *s = c->subs; s; s = s->next)
        if (!s->sent && sss_client__send_subscribe(c, s))
            sss_client__report(c, s->channel, "Super Scaled Sockets Error",
                               "could not send SUBSCRIBE");
}

void sss_client__on_sync_reply(struct sss_client *c, const struct sss_proto_msg *m)
{
    if (sss_client__span_id(m->id) != c->sync_id)
        return;
    c->sync_id = -1;
    sss_client__deliver_records(c, m->records);
    for (struct sss_client_sub *s = c->subs, *next; s; s = next) {
        next = s->next;
        if (!s->sent)
            continue; /* subscribed during the SYNC: sent below */
        if (!sss_client__get_true(m->result, s->channel)) {
            const char *why =
                "the server refused the channel or its history no longer reaches lastUid";

            if (s->reply)
                sub_answer(c, s, "Unable to sync", why);
            else
                sss_client__report(c, s->channel, "Unable to sync", why);
        } else {
            sub_answer(c, s, NULL, NULL);
        }
    }
    now_ready(c);
    if (c->o.on_reconnect)
        c->o.on_reconnect(c, c->o.data);
}

void sss_client__on_begin_reply(struct sss_client *c, const struct sss_proto_msg *m)
{
    c->hb = sss_client__get_true(m->prot, "hb");
    c->hb_timeout = sss_client__get_int(m->prot, "hbInterval", 30000) +
                    sss_client__get_int(m->prot, "hbThreshold", 2500);
    if ((m->has & SSS_PROTO_HAS_CHANNEL) && m->channel_len <= SSS_PROTO_CHANNEL_MAX &&
        !sss_client__find_sub(c, m->channel)) {
        struct sss_client_sub *s = sss_calloc(1, sizeof(*s));

        if (s) {
            memcpy(s->channel, m->channel, m->channel_len + 1);
            s->sent = true;
            if (m->has & SSS_PROTO_HAS_LAST_UID) {
                snprintf(s->last_uid, sizeof(s->last_uid), "%s", m->last_uid);
                s->has_uid = true;
            }
            s->next = c->subs;
            c->subs = s;
        }
    }
    c->ever_ready = true;
    now_ready(c);
}
