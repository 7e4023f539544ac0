/*
 * The byte stream of the C client, under its HTTP upgrade and wslay: the
 * socket itself for ws://, TLS over it for wss:// (src/tls: OpenSSL with two
 * memory BIOs, so nothing here blocks). Ciphertext read from the socket is
 * fed to OpenSSL and the plaintext kept in c->tls->plain until the reader
 * takes it; plaintext written is encrypted at once and the ciphertext goes
 * out through c->tls->wire, whatever send() leaves in it waiting for POLLOUT.
 *
 * Bounds: at most SSS_CLIENT_TLS_PLAIN decrypted bytes are held (OpenSSL
 * keeps the rest of what was read until the reader catches up), and a write
 * is refused (EAGAIN) while a wire buffer's worth of ciphertext waits, as the
 * socket's own buffer refuses it for ws://, so wslay's queue stays the only
 * queue. The TLS handshake runs in the first reads and writes; the caller's
 * connect deadline bounds it. A TLS failure before the handshake is over is
 * the server's certificate or not TLS at all (tls_failed, permanent); one
 * after it is a broken connection like any other.
 */
#include "sss_client_int.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

int sss_client__tls_prepare(struct sss_client *c, char *err, size_t cap)
{
    bool verify = !c->o.tls_insecure_skip_verify;
    struct stat st;
    char why[256];
    int rc;

    if (!c->tls || c->tls_ctx)
        return 0;
    if (!verify || !c->ca_path)
        return sss_tls_client_ctx(c->ca_file, verify, &c->tls_ctx, err, cap);
    /* A directory too: sss_tls_client_ctx loads a file or the system's store,
     * so the directory (and the file with it) are loaded here instead. */
    if (stat(c->ca_path, &st) || !S_ISDIR(st.st_mode)) {
        snprintf(err, cap, "tls_ca_path %s: %s", c->ca_path,
                 stat(c->ca_path, &st) ? strerror(errno) : "not a directory");
        return SSS_ETLS;
    }
    rc = sss_tls_client_ctx(NULL, 0, &c->tls_ctx, err, cap);
    if (rc)
        return rc;
    SSL_CTX_set_verify(c->tls_ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(c->tls_ctx, c->ca_file, c->ca_path) != 1) {
        sss_tls_last_error(why, sizeof(why));
        snprintf(err, cap, "%s: %s", c->ca_file ? c->ca_file : c->ca_path, why);
        sss_tls_ctx_unref(c->tls_ctx);
        c->tls_ctx = NULL;
        return SSS_ETLS;
    }
    return 0;
}

int sss_client__tls_start(struct sss_client *c)
{
    struct sss_client_tls *s = c->tls;
    bool verify = !c->o.tls_insecure_skip_verify;
    int rc;

    if (!s)
        return 0;
    s->plain_off = s->plain_len = s->wire_off = s->wire_len = 0;
    s->held = s->closed = false;
    s->first = -1;
    s->why[0] = '\0';
    /* A name goes in SNI and is what the certificate must name; an address
     * is never sent as SNI (RFC 6066) but is checked against the
     * certificate's IP addresses (OpenSSL 3's SSL_set1_host takes both). */
    rc = sss_tls_init(&s->t, c->tls_ctx, 0, c->host_ip ? NULL : c->host);
    if (rc)
        return rc;
    s->on = true;
    if (verify && c->host_ip && SSL_set1_host(s->t.ssl, c->host) != 1)
        return SSS_ETLS;
    (void)sss_client__io_flush(c); /* the ClientHello; a socket error shows on the next read */
    return 0;
}

void sss_client__tls_stop(struct sss_client *c)
{
    struct sss_client_tls *s = c->tls;

    if (!s || !s->on)
        return;
    sss_tls_shutdown(&s->t); /* nothing after a failure: its alert waits already */
    (void)sss_client__io_flush(c);
    sss_tls_fini(&s->t);
    s->on = false;
    s->plain_off = s->plain_len = s->wire_off = s->wire_len = 0;
    s->held = false;
}

const char *sss_client__tls_failure(const struct sss_client *c)
{
    return c->tls && c->tls->why[0] ? c->tls->why : NULL;
}

