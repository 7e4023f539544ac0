/* A non-blocking connection to Redis with backoff (see sss_redis_conn.h). */
#include "sss_redis_conn.h"
#include "sss_alloc.h"
#include "sss_err.h"
#include "sss_log.h"
#include "sss_url.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define READ_CHUNK 65536

/* t's address and where (for logs) from host (a name or an IP literal) and port, resolved now. */
static int resolve(struct sss_redis_target *t, const char *host, int port)
{
    struct addrinfo hints, *res = NULL;
    char ps[12];

    snprintf(ps, sizeof(ps), "%d", port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res)
        return SSS_EINVAL;
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(t->where, sizeof(t->where), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    return 0;
}

int sss_redis_target_parse(const char *url, struct sss_redis_target *t)
{
    char host[128];
    struct sss_url u;
    struct sss_url_part pw;

    memset(t, 0, sizeof(*t));
    if (sss_url_parse(url, &u) < 0 ||
        !(sss_url_part_is(u.scheme, "redis") || sss_url_part_is(u.scheme, "rediss")))
        return SSS_EINVAL;
    t->tls = sss_url_part_is(u.scheme, "rediss");
    /* redis://user:password@host is an ACL user; redis://:password@host and
     * redis://password@host the default user's password. */
    pw = u.password.ptr ? u.password : u.user;
    if (u.password.ptr && sss_url_part_copy(u.user, t->user, sizeof(t->user)) < 0)
        return SSS_EINVAL;
    if (sss_url_part_copy(pw, t->password, sizeof(t->password)) < 0 ||
        sss_url_part_copy(u.host, host, sizeof(host)) < 0 || host[0] == '\0')
        return SSS_EINVAL;
    if (t->user[0] && !t->password[0])
        return SSS_EINVAL; /* an ACL user needs its password */
    memcpy(t->host, host, sizeof(t->host));
    if (u.path.ptr && u.path.len > 1) {
        char *e;
        long db;

        if (u.path.ptr[0] != '/')
            return SSS_EINVAL;
        db = strtol(u.path.ptr + 1, &e, 10);
        if (*e || db < 0 || db > 1000000)
            return SSS_EINVAL;
        t->db = (int)db;
    } else if (u.path.ptr && u.path.ptr[0] != '/') {
        return SSS_EINVAL;
    }
    return resolve(t, host, u.port >= 0 ? u.port : 6379);
}

/* The first queued OpenSSL error as text ("" when none), the queue emptied. */
static void ssl_error_text(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();

    buf[0] = '\0';
    if (e)
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
}

int sss_redis_target_tls(struct sss_redis_target *t, const char *ca_file, const char *cert_file,
                         const char *key_file, char *why, size_t cap)
{
    char err[200];
    int has_cert = cert_file && cert_file[0], has_key = key_file && key_file[0];

    why[0] = '\0';
    if (!t->tls)
        return 0;
    if (has_cert != has_key) {
        snprintf(why, cap, "--redis-cert-file and --redis-key-file go together");
        return SSS_EINVAL;
    }
    t->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ssl_ctx) {
        ssl_error_text(err, sizeof(err));
        snprintf(why, cap, "cannot make a TLS context: %s", err);
        return SSS_EINVAL;
    }
    (void)SSL_CTX_set_min_proto_version(t->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
    /* The write buffer grows and slides (sss_redis_conn_append) between retries. */
    SSL_CTX_set_mode(t->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (ca_file && ca_file[0] ? SSL_CTX_load_verify_locations(t->ssl_ctx, ca_file, NULL) != 1
                              : SSL_CTX_set_default_verify_paths(t->ssl_ctx) != 1) {
        ssl_error_text(err, sizeof(err));
        snprintf(why, cap, "--redis-ca-file %s: %s", ca_file && ca_file[0] ? ca_file : "(system)",
                 err);
        goto fail;
    }
    if (has_cert && SSL_CTX_use_certificate_chain_file(t->ssl_ctx, cert_file) != 1) {
        ssl_error_text(err, sizeof(err));
        snprintf(why, cap, "--redis-cert-file %s: %s", cert_file, err);
        goto fail;
    }
    if (has_key && (SSL_CTX_use_PrivateKey_file(t->ssl_ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
                    SSL_CTX_check_private_key(t->ssl_ctx) != 1)) {
        ssl_error_text(err, sizeof(err));
        snprintf(why, cap, "--redis-key-file %s: %s", key_file, err);
        goto fail;
    }
    return 0;
fail:
    SSL_CTX_free(t->ssl_ctx);
    t->ssl_ctx = NULL;
    return SSS_EINVAL;
}

int sss_redis_target_at(const struct sss_redis_target *t, const char *host, int port,
                        struct sss_redis_target *out)
{
    if (strlen(host) >= sizeof(out->host) || port <= 0 || port > 65535)
        return SSS_EINVAL;
    *out = *t;
    snprintf(out->host, sizeof(out->host), "%s", host);
    return resolve(out, host, port);
}

int sss_redis_target_port(const struct sss_redis_target *t)
{
    if (t->addr.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&t->addr)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&t->addr)->sin_port);
}

void sss_redis_target_fini(struct sss_redis_target *t)
{
    SSL_CTX_free(t->ssl_ctx);
    t->ssl_ctx = NULL;
}

void sss_redis_conn_init(struct sss_redis_conn *c, const char *role,
                         const struct sss_redis_target *t)
{
    memset(c, 0, sizeof(*c));
    c->role = role;
    c->target = t;
    c->fd = -1;
    c->state = SSS_REDIS_DOWN;
    c->backoff_ms = BACKOFF_MIN_MS;
}

static void conn_close(struct sss_redis_conn *c)
{
    if (c->ssl)
        SSL_free(c->ssl); /* no close_notify: the socket is dropped anyway */
    c->ssl = NULL;
    c->ssl_want_write = 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->reader)
        redisReaderFree(c->reader);
    c->reader = NULL;
    sss_dynbuf_reset(&c->out);
    c->out_off = 0;
    c->state = SSS_REDIS_DOWN;
}

