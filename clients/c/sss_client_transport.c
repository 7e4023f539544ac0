/*
 * The transport of the C client: the host resolved (a blocking getaddrinfo
 * inside sss_client_process; a numeric address never blocks) and each of
 * its addresses tried in turn with a non-blocking TCP connect, our own HTTP
 * upgrade (a random Sec-WebSocket-Key, the static headers and those of
 * get_headers; the answer's status, Accept, Upgrade and sub-protocol
 * checked), then wslay's client context reading and writing the socket
 * directly (it masks every frame with bytes from getrandom); frame bytes
 * that came with the 101 answer are fed to wslay first. sss_client_process
 * pumps it all and enforces the connect, BEGIN and SYNC deadlines and the
 * heartbeat timeout; every failure goes to sss_client__fail with its code.
 */
#include "sss_client_int.h"
#include "sss_alloc.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Queue the message in c->out: a text frame, or with msgpack its binary form. */
int sss_client__send_out(struct sss_client *c)
{
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)c->out.data, c->out.len};

    if (c->out.oom)
        return -ENOMEM;
    if (!c->ws)
        return SSS_CLIENT_ENOTREADY;
    if (c->o.msgpack)
        return sss_client__send_msgpack(c, c->out.data, c->out.len);
    return wslay_event_queue_msg(c->ws, &m) ? -ENOMEM : 0;
}

void sss_client__close_socket(struct sss_client *c)
{
    if (c->ws)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    sss_client__tls_stop(c);
    if (c->fd >= 0)
        close(c->fd);
    c->connected = false;
    if (c->ai)
        freeaddrinfo(c->ai);
    c->ai = c->ai_next = NULL;
    c->fd = -1;
    c->gen++;
    c->upgraded = false;
    c->eof = false;
    c->booted = false;
    c->close_now = false;
    c->close_code = 0;
    c->fail_code = NULL;
    c->sync_id = -1;
    c->hs_in_len = c->hs_in_off = 0;
    c->hs_out_sent = 0;
    sss_proto_out_reset(&c->hs_out);
    c->deadline = 0;
}

