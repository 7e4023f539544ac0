/*
 * The routes of the HTTP API (the list is in sss_api.h): what each path does
 * with a complete request that passed the server's checks (method, key,
 * size). Publish and broadcast bodies are decoded as the protocol's PUBLISH
 * and TELL by sss_proto_decode_as, so the API accepts what the WebSocket
 * accepts; the boot body is read by sss_json_each. A tell body is both: its
 * socket name read by sss_json_each, its topic and msg decoded as a TELL.
 * Publish and presence wait for the scaler's answer with a ticket; the rest
 * answer at once.
 */
#include "sss_api_server.h"
#include "sss_api_metrics.h"
#include "sss_alloc.h"
#include "sss_json.h"
#include "sss_hostmsg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <llhttp.h>

static const char *decode_reason(const struct sss_proto_msg *m, int want_sys)
{
    switch (m->error) {
    case SSS_PROTO_E_JSON:
        return "bad JSON";
    case SSS_PROTO_E_NO_SYS:
    case SSS_PROTO_E_SYS:
    case SSS_PROTO_E_ID:
        return "unexpected field sys or id";
    default:
        break;
    }
    if (m->error == SSS_PROTO_OK && m->sys != want_sys)
        return "unexpected field sys";
    return sss_proto_strerror(m->error);
}

