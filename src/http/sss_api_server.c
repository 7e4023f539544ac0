/*
 * The HTTP/1.1 side of the API (see sss_api.h): one listener and up to
 * SSS_API_MAX_CONNS connections, driven by the scaler's poll() loop; the
 * routes that answer complete requests are in sss_api_routes.c.
 *
 * A connection is in one of four states:
 *   READ    llhttp parses what arrives; the route, the key and the body size
 *           are judged as soon as the head is complete, so a request that
 *           will be refused is answered without reading its body;
 *   WRITE   the answer waits for room in the socket;
 *   LINGER  after an answer that closes the connection: our side is shut
 *           down and what the client still sends is read and dropped until
 *           it closes too (or a short deadline passes), so that an unread
 *           body never makes the kernel reset the connection before the
 *           client has read our answer (nginx's lingering close).
 *   WAIT    a route waits for the scaler's answer (a ticket); nothing is read.
 * llhttp pauses in on_message_complete; the bytes read after the request
 * (pipelining) are kept and parsed once the answer is out.
 *
 * Every connection carries one deadline (--handshake-timeout): to send a
 * whole request, to take an answer, or to send the next request on a kept-
 * alive connection. sss_api_tick closes those past it, so a client that
 * trickles bytes (slowloris) holds one slot for a bounded time.
 *
 * Admission keeps room for the operator. A connection is *open* until one
 * of its requests shows the key (without --api-key: asks for any route but
 * /healthz); then it is *proven*. An open connection's answer always closes
 * it (Connection: close), so requests that need no key never extend its
 * life. At most --api-open-connections connections are open at once, and
 * at most --api-max-per-address of them from one address: a new connection
 * over either limit closes the oldest open one (of its address for the
 * second; a lingering one first), so a new connection is always accepted
 * while any slot is held by an open one, and a flood of probes only ever
 * displaces itself and other keyless clients. The listener is not polled
 * only when every slot is held by a proven connection.
 *
 * Browsers: a request with an Origin header not in --api-allowed-origins
 * gets 403, and a POST whose Content-Type is not application/json 415, so
 * a web page can neither read an answer nor send a "simple" cross-site POST
 * (a JSON POST needs a CORS preflight, which the API never grants).
 */
#include "sss_api_server.h"
#include "sss_url.h"
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

#define READ_CHUNK 16384
#define LINGER_MS 2000

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
    struct sss_url u;

    /* HOST:PORT, [V6]:PORT or :PORT: nothing of a URL but its authority. */
    if (sss_url_parse(spec, &u) < 0 || u.scheme.ptr || u.user.ptr || u.path.ptr || u.port < 0 ||
        sss_url_part_copy(u.host, host, host_cap) < 0)
        return SSS_EINVAL;
    *port = u.port;
    return 0;
}

bool sss_api_origin_allowed(const char *list, const char *value, size_t len)
{
    const char *p = list;

    while (*p) {
        const char *end = strchr(p, ','), *e;

        if (!end)
            end = p + strlen(p);
        e = end;
        while (p < e && *p == ' ')
            p++;
        while (e > p && e[-1] == ' ')
            e--;
        if ((size_t)(e - p) == len && len && strncasecmp(p, value, len) == 0)
            return true;
        p = *end ? end + 1 : end;
    }
    return false;
}

bool sss_api_ctype_json(const char *value, size_t len)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;

    while (len && (*value == ' ' || *value == '\t'))
        value++, len--;
    if (len < n || strncasecmp(value, want, n) != 0)
        return false;
    value += n;
    len -= n;
    while (len && (*value == ' ' || *value == '\t'))
        value++, len--;
    return len == 0 || *value == ';';
}

/* ---- connections ---- */

static const char *status_text(int status)
{
    const char *t = sss_http_status_text(status);

    return t ? t : "Error";
}

static void conn_close(struct sss_api *api, struct sss_api_conn *c)
{
    for (int i = 0; i < SSS_API_MAX_CONNS; i++)
        if (api->conns[i] == c) {
            api->conns[i] = NULL;
            break;
        }
    api->nconns--;
    if (!c->proven)
        api->nopen--;
    close(c->fd);
    sss_dynbuf_fini(&c->body);
    sss_dynbuf_fini(&c->out);
    sss_free(c->pending);
    sss_free(c);
}