void sss_redis_conn_fini(struct sss_redis_conn *c)
{
    conn_close(c);
    sss_dynbuf_fini(&c->out);
}

void sss_redis_conn_lost(struct sss_redis_conn *c, const char *why, int64_t now_ms)
{
    int jitter = c->backoff_ms / 4 ? rand() % (c->backoff_ms / 4 + 1) : 0;

    if (!c->down_logged)
        sss_log_warn("redis", "%s connection to %s lost: %s%s%s (retrying with backoff)", c->role,
                     c->target->where, why, c->tls_why[0] ? ": " : "", c->tls_why);
    c->tls_why[0] = '\0';
    c->down_logged = 1;
    conn_close(c);
    c->retry_at = now_ms + c->backoff_ms + jitter;
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

void sss_redis_conn_maybe_connect(struct sss_redis_conn *c, int64_t now_ms)
{
    int one = 1;

    if (c->state != SSS_REDIS_DOWN || now_ms < c->retry_at)
        return;
    c->fd = socket(c->target->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        sss_redis_conn_lost(c, strerror(errno), now_ms);
        return;
    }
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->reader = redisReaderCreate();
    if (!c->reader) {
        sss_redis_conn_lost(c, "out of memory", now_ms);
        return;
    }
    if (connect(c->fd, (const struct sockaddr *)&c->target->addr, c->target->addrlen) < 0 &&
        errno != EINPROGRESS) {
        sss_redis_conn_lost(c, strerror(errno), now_ms);
        return;
    }
    c->state = SSS_REDIS_CONNECTING;
    c->connect_deadline = c->target->connect_timeout_ms ? now_ms + c->target->connect_timeout_ms
                                                        : INT64_MAX;
}

const char *sss_redis_conn_overdue(const struct sss_redis_conn *c, int64_t now_ms)
{
    if (now_ms < c->connect_deadline)
        return NULL;
    if (c->state == SSS_REDIS_CONNECTING)
        return "connect timed out (--redis-connect-timeout)";
    if (c->state == SSS_REDIS_HANDSHAKE)
        return "TLS handshake timed out (--redis-connect-timeout; is it a TLS port?)";
    return NULL;
}

int sss_redis_conn_append(struct sss_redis_conn *c, const char *p, size_t len)
{
    if (c->out_off == c->out.len) {
        sss_dynbuf_reset(&c->out);
        c->out_off = 0;
    } else if (c->out_off && c->out.cap - c->out.len <= len) {
        /* slide the unwritten bytes to the front before growing */
        sss_dynbuf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    if (!c->out.cap && sss_dynbuf_reserve(&c->out, 65536) < 0)
        return -ENOMEM;
    return sss_dynbuf_append(&c->out, p, len);
}

/*
 * What an SSL_* call that returned n <= 0 means: 0 to retry when the socket
 * is ready (c->ssl_want_write says for what), or a negative code with the
 * reason in c->tls_why.
 */
static int ssl_retry_or_fail(struct sss_redis_conn *c, int n, const char *what)
{
    int e = SSL_get_error(c->ssl, n);
    long v;

    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN)
        return -ECONNRESET;
    if (e == SSL_ERROR_SYSCALL && errno)
        return -errno;
    v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK) {
        snprintf(c->tls_why, sizeof(c->tls_why), "TLS %s: certificate verify failed: %s", what,
                 X509_verify_cert_error_string(v));
        ERR_clear_error();
    } else {
        char err[128];

        ssl_error_text(err, sizeof(err));
        snprintf(c->tls_why, sizeof(c->tls_why), "TLS %s failed: %s", what,
                 err[0] ? err : "the peer closed the connection");
    }
    return SSS_EPROTO;
}

/* Send up to len bytes: how many went, 0 when the socket is full, or a negative code. */
static ssize_t conn_send(struct sss_redis_conn *c, const char *p, size_t len)
{
    if (c->ssl) {
        int n = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);

        c->ssl_want_write = 0;
        return n > 0 ? n : ssl_retry_or_fail(c, n, "write");
    }
    for (;;) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
}

