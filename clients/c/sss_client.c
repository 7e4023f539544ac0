/*
 * The public calls of the C client (include/sss/sss_client.h): create and
 * destroy, connect and close, status, subscribe and unsubscribe, ask,
 * publish and tell. The session and the transport behind them are in
 * sss_client_session.c and sss_client_transport.c (see sss_client_int.h).
 */
#include "sss_client_int.h"
#include "sss_alloc.h"
#include "sss_url.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t sss_client_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ws://host[:port][/path]: no user info, the port 80 when not given. */
static int parse_url(struct sss_client *c, const char *url)
{
    struct sss_url u;
    char port[12] = "80";

    if (sss_url_parse(url, &u) < 0 || !sss_url_part_is(u.scheme, "ws") || u.user.ptr ||
        !u.host.len)
        return SSS_CLIENT_EURL;
    if (u.port >= 0)
        snprintf(port, sizeof(port), "%d", u.port);
    c->host = sss_strndup(u.host.ptr, u.host.len);
    c->port = sss_strndup(port, strlen(port));
    if (u.path.ptr && u.path.ptr[0] == '/') {
        c->path = sss_strndup(u.path.ptr, u.path.len);
    } else {
        size_t n = u.path.ptr ? u.path.len : 0;

        c->path = sss_malloc(n + 2);
        if (c->path) {
            c->path[0] = '/';
            memcpy(c->path + 1, u.path.ptr ? u.path.ptr : "", n);
            c->path[n + 1] = '\0';
        }
    }
    if (!c->host || !c->port || !c->path)
        return SSS_CLIENT_EURL;
    return 0;
}

struct sss_client *sss_client_create(const struct sss_client_opts *o)
{
    struct sss_client *c;

    if (!o || !o->url)
        return NULL;
    c = sss_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->o = *o;
    c->fd = -1;
    c->next_id = 1;
    c->sync_id = -1;
    if (c->o.retry_interval_ms <= 0)
        c->o.retry_interval_ms = 1000;
    if (c->o.max_retry_interval_ms <= 0)
        c->o.max_retry_interval_ms = 30000;
    if (c->o.max_retry_interval_ms < c->o.retry_interval_ms)
        c->o.max_retry_interval_ms = c->o.retry_interval_ms;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = 10000;
    sss_proto_out_init(&c->out, NULL, 0);
    c->hs_in = sss_malloc(HANDSHAKE_MAX);
    c->url = sss_strndup(o->url, strlen(o->url));
    c->session = o->session ? sss_strndup(o->session, strlen(o->session)) : NULL;
    if (!c->hs_in || !c->url || (o->session && !c->session) ||
        sss_proto_decoder_init(&c->dec, 1) || parse_url(c, c->url)) {
        sss_client_destroy(c);
        return NULL;
    }
    c->dec.from_server = true;
    c->o.url = c->url;
    c->o.session = c->session;
    return c;
}

void sss_client_destroy(struct sss_client *c)
{
    if (!c)
        return;
    sss_client__close_socket(c);
    while (c->reqs) {
        struct sss_client_req *r = c->reqs;

        c->reqs = r->next;
        sss_free(r);
    }
    while (c->subs) {
        struct sss_client_sub *s = c->subs;

        c->subs = s->next;
        sss_free(s->query);
        sss_free(s);
    }
    sss_proto_decoder_fini(&c->dec);
    sss_proto_out_fini(&c->out);
    sss_free(c->hs_in);
    sss_free(c->url);
    sss_free(c->session);
    sss_free(c->host);
    sss_free(c->port);
    sss_free(c->path);
    sss_free(c);
}

int sss_client_connect(struct sss_client *c)
{
    if (c->status != SSS_CLIENT_IDLE && c->status != SSS_CLIENT_FAILED)
        return 0;
    c->attempts = 0;
    c->now = sss_client_now_ms();
    return sss_client__dial(c);
}

void sss_client_close(struct sss_client *c)
{
    if (c->ws) {
        (void)wslay_event_queue_close(c->ws, 4000, NULL, 0);
        if (c->in_recv)
            c->close_now = true; /* the socket goes when wslay returns */
        else
            (void)wslay_event_send(c->ws); /* best effort */
    }
    if (!c->in_recv)
        sss_client__close_socket(c);
    c->retry_at = 0;
    sss_client__set_status(c, SSS_CLIENT_CLOSED);
    sss_client__fail_reqs(c, "Connection closed");
}

enum sss_client_status sss_client_status(const struct sss_client *c)
{
    return c->status;
}