/* Forget the request just answered (keep-alive) or about to be read. */
static void request_reset(struct sss_api_conn *c)
{
    c->url_len = 0;
    c->url[0] = '\0';
    c->head_bytes = 0;
    c->hname_len = 0;
    c->cur = SSS_API_H_OTHER;
    c->auth_len = 0;
    c->auth_count = 0;
    c->auth_long = false;
    c->expect_len = 0;
    c->origin_len = 0;
    c->origin_count = 0;
    c->origin_long = false;
    c->ctype_len = 0;
    c->ctype_long = false;
    c->route = NULL;
    sss_dynbuf_reset(&c->body);
    c->complete = false;
    c->keep_alive = false;
    c->early_status = 0;
    c->early_reason = NULL;
    c->early_allow = NULL;
}

static int early(struct sss_api_conn *c, int status, const char *reason)
{
    if (!c->early_status) {
        c->early_status = status;
        c->early_reason = reason;
    }
    return -1;
}

static int head_grow(struct sss_api_conn *c, size_t len)
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
    struct sss_api_conn *c = p->data;

    if (head_grow(c, len) < 0)
        return -1;
    if (c->url_len + len > SSS_API_URL_MAX)
        return early(c, 414, "request target too long");
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    c->url[c->url_len] = '\0';
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct sss_api_conn *c = p->data;

    if (head_grow(c, len) < 0)
        return -1;
    for (size_t i = 0; i < len && c->hname_len < SSS_API_HNAME_MAX; i++)
        c->hname[c->hname_len++] = (char)tolower((unsigned char)at[i]);
    if (len && c->hname_len == SSS_API_HNAME_MAX)
        c->hname[SSS_API_HNAME_MAX - 1] = '\0'; /* too long for any name we look for */
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct sss_api_conn *c = p->data;

    c->cur = SSS_API_H_OTHER;
    if (c->hname_len == 13 && memcmp(c->hname, "authorization", 13) == 0) {
        c->cur = SSS_API_H_AUTH;
        c->auth_count++;
        c->auth_len = 0;
    } else if (c->hname_len == 6 && memcmp(c->hname, "expect", 6) == 0) {
        c->cur = SSS_API_H_EXPECT;
        c->expect_len = 0;
    } else if (c->hname_len == 6 && memcmp(c->hname, "origin", 6) == 0) {
        c->cur = SSS_API_H_ORIGIN;
        c->origin_count++;
        c->origin_len = 0;
    } else if (c->hname_len == 12 && memcmp(c->hname, "content-type", 12) == 0) {
        c->cur = SSS_API_H_CTYPE;
        c->ctype_long = c->ctype_long || c->ctype_len > 0; /* a second one: not one type */
        c->ctype_len = 0;
    }
    c->hname_len = 0;
    return 0;
}

/* A piece of a header value onto dst (cap bytes, len used); past cap the value is too long. */
static void value_append(char *dst, size_t cap, size_t *len, bool *too_long, const char *at,
                         size_t n)
{
    if (*len + n > cap) {
        *too_long = true;
        return;
    }
    memcpy(dst + *len, at, n);
    *len += n;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct sss_api_conn *c = p->data;

    if (head_grow(c, len) < 0)
        return -1;
    if (c->cur == SSS_API_H_AUTH) {
        value_append(c->auth, SSS_API_AUTH_MAX, &c->auth_len, &c->auth_long, at, len);
    } else if (c->cur == SSS_API_H_EXPECT) {
        size_t room = sizeof(c->expect) - c->expect_len, n = len < room ? len : room;

        memcpy(c->expect + c->expect_len, at, n);
        c->expect_len += n;
    } else if (c->cur == SSS_API_H_ORIGIN) {
        value_append(c->origin, sizeof(c->origin), &c->origin_len, &c->origin_long, at, len);
    } else if (c->cur == SSS_API_H_CTYPE) {
        value_append(c->ctype, sizeof(c->ctype), &c->ctype_len, &c->ctype_long, at, len);
    }
    return 0;
}

/* One of c's requests showed the key: c keeps its slot (keep-alive) from now on. */
static void prove(struct sss_api_conn *c)
{
    if (!c->proven) {
        c->proven = true;
        c->api->nopen--;
    }
}

