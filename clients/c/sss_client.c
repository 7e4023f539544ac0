/*
 * The public calls of the C client (include/sss/sss_client.h): create and
 * destroy, connect and close, status, subscribe and unsubscribe, ask,
 * publish and tell. The session and the transport behind them are in
 * sss_client_session.c and sss_client_transport.c (see sss_client_int.h).
 */
#include "sss_client_int.h"
#include "sss_alloc.h"
#include "sss_url.h"

#include <arpa/inet.h>
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

/* ws[s]://host[:port][/path]: no user info, the port 80 (wss: 443) when not given. */
static int parse_url(struct sss_client *c, const char *url)
{
    struct sss_url u;
    char port[12];
    struct in_addr a4;

    if (sss_url_parse(url, &u) < 0 || u.user.ptr || !u.host.len ||
        !(sss_url_part_is(u.scheme, "ws") || sss_url_part_is(u.scheme, "wss")))
        return SSS_CLIENT_EURL;
    if (sss_url_part_is(u.scheme, "wss")) {
        c->tls = sss_calloc(1, sizeof(*c->tls));
        if (!c->tls)
            return -ENOMEM;
    }
    snprintf(port, sizeof(port), "%d", u.port >= 0 ? u.port : c->tls ? 443 : 80);
    c->host = sss_strndup(u.host.ptr, u.host.len);
    if (c->host)
        c->host_ip = u.ipv6 || inet_pton(AF_INET, c->host, &a4) == 1;
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

/* Copy the NULL-terminated "Name: value" list; SSS_CLIENT_EHEADER for a bad line. */
static int copy_headers(struct sss_client *c, const char *const *h)
{
    size_t n = 0;

    while (h && h[n])
        n++;
    if (!n)
        return 0;
    c->headers = sss_calloc(n + 1, sizeof(*c->headers));
    if (!c->headers)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (sss_client__header_line_ok(h[i]))
            return SSS_CLIENT_EHEADER;
        c->headers[i] = sss_strndup(h[i], strlen(h[i]));
        if (!c->headers[i])
            return -ENOMEM;
    }
    return 0;
}

static void default_opts(struct sss_client_opts *o)
{
    if (o->retry_interval_ms <= 0)
        o->retry_interval_ms = 1000;
    if (o->max_retry_interval_ms <= 0)
        o->max_retry_interval_ms = 30000;
    if (o->max_retry_interval_ms < o->retry_interval_ms)
        o->max_retry_interval_ms = o->retry_interval_ms;
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = 10000;
    if (o->begin_timeout_ms <= 0)
        o->begin_timeout_ms = 10000;
    if (o->sync_timeout_ms <= 0)
        o->sync_timeout_ms = 10000;
    if (!o->max_message_size)
        o->max_message_size = 16u << 20;
    if (o->max_handshake_size <= 0)
        o->max_handshake_size = 8192;
}

struct sss_client *sss_client_create(const struct sss_client_opts *o)
{
    struct sss_client *c;

    if (!o || !o->url || o->retry_attempts < 0 ||
        (o->max_handshake_size > 0 && o->max_handshake_size < 512))
        return NULL;
    c = sss_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->o = *o;
    c->fd = -1;
    c->next_id = 1;
    c->sync_id = -1;
    default_opts(&c->o);
    sss_proto_out_init(&c->out, NULL, 0);
    sss_proto_out_init(&c->hs_out, NULL, 0);
    c->hs_in = sss_malloc((size_t)c->o.max_handshake_size);
    c->url = sss_strndup(o->url, strlen(o->url));
    c->session = o->session ? sss_strndup(o->session, strlen(o->session)) : NULL;
    if (o->tls_ca_file && o->tls_ca_file[0])
        c->ca_file = sss_strndup(o->tls_ca_file, strlen(o->tls_ca_file));
    if (o->tls_ca_path && o->tls_ca_path[0])
        c->ca_path = sss_strndup(o->tls_ca_path, strlen(o->tls_ca_path));
    if (!c->hs_in || !c->url || (o->session && !c->session) ||
        (o->tls_ca_file && o->tls_ca_file[0] && !c->ca_file) ||
        (o->tls_ca_path && o->tls_ca_path[0] && !c->ca_path) ||
        sss_proto_decoder_init(&c->dec, 1) || parse_url(c, c->url) ||
        copy_headers(c, o->headers)) {
        sss_client_destroy(c);
        return NULL;
    }
    c->dec.from_server = true;
    c->o.url = c->url;
    c->o.session = c->session;
    c->o.tls_ca_file = c->ca_file;
    c->o.tls_ca_path = c->ca_path;
    c->o.headers = (const char *const *)c->headers;
    return c;
}