/* Why body (len bytes) cannot be a JSON object, judged by its first byte; NULL if it may be. */
static const char *body_not_object(const char *body, size_t len)
{
    if (len == 0)
        return "empty body: expected a JSON object";
    while (len && (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n'))
        body++, len--;
    return len && *body == '{' ? NULL : "body must be a JSON object";
}

/* Decode the body as a message of kind sys; NULL, or the reason to refuse it. */
static const char *decode_body(struct sss_api *api, struct sss_api_conn *c, int sys, int *status)
{
    const char *why = body_not_object(c->body.data, c->body.len);
    int rc;

    *status = 400;
    if (why)
        return why;
    rc = sss_proto_decode_as(&api->dec, c->body.data, c->body.len, sys, &api->msg);
    if (rc == -ENOMEM) {
        *status = 503;
        return "out of memory";
    }
    if (rc < 0 || api->msg.sys != sys)
        return decode_reason(&api->msg, sys);
    if (!api->msg.msg.ptr)
        return "missing msg";
    if (api->msg.msg.len > api->cfg->max_message_size) {
        *status = 413;
        return "msg larger than --max-message-size";
    }
    return NULL;
}

/* The status for a handler's failure: 503 when trying again may help. */
static int busy_status(int rc)
{
    return rc == -ENOMEM || rc == SSS_EFULL ? 503 : 500;
}

/* Answer a handler's failure (rc < 0) that the route has no words of its own for. */
static void answer_failed(struct sss_api_conn *c, int rc)
{
    if (rc == SSS_EUNAVAIL)
        sss_api__answer_error(c, 503, "the engine is unavailable (Redis is away); try again",
                              NULL);
    else
        sss_api__answer_error(c, busy_status(rc), sss_strerror(rc), NULL);
}

/* 200 with an empty object: done. */
static void answer_done(struct sss_api *api, struct sss_api_conn *c)
{
    sss_dynbuf_reset(&api->resp);
    sss_dynbuf_append(&api->resp, "{}\n", 3);
    sss_api__answer_json(c, 200, &api->resp);
}

static void publish_answer(struct sss_api_conn *c, int rc, const struct sss_uid *uid);
static void presence_answer(struct sss_api_conn *c, int rc, int64_t count,
                            const char *const *users, size_t nusers);

/*
 * Decode the body as message sys and gather its channel (a publish only),
 * topic and msg back to back into api->gather for the handlers. Returns 0,
 * or -1 after answering the error.
 */
static int decode_and_gather(struct sss_api *api, struct sss_api_conn *c, int sys)
{
    const struct sss_proto_msg *m = &api->msg;
    int status;
    const char *why = decode_body(api, c, sys, &status);

    if (why) {
        sss_api__answer_error(c, status, why, NULL);
        return -1;
    }
    sss_dynbuf_reset(&api->gather);
    if (sys == SSS_PROTO_PUBLISH)
        sss_dynbuf_append(&api->gather, m->channel, m->channel_len);
    sss_dynbuf_append(&api->gather, m->topic, m->topic_len);
    sss_dynbuf_append(&api->gather, m->msg.ptr, m->msg.len);
    if (api->gather.oom) {
        sss_api__answer_error(c, 503, "out of memory", NULL);
        return -1;
    }
    return 0;
}

static void serve_publish(struct sss_api *api, struct sss_api_conn *c)
{
    const struct sss_proto_msg *m = &api->msg;
    int rc;

    if (decode_and_gather(api, c, SSS_PROTO_PUBLISH) < 0)
        return;
    sss_api__wait(api, c);
    rc = api->h.publish(api->h.data, c->ticket, api->gather.data, m->channel_len, m->topic_len,
                        m->msg.len);
    if (rc < 0 && c->state == SSS_API_WAIT)
        publish_answer(c, rc, NULL);
}

/* The answer to a publish: its uid, or why it failed. */
static void publish_answer(struct sss_api_conn *c, int rc, const struct sss_uid *uid)
{
    struct sss_api *api = c->api;
    char ubuf[SSS_PROTO_UID_BUF];

    c->state = SSS_API_READ;
    if (rc == SSS_ELIMIT) {
        sss_api__answer_error(c, 503, "too many channels (--max-channels)", NULL);
        return;
    }
    if (rc == SSS_EUNKNOWN) {
        sss_api__answer_error(
            c, 503, "Redis went away during the publish: it may or may not have been published",
            NULL);
        return;
    }
    if (rc < 0) {
        answer_failed(c, rc);
        return;
    }
    sss_proto_uid_format(uid, ubuf, sizeof(ubuf));
    sss_dynbuf_reset(&api->resp);
    sss_dynbuf_printf(&api->resp, "{\"uid\":\"%s\"}\n", ubuf);
    sss_api__answer_json(c, 200, &api->resp);
}

static void serve_broadcast(struct sss_api *api, struct sss_api_conn *c)
{
    const struct sss_proto_msg *m = &api->msg;
    int rc;

    if (decode_and_gather(api, c, SSS_PROTO_TELL) < 0)
        return;
    rc = api->h.broadcast(api->h.data, api->gather.data, m->topic_len, m->msg.len);
    if (rc < 0) {
        sss_api__answer_error(c, busy_status(rc), sss_strerror(rc), NULL);
        return;
    }
    answer_done(api, c);
}

static void serve_numbers(struct sss_api *api, struct sss_api_conn *c, bool metrics)
{
    struct sss_api_worker_stats w[64], *wp = w;
    struct sss_api_scaler_stats st;
    unsigned n = api->shm->hdr->nprocs;

    memset(&st, 0, sizeof(st));
    if (n > 64) {
        wp = sss_calloc(n, sizeof(*wp));
        if (!wp) {
            sss_api__answer_error(c, 503, "out of memory", NULL);
            return;
        }
    }
    for (unsigned i = 0; i < n; i++)
        sss_api_worker_snapshot(sss_shm_counters(api->shm, i), &wp[i]);
    api->h.stats(api->h.data, &st);
    st.api_evicted = api->evicted;
    st.api_forbidden = api->forbidden;
    st.api_open = (uint64_t)api->nopen;
    sss_dynbuf_reset(&api->resp);
    if (metrics) {
        sss_api_format_metrics(&api->resp, wp, n, &st, api->requests);
        sss_api__answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", api->resp.data,
                        api->resp.len, NULL);
    } else {
        sss_api_format_stats(&api->resp, wp, n, &st, api->requests);
        sss_dynbuf_append(&api->resp, "\n", 1);
        sss_api__answer_json(c, 200, &api->resp);
    }
    if (wp != w)
        sss_free(wp);
}

/* ---- POST /api/boot: {"user"|"channel": name, "reason": text} ---- */

enum { BOOT_USER, BOOT_CHANNEL, BOOT_REASON, BOOT_FIELDS };

static const char *const boot_keys[BOOT_FIELDS] = {"user", "channel", "reason"};

struct boot_body {
    bool seen[BOOT_FIELDS];
    char val[BOOT_FIELDS][SSS_PROTO_CHANNEL_MAX * 2 + 2];
    size_t len[BOOT_FIELDS];
    /* What reading the members found, for parse_boot to judge in field order. */
    unsigned count[BOOT_FIELDS];
    bool wrong[BOOT_FIELDS];      /* not a string, or too long to read */
    bool bad_escape[BOOT_FIELDS]; /* a lone surrogate or NUL escape: no valid name */
};

/* sss_json_each's callback: keep each boot field (the wire decoder's string rules). */
static int boot_member(void *data, const struct sss_json_item *it)
{
    struct boot_body *b = data;

    for (int i = 0; i < BOOT_FIELDS; i++) {
        if (it->key_len != strlen(boot_keys[i]) || memcmp(it->key, boot_keys[i], it->key_len))
            continue;
        b->count[i]++;
        b->wrong[i] = it->type != SSS_JSON_STRING || it->str_len >= sizeof(b->val[i]);
        b->bad_escape[i] = !b->wrong[i] && (it->loose || memchr(it->str, '\0', it->str_len));
        b->len[i] = 0;
        b->val[i][0] = '\0';
        if (!b->wrong[i] && !b->bad_escape[i]) {
            memcpy(b->val[i], it->str, it->str_len);
            b->val[i][it->str_len] = '\0';
            b->len[i] = it->str_len;
        }
    }
    return 0;
}

/* Hand each member of a JSON object body to member(data, it), as the wire decoder reads strings. */
static const char *each_member(const char *body, size_t len, sss_json_item_fn member, void *data)
{
    const char *why = body_not_object(body, len);
    int rc;

    if (why)
        return why;
    rc = sss_json_each(body, len, SSS_JSON_OBJECT, SSS_PROTO_MAX_DEPTH, SSS_JSON_LOOSE_STRINGS,
                       member, data);
    if (rc == -ENOMEM)
        return "out of memory";
    return rc < 0 ? "bad JSON" : NULL;
}

static const char *parse_boot(const char *body, size_t len, struct boot_body *b)
{
    const char *why;

    memset(b, 0, sizeof(*b));
    why = each_member(body, len, boot_member, b);
    if (why)
        return why;
    for (int i = 0; i < BOOT_FIELDS; i++) {
        if (!b->count[i])
            continue;
        if (b->count[i] > 1 || b->wrong[i])
            return "user, channel and reason must be strings, given once";
        b->seen[i] = true;
    }
    if (b->seen[BOOT_USER] == b->seen[BOOT_CHANNEL])
        return "give either user or channel";
    if (b->seen[BOOT_CHANNEL] && (b->bad_escape[BOOT_CHANNEL] ||
                                  !sss_proto_channel_valid(b->val[BOOT_CHANNEL],
                                                           b->len[BOOT_CHANNEL])))
        return "invalid channel name";
    if (b->seen[BOOT_USER] &&
        (b->bad_escape[BOOT_USER] || !b->len[BOOT_USER] || b->len[BOOT_USER] > SSS_USER_MAX ||
         !sss_proto_channel_valid(b->val[BOOT_USER], b->len[BOOT_USER])))
        return "invalid user name";
    if (b->bad_escape[BOOT_REASON])
        return "lone surrogate or NUL escape in reason";
    if (b->len[BOOT_REASON] > SSS_REASON_MAX)
        return "reason longer than 123 bytes";
    return NULL;
}

static void serve_boot(struct sss_api *api, struct sss_api_conn *c)
{
    struct boot_body b;
    const char *why = parse_boot(c->body.data, c->body.len, &b);
    int rc, kind;

    if (why) {
        sss_api__answer_error(c, 400, why, NULL);
        return;
    }
    kind = b.seen[BOOT_USER] ? BOOT_USER : BOOT_CHANNEL;
    rc = api->h.boot(api->h.data, kind == BOOT_USER ? SSS_HM_BOOT_USER : SSS_HM_BOOT_CHANNEL,
                     b.val[kind], b.len[kind], b.val[BOOT_REASON], b.len[BOOT_REASON]);
    if (rc < 0) {
        sss_api__answer_error(c, rc == SSS_EINVAL ? 400 : 503, sss_strerror(rc), NULL);
        return;
    }
    answer_done(api, c);
}

/* ---- POST /api/tell: {"socket": name, "topic": t, "msg": any} ---- */

struct tell_socket {
    unsigned count;
    bool wrong; /* not a string, a lone surrogate or NUL escape, or too long to be a name */
    char val[SSS_SOCKET_NAME_MAX + 1];
    size_t len;
};

/* sss_json_each's callback: keep the socket member (the other fields are the decoder's). */
static int tell_member(void *data, const struct sss_json_item *it)
{
    struct tell_socket *t = data;

    if (it->key_len != 6 || memcmp(it->key, "socket", 6) != 0)
        return 0;
    t->count++;
    t->wrong = it->type != SSS_JSON_STRING || it->loose || it->str_len > SSS_SOCKET_NAME_MAX;
    t->len = t->wrong ? 0 : it->str_len;
    if (t->len)
        memcpy(t->val, it->str, t->len);
    t->val[t->len] = '\0';
    return 0;
}

/* Read the socket name of a tell body into *name (borrowing t); NULL, or why not. */
static const char *parse_tell_socket(const char *body, size_t len, struct tell_socket *t,
                                     struct sss_sockname *name)
{
    const char *why;

    memset(t, 0, sizeof(*t));
    why = each_member(body, len, tell_member, t);
    if (why)
        return why;
    if (!t->count)
        return "missing socket";
    if (t->count > 1)
        return "socket must be given once";
    if (t->wrong || sss_sockname_parse(t->val, t->len, name) < 0)
        return "socket is not a socket name (<socket id>.<run>@<host id>)";
    return NULL;
}

static void serve_tell(struct sss_api *api, struct sss_api_conn *c)
{
    const struct sss_proto_msg *m = &api->msg;
    struct tell_socket t;
    struct sss_sockname name;
    const char *why = parse_tell_socket(c->body.data, c->body.len, &t, &name);
    int rc;

    if (why) {
        sss_api__answer_error(c, strcmp(why, "out of memory") == 0 ? 503 : 400, why, NULL);
        return;
    }
    if (decode_and_gather(api, c, SSS_PROTO_TELL) < 0)
        return;
    rc = api->h.tell(api->h.data, &name, api->gather.data, m->topic_len, m->msg.len);
    if (rc == SSS_EGONE) {
        sss_api__answer_error(c, 404, "no such socket: it is gone", NULL);
        return;
    }
    if (rc == SSS_EINVAL) {
        sss_api__answer_error(c, 400, sss_strerror(rc), NULL);
        return;
    }
    if (rc < 0) {
        answer_failed(c, rc);
        return;
    }
    answer_done(api, c);
}

/* ---- GET /api/presence?channel=c ---- */

static void serve_presence(struct sss_api *api, struct sss_api_conn *c)
{
    const char *q = strchr(c->url, '?'), *v = NULL;
    size_t vlen = 0;
    int rc;

    /* The one parameter: channel=NAME (names need no percent-decoding). */
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        size_t plen = strcspn(p, "&#");

        if (plen > 8 && !memcmp(p, "channel=", 8)) {
            v = p + 8;
            vlen = plen - 8;
        }
        p += plen;
        if (*p != '&')
            break;
        p++;
    }
    if (!v || !sss_proto_channel_valid(v, vlen)) {
        sss_api__answer_error(c, 400, "give ?channel=NAME with a valid channel name", NULL);
        return;
    }
    memcpy(c->chan, v, vlen);
    c->chan[vlen] = '\0';
    sss_api__wait(api, c);
    rc = api->h.presence(api->h.data, c->ticket, c->chan, vlen, SSS_API_PRESENCE_USERS);
    if (rc < 0 && c->state == SSS_API_WAIT)
        presence_answer(c, rc, 0, NULL, 0);
}

