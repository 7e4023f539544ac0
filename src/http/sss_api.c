/*
 * The HTTP API server (see sss_api.h): one listener and up to
 * SSS_API_MAX_CONNS connections, driven by the scaler's poll() loop.
 *
 * A connection is in one of three states:
 *   READ    llhttp parses what arrives; the route, the key and the body size
 *           are judged as soon as the head is complete, so a request that
 *           will be refused is answered without reading its body;
 *   WRITE   the answer waits for room in the socket;
 *   LINGER  after an answer that closes the connection: our side is shut
 *           down and what the client still sends is read and dropped until
 *           it closes too (or a short deadline passes), so that an unread
 *           body never makes the kernel reset the connection before the
 *           client has read our answer (nginx's lingering close).
 * llhttp pauses in on_message_complete; the bytes read after the request
 * (pipelining) are kept and parsed once the answer is out.
 *
 * Every connection carries one deadline (--handshake-timeout): to send a
 * whole request, to take an answer, or to send the next request on a kept-
 * alive connection. sss_api_tick closes those past it, so a client that
 * trickles bytes (slowloris) holds one slot for a bounded time.
 */
#include "sss_api.h"
#include "sss_http.h"
#include "sss_alloc.h"
#include "sss_log.h"
#include "sss_time.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>
#include <openssl/crypto.h>

#define URL_MAX 1024
#define AUTH_MAX 1024
#define HNAME_MAX 32
#define READ_CHUNK 16384
#define LINGER_MS 2000

/* C_WAIT: a publish or presence request waits for the scaler's answer
 * (sss_api_publish_done / sss_api_presence_done); nothing more is read. */
enum conn_state { C_READ, C_WRITE, C_LINGER, C_WAIT };

enum route_id { R_PUBLISH, R_BROADCAST, R_STATS, R_METRICS, R_HEALTHZ, R_BOOT, R_PRESENCE };

static const struct route {
    const char *path;
    int method; /* llhttp_method_t */
    const char *allow;
    enum route_id id;
    bool open; /* served without the key */
} routes[] = {
    {"/api/publish", HTTP_POST, "POST", R_PUBLISH, false},
    {"/api/broadcast", HTTP_POST, "POST", R_BROADCAST, false},
    {"/api/stats", HTTP_GET, "GET", R_STATS, false},
    {"/metrics", HTTP_GET, "GET", R_METRICS, false},
    {"/healthz", HTTP_GET, "GET", R_HEALTHZ, true},
    {"/api/boot", HTTP_POST, "POST", R_BOOT, false},
    {"/api/presence", HTTP_GET, "GET", R_PRESENCE, false},
};

enum hdr { H_OTHER, H_AUTH, H_EXPECT };

struct api_conn {
    struct sss_api *api; /* borrowed */
    int fd;
    enum conn_state state;
    int64_t deadline; /* monotonic ms */
    llhttp_t parser;
    /* The request being read; reset in on_message_begin. */
    char url[URL_MAX + 1];
    size_t url_len;
    size_t head_bytes; /* request line and headers so far */
    char hname[HNAME_MAX];
    size_t hname_len;
    enum hdr cur;
    char auth[AUTH_MAX];
    size_t auth_len;
    int auth_count;
    bool auth_long;
    char expect[32];
    size_t expect_len;
    const struct route *route;
    struct sss_dynbuf body;
    bool complete;
    bool keep_alive;
    int early_status; /* an answer decided while parsing (0: none) */
    const char *early_reason;
    const char *early_allow;
    /* The answer. */
    struct sss_dynbuf out;
    size_t out_off;
    bool close_after;
    char *pending; /* bytes read after a complete request (owned) */
    size_t pending_len;
    uint64_t ticket; /* of the request in C_WAIT: slot << 40 | serial */
    char chan[SSS_PROTO_CHANNEL_MAX + 1]; /* of the presence request in C_WAIT */
};

struct sss_api {
    const struct sss_cfg *cfg;   /* borrowed */
    struct sss_shm *shm;         /* borrowed */
    struct sss_api_handlers h;
    int listen_fd;
    int nconns;
    struct api_conn *conns[SSS_API_MAX_CONNS]; /* owned; NULL = free slot */
    int polled[SSS_API_MAX_POLLFDS];           /* slot of each pollfd entry; -1: listener */
    int npolled;
    size_t max_body;
    int64_t timeout_ms;
    uint64_t requests;
    llhttp_settings_t settings;
    struct sss_proto_decoder dec;
    struct sss_proto_msg msg;
    struct sss_dynbuf gather;  /* channel + topic + msg for the handlers */
    struct sss_dynbuf resp;    /* the body of an answer */
    int accept_warned;
    int64_t accept_paused_until; /* out of file descriptors: stop polling the listener a while */
    uint64_t serial;             /* of the last ticket handed out */
    struct api_conn *serving;    /* the connection whose request serve() is answering */
};

/* ---- pure helpers ---- */

bool sss_api_auth_ok(const char *value, size_t len, const char *key)
{
    size_t klen = strlen(key), i = 0;
    const char *cmp;

    if (len < 6 || strncasecmp(value, "Bearer", 6) != 0 || len == 6 || value[6] != ' ')
        return false;
    for (i = 6; i < len && value[i] == ' ';)
        i++;
    value += i;
    len -= i;
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    /* Every byte of the key is looked at whatever the value holds: a value
     * of another length is replaced by the key itself, then refused. */
    cmp = len == klen ? value : key;
    return CRYPTO_memcmp(cmp, key, klen) == 0 && len == klen && klen > 0;
}