void sss_client__flush_close(struct sss_client *c)
{
    if (c->ws && c->fd >= 0)
        (void)wslay_event_send(c->ws); /* best effort: a close frame may be queued */
    sss_client__close_socket(c);
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* The upgrade request being built, for get_headers. */
struct sss_client_headers {
    struct sss_proto_out *out;
    size_t max; /* bytes the whole request may take */
};

static bool header_name_ok(const char *n, size_t len)
{
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(n[i] > ' ' && n[i] < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", n[i])))
            return false;
    return true;
}

static int header_add(struct sss_client_headers *h, const char *name, size_t name_len,
                      const char *value)
{
    size_t vlen = strlen(value);

    if (!header_name_ok(name, name_len) || strpbrk(value, "\r\n"))
        return SSS_CLIENT_EHEADER;
    if (h->out->len + name_len + vlen + 4 + 2 > h->max)
        return SSS_CLIENT_EHEADER; /* the blank line must still fit */
    return sss_dynbuf_printf(h->out, "%.*s: %s\r\n", (int)name_len, name, value) ? -ENOMEM : 0;
}

int sss_client_headers_add(struct sss_client_headers *h, const char *name, const char *value)
{
    if (!h || !name || !value)
        return SSS_CLIENT_EHEADER;
    return header_add(h, name, strlen(name), value);
}

int sss_client__header_line_ok(const char *line)
{
    const char *colon = strchr(line, ':');

    if (!colon || !header_name_ok(line, (size_t)(colon - line)) || strpbrk(line, "\r\n"))
        return SSS_CLIENT_EHEADER;
    return 0;
}

/*
 * The upgrade request in c->hs_out: the static headers, then get_headers'.
 * 0, -ENOMEM, SSS_CLIENT_EHEADER (a static header does not fit), 1 when
 * get_headers failed (token_failed) or 2 when it has no credentials
 * (unauthorized).
 */
static int build_request(struct sss_client *c)
{
    struct sss_client_headers h = {&c->hs_out, (size_t)c->o.max_handshake_size};
    unsigned char rnd[16];
    bool v6 = strchr(c->host, ':') != NULL;
    int rc;

    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        return -EIO;
    b64(rnd, sizeof(rnd), c->key);
    sss_proto_out_reset(&c->hs_out);
    (void)sss_dynbuf_printf(&c->hs_out,
                            "GET %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n",
                            c->path, v6 ? "[" : "", c->host, v6 ? "]" : "", c->port, c->key,
                            sss_client__protocol(c));
    if (c->hs_out.len + 2 > h.max)
        return SSS_CLIENT_EHEADER;
    for (char **p = c->headers; p && *p; p++) {
        const char *colon = strchr(*p, ':'), *v = colon + 1;

        while (*v == ' ' || *v == '\t')
            v++;
        rc = header_add(&h, *p, (size_t)(colon - *p), v);
        if (rc)
            return rc;
    }
    if (c->o.get_headers) {
        rc = c->o.get_headers(c, &h, c->o.data);
        if (rc < 0)
            return 1;
        if (rc == 1)
            return 2;
    }
    return sss_proto_out_append(&c->hs_out, "\r\n", 2) ? -ENOMEM : 0;
}

/* Connect to the next address of the host; when none is left, the attempt failed. */
static int next_addr(struct sss_client *c, int err)
{
    while (c->ai_next) {
        struct addrinfo *ai = c->ai_next;
        int fd, one = 1;

        c->ai_next = ai->ai_next;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            err = errno;
            close(fd);
            continue;
        }
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->connected = false;
        c->hs_out_sent = 0;
        c->hs_in_len = c->hs_in_off = 0;
        return 0;
    }
    sss_client__fail(c, SSS_CLIENT_CONNECT_FAILED, strerror(err ? err : ECONNREFUSED));
    return 0;
}

int sss_client__dial(struct sss_client *c)
{
    struct addrinfo hints = {0};
    uint64_t gen = c->gen;
    char why[320];
    int rc;

    c->dial_at = 0;
    sss_client__set_status(c, SSS_CLIENT_CONNECTING);
    if (c->status != SSS_CLIENT_CONNECTING || c->gen != gen)
        return 0; /* on_status closed it */
    rc = build_request(c);
    if (c->status != SSS_CLIENT_CONNECTING || c->gen != gen || c->fd >= 0)
        return 0; /* get_headers closed it */
    if (rc == 1) {
        sss_client__fail(c, SSS_CLIENT_TOKEN_FAILED, "get_headers failed");
        return 0;
    }
    if (rc == 2) {
        sss_client__fail(c, SSS_CLIENT_UNAUTHORIZED, "get_headers has no credentials");
        return 0;
    }
    if (rc == SSS_CLIENT_EHEADER) {
        sss_client__fail(c, SSS_CLIENT_UPGRADE_REFUSED,
                         "the upgrade request is longer than max_handshake_size");
        return 0;
    }
    if (rc < 0)
        return rc;
    if (sss_client__tls_prepare(c, why, sizeof(why))) {
        sss_client__fail(c, SSS_CLIENT_TLS_FAILED, why);
        return 0;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    rc = getaddrinfo(c->host, c->port, &hints, &c->ai);
    if (rc) {
        c->ai = NULL;
        sss_client__fail(c, SSS_CLIENT_CONNECT_FAILED, gai_strerror(rc));
        return 0;
    }
    c->ai_next = c->ai;
    c->deadline = c->now + c->o.connect_timeout_ms;
    return next_addr(c, 0);
}

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    struct sss_client *c = user;
    ssize_t n;

    (void)flags;
    if (c->hs_in_off < c->hs_in_len) /* frame bytes that came with the upgrade's answer */
        return (ssize_t)sss_client__take(buf, len, c->hs_in, &c->hs_in_off, c->hs_in_len);
    n = sss_client__io_recv(c, buf, len);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    c->eof = true;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    struct sss_client *c = user;
    ssize_t n;

    (void)flags;
    n = sss_client__io_send(c, data, len);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static int ws_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx, (void)user;
    return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                      void *user)
{
    struct sss_client *c = user;

    if (a->opcode == WSLAY_TEXT_FRAME || (a->opcode == WSLAY_BINARY_FRAME && c->o.msgpack)) {
        sss_client__on_message(c, a->opcode == WSLAY_BINARY_FRAME, a->msg, a->msg_length);
    } else if (a->opcode == WSLAY_BINARY_FRAME && !c->fail_code) {
        c->fail_code = SSS_CLIENT_PROTOCOL_ERROR;
        snprintf(c->fail_detail, sizeof(c->fail_detail), "a binary frame on a JSON connection");
        (void)wslay_event_queue_close(ctx, 1003, NULL, 0);
    } else if (a->opcode == WSLAY_CONNECTION_CLOSE) {
        c->close_code = a->status_code ? a->status_code : 1005;
        if (c->close_code == 4001)
            c->booted = true;
    }
    (void)ctx;
}

/* The upgrade is done: wslay takes the socket over, and the session starts. */
static int start_ws(struct sss_client *c)
{
    struct wslay_event_callbacks cb = {ws_recv, ws_send, ws_genmask, NULL, NULL, NULL, ws_on_msg};

    if (wslay_event_context_client_init(&c->ws, &cb, c))
        return -ENOMEM;
    wslay_event_config_set_max_recv_msg_length(c->ws, c->o.max_message_size);
    c->upgraded = true;
    c->deadline = 0;
    c->last_rx = c->now;
    return sss_client__begin(c);
}

static bool header_is(const char *line, const char *name, const char **val)
{
    size_t n = strlen(name);

    if (strncasecmp(line, name, n) || line[n] != ':')
        return false;
    *val = line + n + 1;
    while (**val == ' ' || **val == '\t')
        (*val)++;
    return true;
}

/*
 * Check the answer in hs_in (head complete at head_len). NULL if it is a
 * good 101, else why; *code is then the failure's code (HTTP status class,
 * or upgrade_refused for a bad 101) and *status the HTTP status.
 */
static const char *check_answer(struct sss_client *c, size_t head_len, const char **code,
                                int *status)
{
    char expect[32], accept_in[64] = "", proto[64] = "";
    unsigned char sha[SHA_DIGEST_LENGTH];
    char keyguid[96];
    bool upgrade = false;
    char *line, *next;

    c->hs_in[head_len - 2] = '\0'; /* ends at the last header's CRLF */
    *code = SSS_CLIENT_UPGRADE_REFUSED;
    *status = 0;
    if (strncmp(c->hs_in, "HTTP/1.", 7) || c->hs_in[8] != ' ' || c->hs_in[9] < '1' ||
        c->hs_in[9] > '5')
        return "not an HTTP answer";
    *status = (int)strtol(c->hs_in + 9, NULL, 10);
    if (*status != 101) {
        char *eol = strstr(c->hs_in, "\r\n");

        if (eol)
            *eol = '\0';
        *code = sss_client__http_code(*status);
        return c->hs_in + 9; /* "401 Unauthorized" */
    }
    for (line = c->hs_in; line; line = next) {
        const char *v;

        next = strstr(line, "\r\n");
        if (next) {
            *next = '\0';
            next += 2;
        }

        if (header_is(line, "Sec-WebSocket-Accept", &v))
            snprintf(accept_in, sizeof(accept_in), "%s", v);
        else if (header_is(line, "Upgrade", &v))
            upgrade = !strcasecmp(v, "websocket");
        else if (header_is(line, "Sec-WebSocket-Protocol", &v))
            snprintf(proto, sizeof(proto), "%s", v);
    }
    snprintf(keyguid, sizeof(keyguid), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
    SHA1((const unsigned char *)keyguid, strlen(keyguid), sha);
    b64(sha, sizeof(sha), expect);
    if (!upgrade || strcmp(expect, accept_in))
        return "bad Sec-WebSocket-Accept or Upgrade in the server's answer";
    if (strcmp(proto, sss_client__protocol(c)))
        return c->o.msgpack ? "the server did not pick the sub-protocol sss.v1.msgpack"
                            : "the server did not pick the sub-protocol sss.v1.json";
    return NULL;
}

/* The socket did not connect: try the host's next address. */
static int connect_error(struct sss_client *c, int err)
{
    sss_client__tls_stop(c);
    close(c->fd);
    c->fd = -1;
    return next_addr(c, err);
}

static int do_handshake(struct sss_client *c)
{
    size_t max = (size_t)c->o.max_handshake_size;

    if (!c->connected) {
        struct sockaddr_storage peer;
        int err = 0, rc;
        socklen_t l = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err)
            return connect_error(c, err);
        l = sizeof(peer);
        if (getpeername(c->fd, (struct sockaddr *)&peer, &l) < 0)
            return errno == ENOTCONN ? 0 : connect_error(c, errno); /* still connecting */
        c->connected = true;
        rc = sss_client__tls_start(c); /* wss://: the ClientHello goes out */
        if (rc == SSS_ETLS) {
            sss_client__fail(c, SSS_CLIENT_TLS_FAILED, "the host name is not usable for TLS");
            return 0;
        }
        if (rc)
            return rc;
    }
    while (c->hs_out_sent < c->hs_out.len) {
        ssize_t n = sss_client__io_send(c, c->hs_out.data + c->hs_out_sent,
                                        c->hs_out.len - c->hs_out_sent);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            if (c->hs_out_sent == 0)
                return connect_error(c, errno);
            sss_client__fail(c, SSS_CLIENT_CONNECT_FAILED, strerror(errno));
            return 0;
        }
        c->hs_out_sent += (size_t)n;
    }
    for (;;) {
        ssize_t n = sss_client__io_recv(c, c->hs_in + c->hs_in_len, max - 1 - c->hs_in_len);
        char *end;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n < 0 && sss_client__tls_failure(c)) {
            char detail[sizeof(c->err_detail)];

            snprintf(detail, sizeof(detail), "%s", sss_client__tls_failure(c));
            sss_client__fail(c, SSS_CLIENT_TLS_FAILED, detail);
            return 0;
        }
        if (n <= 0) {
            sss_client__fail(c, SSS_CLIENT_CONNECT_FAILED,
                             n ? strerror(errno) : "closed during the upgrade");
            return 0;
        }
        c->hs_in_len += (size_t)n;
        c->hs_in[c->hs_in_len] = '\0';
        end = memmem(c->hs_in, c->hs_in_len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - c->hs_in) + 4;
            const char *code;
            int status;
            const char *why = check_answer(c, head, &code, &status);
            char detail[128];

            if (!why) {
                c->hs_in_off = head; /* frame bytes that came with the answer */
                return start_ws(c);
            }
            snprintf(detail, sizeof(detail), "%s", why);
            if (status == 401 && c->o.get_headers && !c->auth_retried) {
                /* An expired token: ask get_headers again and redial at once, once. */
                c->auth_retried = true;
                sss_client__close_socket(c);
                return sss_client__dial(c);
            }
            sss_client__fail(c, code, detail);
            return 0;
        }
        if (c->hs_in_len >= max - 1) {
            sss_client__fail(c, SSS_CLIENT_UPGRADE_REFUSED,
                             "the server's answer is longer than max_handshake_size");
            return 0;
        }
    }
}

