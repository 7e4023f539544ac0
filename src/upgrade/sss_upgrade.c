/*
 * The hand-over of an upgrade (sss_upgrade.h): the record of a connection,
 * the abstract-namespace sockets and SCM_RIGHTS, the list of inherited
 * listeners.
 */
#include "sss_upgrade.h"
#include "sss/sss_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const uint8_t magic[4] = {'S', 'S', 'U', '1'};

/* magic, version, encoding, subprotocol, flags, server_bits, client_bits,
 * user_len (2), session_len (2), nsubs (4) */
#define HEAD 18
#define NSUBS_AT 14

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static uint16_t get16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    return v;
}

int sss_upgrade_rec_begin(struct sss_dynbuf *out, const struct sss_upgrade_conn *c)
{
    uint8_t h[HEAD];

    if (c->user_len > SSS_USER_MAX || c->session_len > SSS_SESSION_MAX)
        return -EINVAL;
    memcpy(h, magic, 4);
    h[4] = 1;
    h[5] = c->encoding;
    h[6] = c->subprotocol;
    h[7] = c->flags;
    h[8] = c->server_bits;
    h[9] = c->client_bits;
    put16(h + 10, (uint16_t)c->user_len);
    put16(h + 12, (uint16_t)c->session_len);
    memset(h + NSUBS_AT, 0, 4);
    sss_dynbuf_reset(out);
    if (sss_dynbuf_append(out, h, sizeof(h)) < 0 ||
        sss_dynbuf_append(out, c->user, c->user_len) < 0 ||
        sss_dynbuf_append(out, c->session, c->session_len) < 0)
        return -ENOMEM;
    return 0;
}

int sss_upgrade_rec_add_sub(struct sss_dynbuf *out, const struct sss_upgrade_sub *s)
{
    uint8_t len[2], f = s->has_floor;

    if (s->len == 0 || s->len > SSS_PROTO_CHANNEL_MAX)
        return -EINVAL;
    put16(len, (uint16_t)s->len);
    if (sss_dynbuf_append(out, len, 2) < 0 || sss_dynbuf_append(out, s->name, s->len) < 0 ||
        sss_dynbuf_append(out, &f, 1) < 0 ||
        sss_dynbuf_append(out, &s->floor.epoch, 8) < 0 ||
        sss_dynbuf_append(out, &s->floor.offset, 8) < 0)
        return -ENOMEM;
    return 0;
}

int sss_upgrade_rec_end(struct sss_dynbuf *out, uint32_t nsubs)
{
    if (out->oom)
        return -ENOMEM;
    if (out->len > SSS_UPGRADE_REC_MAX)
        return -E2BIG;
    memcpy(out->data + NSUBS_AT, &nsubs, 4);
    return 0;
}

static int clean(const uint8_t *p, size_t n)
{
    return memchr(p, '\0', n) == NULL;
}

int sss_upgrade_rec_parse(const uint8_t *buf, size_t len, struct sss_upgrade_conn *c)
{
    size_t off = HEAD;

    memset(c, 0, sizeof(*c));
    if (len < HEAD || len > SSS_UPGRADE_REC_MAX || memcmp(buf, magic, 4) != 0 || buf[4] != 1)
        return -EINVAL;
    c->encoding = buf[5];
    c->subprotocol = buf[6];
    c->flags = buf[7];
    c->server_bits = buf[8];
    c->client_bits = buf[9];
    c->user_len = get16(buf + 10);
    c->session_len = get16(buf + 12);
    memcpy(&c->nsubs, buf + NSUBS_AT, 4);
    if (c->encoding > 1 || c->subprotocol > 1 || (c->flags & ~7u))
        return -EINVAL;
    if ((c->flags & SSS_UPGRADE_DEFLATE) &&
        (c->server_bits < 8 || c->server_bits > 15 || c->client_bits < 8 || c->client_bits > 15))
        return -EINVAL;
    if (c->user_len > SSS_USER_MAX || c->session_len > SSS_SESSION_MAX ||
        len - off < c->user_len + c->session_len)
        return -EINVAL;
    c->user = (const char *)buf + off;
    off += c->user_len;
    c->session = (const char *)buf + off;
    off += c->session_len;
    if (!clean((const uint8_t *)c->user, c->user_len) ||
        !clean((const uint8_t *)c->session, c->session_len))
        return -EINVAL;
    c->subs = buf + off;
    for (uint32_t i = 0; i < c->nsubs; i++) {
        size_t n;

        if (len - off < 2)
            return -EINVAL;
        n = get16(buf + off);
        off += 2;
        if (n == 0 || n > SSS_PROTO_CHANNEL_MAX || len - off < n + 17 ||
            !clean(buf + off, n) || buf[off + n] > 1)
            return -EINVAL;
        off += n + 17;
    }
    return off == len ? 0 : -EINVAL;
}