int sss_api_parse_addr(const char *spec, char *host, size_t host_cap, int *port)
{
    const char *colon = strrchr(spec, ':'), *h = spec;
    size_t hlen;
    char *end;
    long p;

    if (!colon || !colon[1])
        return SSS_EINVAL;
    hlen = (size_t)(colon - spec);
    if (spec[0] == '[') {
        if (hlen < 2 || colon[-1] != ']')
            return SSS_EINVAL;
        h = spec + 1;
        hlen -= 2;
    } else if (memchr(spec, ':', hlen)) {
        return SSS_EINVAL; /* a bare IPv6 address needs brackets */
    }
    if (hlen >= host_cap)
        return SSS_EINVAL;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || *end || p < 0 || p > 65535 || !isdigit((unsigned char)colon[1]))
        return SSS_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

void sss_api_worker_snapshot(const struct sss_counters *c, struct sss_api_worker_stats *out)
{
    /* The counters are only ever read here: the casts drop const for C11's
     * atomic_load, whose argument is not const-qualified in older libcs. */
    struct sss_counters *cc = (struct sss_counters *)c;

#define LOAD(f) (int64_t) atomic_load_explicit(&cc->f, memory_order_relaxed)
    out->pid = (int64_t)atomic_load_explicit(&cc->pid, memory_order_relaxed);
    out->conns_open = LOAD(conns_open);
    out->ws_open = LOAD(ws_open);
    out->conns_accepted = LOAD(conns_accepted);
    out->upgrades = LOAD(upgrades);
    out->http_rejects = LOAD(http_rejects);
    out->frames_in = LOAD(frames_in);
    out->frames_out = LOAD(frames_out);
    out->bytes_in = LOAD(bytes_in);
    out->bytes_out = LOAD(bytes_out);
    out->closes_slow = LOAD(closes_slow);
    out->closes_idle = LOAD(closes_idle);
    out->closes_proto = LOAD(closes_proto);
    out->sendq_high = LOAD(sendq_high);
    out->laps = LOAD(laps);
#undef LOAD
}

/* The worker numbers: JSON key, metric name, type, help, field. */
static const struct wmetric {
    const char *key;
    const char *name;
    bool counter;
    const char *help;
    size_t off;
} wmetrics[] = {
#define W(key, name, counter, help, field)                                                         \
    {key, name, counter, help, offsetof(struct sss_api_worker_stats, field)}
    W("connections", "sss_connections", false, "Sockets a worker holds, in any state.",
      conns_open),
    W("websockets", "sss_websockets", false, "Upgraded WebSocket connections.", ws_open),
    W("accepted", "sss_connections_accepted_total", true, "Connections accepted.",
      conns_accepted),
    W("upgrades", "sss_upgrades_total", true, "WebSocket upgrades answered 101.", upgrades),
    W("http_rejects", "sss_http_rejects_total", true, "Upgrade requests answered 4xx or 5xx.",
      http_rejects),
    W("frames_in", "sss_messages_in_total", true, "Data messages received from clients.",
      frames_in),
    W("frames_out", "sss_messages_out_total", true, "Data messages queued to clients.",
      frames_out),
    W("bytes_in", "sss_bytes_in_total", true, "Bytes received from clients.", bytes_in),
    W("bytes_out", "sss_bytes_out_total", true, "Bytes sent to clients.", bytes_out),
    W("closes_slow", "sss_closes_slow_total", true, "Connections closed as slow readers (4008).",
      closes_slow),
    W("closes_idle", "sss_closes_idle_total", true, "Connections closed for silence.",
      closes_idle),
    W("closes_proto", "sss_closes_protocol_total", true,
      "Connections closed for a WebSocket protocol error (1002, 1007, 1009).", closes_proto),
    W("send_queue_high", "sss_send_queue_high_bytes", false,
      "Largest send queue of one connection seen, bytes.", sendq_high),
    W("laps", "sss_bus_laps_total", true, "Times the worker was lapped by the bus.", laps),
#undef W
};

#define NWMETRICS (sizeof(wmetrics) / sizeof(wmetrics[0]))

static int64_t wvalue(const struct sss_api_worker_stats *w, size_t i)
{
    int64_t v;

    memcpy(&v, (const char *)w + wmetrics[i].off, sizeof(v));
    return v;
}

