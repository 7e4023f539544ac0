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
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
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

/* ---- session tickets shared by the processes forked after sss_tls_tickets_init ---- */

static struct {
    unsigned lifetime_s; /* 0: no tickets */
    unsigned char secret[SSS_TLS_TICKET_SECRET];
} tickets;

static const unsigned char TICKET_TAG[8] = {'s', 's', 's', '-', 't', 'k', 't', '1'};

int sss_tls_tickets_init(unsigned lifetime_s, const unsigned char *secret)
{
    OPENSSL_cleanse(&tickets, sizeof(tickets));
    if (!lifetime_s)
        return 0;
    if (secret)
        memcpy(tickets.secret, secret, sizeof(tickets.secret));
    else if (RAND_priv_bytes(tickets.secret, sizeof(tickets.secret)) != 1)
        return SSS_ETLS;
    tickets.lifetime_s = lifetime_s;
    return 0;
}

int sss_tls_tickets_secret(unsigned char *out)
{
    if (!tickets.lifetime_s)
        return 0;
    memcpy(out, tickets.secret, sizeof(tickets.secret));
    return 1;
}

/* The AES-256 key and the HMAC-SHA256 key of period p, each HMAC(secret, label || p). */
static int period_keys(uint64_t p, unsigned char aes[32], unsigned char mac[32])
{
    unsigned char in[9];
    unsigned int n = 0;

    for (int i = 0; i < 8; i++)
        in[1 + i] = (unsigned char)(p >> (56 - 8 * i));
    in[0] = 'e';
    if (!HMAC(EVP_sha256(), tickets.secret, sizeof(tickets.secret), in, sizeof(in), aes, &n) ||
        n != 32)
        return -1;
    in[0] = 'm';
    if (!HMAC(EVP_sha256(), tickets.secret, sizeof(tickets.secret), in, sizeof(in), mac, &n) ||
        n != 32)
        return -1;
    return 0;
}

/*
 * OpenSSL's ticket key callback. The key name is a tag and the period the
 * ticket was made in; keys rotate every lifetime and a ticket is taken in
 * its own period and the next (then replaced by a new one). Returns 1 (key
 * set), 2 (set, and issue a new ticket), 0 (not ours or too old: a full
 * handshake) or -1 (error).
 */
static int ticket_key_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
                         EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    uint64_t now = (uint64_t)time(NULL) / tickets.lifetime_s, p = 0;
    unsigned char aes[32], mac[32];
    OSSL_PARAM params[3];
    int rc;

    (void)ssl;
    if (enc) {
        p = now;
        memcpy(name, TICKET_TAG, sizeof(TICKET_TAG));
        for (int i = 0; i < 8; i++)
            name[8 + i] = (unsigned char)(p >> (56 - 8 * i));
        if (RAND_bytes(iv, 16) != 1)
            return -1;
    } else {
        if (memcmp(name, TICKET_TAG, sizeof(TICKET_TAG)) != 0)
            return 0;
        for (int i = 0; i < 8; i++)
            p = p << 8 | name[8 + i];
        if (p != now && p + 1 != now)
            return 0;
    }
    if (period_keys(p, aes, mac) < 0)
        return -1;
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, mac, sizeof(mac));
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    rc = (enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, aes, iv)
              : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, aes, iv)) == 1 &&
         EVP_MAC_CTX_set_params(hctx, params) == 1;
    OPENSSL_cleanse(aes, sizeof(aes));
    OPENSSL_cleanse(mac, sizeof(mac));
    if (!rc)
        return -1;
    return enc || p == now ? 1 : 2;
}

int sss_tls_server_ctx(const char *cert, const char *key, struct ssl_ctx_st **out, char *err,
                       size_t errcap)
{
    SSL_CTX *ctx = ctx_new(TLS_server_method(), err, errcap);

    if (!ctx)
        return SSS_ETLS;
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* No session cache: a ticket carries the session, sealed with keys
     * every worker derives alike, so any of them resumes it. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (tickets.lifetime_s) {
        SSL_CTX_set_num_tickets(ctx, 1);
        SSL_CTX_set_timeout(ctx, (long)tickets.lifetime_s);
        if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb) != 1)
            return ctx_fail(ctx, "session tickets", err, errcap);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
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

int sss_tls_resumed(const struct sss_tls *t)
{
    return sss_tls_established(t) && SSL_session_reused(t->ssl);
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