int sss_upgrade_sub_next(const struct sss_upgrade_conn *c, size_t *pos, struct sss_upgrade_sub *s)
{
    const uint8_t *p;
    uint32_t i = (uint32_t)(*pos >> 32);
    size_t off = *pos & 0xffffffffu;

    if (i >= c->nsubs)
        return 0;
    p = c->subs + off;
    s->len = get16(p);
    s->name = (const char *)p + 2;
    s->has_floor = p[2 + s->len];
    memcpy(&s->floor.epoch, p + 3 + s->len, 8);
    memcpy(&s->floor.offset, p + 11 + s->len, 8);
    off += 19 + s->len;
    *pos = ((size_t)(i + 1) << 32) | off;
    return 1;
}

size_t sss_upgrade_name(char *sun_path, size_t cap, pid_t master, int id)
{
    int n;

    /* Abstract: a leading NUL, no file, gone with the last socket. */
    sun_path[0] = '\0';
    n = snprintf(sun_path + 1, cap - 1, "sss-upgrade/%d/%d", (int)master, id);
    return n < 0 ? 0 : 1 + (size_t)n;
}

static socklen_t address(struct sockaddr_un *a, pid_t master, int id)
{
    size_t n;

    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    n = sss_upgrade_name(a->sun_path, sizeof(a->sun_path), master, id);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

int sss_upgrade_listen(pid_t master, int id)
{
    struct sockaddr_un a;
    socklen_t al = address(&a, master, id);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc;

    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a, al) < 0 || listen(fd, 64) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int sss_upgrade_connect(pid_t master, int id)
{
    struct sockaddr_un a;
    socklen_t al = address(&a, master, id);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), rc;
    int sz = 4 * SSS_UPGRADE_REC_MAX;

    if (fd < 0)
        return -errno;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    if (connect(fd, (struct sockaddr *)&a, al) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int sss_upgrade_peer_ok(int fd)
{
    struct ucred cr;
    socklen_t l = sizeof(cr);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
        return -errno;
    return cr.uid == geteuid();
}

int sss_upgrade_send(int sock, const void *rec, size_t len, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {(void *)rec, len};
    struct msghdr msg;
    struct cmsghdr *cm;

    memset(&msg, 0, sizeof(msg));
    memset(&u, 0, sizeof(u));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof(u.buf);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    for (;;) {
        ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);

        if (n == (ssize_t)len)
            return 0;
        if (n >= 0)
            return -EMSGSIZE;
        if (errno != EINTR)
            return -errno;
    }
}

ssize_t sss_upgrade_recv(int sock, void *buf, size_t cap, int *fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {buf, cap};
    struct msghdr msg;
    ssize_t n;

    *fd = -1;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof(u.buf);
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
            int f;

            memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (*fd < 0)
                *fd = f;
            else
                close(f); /* one socket per record: the rest is not ours to keep */
        }
    }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return -EMSGSIZE;
    }
    return n;
}

int sss_upgrade_parse_fds(const char *s, int *fds, int max)
{
    int n = 0;

    while (*s) {
        char *end;
        long v;

        if (*s < '0' || *s > '9')
            return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || v < 3 || v > 1 << 20 || n == max || fcntl((int)v, F_GETFD) < 0)
            return -EINVAL;
        fds[n++] = (int)v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -EINVAL;
    }
    return n;
}