/* Why the handshake failed, for the error's detail. */
static void handshake_failed(struct sss_client_tls *s)
{
    long v = SSL_get_verify_result(s->t.ssl);

    if (s->first >= 0 && (s->first < 0x14 || s->first > 0x18))
        snprintf(s->why, sizeof(s->why),
                 "the server does not speak TLS on this port (its first byte is 0x%02x)",
                 s->first);
    else if (v != X509_V_OK)
        snprintf(s->why, sizeof(s->why), "the server's certificate: %s",
                 X509_verify_cert_error_string(v));
    else
        snprintf(s->why, sizeof(s->why),
                 "the TLS handshake failed (an alert from the server, or no common version or "
                 "cipher)");
}

/* sss_tls hands plaintext in pieces of one record at most. */
#define PIECE_MAX 16384

static int on_plain(void *data, const uint8_t *bytes, size_t len)
{
    struct sss_client_tls *s = data;

    assert(s->plain_len + len <= sizeof(s->plain));
    memcpy(s->plain + s->plain_len, bytes, len);
    s->plain_len += len;
    if (sizeof(s->plain) - s->plain_len >= PIECE_MAX)
        return 0;
    s->held = true; /* full: the rest waits inside OpenSSL */
    return 1;
}

/* Feed n bytes from the socket (none: what OpenSSL holds) into an empty plain buffer. */
static int feed(struct sss_client *c, const uint8_t *in, size_t n)
{
    struct sss_client_tls *s = c->tls;
    int rc;

    if (n && s->first < 0)
        s->first = in[0];
    s->held = false;
    s->plain_off = s->plain_len = 0;
    rc = sss_tls_feed(&s->t, in, n, on_plain, s);
    (void)sss_client__io_flush(c); /* handshake flights, the upgrade request after it */
    if (rc == SSS_TLS_CLOSED) {
        s->closed = true;
        return 0;
    }
    if (rc) {
        if (!sss_tls_established(&s->t) && !s->why[0])
            handshake_failed(s);
        errno = EPROTO;
        return -1;
    }
    return 0;
}

ssize_t sss_client__io_recv(struct sss_client *c, void *buf, size_t len)
{
    struct sss_client_tls *s = c->tls;
    uint8_t in[PIECE_MAX];
    ssize_t n;

    if (!s || !s->on) {
        n = recv(c->fd, buf, len, MSG_DONTWAIT);
        if (n > 0)
            c->last_rx = c->now;
        return n;
    }
    for (;;) {
        if (s->plain_off < s->plain_len)
            return (ssize_t)sss_client__take(buf, len, s->plain, &s->plain_off, s->plain_len);
        if (s->closed)
            return 0;
        if (s->held) {
            if (feed(c, NULL, 0))
                return -1;
            continue;
        }
        n = recv(c->fd, in, sizeof(in), MSG_DONTWAIT);
        if (n <= 0)
            return n;
        c->last_rx = c->now;
        if (feed(c, in, (size_t)n))
            return -1;
    }
}

int sss_client__io_flush(struct sss_client *c)
{
    struct sss_client_tls *s = c->tls;

    if (!s || !s->on || c->fd < 0)
        return 0;
    for (;;) {
        ssize_t n;

        if (s->wire_off == s->wire_len) {
            s->wire_off = 0;
            s->wire_len = sss_tls_take(&s->t, s->wire, sizeof(s->wire));
            if (!s->wire_len)
                return 0;
        }
        n = send(c->fd, s->wire + s->wire_off, s->wire_len - s->wire_off,
                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
        s->wire_off += (size_t)n;
    }
}

ssize_t sss_client__io_send(struct sss_client *c, const void *data, size_t len)
{
    struct sss_client_tls *s = c->tls;
    int rc;

    if (!s || !s->on)
        return send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    rc = sss_client__io_flush(c);
    if (rc) {
        errno = -rc;
        return -1;
    }
    if (s->wire_off < s->wire_len) { /* the socket is full: wslay keeps the rest */
        errno = EAGAIN;
        return -1;
    }
    if (len > PIECE_MAX)
        len = PIECE_MAX; /* one record at a time, so a full socket stops the next */
    if (sss_tls_write(&s->t, data, len)) {
        errno = EPROTO;
        return -1;
    }
    rc = sss_client__io_flush(c);
    if (rc) {
        errno = -rc;
        return -1;
    }
    return (ssize_t)len;
}

bool sss_client__io_want_write(const struct sss_client *c)
{
    const struct sss_client_tls *s = c->tls;

    return s && s->on && (s->wire_off < s->wire_len || sss_tls_pending(&s->t));
}

bool sss_client__io_buffered(const struct sss_client *c)
{
    const struct sss_client_tls *s = c->tls;

    return s && s->on && (s->plain_off < s->plain_len || s->held);
}