void sss_api_format_metrics(struct sss_dynbuf *out, const struct sss_api_worker_stats *w,
                            unsigned n, const struct sss_api_scaler_stats *s,
                            uint64_t api_requests)
{
    const struct {
        const char *name, *help;
        uint64_t v;
    } sm[] = {
        {"sss_publishes_total", "Messages the scaler sequenced and put on the bus.", s->publishes},
        {"sss_publish_errors_total", "Publishes refused by the engine or the bus.",
         s->publish_errors},
        {"sss_broadcasts_total", "Broadcasts the scaler put on the bus.", s->broadcasts},
        {"sss_api_requests_total", "HTTP API requests answered.", api_requests},
    };

    for (size_t i = 0; i < NWMETRICS; i++) {
        sss_dynbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", wmetrics[i].name, wmetrics[i].help,
                          wmetrics[i].name, wmetrics[i].counter ? "counter" : "gauge");
        for (unsigned k = 0; k < n; k++)
            sss_dynbuf_printf(out, "%s{worker=\"%u\"} %lld\n", wmetrics[i].name, k,
                              (long long)wvalue(&w[k], i));
    }
    sss_dynbuf_printf(out, "# HELP sss_workers Worker processes of this host.\n"
                            "# TYPE sss_workers gauge\nsss_workers %u\n",
                      n);
    for (size_t i = 0; i < sizeof(sm) / sizeof(sm[0]); i++)
        sss_dynbuf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", sm[i].name,
                          sm[i].help, sm[i].name, sm[i].name, (unsigned long long)sm[i].v);
    sss_dynbuf_printf(out,
                      "# HELP sss_engine_up Whether the engine's service answers (1 for memory).\n"
                      "# TYPE sss_engine_up gauge\nsss_engine_up{engine=\"%s\"} %d\n"
                      "# HELP sss_store_up Whether the store's database answers (1 for memory).\n"
                      "# TYPE sss_store_up gauge\nsss_store_up{store=\"%s\"} %d\n"
                      "# HELP sss_store_queued Store writes waiting to reach the database.\n"
                      "# TYPE sss_store_queued gauge\nsss_store_queued %llu\n"
                      "# HELP sss_store_written_total Store writes the database acknowledged.\n"
                      "# TYPE sss_store_written_total counter\nsss_store_written_total %llu\n"
                      "# HELP sss_store_dropped_total Store writes lost to a full --store-queue.\n"
                      "# TYPE sss_store_dropped_total counter\nsss_store_dropped_total %llu\n"
                      "# HELP sss_store_errors_total Failed database calls of the store.\n"
                      "# TYPE sss_store_errors_total counter\nsss_store_errors_total %llu\n",
                      s->engine ? s->engine : "memory", s->engine_up,
                      s->store ? s->store : "memory", s->store_up,
                      (unsigned long long)s->store_queued, (unsigned long long)s->store_written,
                      (unsigned long long)s->store_dropped, (unsigned long long)s->store_errors);
}

void sss_api_format_stats(struct sss_dynbuf *out, const struct sss_api_worker_stats *w,
                          unsigned n, const struct sss_api_scaler_stats *s,
                          uint64_t api_requests)
{
    int64_t total[NWMETRICS] = {0};

    sss_dynbuf_append(out, "{\"workers\":[", 12);
    for (unsigned k = 0; k < n; k++) {
        sss_dynbuf_printf(out, "%s{\"worker\":%u,\"pid\":%lld", k ? "," : "", k,
                          (long long)w[k].pid);
        for (size_t i = 0; i < NWMETRICS; i++) {
            int64_t v = wvalue(&w[k], i);

            sss_dynbuf_printf(out, ",\"%s\":%lld", wmetrics[i].key, (long long)v);
            if (wmetrics[i].off == offsetof(struct sss_api_worker_stats, sendq_high))
                total[i] = v > total[i] ? v : total[i];
            else
                total[i] += v;
        }
        sss_dynbuf_append(out, "}", 1);
    }
    sss_dynbuf_append(out, "],\"total\":{", 11);
    for (size_t i = 0; i < NWMETRICS; i++)
        sss_dynbuf_printf(out, "%s\"%s\":%lld", i ? "," : "", wmetrics[i].key,
                          (long long)total[i]);
    sss_dynbuf_printf(out,
                      "},\"scaler\":{\"publishes\":%llu,\"publish_errors\":%llu,"
                      "\"broadcasts\":%llu,\"api_requests\":%llu,\"engine\":\"%s\","
                      "\"engine_up\":%s,\"store\":\"%s\",\"store_up\":%s,\"store_queued\":%llu,"
                      "\"store_written\":%llu,\"store_dropped\":%llu,\"store_errors\":%llu}}",
                      (unsigned long long)s->publishes, (unsigned long long)s->publish_errors,
                      (unsigned long long)s->broadcasts, (unsigned long long)api_requests,
                      s->engine ? s->engine : "memory", s->engine_up ? "true" : "false",
                      s->store ? s->store : "memory", s->store_up ? "true" : "false",
                      (unsigned long long)s->store_queued, (unsigned long long)s->store_written,
                      (unsigned long long)s->store_dropped, (unsigned long long)s->store_errors);
}

/* ---- connections ---- */

static const char *status_text(int status)
{
    const char *t = sss_http_status_text(status);

    return t ? t : "Error";
}

static void conn_close(struct sss_api *api, struct api_conn *c)
{
    for (int i = 0; i < SSS_API_MAX_CONNS; i++)
        if (api->conns[i] == c) {
            api->conns[i] = NULL;
            break;
        }
    api->nconns--;
    close(c->fd);
    sss_dynbuf_fini(&c->body);
    sss_dynbuf_fini(&c->out);
    sss_free(c->pending);
    sss_free(c);
}

/* Forget the request just answered (keep-alive) or about to be read. */
static void request_reset(struct api_conn *c)
{
    c->url_len = 0;
    c->url[0] = '\0';
    c->head_bytes = 0;
    c->hname_len = 0;
    c->cur = H_OTHER;
    c->auth_len = 0;
    c->auth_count = 0;
    c->auth_long = false;
    c->expect_len = 0;
    c->route = NULL;
    sss_dynbuf_reset(&c->body);
    c->complete = false;
    c->keep_alive = false;
    c->early_status = 0;
    c->early_reason = NULL;
    c->early_allow = NULL;
}

static int early(struct api_conn *c, int status, const char *reason)
{
    if (!c->early_status) {
        c->early_status = status;
        c->early_reason = reason;
    }
    return -1;
}

