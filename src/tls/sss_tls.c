/*
 * TLS over memory buffers (see sss_tls.h). OpenSSL reads ciphertext from
 * one memory BIO and writes ciphertext to another; the owner moves both to
 * and from its socket. Plaintext written before the handshake is over
 * waits in `early` and is encrypted once it is (a client's upgrade request).
 * May include: libc, common, OpenSSL.
 */
#include "sss_tls.h"
#include "sss_alloc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define READ_CHUNK 16384 /* one TLS record's plaintext at most */

struct sss_tls_early {
    size_t len, cap;
    uint8_t data[];
};

void sss_tls_last_error(char *dst, size_t cap)
{
    unsigned long e = ERR_get_error();

    if (!cap)
        return;
    if (e)
        ERR_error_string_n(e, dst, cap);
    else
        snprintf(dst, cap, "%s", errno ? strerror(errno) : "unknown error");
    ERR_clear_error();
}

static void ctx_common(SSL_CTX *ctx)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Renegotiation costs the server a handshake whenever a client asks;
     * compression leaks plaintext (CRIME). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* An idle connection keeps no read or write buffer (about 34 KB). */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

/* "what: OpenSSL's reason" into err; frees ctx (may be NULL). Returns SSS_ETLS. */
static int ctx_fail(SSL_CTX *ctx, const char *what, char *err, size_t errcap)
{
    char why[256];

    sss_tls_last_error(why, sizeof(why));
    snprintf(err, errcap, "%s: %s", what, why);
    SSL_CTX_free(ctx);
    return SSS_ETLS;
}

/* A new context of method with the settings of both sides; NULL, with the reason in err. */
static SSL_CTX *ctx_new(const SSL_METHOD *method, char *err, size_t errcap)
{
    SSL_CTX *ctx;

    ERR_clear_error();
    errno = 0;
    ctx = SSL_CTX_new(method);
    if (ctx)
        ctx_common(ctx);
    else
        ctx_fail(NULL, "SSL_CTX_new", err, errcap);
    return ctx;
}

int sss_tls_server_ctx(const char *cert, const char *key, struct ssl_ctx_st **out, char *err,
                       size_t errcap)
{
    SSL_CTX *ctx = ctx_new(TLS_server_method(), err, errcap);

    if (!ctx)
        return SSS_ETLS;
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return ctx_fail(ctx, cert, err, errcap);
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return ctx_fail(ctx, key, err, errcap);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return ctx_fail(ctx, "the key does not match the certificate", err, errcap);
    *out = ctx;
    return 0;
}

int sss_tls_client_ctx(const char *ca_file, int verify, struct ssl_ctx_st **out, char *err,
                       size_t errcap)
{
    SSL_CTX *ctx = ctx_new(TLS_client_method(), err, errcap);
    int has_file = ca_file && ca_file[0];

    if (!ctx)
        return SSS_ETLS;
    if (verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if ((has_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                      : SSL_CTX_set_default_verify_paths(ctx)) != 1)
            return ctx_fail(ctx, has_file ? ca_file : "the system's trust store", err, errcap);
    }
    *out = ctx;
    return 0;
}

void sss_tls_ctx_unref(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

int sss_tls_init(struct sss_tls *t, struct ssl_ctx_st *ctx, int server, const char *sni)
{
    memset(t, 0, sizeof(*t));
    t->ssl = SSL_new(ctx);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out) {
        SSL_free(t->ssl);
        BIO_free(t->in);
        BIO_free(t->out);
        memset(t, 0, sizeof(*t));
        ERR_clear_error();
        return -ENOMEM;
    }
    /* An empty input BIO means "no bytes yet", not end of file. */
    BIO_set_mem_eof_return(t->in, -1);
    BIO_set_mem_eof_return(t->out, -1);
    SSL_set_bio(t->ssl, t->in, t->out); /* ssl owns both now */
    if (server) {
        SSL_set_accept_state(t->ssl);
        return 0;
    }
    SSL_set_connect_state(t->ssl);
    if (sni && sni[0] &&
        (SSL_set_tlsext_host_name(t->ssl, sni) != 1 || SSL_set1_host(t->ssl, sni) != 1)) {
        sss_tls_fini(t);
        ERR_clear_error();
        return SSS_ETLS;
    }
    (void)SSL_do_handshake(t->ssl); /* the ClientHello, into out */
    ERR_clear_error();
    return 0;
}