static int on_header_value_complete(llhttp_t *p)
{
    ((struct sss_api_conn *)p->data)->cur = SSS_API_H_OTHER;
    return 0;
}

/* The head is complete: judge the route, the key and the size before any body. */
static int on_headers_complete(llhttp_t *p)
{
    struct sss_api_conn *c = p->data;
    struct sss_api *api = c->api;
    const struct sss_api_route *r = sss_api__route_find(c->url, strcspn(c->url, "?#"));
    const char *key = api->cfg->api_key;
    bool key_ok = c->auth_count == 1 && !c->auth_long && sss_api_auth_ok(c->auth, c->auth_len, key);

    /* A browser names the page that sends a request; other clients send no Origin. */
    if (c->origin_count &&
        (c->origin_count > 1 || c->origin_long ||
         !sss_api_origin_allowed(api->cfg->api_allowed_origins, c->origin, c->origin_len))) {
        api->forbidden++;
        return early(c, 403, "origin not allowed (--api-allowed-origins)");
    }
    if (!(r && r->open) && key[0] && !key_ok)
        return early(c, 401,
                     c->auth_count ? "wrong API key" : "missing Authorization: Bearer <key>");
    if (key[0] ? key_ok : r && !r->open)
        prove(c);
    if (!r)
        return early(c, 404, "no such API route");
    if ((int)llhttp_get_method(p) != r->method) {
        c->early_allow = r->allow;
        return early(c, 405, r->method == HTTP_POST ? "use POST" : "use GET");
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > api->max_body)
        return early(c, 413, "request body too large");
    /* A form or text/plain POST is what a page may send cross-site without a preflight. */
    if (r->method == HTTP_POST && (c->ctype_long || !sss_api_ctype_json(c->ctype, c->ctype_len))) {
        api->forbidden++;
        return early(c, 415, "Content-Type must be application/json");
    }
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
    struct sss_api_conn *c = p->data;

    if (c->body.len + len > c->api->max_body)
        return early(c, 413, "request body too large");
    sss_dynbuf_append(&c->body, at, len);
    if (c->body.oom)
        return early(c, 503, "out of memory");
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct sss_api_conn *c = p->data;

    c->complete = true;
    c->keep_alive = llhttp_should_keep_alive(p) != 0;
    return HPE_PAUSED;
}

/* Queue the answer in c->out (status line, headers, body). */

/* Queue the answer in c->out (status line, headers, body). */
void sss_api__answer(struct sss_api_conn *c, int status, const char *ctype, const char *body,
                     size_t len, const char *extra)
{
    if (!c->keep_alive || !c->proven)
        c->close_after = true; /* a request without the key never extends a connection's life */
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

void sss_api__answer_json(struct sss_api_conn *c, int status, struct sss_dynbuf *b)
{
    sss_api__answer(c, status, "application/json", b->data ? b->data : "", b->len, NULL);
}

void sss_api__answer_error(struct sss_api_conn *c, int status, const char *reason,
                           const char *allow)
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
    sss_api__answer(c, status, "application/json", b->data ? b->data : "", b->len, extra);
}

/* The request's answer comes later, from the scaler: hand out a ticket. */
void sss_api__wait(struct sss_api *api, struct sss_api_conn *c)
{
    int slot = 0;

    while (slot < SSS_API_MAX_CONNS && api->conns[slot] != c)
        slot++;
    c->state = SSS_API_WAIT;
    c->ticket = (uint64_t)slot << 40 | (++api->serial & ((1ULL << 40) - 1));
    c->deadline = sss_now_ms() + api->timeout_ms;
}

static void serve(struct sss_api *api, struct sss_api_conn *c)
{
    api->serving = c;
    c->route->serve(api, c);
    api->serving = NULL;
}

static void start_linger(struct sss_api_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = SSS_API_LINGER;
    c->deadline = sss_now_ms() + LINGER_MS;
}

/*
 * Write what is queued. Returns 1 when the answer is out and the connection
 * waits for its next request; 0 when it is closed (c freed), lingering, or
 * waiting for room to write.
 */