static int head_grow(struct api_conn *c, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes > c->api->cfg->max_handshake_size)
        return early(c, 431, "request head too large");
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    request_reset(p->data);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct api_conn *c = p->data;

    if (head_grow(c, len) < 0)
        return -1;
    if (c->url_len + len > URL_MAX)
        return early(c, 414, "request target too long");
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    c->url[c->url_len] = '\0';
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct api_conn *c = p->data;

    if (head_grow(c, len) < 0)
        return -1;
    for (size_t i = 0; i < len && c->hname_len < HNAME_MAX; i++)
        c->hname[c->hname_len++] = (char)tolower((unsigned char)at[i]);
    if (len && c->hname_len == HNAME_MAX)
        c->hname[HNAME_MAX - 1] = '\0'; /* too long for any name we look for */
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct api_conn *c = p->data;

    c->cur = H_OTHER;
    if (c->hname_len == 13 && memcmp(c->hname, "authorization", 13) == 0) {
        c->cur = H_AUTH;
        c->auth_count++;
        c->auth_len = 0;
    } else if (c->hname_len == 6 && memcmp(c->hname, "expect", 6) == 0) {
        c->cur = H_EXPECT;
        c->expect_len = 0;
    }
    c->hname_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct api_conn *c = p->data;

    if (head_grow(c, len) < 0)
        return -1;
    if (c->cur == H_AUTH) {
        if (c->auth_len + len > AUTH_MAX)
            c->auth_long = true;
        else {
            memcpy(c->auth + c->auth_len, at, len);
            c->auth_len += len;
        }
    } else if (c->cur == H_EXPECT) {
        size_t room = sizeof(c->expect) - c->expect_len, n = len < room ? len : room;

        memcpy(c->expect + c->expect_len, at, n);
        c->expect_len += n;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    ((struct api_conn *)p->data)->cur = H_OTHER;
    return 0;
}