void sss_client_destroy(struct sss_client *c)
{
    if (!c)
        return;
    if (c->status != SSS_CLIENT_IDLE || c->subs || c->reqs) {
        if (!sss_client__final_status(c->status))
            sss_client_close(c); /* every pending callback is answered */
        else
            sss_client__fail_sub_replies(c, REQ_CLOSED, "sss_client_destroy");
    }
    c->in_recv = false;
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
    for (char **p = c->headers; p && *p; p++)
        sss_free(*p);
    sss_free(c->headers);
    sss_proto_decoder_fini(&c->dec);
    sss_proto_out_fini(&c->out);
    sss_proto_out_fini(&c->hs_out);
    sss_free(c->hs_in);
    sss_free(c->url);
    sss_free(c->session);
    sss_free(c->host);
    sss_free(c->port);
    sss_free(c->path);
    sss_free(c->ca_file);
    sss_free(c->ca_path);
    sss_free(c->tls);
    sss_tls_ctx_unref(c->tls_ctx);
    sss_free(c);
}

int sss_client_connect(struct sss_client *c)
{
    if (c->status != SSS_CLIENT_IDLE && !sss_client__final_status(c->status))
        return 0;
    c->attempts = 0;
    c->auth_retried = false;
    c->err_code = NULL;
    c->err_detail[0] = '\0';
    c->now = sss_client_now_ms();
    c->dial_at = c->now; /* the next sss_client_process dials */
    sss_client__set_status(c, SSS_CLIENT_CONNECTING);
    return 0;
}

void sss_client_close(struct sss_client *c)
{
    if (c->ws && !c->close_now) {
        (void)wslay_event_queue_close(c->ws, 4000, NULL, 0);
        if (c->in_recv)
            c->close_now = true; /* the socket goes when wslay returns */
        else
            sss_client__flush_close(c);
    } else if (!c->in_recv) {
        sss_client__close_socket(c);
    }
    c->dial_at = 0;
    c->deadline = 0;
    if (c->status == SSS_CLIENT_CLOSED)
        return;
    sss_client__set_status(c, SSS_CLIENT_CLOSED);
    sss_client__fail_reqs(c, REQ_CLOSED);
    sss_client__fail_sub_replies(c, REQ_CLOSED, "sss_client_close");
}

const char *sss_client_error_code(const struct sss_client *c)
{
    return c->err_code;
}

const char *sss_client_error_detail(const struct sss_client *c)
{
    return c->err_code ? c->err_detail : NULL;
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
    case SSS_CLIENT_EURL: return "bad url: ws://host[:port][/path] or wss://... expected";
    case SSS_CLIENT_ECHANNEL: return "Channel name not allowed";
    case SSS_CLIENT_ETOPIC: return "topic empty or too long";
    case SSS_CLIENT_EHEADER: return "header not \"Name: value\", with CR/LF, or too long";
    case SSS_CLIENT_EJSON: return "msg or query is not JSON (no MessagePack form)";
    default: return code < 0 ? strerror(-code) : "success";
    }
}

int sss_client_subscribe(struct sss_client *c, const char *channel, const char *query,
                         sss_client_feed_cb on_feed, sss_client_reply_cb reply, void *data)
{
    struct sss_client_sub *s;
    char *q = NULL;
    int rc = 0;

    if (!channel || !sss_proto_channel_valid(channel, strlen(channel)) ||
        sss_proto_channel_reserved(channel, strlen(channel)))
        return SSS_CLIENT_ECHANNEL;
    if (sss_client__final_status(c->status))
        return SSS_CLIENT_ENOTREADY;
    if (query && !(q = sss_strndup(query, strlen(query))))
        return -ENOMEM;
    s = sss_client__find_sub(c, channel);
    if (!s) {
        s = sss_calloc(1, sizeof(*s));
        if (!s) {
            sss_free(q);
            return -ENOMEM;
        }
        snprintf(s->channel, sizeof(s->channel), "%s", channel);
        s->next = c->subs;
        c->subs = s;
    }
    c->busy++;
    /* A reply still pending is the replaced subscribe's: answered now, once. */
    sss_client__sub_answer(c, s, "Subscription replaced", "subscribed again to the channel");
    if (!s->dead) {
        sss_free(s->query);
        s->query = q;
        s->on_feed = on_feed;
        s->data = data;
        s->reply = reply;
        s->reply_data = data;
        /* Not READY: sent with the next connect (SYNC when known, else SUBSCRIBE). */
        if (sss_client__ready(c))
            rc = sss_client__send_subscribe(c, s);
    } else {
        sss_free(q); /* the replaced reply's callback unsubscribed it */
    }
    c->busy--;
    sss_client__gc(c);
    return rc;
}

int sss_client_unsubscribe(struct sss_client *c, const char *channel)
{
    struct sss_client_sub *s = channel ? sss_client__find_sub(c, channel) : NULL;
    int rc = 0;

    if (!s)
        return SSS_CLIENT_ECHANNEL;
    if (sss_client__ready(c)) {
        sss_proto_out_reset(&c->out);
        rc = sss_proto_encode_unsubscribe(&c->out, channel, (struct sss_proto_span){NULL, 0});
        if (!rc)
            rc = sss_client__send_out(c);
    }
    c->busy++;
    sss_client__sub_remove(c, s);
    sss_client__sub_answer(c, s, "Unsubscribed", "sss_client_unsubscribe");
    c->busy--;
    sss_client__gc(c);
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
    if (!sss_client__ready(c))
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
    if (!sss_client__ready(c))
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
