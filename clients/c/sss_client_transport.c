/*
 * The transport of the C client: a non-blocking TCP connect, our own HTTP
 * upgrade (a random Sec-WebSocket-Key, the answer's Accept and Upgrade
 * checked), then wslay's client context reading and writing the socket
 * directly (it masks every frame with bytes from getrandom); frame bytes
 * that came with the 101 answer are fed to wslay first. sss_client_process
 * pumps it all and enforces the connect deadline and the heartbeat timeout.
 */
#include "sss_client_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Queue the frame in c->out (one text message). */
int sss_client__send_out(struct sss_client *c)
{
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)c->out.data, c->out.len};

    if (c->out.oom)
        return -ENOMEM;
    if (!c->ws)
        return SSS_CLIENT_ENOTREADY;
    return wslay_event_queue_msg(c->ws, &m) ? -ENOMEM : 0;
}

void sss_client__close_socket(struct sss_client *c)
{
    if (c->ws)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->upgraded = false;
    c->eof = false;
    c->close_code = 0;
    c->sync_id = -1;
    c->hs_in_len = c->hs_in_off = 0;
    c->hs_out_len = c->hs_out_sent = 0;
    c->deadline = 0;
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int sss_client__dial(struct sss_client *c)
{
    struct addrinfo hints = {0}, *ai = NULL;
    unsigned char rnd[16];
    int rc, fd = -1;

    c->retry_at = 0;
    sss_client__set_status(c, SSS_CLIENT_CONNECTING);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(c->host, c->port, &hints, &ai);
    if (rc) {
        sss_client__dropped(c, gai_strerror(rc));
        return 0;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)) {
        const char *e = strerror(errno);

        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        sss_client__dropped(c, e);
        return 0;
    }
    freeaddrinfo(ai);
    c->fd = fd;
    {
        int one = 1;

        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        return -EIO;
    b64(rnd, sizeof(rnd), c->key);
    rc = snprintf(c->hs_out, sizeof(c->hs_out),
                  "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sss.v1.json\r\n\r\n",
                  c->path, c->host, c->port, c->key);
    if (rc < 0 || (size_t)rc >= sizeof(c->hs_out))
        return SSS_CLIENT_EURL;
    c->hs_out_len = (size_t)rc;
    c->hs_out_sent = 0;
    c->hs_in_len = c->hs_in_off = 0;
    c->deadline = c->now + c->o.connect_timeout_ms;
    return 0;
}

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    struct sss_client *c = user;
    ssize_t n;

    (void)flags;
    if (c->hs_in_off < c->hs_in_len) {
        size_t k = c->hs_in_len - c->hs_in_off;

        if (k > len)
            k = len;
        memcpy(buf, c->hs_in + c->hs_in_off, k);
        c->hs_in_off += k;
        return (ssize_t)k;
    }
    n = recv(c->fd, buf, len, MSG_DONTWAIT);
    if (n > 0) {
        c->last_rx = c->now;
        return n;
    }
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
    n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
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

    if (a->opcode == WSLAY_TEXT_FRAME) {
        sss_client__on_frame(c, (const char *)a->msg, a->msg_length);
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
    wslay_event_config_set_max_recv_msg_length(c->ws, 64u << 20);
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

/* Check the 101 answer in hs_in (head complete at head_len). NULL if fine, else why. */
static const char *check_answer(struct sss_client *c, size_t head_len)
{
    char expect[32], accept_in[64] = "";
    unsigned char sha[SHA_DIGEST_LENGTH];
    char keyguid[96];
    bool upgrade = false;
    char *line, *next;

    c->hs_in[head_len - 2] = '\0'; /* ends at the last header's CRLF */
    if (strncmp(c->hs_in, "HTTP/1.1 101", 12))
        return "the server refused the upgrade";
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
    }
    snprintf(keyguid, sizeof(keyguid), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
    SHA1((const unsigned char *)keyguid, strlen(keyguid), sha);
    b64(sha, sizeof(sha), expect);
    if (!upgrade || strcmp(expect, accept_in))
        return "bad Sec-WebSocket-Accept or Upgrade in the server's answer";
    return NULL;
}

static int do_handshake(struct sss_client *c)
{
    if (c->status == SSS_CLIENT_CONNECTING && c->hs_out_sent == 0) {
        int err = 0;
        socklen_t l = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err) {
            sss_client__dropped(c, strerror(err));
            return 0;
        }
    }
    while (c->hs_out_sent < c->hs_out_len) {
        ssize_t n = send(c->fd, c->hs_out + c->hs_out_sent, c->hs_out_len - c->hs_out_sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ENOTCONN)
                return 0;
            sss_client__dropped(c, strerror(errno));
            return 0;
        }
        c->hs_out_sent += (size_t)n;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->hs_in + c->hs_in_len, HANDSHAKE_MAX - 1 - c->hs_in_len,
                         MSG_DONTWAIT);
        char *end;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0) {
            sss_client__dropped(c, n ? strerror(errno) : "closed during the upgrade");
            return 0;
        }
        c->hs_in_len += (size_t)n;
        c->hs_in[c->hs_in_len] = '\0';
        end = memmem(c->hs_in, c->hs_in_len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - c->hs_in) + 4;
            const char *why = check_answer(c, head);

            if (why) {
                sss_client__dropped(c, why);
                return 0;
            }
            c->hs_in_off = head; /* frame bytes that came with the answer */
            return start_ws(c);
        }
        if (c->hs_in_len >= HANDSHAKE_MAX - 1) {
            sss_client__dropped(c, "the server's answer is too long");
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
    if (c->fd < 0)
        return 0;
    if (!c->upgraded)
        return c->hs_out_sent < c->hs_out_len ? POLLOUT : POLLIN;
    return (short)(POLLIN | (c->ws && wslay_event_want_write(c->ws) ? POLLOUT : 0));
}