/* The head is complete: judge the route, the key and the size before any body. */
static int on_headers_complete(llhttp_t *p)
{
    struct api_conn *c = p->data;
    struct sss_api *api = c->api;
    size_t plen = strcspn(c->url, "?#");
    const struct route *r = NULL;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strlen(routes[i].path) == plen && memcmp(routes[i].path, c->url, plen) == 0)
            r = &routes[i];
    if (!(r && r->open) && api->cfg->api_key[0] &&
        (c->auth_count != 1 || c->auth_long ||
         !sss_api_auth_ok(c->auth, c->auth_len, api->cfg->api_key)))
        return early(c, 401,
                     c->auth_count ? "wrong API key" : "missing Authorization: Bearer <key>");
    if (!r)
        return early(c, 404, "no such API route");
    if ((int)llhttp_get_method(p) != r->method) {
        c->early_allow = r->allow;
        return early(c, 405, r->method == HTTP_POST ? "use POST" : "use GET");
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > api->max_body)
        return early(c, 413, "request body too large");
    c->route = r;
    if (c->expect_len == 12 && strncasecmp(c->expect, "100-continue", 12) == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

        /* Nothing else is unsent now, so this fits; if not, the client sends
         * its body anyway after its own short wait. */
        if (send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            /* Only a courtesy: the answer comes after the body either way. */
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct api_conn *c = p->data;

    if (c->body.len + len > c->api->max_body)
        return early(c, 413, "request body too large");
    sss_dynbuf_append(&c->body, at, len);
    if (c->body.oom)
        return early(c, 503, "out of memory");
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct api_conn *c = p->data;

    c->complete = true;
    c->keep_alive = llhttp_should_keep_alive(p) != 0;
    return HPE_PAUSED;
}

/* Queue the answer in c->out (status line, headers, body). */
static void answer(struct api_conn *c, int status, const char *ctype, const char *body,
                   size_t len, const char *extra)
{
    if (!c->keep_alive)
        c->close_after = true;
    sss_dynbuf_reset(&c->out);
    sss_dynbuf_printf(&c->out,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n%sConnection: %s\r\n\r\n",
                      status, status_text(status), ctype, len, extra ? extra : "",
                      c->close_after ? "close" : "keep-alive");
    sss_dynbuf_append(&c->out, body, len);
    c->out_off = 0;
    if (c->out.oom) {
        sss_log_error("api", "out of memory answering a request");
        c->close_after = true;
        sss_dynbuf_reset(&c->out);
    }
    c->api->requests++;
}

static void answer_json(struct api_conn *c, int status, struct sss_dynbuf *b)
{
    answer(c, status, "application/json", b->data ? b->data : "", b->len, NULL);
}

static void answer_error(struct api_conn *c, int status, const char *reason, const char *allow)
{
    struct sss_dynbuf *b = &c->api->resp;
    char extra[64] = "";

    sss_dynbuf_reset(b);
    sss_dynbuf_append(b, "{\"error\":", 9);
    sss_proto_encode_string(b, reason);
    sss_dynbuf_append(b, "}\n", 2);
    if (status == 405 && allow)
        snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
    else if (status == 401)
        snprintf(extra, sizeof(extra), "WWW-Authenticate: Bearer realm=\"sss\"\r\n");
    answer(c, status, "application/json", b->data ? b->data : "", b->len, extra);
}

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
static const char *decode_body(struct sss_api *api, struct api_conn *c, int sys, int *status)
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

static void publish_answer(struct api_conn *c, int rc, const struct sss_uid *uid);
static void presence_answer(struct api_conn *c, int rc, int64_t count, const char *const *users,
                            size_t nusers);

/* The request's answer comes later, from the scaler: hand out a ticket. */
static void wait_answer(struct sss_api *api, struct api_conn *c)
{
    int slot = 0;

    while (slot < SSS_API_MAX_CONNS && api->conns[slot] != c)
        slot++;
    c->state = C_WAIT;
    c->ticket = (uint64_t)slot << 40 | (++api->serial & ((1ULL << 40) - 1));
    c->deadline = sss_now_ms() + api->timeout_ms;
}

/*
 * Decode the body as message sys and gather its channel (a publish only),
 * topic and msg back to back into api->gather for the handlers. Returns 0,
 * or -1 after answering the error.
 */
static int decode_and_gather(struct sss_api *api, struct api_conn *c, int sys)
{
    const struct sss_proto_msg *m = &api->msg;
    int status;
    const char *why = decode_body(api, c, sys, &status);

    if (why) {
        answer_error(c, status, why, NULL);
        return -1;
    }
    sss_dynbuf_reset(&api->gather);
    if (sys == SSS_PROTO_PUBLISH)
        sss_dynbuf_append(&api->gather, m->channel, m->channel_len);
    sss_dynbuf_append(&api->gather, m->topic, m->topic_len);
    sss_dynbuf_append(&api->gather, m->msg.ptr, m->msg.len);
    if (api->gather.oom) {
        answer_error(c, 503, "out of memory", NULL);
        return -1;
    }
    return 0;
}

static void serve_publish(struct sss_api *api, struct api_conn *c)
{
    const struct sss_proto_msg *m = &api->msg;
    int rc;

    if (decode_and_gather(api, c, SSS_PROTO_PUBLISH) < 0)
        return;
    wait_answer(api, c);
    rc = api->h.publish(api->h.data, c->ticket, api->gather.data, m->channel_len, m->topic_len,
                        m->msg.len);
    if (rc < 0 && c->state == C_WAIT)
        publish_answer(c, rc, NULL);
}

/* The answer to a publish: its uid, or why it failed. */
static void publish_answer(struct api_conn *c, int rc, const struct sss_uid *uid)
{
    struct sss_api *api = c->api;
    char ubuf[SSS_PROTO_UID_BUF];

    c->state = C_READ;
    if (rc == SSS_ELIMIT) {
        answer_error(c, 503, "too many channels (--max-channels)", NULL);
        return;
    }
    if (rc == SSS_EUNAVAIL) {
        answer_error(c, 503, "the engine is unavailable (Redis is away); try again", NULL);
        return;
    }
    if (rc == SSS_EUNKNOWN) {
        answer_error(c, 503,
                     "Redis went away during the publish: it may or may not have been published",
                     NULL);
        return;
    }
    if (rc < 0) {
        answer_error(c, rc == -ENOMEM || rc == SSS_EFULL ? 503 : 500, sss_strerror(rc), NULL);
        return;
    }
    sss_proto_uid_format(uid, ubuf, sizeof(ubuf));
    sss_dynbuf_reset(&api->resp);
    sss_dynbuf_printf(&api->resp, "{\"uid\":\"%s\"}\n", ubuf);
    answer_json(c, 200, &api->resp);
}

static void serve_broadcast(struct sss_api *api, struct api_conn *c)
{
    const struct sss_proto_msg *m = &api->msg;
    int rc;

    if (decode_and_gather(api, c, SSS_PROTO_TELL) < 0)
        return;
    rc = api->h.broadcast(api->h.data, api->gather.data, m->topic_len, m->msg.len);
    if (rc < 0) {
        answer_error(c, rc == -ENOMEM || rc == SSS_EFULL ? 503 : 500, sss_strerror(rc), NULL);
        return;
    }
    sss_dynbuf_reset(&api->resp);
    sss_dynbuf_append(&api->resp, "{}\n", 3);
    answer_json(c, 200, &api->resp);
}

static void serve_numbers(struct sss_api *api, struct api_conn *c, bool metrics)
{
    struct sss_api_worker_stats w[64], *wp = w;
    struct sss_api_scaler_stats st;
    unsigned n = api->shm->hdr->nprocs;

    memset(&st, 0, sizeof(st));
    if (n > 64) {
        wp = sss_calloc(n, sizeof(*wp));
        if (!wp) {
            answer_error(c, 503, "out of memory", NULL);
            return;
        }
    }
    for (unsigned i = 0; i < n; i++)
        sss_api_worker_snapshot(sss_shm_counters(api->shm, i), &wp[i]);
    api->h.stats(api->h.data, &st);
    sss_dynbuf_reset(&api->resp);
    if (metrics) {
        sss_api_format_metrics(&api->resp, wp, n, &st, api->requests);
        answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", api->resp.data,
               api->resp.len, NULL);
    } else {
        sss_api_format_stats(&api->resp, wp, n, &st, api->requests);
        sss_dynbuf_append(&api->resp, "\n", 1);
        answer_json(c, 200, &api->resp);
    }
    if (wp != w)
        sss_free(wp);
}

/* ---- POST /api/boot: {"user"|"channel": name, "reason": text} ---- */

enum { BOOT_USER, BOOT_CHANNEL, BOOT_REASON, BOOT_FIELDS };

struct boot_body {
    bool seen[BOOT_FIELDS];
    char val[BOOT_FIELDS][SSS_PROTO_CHANNEL_MAX * 2 + 2];
    size_t len[BOOT_FIELDS];
};

static const char *parse_boot(struct sss_api *api, const char *body, size_t len,
                              struct boot_body *b)
{
    struct sss_proto_member m[BOOT_FIELDS] = {
        [BOOT_USER] = {.key = "user"},
        [BOOT_CHANNEL] = {.key = "channel"},
        [BOOT_REASON] = {.key = "reason"},
    };
    const char *why = body_not_object(body, len);
    bool bad_escape[BOOT_FIELDS] = {false};
    int rc;