int sss_client_fd(const struct sss_client *c)
{
    return c->fd;
}

short sss_client_events(const struct sss_client *c)
{
    bool out;

    if (c->fd < 0)
        return 0;
    if (!c->connected)
        return POLLOUT;
    if (!c->upgraded)
        out = c->hs_out_sent < c->hs_out.len;
    else
        out = c->ws && wslay_event_want_write(c->ws);
    return (short)(POLLIN | (out || sss_client__io_want_write(c) ? POLLOUT : 0));
}

int64_t sss_client_next_timeout_ms(const struct sss_client *c, int64_t now_ms)
{
    int64_t at = 0;

    if (c->fd < 0) {
        at = c->dial_at;
    } else if (sss_client__io_buffered(c) && (!c->ws || wslay_event_want_read(c->ws))) {
        return 0; /* decrypted bytes wait for the reader: poll would not say so */
    } else {
        at = c->deadline;
        if (c->upgraded && c->hb && c->status == SSS_CLIENT_READY &&
            (!at || c->last_rx + c->hb_timeout < at))
            at = c->last_rx + c->hb_timeout + 1;
    }
    if (!at)
        return -1;
    return at > now_ms ? at - now_ms : 0;
}

/* After wslay_event_recv: what ended the connection, if anything. */
static void after_recv(struct sss_client *c, int rc)
{
    char detail[160];

    if (c->fail_code) { /* found by our own decoding */
        const char *code = c->fail_code;

        snprintf(detail, sizeof(detail), "%s", c->fail_detail);
        sss_client__fail(c, code, detail);
        return;
    }
    if (c->close_code || (c->booted && (rc || c->eof))) {
        int code = c->booted ? 4001 : c->close_code;

        snprintf(detail, sizeof(detail), "the server closed with %d", code);
        sss_client__fail(c, sss_client__close_code(code), detail);
        return;
    }
    if (wslay_event_get_close_sent(c->ws)) { /* wslay refused a frame: 1002, 1007 or 1009 */
        int code = wslay_event_get_status_code_sent(c->ws);

        snprintf(detail, sizeof(detail), "the client closed with %d", code);
        sss_client__fail(c, sss_client__close_code(code), detail);
        return;
    }
    if (rc != 0 || c->eof || (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)))
        sss_client__fail(c, SSS_CLIENT_CONNECTION_LOST, "the connection was lost");
}