const char *sss_client_status_name(enum sss_client_status s)
{
    static const char *const names[] = {"IDLE",    "CONNECTING", "BEGINNING", "SYNCING", "READY",
                                        "WAITING", "BOOTED",     "CLOSED",    "FAILED"};

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *sss_client_strerror(int code)
{
    switch (code) {
    case SSS_CLIENT_ENOTREADY: return "Connection not ready";
    case SSS_CLIENT_EURL: return "bad url: ws://host[:port][/path] expected";
    case SSS_CLIENT_ECHANNEL: return "Channel name not allowed";
    case SSS_CLIENT_ETOPIC: return "topic empty or too long";
    default: return code < 0 ? strerror(-code) : "success";
    }
}

int sss_client_subscribe(struct sss_client *c, const char *channel, const char *query,
                         sss_client_feed_cb on_feed, sss_client_reply_cb reply, void *data)
{
    struct sss_client_sub *s;

    if (!channel || !sss_proto_channel_valid(channel, strlen(channel)) ||
        sss_proto_channel_reserved(channel, strlen(channel)))
        return SSS_CLIENT_ECHANNEL;
    if (sss_client__final_status(c->status))
        return SSS_CLIENT_ENOTREADY;
    s = sss_client__find_sub(c, channel);
    if (!s) {
        s = sss_calloc(1, sizeof(*s));
        if (!s)
            return -ENOMEM;
        snprintf(s->channel, sizeof(s->channel), "%s", channel);
        s->next = c->subs;
        c->subs = s;
    }
    sss_free(s->query);
    s->query = query ? sss_strndup(query, strlen(query)) : NULL;
    s->on_feed = on_feed;
    s->data = data;
    if (query && !s->query)
        return -ENOMEM;
    s->reply = reply;
    s->reply_data = data;
    /* Not READY: the SUBSCRIBE (or SYNC) of the next connect carries it. */
    return c->status == SSS_CLIENT_READY ? sss_client__send_subscribe(c, s) : 0;
}

int sss_client_unsubscribe(struct sss_client *c, const char *channel)
{
    struct sss_client_sub **p = &c->subs;
    int rc = 0;

    while (*p && strcmp((*p)->channel, channel))
        p = &(*p)->next;
    if (!*p)
        return SSS_CLIENT_ECHANNEL;
    if (c->status == SSS_CLIENT_READY) {
        sss_proto_out_reset(&c->out);
        rc = sss_proto_encode_unsubscribe(&c->out, channel, (struct sss_proto_span){NULL, 0});
        if (!rc)
            rc = sss_client__send_out(c);
    }
    {
        struct sss_client_sub *s = *p;

        *p = s->next;
        sss_free(s->query);
        sss_free(s);
    }
    return rc;
}

static int topic_ok(const char *topic)
{
    return topic && topic[0] && strlen(topic) <= SSS_PROTO_TOPIC_MAX;
}

static int request(struct sss_client *c, enum sss_client_req_kind kind, const char *channel,
                   const char *topic, const char *msg, sss_client_reply_cb cb, void *data)
{
    struct sss_client_req *r;
    char idb[24];
    int rc;

    if (!topic_ok(topic))
        return SSS_CLIENT_ETOPIC;
    if (channel && (!sss_proto_channel_valid(channel, strlen(channel)) ||
                    sss_proto_channel_reserved(channel, strlen(channel))))
        return SSS_CLIENT_ECHANNEL;
    if (c->status != SSS_CLIENT_READY)
        return SSS_CLIENT_ENOTREADY;
    r = sss_client__new_req(c, kind, cb, data, kind == REQ_ASK ? "ask" : "publish", topic);
    if (!r)
        return -ENOMEM;
    sss_proto_out_reset(&c->out);
    if (kind == REQ_ASK)
        rc = sss_proto_encode_ask(&c->out, topic, sss_client__msg_span(msg),
                                  sss_client__id_span(r->id, idb, sizeof(idb)));
    else
        rc = sss_proto_encode_publish(&c->out, channel, topic, sss_client__msg_span(msg),
                                      sss_client__id_span(r->id, idb, sizeof(idb)));
    if (!rc)
        rc = sss_client__send_out(c);
    if (rc) {
        sss_free(r);
        return rc;
    }
    r->next = c->reqs;
    c->reqs = r;
    return 0;
}

int sss_client_ask(struct sss_client *c, const char *topic, const char *msg,
                   sss_client_reply_cb cb, void *data)
{
    return request(c, REQ_ASK, NULL, topic, msg, cb, data);
}

int sss_client_publish(struct sss_client *c, const char *channel, const char *topic,
                       const char *msg, sss_client_reply_cb cb, void *data)
{
    return request(c, REQ_PUBLISH, channel ? channel : "", topic, msg, cb, data);
}

int sss_client_tell(struct sss_client *c, const char *topic, const char *msg)
{
    int rc;

    if (!topic_ok(topic))
        return SSS_CLIENT_ETOPIC;
    if (c->status != SSS_CLIENT_READY)
        return SSS_CLIENT_ENOTREADY;
    sss_proto_out_reset(&c->out);
    rc = sss_proto_encode_tell(&c->out, topic, sss_client__msg_span(msg));
    return rc ? rc : sss_client__send_out(c);
}

const char *sss_client_last_uid(const struct sss_client *c, const char *channel)
{
    const struct sss_client_sub *s = sss_client__find_sub(c, channel);

    return s && s->has_uid ? s->last_uid : NULL;
}