    memset(b, 0, sizeof(*b));
    if (why)
        return why;
    rc = sss_proto_members(&api->dec, body, len, m, BOOT_FIELDS);
    if (rc == -ENOMEM)
        return "out of memory";
    if (rc < 0)
        return "bad JSON";
    for (int i = 0; i < BOOT_FIELDS; i++) {
        if (!m[i].count)
            continue;
        if (m[i].count > 1)
            return "user, channel and reason must be strings, given once";
        b->seen[i] = true;
        rc = sss_proto_span_string(m[i].value, b->val[i], sizeof(b->val[i]), &b->len[i]);
        if (rc == SSS_EPROTO)
            bad_escape[i] = true; /* no valid name; a reason says so below */
        else if (rc < 0)
            return "user, channel and reason must be strings, given once";
    }
    if (b->seen[BOOT_USER] == b->seen[BOOT_CHANNEL])
        return "give either user or channel";
    if (b->seen[BOOT_CHANNEL] && (bad_escape[BOOT_CHANNEL] ||
                                  !sss_proto_channel_valid(b->val[BOOT_CHANNEL],
                                                           b->len[BOOT_CHANNEL])))
        return "invalid channel name";
    if (b->seen[BOOT_USER] &&
        (bad_escape[BOOT_USER] || !b->len[BOOT_USER] || b->len[BOOT_USER] > 120 ||
         !sss_proto_channel_valid(b->val[BOOT_USER], b->len[BOOT_USER])))
        return "invalid user name";
    if (bad_escape[BOOT_REASON])
        return "lone surrogate or NUL escape in reason";
    if (b->len[BOOT_REASON] > 123)
        return "reason longer than 123 bytes";
    return NULL;
}

static void serve_boot(struct sss_api *api, struct api_conn *c)
{
    struct boot_body b;
    const char *why = parse_boot(api, c->body.data, c->body.len, &b);
    int rc, kind;

    if (why) {
        answer_error(c, 400, why, NULL);
        return;
    }
    kind = b.seen[BOOT_USER] ? BOOT_USER : BOOT_CHANNEL;
    rc = api->h.boot(api->h.data, kind == BOOT_USER ? 1 : 2, b.val[kind], b.len[kind],
                     b.val[BOOT_REASON], b.len[BOOT_REASON]);
    if (rc < 0) {
        answer_error(c, rc == SSS_EINVAL ? 400 : 503, sss_strerror(rc), NULL);
        return;
    }
    sss_dynbuf_reset(&api->resp);
    sss_dynbuf_append(&api->resp, "{}\n", 3);
    answer_json(c, 200, &api->resp);
}

/* ---- GET /api/presence?channel=c ---- */

struct presence_out {
    struct sss_dynbuf *b;
    size_t n;
};

static void serve_presence(struct sss_api *api, struct api_conn *c)
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
        answer_error(c, 400, "give ?channel=NAME with a valid channel name", NULL);
        return;
    }
    memcpy(c->chan, v, vlen);
    c->chan[vlen] = '\0';
    wait_answer(api, c);
    rc = api->h.presence(api->h.data, c->ticket, c->chan, vlen, SSS_API_PRESENCE_USERS);
    if (rc < 0 && c->state == C_WAIT)
        presence_answer(c, rc, 0, NULL, 0);
}

static void presence_answer(struct api_conn *c, int rc, int64_t count, const char *const *users,
                            size_t nusers)
{
    struct sss_dynbuf *b = &c->api->resp;

    c->state = C_READ;
    if (rc < 0) {
        answer_error(c, 503,
                     rc == SSS_EUNAVAIL ? "the store is unavailable (MongoDB is away); try again"
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
    answer_json(c, 200, b);
}

/* A complete request: answer it (or wait for the scaler's answer: C_WAIT). */
static void serve_route(struct sss_api *api, struct api_conn *c)
{
    switch (c->route->id) {
    case R_BOOT:
        serve_boot(api, c);
        break;
    case R_PRESENCE:
        serve_presence(api, c);
        break;
    case R_PUBLISH:
        serve_publish(api, c);
        break;
    case R_BROADCAST:
        serve_broadcast(api, c);
        break;
    case R_STATS:
        serve_numbers(api, c, false);
        break;
    case R_METRICS:
        serve_numbers(api, c, true);
        break;
    case R_HEALTHZ:
        answer(c, 200, "text/plain; charset=utf-8", "ok\n", 3, NULL);
        break;
    }
}

static void serve(struct sss_api *api, struct api_conn *c)
{
    api->serving = c;
    serve_route(api, c);
    api->serving = NULL;
}

static void start_linger(struct api_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = C_LINGER;
    c->deadline = sss_now_ms() + LINGER_MS;
}

/*
 * Write what is queued. Returns 1 when the answer is out and the connection
 * waits for its next request; 0 when it is closed (c freed), lingering, or
 * waiting for room to write.
 */
static int flush_out(struct sss_api *api, struct api_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (c->state != C_WRITE) {
                    c->state = C_WRITE;
                    c->deadline = sss_now_ms() + api->timeout_ms;
                }
                return 0;
            }
            conn_close(api, c);
            return 0;
        }
        c->out_off += (size_t)w;
    }
    sss_dynbuf_reset(&c->out);
    c->out_off = 0;
    if (c->close_after) {
        start_linger(c);
        return 0;
    }
    /* Keep-alive: ready for the next request. */
    c->state = C_READ;
    c->deadline = sss_now_ms() + api->timeout_ms;
    request_reset(c);
    llhttp_resume(&c->parser);
    return 1;
}

