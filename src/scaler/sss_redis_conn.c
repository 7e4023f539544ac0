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

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define READ_CHUNK 65536

int sss_redis_target_parse(const char *url, struct sss_redis_target *t)
{
    char host[128], port[12] = "6379";
    struct sss_url u;
    struct addrinfo hints, *res = NULL;
    struct sss_url_part pw;

    memset(t, 0, sizeof(*t));
    if (sss_url_parse(url, &u) < 0 || !sss_url_part_is(u.scheme, "redis"))
        return SSS_EINVAL;
    /* redis://:password@host, redis://user:password@host (user ignored: no
     * ACL users) or redis://password@host. */
    pw = u.password.ptr ? u.password : u.user;
    if (sss_url_part_copy(pw, t->password, sizeof(t->password)) < 0 ||
        sss_url_part_copy(u.host, host, sizeof(host)) < 0 || host[0] == '\0')
        return SSS_EINVAL;
    if (u.port >= 0)
        snprintf(port, sizeof(port), "%d", u.port);
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
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return SSS_EINVAL;
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(t->where, sizeof(t->where), u.ipv6 ? "[%s]:%s" : "%s:%s", host, port);
    return 0;
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
        sss_log_warn("redis", "%s connection to %s lost: %s (retrying with backoff)", c->role,
                     c->target->where, why);
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

int sss_redis_conn_flush(struct sss_redis_conn *c)
{
    while (c->state == SSS_REDIS_UP && c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
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
    pfd->events = c->state == SSS_REDIS_CONNECTING ? POLLOUT : POLLIN;
    if (c->state == SSS_REDIS_UP && c->out_off < c->out.len)
        pfd->events |= POLLOUT;
    pfd->revents = 0;
    return 1;
}

int sss_redis_conn_handle(struct sss_redis_conn *c, short revents)
{
    char buf[READ_CHUNK];

    if (c->state == SSS_REDIS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
            return 0;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err)
            return -err;
        c->state = SSS_REDIS_UP;
        c->backoff_ms = BACKOFF_MIN_MS;
        if (c->down_logged)
            sss_log_info("redis", "%s connection to %s is back", c->role, c->target->where);
        else
            sss_log_info("redis", "%s connection to %s is up", c->role, c->target->where);
        c->down_logged = 0;
        return 1;
    }
    if (c->state != SSS_REDIS_UP)
        return 0;
    if (revents & POLLOUT) {
        int rc = sss_redis_conn_flush(c);

        if (rc < 0)
            return rc;
    }
    if (!(revents & (POLLIN | POLLERR | POLLHUP)))
        return 0;
    for (int i = 0; i < 16; i++) { /* bounded: other sockets get their turn */
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ECONNRESET;
        if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK)
            return SSS_EPROTO;
        if ((size_t)n < sizeof(buf))
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