static void presence_answer(struct sss_api_conn *c, int rc, int64_t count, const char *const *users,
                            size_t nusers)
{
    struct sss_dynbuf *b = &c->api->resp;

    c->state = SSS_API_READ;
    if (rc < 0) {
        sss_api__answer_error(c, 503,
                              rc == SSS_EUNAVAIL
                                  ? "the store is unavailable (MongoDB is away); try again"
                                  : sss_strerror(rc),
                              NULL);
        return;
    }
    sss_dynbuf_reset(b);
    sss_dynbuf_append(b, "{\"channel\":", 11);
    sss_proto_encode_string(b, c->chan);
    sss_dynbuf_append(b, ",\"users\":[", 10);
    for (size_t i = 0; i < nusers; i++) {
        if (i)
            sss_dynbuf_append(b, ",", 1);
        sss_proto_encode_string(b, users[i]);
    }
    sss_dynbuf_printf(b, "],\"users_total\":%zu,\"subscriptions\":%lld}\n", nusers,
                      (long long)count);
    sss_api__answer_json(c, 200, b);
}

static void serve_stats(struct sss_api *api, struct sss_api_conn *c)
{
    serve_numbers(api, c, false);
}

static void serve_metrics(struct sss_api *api, struct sss_api_conn *c)
{
    serve_numbers(api, c, true);
}