/*
 * Parse len more bytes of c's requests. Returns 0 when more bytes are needed,
 * 1 when an answer is queued in c->out (a complete request, or a bad one);
 * bytes after a complete request are kept in c->pending.
 */
static int parse(struct sss_api *api, struct api_conn *c, const char *data, size_t len)
{
    llhttp_errno_t e = llhttp_execute(&c->parser, data, len);

    if (e == HPE_OK)
        return 0;
    if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && c->complete) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        size_t used = pos && pos >= data && pos <= data + len ? (size_t)(pos - data) : len;

        if (e == HPE_PAUSED_UPGRADE)
            c->close_after = true; /* we speak no other protocol here */
        if (used < len && !c->close_after) {
            char *rest = sss_malloc(len - used);

            if (!rest) {
                c->close_after = true;
            } else {
                memcpy(rest, data + used, len - used);
                sss_free(c->pending);
                c->pending = rest;
                c->pending_len = len - used;
            }
        }
        serve(api, c);
        return 1;
    }
    /* A malformed request, or one refused while parsing: answer and close. */
    c->keep_alive = false;
    c->close_after = true;
    if (c->early_status)
        answer_error(c, c->early_status, c->early_reason, c->early_allow);
    else
        answer_error(c, 400, "malformed HTTP request", NULL);
    sss_log_debug("api", "refused a request: %d %s", c->early_status ? c->early_status : 400,
                  c->early_status ? c->early_reason : llhttp_errno_name(e));
    return 1;
}

/*
 * Feed bytes (own: a heap copy to free, or NULL) and answer every request
 * they complete, pipelined ones included. Returns 1 if c is still open and
 * reading, 0 if it is closed (freed), writing or lingering.
 */
static int drive(struct sss_api *api, struct api_conn *c, const char *data, size_t len,
                 char *own)
{
    for (;;) {
        int answered = parse(api, c, data, len);

        sss_free(own); /* parse copied what it keeps */
        own = NULL;
        if (!answered)
            return 1;
        if (c->state == C_WAIT)
            return 0; /* the scaler answers later (sss_api_*_done) */
        if (!flush_out(api, c))
            return 0;
        if (!c->pending)
            return 1;
        own = c->pending;
        data = own;
        len = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
    }
}

static void on_readable(struct sss_api *api, struct api_conn *c)
{
    char buf[READ_CHUNK];

    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(api, c); /* EOF or reset: a partial request is dropped */
            return;
        }
        if (c->state == C_LINGER)
            continue; /* dropped: we only wait for the client's close */
        if (!drive(api, c, buf, (size_t)n, NULL) || c->state != C_READ)
            return;
    }
}

static void on_writable(struct sss_api *api, struct api_conn *c)
{
    if (flush_out(api, c) && c->pending) {
        char *own = c->pending;
        size_t len = c->pending_len;

        c->pending = NULL;
        c->pending_len = 0;
        (void)drive(api, c, own, len, own);
    }
}

static void on_acceptable(struct sss_api *api)
{
    while (api->nconns < SSS_API_MAX_CONNS) {
        int fd = accept4(api->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct api_conn *c;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (!api->accept_warned++)
                sss_log_warn("api", "accept: %s (logged once)", strerror(errno));
            /* EMFILE and the like: the listener stays readable, so polling it
             * now would spin; clients wait in the backlog meanwhile. */
            api->accept_paused_until = sss_now_ms() + 100;
            return;
        }
        c = sss_calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            return;
        }
        c->api = api;
        c->fd = fd;
        c->state = C_READ;
        c->deadline = sss_now_ms() + api->timeout_ms;
        llhttp_init(&c->parser, HTTP_REQUEST, &api->settings);
        c->parser.data = c;
        for (int i = 0; i < SSS_API_MAX_CONNS; i++)
            if (!api->conns[i]) {
                api->conns[i] = c;
                break;
            }
        api->nconns++;
    }
}

int sss_api_pollfds(struct sss_api *api, struct pollfd *pfd, int cap)
{
    int n = 0;

    if (api->nconns < SSS_API_MAX_CONNS && n < cap &&
        (!api->accept_paused_until || sss_now_ms() >= api->accept_paused_until)) {
        pfd[n] = (struct pollfd){api->listen_fd, POLLIN, 0};
        api->polled[n++] = -1;
    }
    for (int i = 0; i < SSS_API_MAX_CONNS && n < cap; i++) {
        struct api_conn *c = api->conns[i];

        if (!c)
            continue;
        pfd[n] = (struct pollfd){
            c->fd, c->state == C_WRITE ? POLLOUT : c->state == C_WAIT ? 0 : POLLIN, 0};
        api->polled[n++] = i;
    }
    api->npolled = n;
    return n;
}

void sss_api_handle(struct sss_api *api, const struct pollfd *pfd, int n)
{
    int accept_ready = 0;

    for (int i = 0; i < n && i < api->npolled; i++) {
        struct api_conn *c;

        if (!pfd[i].revents)
            continue;
        if (api->polled[i] < 0) {
            accept_ready = 1;
            continue;
        }
        c = api->conns[api->polled[i]];
        if (!c || c->fd != pfd[i].fd)
            continue;
        if (c->state == C_WAIT)
            conn_close(api, c); /* hung up while waiting: the answer is dropped */
        else if (c->state == C_WRITE && (pfd[i].revents & (POLLOUT | POLLERR | POLLHUP)))
            on_writable(api, c);
        else if (c->state != C_WRITE)
            on_readable(api, c); /* POLLIN, POLLHUP or POLLERR: recv tells which */
    }
    api->npolled = 0;
    if (accept_ready)
        on_acceptable(api);
}