static int pump(struct sss_client *c, int64_t now_ms)
{
    uint64_t gen = c->gen;
    int rc = 0;

    if (c->fd < 0) {
        if (c->dial_at && now_ms >= c->dial_at &&
            (c->status == SSS_CLIENT_WAITING || c->status == SSS_CLIENT_CONNECTING))
            return sss_client__dial(c);
        return 0;
    }
    if (!c->upgraded) {
        if (c->deadline && now_ms >= c->deadline) {
            sss_client__fail(c, SSS_CLIENT_CONNECT_TIMEOUT, "connect and upgrade took too long");
            return 0;
        }
        rc = do_handshake(c);
        if (rc || !c->upgraded || c->gen != gen)
            return rc;
    }
    (void)sss_client__io_flush(c); /* a socket error shows in the read below */
    c->in_recv = true;
    rc = wslay_event_recv(c->ws);
    c->in_recv = false;
    if (c->close_now) { /* sss_client_close from a callback */
        sss_client__flush_close(c);
        return 0;
    }
    if (wslay_event_want_write(c->ws))
        (void)wslay_event_send(c->ws);
    (void)sss_client__io_flush(c);
    after_recv(c, rc);
    if (c->gen != gen)
        return 0;
    if (c->deadline && now_ms >= c->deadline) {
        sss_client__fail(c,
                         c->status == SSS_CLIENT_SYNCING ? SSS_CLIENT_SYNC_TIMEOUT
                                                         : SSS_CLIENT_BEGIN_TIMEOUT,
                         "the server did not answer in time");
        return 0;
    }
    if (c->hb && c->status == SSS_CLIENT_READY && now_ms - c->last_rx > c->hb_timeout)
        sss_client__fail(c, SSS_CLIENT_HEARTBEAT_TIMEOUT, "the server has been silent too long");
    return 0;
}