static void serve_healthz(struct sss_api *api, struct sss_api_conn *c)
{
    (void)api;
    sss_api__answer(c, 200, "text/plain; charset=utf-8", "ok\n", 3, NULL);
}

static const struct sss_api_route routes[] = {
    {"/api/publish", HTTP_POST, "POST", false, serve_publish},
    {"/api/broadcast", HTTP_POST, "POST", false, serve_broadcast},
    {"/api/stats", HTTP_GET, "GET", false, serve_stats},
    {"/metrics", HTTP_GET, "GET", false, serve_metrics},
    {"/healthz", HTTP_GET, "GET", true, serve_healthz},
    {"/api/boot", HTTP_POST, "POST", false, serve_boot},
    {"/api/presence", HTTP_GET, "GET", false, serve_presence},
    {"/api/tell", HTTP_POST, "POST", false, serve_tell},
};

const struct sss_api_route *sss_api__route_find(const char *path, size_t len)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strlen(routes[i].path) == len && memcmp(routes[i].path, path, len) == 0)
            return &routes[i];
    return NULL;
}

void sss_api_publish_done(struct sss_api *api, uint64_t ticket, int rc, const struct sss_uid *uid)
{
    struct sss_api_conn *c = sss_api__waiting(api, ticket);

    if (!c)
        return;
    publish_answer(c, rc, uid);
    sss_api__answered(api, c);
}

void sss_api_presence_done(struct sss_api *api, uint64_t ticket, int rc, int64_t count,
                           const char *const *users, size_t nusers)
{
    struct sss_api_conn *c = sss_api__waiting(api, ticket);

    if (!c)
        return;
    presence_answer(c, rc, count, users, nusers);
    sss_api__answered(api, c);
}