static int flush_out(struct sss_api *api, struct sss_api_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (c->state != SSS_API_WRITE) {
                    c->state = SSS_API_WRITE;
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
    c->state = SSS_API_READ;
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
static int parse(struct sss_api *api, struct sss_api_conn *c, const char *data, size_t len)
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
        sss_api__answer_error(c, c->early_status, c->early_reason, c->early_allow);
    else
        sss_api__answer_error(c, 400, "malformed HTTP request", NULL);
    sss_log_debug("api", "refused a request: %d %s", c->early_status ? c->early_status : 400,
                  c->early_status ? c->early_reason : llhttp_errno_name(e));
    return 1;
}

/*
 * Feed bytes (own: a heap copy to free, or NULL) and answer every request
 * they complete, pipelined ones included. Returns 1 if c is still open and
 * reading, 0 if it is closed (freed), writing or lingering.
 */
static int drive(struct sss_api *api, struct sss_api_conn *c, const char *data, size_t len,
                 char *own)
{
    for (;;) {
        int answered = parse(api, c, data, len);

        sss_free(own); /* parse copied what it keeps */
        own = NULL;
        if (!answered)
            return 1;
        if (c->state == SSS_API_WAIT)
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

static void on_readable(struct sss_api *api, struct sss_api_conn *c)
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
        if (c->state == SSS_API_LINGER)
            continue; /* dropped: we only wait for the client's close */
        if (!drive(api, c, buf, (size_t)n, NULL) || c->state != SSS_API_READ)
            return;
    }
}

static void on_writable(struct sss_api *api, struct sss_api_conn *c)
{
    if (flush_out(api, c) && c->pending) {
        char *own = c->pending;
        size_t len = c->pending_len;

        c->pending = NULL;
        c->pending_len = 0;
        (void)drive(api, c, own, len, own);
    }
}

static void addr_of(const struct sockaddr_storage *ss, struct sss_api_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (ss->ss_family == AF_INET) {
        a->family = AF_INET;
        memcpy(a->bytes, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct in6_addr *v6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(v6)) {
            a->family = AF_INET;
            memcpy(a->bytes, v6->s6_addr + 12, 4);
        } else {
            a->family = AF_INET6;
            memcpy(a->bytes, v6->s6_addr, 16);
        }
    }
}

static bool addr_eq(const struct sss_api_addr *a, const struct sss_api_addr *b)
{
    return a->family && a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

/*
 * The open connection to close for a newer one: of address a (NULL: any),
 * a lingering one (its answer is out) before the oldest. NULL if none.
 */
static struct sss_api_conn *open_victim(struct sss_api *api, const struct sss_api_addr *a,
                                        int *count)
{
    struct sss_api_conn *best = NULL;

    *count = 0;
    for (int i = 0; i < SSS_API_MAX_CONNS; i++) {
        struct sss_api_conn *c = api->conns[i];

        if (!c || c->proven || (a && !addr_eq(&c->addr, a)))
            continue;
        ++*count;
        if (!best || (c->state == SSS_API_LINGER) > (best->state == SSS_API_LINGER) ||
            ((c->state == SSS_API_LINGER) == (best->state == SSS_API_LINGER) &&
             c->accepted < best->accepted))
            best = c;
    }
    return best;
}

static void evict(struct sss_api *api, struct sss_api_conn *c, const char *why)
{
    sss_log_debug("api", "closing an API connection without the key: %s", why);
    api->evicted++;
    conn_close(api, c);
}

/*
 * Make room for a connection from a: returns false when every slot is
 * held by a proven connection (the caller closes the new one).
 */
static bool admit(struct sss_api *api, const struct sss_api_addr *a)
{
    struct sss_api_conn *v;
    int n;

    v = open_victim(api, a, &n);
    if (a->family && n >= api->cfg->api_max_per_address && v)
        evict(api, v, "--api-max-per-address");
    v = open_victim(api, NULL, &n);
    if (v && (api->nopen >= api->cfg->api_open_connections || api->nconns >= SSS_API_MAX_CONNS))
        evict(api, v, api->nconns >= SSS_API_MAX_CONNS ? "every slot is taken"
                                                       : "--api-open-connections");
    return api->nconns < SSS_API_MAX_CONNS;
}

static void on_acceptable(struct sss_api *api)
{
    while (api->nconns < SSS_API_MAX_CONNS || api->nopen > 0) {
        struct sockaddr_storage ss;
        socklen_t slen = sizeof(ss);
        int fd = accept4(api->listen_fd, (struct sockaddr *)&ss, &slen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct sss_api_addr addr;
        struct sss_api_conn *c;

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
        if (slen > sizeof(ss))
            ss.ss_family = AF_UNSPEC;
        addr_of(&ss, &addr);
        if (!admit(api, &addr)) {
            close(fd); /* not reached: the loop runs only while a slot can be freed */
            continue;
        }
        c = sss_calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            return;
        }
        c->api = api;
        c->fd = fd;
        c->addr = addr;
        c->accepted = ++api->accepts;
        api->nopen++;
        c->state = SSS_API_READ;
        c->deadline = sss_now_ms() + api->timeout_ms;
        llhttp_init(&c->parser, HTTP_REQUEST, &api->settings);
        c->parser.data = c;
        for (int i = 0; i < SSS_API_MAX_CONNS; i++)
            if (!api->conns[i]) {
                api->conns[i] = c;
                break;
            }
        api->nconns++;
        /* A request already here is judged before the next accept: one with the key
         * proves its connection before anything could evict it. */
        on_readable(api, c);
    }
}

int sss_api_pollfds(struct sss_api *api, struct pollfd *pfd, int cap)
{
    int n = 0;

    if ((api->nconns < SSS_API_MAX_CONNS || api->nopen > 0) && n < cap &&
        (!api->accept_paused_until || sss_now_ms() >= api->accept_paused_until)) {
        pfd[n] = (struct pollfd){api->listen_fd, POLLIN, 0};
        api->polled[n++] = -1;
    }
    for (int i = 0; i < SSS_API_MAX_CONNS && n < cap; i++) {
        struct sss_api_conn *c = api->conns[i];

        if (!c)
            continue;
        pfd[n] = (struct pollfd){
            c->fd, c->state == SSS_API_WRITE ? POLLOUT : c->state == SSS_API_WAIT ? 0 : POLLIN, 0};
        api->polled[n++] = i;
    }
    api->npolled = n;
    return n;
}

void sss_api_handle(struct sss_api *api, const struct pollfd *pfd, int n)
{
    int accept_ready = 0;

    for (int i = 0; i < n && i < api->npolled; i++) {
        struct sss_api_conn *c;

        if (!pfd[i].revents)
            continue;
        if (api->polled[i] < 0) {
            accept_ready = 1;
            continue;
        }
        c = api->conns[api->polled[i]];
        if (!c || c->fd != pfd[i].fd)
            continue;
        if (c->state == SSS_API_WAIT)
            conn_close(api, c); /* hung up while waiting: the answer is dropped */
        else if (c->state == SSS_API_WRITE && (pfd[i].revents & (POLLOUT | POLLERR | POLLHUP)))
            on_writable(api, c);
        else if (c->state != SSS_API_WRITE)
            on_readable(api, c); /* POLLIN, POLLHUP or POLLERR: recv tells which */
    }
    api->npolled = 0;
    if (accept_ready)
        on_acceptable(api);
}

void sss_api_tick(struct sss_api *api, int64_t now_ms)
{
    for (int i = 0; i < SSS_API_MAX_CONNS && api->nconns; i++) {
        struct sss_api_conn *c = api->conns[i];

        if (c && c->state == SSS_API_WAIT && now_ms >= c->deadline) {
            c->state = SSS_API_READ;
            sss_api__answer_error(c, 504, "the scaler did not answer in time", NULL);
            on_writable(api, c);
            continue;
        }
        if (c && now_ms >= c->deadline) {
            if (c->state != SSS_API_LINGER)
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
struct sss_api_conn *sss_api__waiting(struct sss_api *api, uint64_t ticket)
{
    uint64_t slot = ticket >> 40;
    struct sss_api_conn *c = api && slot < SSS_API_MAX_CONNS ? api->conns[slot] : NULL;

    return c && c->state == SSS_API_WAIT && c->ticket == ticket ? c : NULL;
}

/* An answer is queued in c->out: send it, then go on with pipelined requests. */
void sss_api__answered(struct sss_api *api, struct sss_api_conn *c)
{
    if (api->serving != c)
        on_writable(api, c); /* inside serve(), drive() goes on by itself */
}