int sss_client_process(struct sss_client *c, short revents, int64_t now_ms)
{
    int rc;

    (void)revents;
    c->now = now_ms;
    c->busy++;
    rc = pump(c, now_ms);
    c->busy--;
    sss_client__gc(c);
    return rc;
}

int sss_client_run_for(struct sss_client *c, int timeout_ms)
{
    int64_t end = sss_client_now_ms() + timeout_ms;

    for (;;) {
        int64_t now = sss_client_now_ms(), t = end - now, nt = sss_client_next_timeout_ms(c, now);
        struct pollfd p = {c->fd, sss_client_events(c), 0};
        int rc;

        if (t <= 0)
            return 0;
        if (nt >= 0 && nt < t)
            t = nt;
        rc = poll(c->fd >= 0 ? &p : NULL, c->fd >= 0 ? 1 : 0, (int)t);
        if (rc < 0 && errno != EINTR)
            return -errno;
        rc = sss_client_process(c, p.revents, sss_client_now_ms());
        if (rc)
            return rc;
        if (sss_client__final_status(c->status) && c->fd < 0)
            return 0;
    }
}

int sss_client_wait(struct sss_client *c, bool (*done)(struct sss_client *c, void *data),
                    void *data, int timeout_ms)
{
    int64_t end = sss_client_now_ms() + timeout_ms;

    while (!done(c, data)) {
        int64_t left = end - sss_client_now_ms();
        int rc;

        if (left <= 0)
            return -ETIMEDOUT;
        rc = sss_client_run_for(c, left > 20 ? 20 : (int)left);
        if (rc)
            return rc;
    }
    return 0;
}

static bool ready_or_final(struct sss_client *c, void *data)
{
    (void)data;
    return c->status == SSS_CLIENT_READY || sss_client__final_status(c->status);
}

int sss_client_wait_ready(struct sss_client *c, int timeout_ms)
{
    int rc = sss_client_wait(c, ready_or_final, NULL, timeout_ms);

    if (rc)
        return rc;
    return c->status == SSS_CLIENT_READY ? 0 : SSS_CLIENT_ENOTREADY;
}