int64_t sss_client_next_timeout_ms(const struct sss_client *c, int64_t now_ms)
{
    int64_t at = 0;

    if (c->status == SSS_CLIENT_WAITING)
        at = c->retry_at;
    else if (c->deadline)
        at = c->deadline;
    else if (c->upgraded && c->hb)
        at = c->last_rx + c->hb_timeout;
    if (!at)
        return -1;
    return at > now_ms ? at - now_ms : 0;
}

int sss_client_process(struct sss_client *c, short revents, int64_t now_ms)
{
    int rc = 0;

    (void)revents;
    c->now = now_ms;
    if (c->status == SSS_CLIENT_WAITING) {
        if (now_ms >= c->retry_at)
            rc = sss_client__dial(c);
        return rc;
    }
    if (c->fd < 0)
        return 0;
    if (!c->upgraded) {
        if (c->deadline && now_ms >= c->deadline) {
            sss_client__dropped(c, "timed out connecting");
            return 0;
        }
        rc = do_handshake(c);
        if (rc || !c->upgraded)
            return rc;
    }
    c->in_recv = true;
    rc = wslay_event_recv(c->ws);
    c->in_recv = false;
    if (c->close_now) {
        c->close_now = false;
        (void)wslay_event_send(c->ws); /* best effort: the 4000 close */
        sss_client__close_socket(c);
        return 0;
    }
    if (rc != 0 || c->eof) {
        (void)wslay_event_send(c->ws);
        if (c->booted)
            sss_client__set_status(c, SSS_CLIENT_BOOTED);
        sss_client__dropped(c, "connection lost");
        return 0;
    }
    if (wslay_event_want_write(c->ws))
        (void)wslay_event_send(c->ws);
    if (c->close_code || c->booted) {
        int code = c->close_code;

        (void)wslay_event_send(c->ws);
        if (code == 1000 && !sss_client__final_status(c->status))
            sss_client__set_status(c, SSS_CLIENT_CLOSED);
        if (c->booted)
            sss_client__set_status(c, SSS_CLIENT_BOOTED);
        if (!code && c->booted && wslay_event_get_read_enabled(c->ws))
            return 0; /* wait for the 4001 close */
        c->close_code = 0;
        sss_client__dropped(c, "closed by the server");
        return 0;
    }
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)) {
        sss_client__dropped(c, "connection closed");
        return 0;
    }
    if (c->hb && now_ms - c->last_rx > c->hb_timeout && c->status != SSS_CLIENT_CONNECTING) {
        sss_client__report(c, NULL, "Heartbeat timeout", "the server has been silent too long");
        sss_client__dropped(c, "heartbeat timeout");
    }
    return 0;
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