void sss_api_tick(struct sss_api *api, int64_t now_ms)
{
    for (int i = 0; i < SSS_API_MAX_CONNS && api->nconns; i++) {
        struct api_conn *c = api->conns[i];

        if (c && c->state == C_WAIT && now_ms >= c->deadline) {
            c->state = C_READ;
            answer_error(c, 504, "the scaler did not answer in time", NULL);
            on_writable(api, c);
            continue;
        }
        if (c && now_ms >= c->deadline) {
            if (c->state != C_LINGER)
                sss_log_debug("api", "closing a connection past its deadline state=%d",
                              (int)c->state);
            conn_close(api, c);
        }
    }
}

static int open_listener(const struct sss_cfg *cfg, char *host, size_t host_cap, int *port)
{
    struct addrinfo hints, *ai = NULL;
    char service[8];
    union {
        struct sockaddr_storage ss;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } sa;
    socklen_t slen = sizeof(sa);
    int fd, one = 1, rc;

    if (sss_api_parse_addr(cfg->api_listen, host, host_cap, port) < 0)
        return SSS_EINVAL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%d", *port);
    if (getaddrinfo(host[0] ? host : NULL, service, &hints, &ai) != 0 || !ai)
        return SSS_EINVAL;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        freeaddrinfo(ai);
        return rc;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, cfg->backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &slen) < 0) {
        rc = -errno;
        close(fd);
        freeaddrinfo(ai);
        return rc;
    }
    freeaddrinfo(ai);
    *port = ntohs(sa.ss.ss_family == AF_INET6 ? sa.in6.sin6_port : sa.in.sin_port);
    return fd;
}

struct sss_api *sss_api_create(const struct sss_cfg *cfg, struct sss_shm *shm,
                               const struct sss_api_handlers *h, int *err)
{
    struct sss_api *api = sss_calloc(1, sizeof(*api));
    char host[128];
    int port = 0, fd;

    if (!api) {
        *err = -ENOMEM;
        return NULL;
    }
    if (sss_proto_decoder_init(&api->dec, 1) < 0) {
        sss_free(api);
        *err = -ENOMEM;
        return NULL;
    }
    fd = open_listener(cfg, host, sizeof(host), &port);
    if (fd < 0) {
        sss_proto_decoder_fini(&api->dec);
        sss_free(api);
        *err = fd;
        return NULL;
    }
    api->cfg = cfg;
    api->shm = shm;
    api->h = *h;
    api->listen_fd = fd;
    api->max_body = cfg->max_message_size + SSS_API_BODY_SLACK;
    api->timeout_ms = cfg->handshake_timeout_ms > 0 ? cfg->handshake_timeout_ms : 5000;
    llhttp_settings_init(&api->settings);
    api->settings.on_message_begin = on_message_begin;
    api->settings.on_url = on_url;
    api->settings.on_header_field = on_header_field;
    api->settings.on_header_field_complete = on_header_field_complete;
    api->settings.on_header_value = on_header_value;
    api->settings.on_header_value_complete = on_header_value_complete;
    api->settings.on_headers_complete = on_headers_complete;
    api->settings.on_body = on_body;
    api->settings.on_message_complete = on_message_complete;
    if (strchr(host, ':'))
        sss_log_info("api", "api listening on [%s]:%d", host, port);
    else
        sss_log_info("api", "api listening on %s:%d", host[0] ? host : "0.0.0.0", port);
    if (!cfg->api_key[0])
        sss_log_warn("api", "no --api-key: the HTTP API is open to anyone who can connect");
    return api;
}

void sss_api_destroy(struct sss_api *api)
{
    if (!api)
        return;
    for (int i = 0; i < SSS_API_MAX_CONNS; i++)
        if (api->conns[i])
            conn_close(api, api->conns[i]);
    close(api->listen_fd);
    sss_proto_decoder_fini(&api->dec);
    sss_dynbuf_fini(&api->gather);
    sss_dynbuf_fini(&api->resp);
    sss_free(api);
}

/* The connection waiting with this ticket, or NULL (it went away). */
static struct api_conn *waiting(struct sss_api *api, uint64_t ticket)
{
    uint64_t slot = ticket >> 40;
    struct api_conn *c = api && slot < SSS_API_MAX_CONNS ? api->conns[slot] : NULL;

    return c && c->state == C_WAIT && c->ticket == ticket ? c : NULL;
}

/* An answer is queued in c->out: send it, then go on with pipelined requests. */
static void answered(struct sss_api *api, struct api_conn *c)
{
    if (api->serving != c)
        on_writable(api, c); /* inside serve(), drive() goes on by itself */
}

void sss_api_publish_done(struct sss_api *api, uint64_t ticket, int rc, const struct sss_uid *uid)
{
    struct api_conn *c = waiting(api, ticket);

    if (!c)
        return;
    publish_answer(c, rc, uid);
    answered(api, c);
}

void sss_api_presence_done(struct sss_api *api, uint64_t ticket, int rc, int64_t count,
                           const char *const *users, size_t nusers)
{
    struct api_conn *c = waiting(api, ticket);

    if (!c)
        return;
    presence_answer(c, rc, count, users, nusers);
    answered(api, c);
}