void sss_tls_fini(struct sss_tls *t)
{
    SSL_free(t->ssl); /* frees both BIOs */
    sss_free(t->early);
    memset(t, 0, sizeof(*t));
}

int sss_tls_established(const struct sss_tls *t)
{
    return t->ssl && SSL_is_init_finished(t->ssl);
}

const char *sss_tls_version(const struct sss_tls *t)
{
    return sss_tls_established(t) ? SSL_get_version(t->ssl) : "";
}

static int fail(struct sss_tls *t)
{
    t->failed = 1;
    ERR_clear_error();
    return SSS_ETLS;
}

/* Encrypt what waited for the handshake. */
static int write_early(struct sss_tls *t)
{
    struct sss_tls_early *e = t->early;
    int rc;

    if (!e || !sss_tls_established(t))
        return 0;
    t->early = NULL;
    rc = sss_tls_write(t, e->data, e->len);
    sss_free(e);
    return rc;
}

int sss_tls_feed(struct sss_tls *t, const uint8_t *in, size_t len,
                 int (*plain)(void *data, const uint8_t *bytes, size_t len), void *data)
{
    uint8_t buf[READ_CHUNK];

    if (t->failed)
        return SSS_ETLS;
    if (len && BIO_write(t->in, in, (int)len) != (int)len)
        return fail(t);
    for (;;) {
        int n = SSL_read(t->ssl, buf, sizeof(buf));

        if (n > 0) {
            if (plain(data, buf, (size_t)n))
                return 0;
            continue;
        }
        switch (SSL_get_error(t->ssl, n)) {
        case SSL_ERROR_WANT_READ:
            return write_early(t);
        case SSL_ERROR_ZERO_RETURN:
            return SSS_TLS_CLOSED;
        default:
            return fail(t);
        }
    }
}

int sss_tls_write(struct sss_tls *t, const void *bytes, size_t len)
{
    int n;

    if (t->failed)
        return SSS_ETLS;
    if (!len)
        return 0;
    if (!sss_tls_established(t)) {
        struct sss_tls_early *e = t->early;
        size_t have = e ? e->len : 0, cap = e ? e->cap : 0;

        if (have + len > cap) {
            size_t ncap = (have + len) * 2;

            e = sss_realloc(e, sizeof(*e) + ncap);
            if (!e)
                return -ENOMEM;
            e->len = have;
            e->cap = ncap;
            t->early = e;
        }
        memcpy(e->data + e->len, bytes, len);
        e->len += len;
        return 0;
    }
    /* Without SSL_MODE_ENABLE_PARTIAL_WRITE, and with a memory BIO that
     * grows, SSL_write takes all of it or fails. */
    n = SSL_write(t->ssl, bytes, (int)len);
    if (n != (int)len)
        return fail(t);
    return 0;
}

size_t sss_tls_pending(const struct sss_tls *t)
{
    return t->out ? (size_t)BIO_ctrl_pending(t->out) : 0;
}

size_t sss_tls_take(struct sss_tls *t, void *dst, size_t cap)
{
    int n;

    if (!cap || !sss_tls_pending(t))
        return 0;
    n = BIO_read(t->out, dst, cap > (size_t)1 << 30 ? 1 << 30 : (int)cap);
    return n > 0 ? (size_t)n : 0;
}

void sss_tls_shutdown(struct sss_tls *t)
{
    if (t->shut || t->failed || !sss_tls_established(t))
        return;
    t->shut = 1;
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
}

int sss_tls_ktls_probe(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) < 0)
        rc = errno == ENOTCONN ? 0 : -errno;
    close(fd);
    return rc;
}

const char *sss_tls_library(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}