/* Receive into buf: how many came, 0 when nothing is there now, or a negative code. */
static ssize_t conn_recv(struct sss_redis_conn *c, char *buf, size_t cap)
{
    if (c->ssl) {
        int n = SSL_read(c->ssl, buf, (int)cap);

        return n > 0 ? n : ssl_retry_or_fail(c, n, "read");
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, MSG_DONTWAIT);

        if (n > 0)
            return n;
        if (n == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
}

int sss_redis_conn_flush(struct sss_redis_conn *c)
{
    while (c->state == SSS_REDIS_UP && c->out_off < c->out.len) {
        ssize_t n = conn_send(c, c->out.data + c->out_off, c->out.len - c->out_off);

        if (n < 0)
            return (int)n;
        if (n == 0)
            return 0;
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out.len) {
        sss_dynbuf_reset(&c->out);
        c->out_off = 0;
    }
    return 0;
}

int sss_redis_conn_pollfd(struct sss_redis_conn *c, struct pollfd *pfd)
{
    if (c->fd < 0)
        return 0;
    pfd->fd = c->fd;
    if (c->state == SSS_REDIS_CONNECTING)
        pfd->events = POLLOUT;
    else if (c->state == SSS_REDIS_HANDSHAKE)
        pfd->events = c->ssl_want_write ? POLLOUT : POLLIN;
    else
        pfd->events = POLLIN;
    if (c->state == SSS_REDIS_UP && (c->out_off < c->out.len || c->ssl_want_write))
        pfd->events |= POLLOUT;
    pfd->revents = 0;
    return 1;
}

/* The connection is usable: say so once, reset the backoff. Returns 1. */
static int conn_up(struct sss_redis_conn *c)
{
    c->state = SSS_REDIS_UP;
    c->backoff_ms = BACKOFF_MIN_MS;
    if (c->down_logged)
        sss_log_info("redis", "%s connection to %s is back%s", c->role, c->target->where,
                     c->ssl ? " (TLS)" : "");
    else
        sss_log_info("redis", "%s connection to %s is up%s", c->role, c->target->where,
                     c->ssl ? " (TLS)" : "");
    c->down_logged = 0;
    return 1;
}

/* TCP is connected: start TLS on it (SNI and the name to verify: the URL's host). */
static int tls_start(struct sss_redis_conn *c)
{
    const struct sss_redis_target *t = c->target;
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, t->host, ip) == 1 || inet_pton(AF_INET6, t->host, ip) == 1;

    if (!t->ssl_ctx) {
        snprintf(c->tls_why, sizeof(c->tls_why), "rediss:// without a TLS context");
        return SSS_EINVAL;
    }
    c->ssl = SSL_new(t->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), t->host) != 1
               : (SSL_set_tlsext_host_name(c->ssl, t->host) != 1 ||
                  SSL_set1_host(c->ssl, t->host) != 1))) {
        char err[128];

        ssl_error_text(err, sizeof(err));
        snprintf(c->tls_why, sizeof(c->tls_why), "cannot start TLS: %s", err);
        return -ENOMEM;
    }
    SSL_set_connect_state(c->ssl);
    c->state = SSS_REDIS_HANDSHAKE;
    return 0;
}

static int tls_handshake(struct sss_redis_conn *c)
{
    int n = SSL_do_handshake(c->ssl);

    c->ssl_want_write = 0;
    return n == 1 ? conn_up(c) : ssl_retry_or_fail(c, n, "handshake");
}

int sss_redis_conn_handle(struct sss_redis_conn *c, short revents)
{
    char buf[READ_CHUNK];

    if (c->state == SSS_REDIS_CONNECTING) {
        int err = 0, rc;
        socklen_t len = sizeof(err);

        if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
            return 0;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err)
            return -err;
        if (!c->target->tls)
            return conn_up(c);
        if ((rc = tls_start(c)) < 0)
            return rc;
        return tls_handshake(c);
    }
    if (c->state == SSS_REDIS_HANDSHAKE)
        return revents ? tls_handshake(c) : 0;
    if (c->state != SSS_REDIS_UP)
        return 0;
    if (revents & POLLOUT) {
        int rc = sss_redis_conn_flush(c);

        if (rc < 0)
            return rc;
    }
    if (!(revents & (POLLIN | POLLERR | POLLHUP)))
        return 0;
    /* Bounded, so that other sockets get their turn; but bytes OpenSSL has
     * already decrypted wait in it, not in the socket, and poll would not
     * wake us for them: a TLS connection reads until the socket is empty. */
    for (int i = 0; i < 16 || (c->ssl && SSL_pending(c->ssl)); i++) {
        ssize_t n = conn_recv(c, buf, sizeof(buf));

        if (n <= 0)
            return (int)n;
        if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK)
            return SSS_EPROTO;
        if ((size_t)n < sizeof(buf) && !(c->ssl && SSL_pending(c->ssl)))
            return 0;
    }
    return 0;
}

int sss_redis_conn_reply(struct sss_redis_conn *c, redisReply **r)
{
    void *reply = NULL;

    *r = NULL;
    if (!c->reader)
        return 0;
    if (redisReaderGetReply(c->reader, &reply) != REDIS_OK)
        return SSS_EPROTO;
    *r = reply;
    return reply != NULL;
}
