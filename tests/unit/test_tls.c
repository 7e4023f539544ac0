/*
 * Unit tests of sss_tls (src/tls): a client and a server side moved against
 * each other in memory, with a certificate made here at run time (no key is
 * committed): the handshake, plaintext written before it ends, large
 * writes, close_notify, and what must fail: input that is not TLS, a wrong
 * host name, a TLS 1.1 client, files that do not load.
 */
#include "sss_test.h"
#include "sss_tls.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/sss-test-tls-XXXXXX";
static char cert_path[64], key_path[64], other_key_path[64];

/* A P-256 key in path (PEM); returns it. */
static EVP_PKEY *write_key(const char *path)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    FILE *f = fopen(path, "w");

    if (!k || !f || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1)
        abort();
    fclose(f);
    return k;
}

/* A self-signed certificate for localhost and 127.0.0.1, valid for a day. */
static void make_cert(void)
{
    EVP_PKEY *k;
    X509 *x = X509_new();
    X509_NAME *n;
    X509_EXTENSION *ext;
    X509V3_CTX v3;
    FILE *f;

    if (!mkdtemp(dir))
        abort();
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
    snprintf(other_key_path, sizeof(other_key_path), "%s/other.pem", dir);
    EVP_PKEY_free(write_key(other_key_path));
    k = write_key(key_path);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (!X509_sign(x, k, EVP_sha256()))
        abort();
    f = fopen(cert_path, "w");
    if (!f || PEM_write_X509(f, x) != 1)
        abort();
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void cleanup(void)
{
    unlink(cert_path);
    unlink(key_path);
    unlink(other_key_path);
    rmdir(dir);
}

/* What a side's plaintext callback collected. */
struct got {
    char data[200000];
    size_t len;
    int stop_after; /* return 1 after this many calls (0: never) */
    int calls;
};

static int collect(void *data, const uint8_t *bytes, size_t len)
{
    struct got *g = data;

    if (g->len + len <= sizeof(g->data)) {
        memcpy(g->data + g->len, bytes, len);
        g->len += len;
    }
    return g->stop_after && ++g->calls >= g->stop_after;
}

/*
 * Move ciphertext both ways until neither side has any; returns the first
 * nonzero feed result (SSS_ETLS, SSS_TLS_CLOSED), or 0. *who says which side
 * returned it (1 server, 2 client).
 */
static int pump(struct sss_tls *cl, struct got *cg, struct sss_tls *sv, struct got *sg, int *who)
{
    static uint8_t buf[65536];
    size_t n;
    int rc, moved = 1;

    while (moved) {
        moved = 0;
        while ((n = sss_tls_take(cl, buf, sizeof(buf))) > 0) {
            moved = 1;
            if ((rc = sss_tls_feed(sv, buf, n, collect, sg)) != 0) {
                *who = 1;
                return rc;
            }
        }
        while ((n = sss_tls_take(sv, buf, sizeof(buf))) > 0) {
            moved = 1;
            if ((rc = sss_tls_feed(cl, buf, n, collect, cg)) != 0) {
                *who = 2;
                return rc;
            }
        }
    }
    return 0;
}

static struct got cg, sg;

static void test_exchange(struct ssl_ctx_st *sctx, struct ssl_ctx_st *cctx)
{
    struct sss_tls cl, sv;
    static char big[100000];
    int who = 0;

    memset(&cg, 0, sizeof(cg));
    memset(&sg, 0, sizeof(sg));
    CHECK_EQ_INT(sss_tls_init(&sv, sctx, 1, NULL), 0);
    CHECK_EQ_INT(sss_tls_init(&cl, cctx, 0, "localhost"), 0);
    CHECK(sss_tls_pending(&cl) > 0); /* the ClientHello */
    CHECK(!sss_tls_established(&cl));
    CHECK_EQ_STR(sss_tls_version(&cl), "");
    /* Written before the handshake: waits, then goes out encrypted. */
    CHECK_EQ_INT(sss_tls_write(&cl, "GET / HTTP/1.1\r\n", 16), 0);
    CHECK_EQ_INT(pump(&cl, &cg, &sv, &sg, &who), 0);
    CHECK(sss_tls_established(&cl) && sss_tls_established(&sv));
    CHECK_EQ_STR(sss_tls_version(&sv), "TLSv1.3");
    CHECK_EQ_INT(sg.len, 16);
    CHECK(memcmp(sg.data, "GET / HTTP/1.1\r\n", 16) == 0);
    /* Larger than a record: several records, all of it arrives in order. */
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    CHECK_EQ_INT(sss_tls_write(&sv, big, sizeof(big)), 0);
    CHECK(sss_tls_pending(&sv) > sizeof(big));
    CHECK_EQ_INT(pump(&cl, &cg, &sv, &sg, &who), 0);
    CHECK_EQ_INT(cg.len, sizeof(big));
    CHECK(memcmp(cg.data, big, sizeof(big)) == 0);
    /* A callback that stops the feed gets no more calls from that feed; the
     * rest waits for the next one. */
    {
        static uint8_t wire[200000];
        size_t n;

        cg.len = 0;
        cg.stop_after = 1;
        CHECK_EQ_INT(sss_tls_write(&sv, big, sizeof(big)), 0);
        n = sss_tls_take(&sv, wire, sizeof(wire));
        CHECK_EQ_INT(sss_tls_pending(&sv), 0);
        CHECK_EQ_INT(sss_tls_feed(&cl, wire, n, collect, &cg), 0);
        CHECK_EQ_INT(cg.calls, 1);
        CHECK(cg.len > 0 && cg.len < sizeof(big));
        cg.stop_after = 0;
        CHECK_EQ_INT(sss_tls_feed(&cl, NULL, 0, collect, &cg), 0);
        CHECK_EQ_INT(cg.len, sizeof(big));
    }
    /* close_notify ends the peer's plaintext. */
    sss_tls_shutdown(&sv);
    sss_tls_shutdown(&sv); /* once */
    CHECK_EQ_INT(pump(&cl, &cg, &sv, &sg, &who), SSS_TLS_CLOSED);
    CHECK_EQ_INT(who, 2);
    sss_tls_fini(&cl);
    sss_tls_fini(&sv);
}

/* A client that speaks plain HTTP to the TLS port: failed, an alert for it. */
static void test_not_tls(struct ssl_ctx_st *sctx)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    struct sss_tls sv;

    memset(&sg, 0, sizeof(sg));
    CHECK_EQ_INT(sss_tls_init(&sv, sctx, 1, NULL), 0);
    CHECK_EQ_INT(sss_tls_feed(&sv, (const uint8_t *)req, sizeof(req) - 1, collect, &sg), SSS_ETLS);
    CHECK(sv.failed);
    CHECK_EQ_INT(sg.len, 0);
    CHECK_EQ_INT(sss_tls_feed(&sv, (const uint8_t *)"x", 1, collect, &sg), SSS_ETLS);
    CHECK_EQ_INT(sss_tls_write(&sv, "x", 1), SSS_ETLS);
    sss_tls_shutdown(&sv); /* nothing after a failure */
    CHECK(!sv.shut);
    sss_tls_fini(&sv);
}

/* The certificate is not for this name: the client refuses it. */
static void test_wrong_name(struct ssl_ctx_st *sctx, struct ssl_ctx_st *cctx)
{
    struct sss_tls cl, sv;
    int who = 0;

    CHECK_EQ_INT(sss_tls_init(&sv, sctx, 1, NULL), 0);
    CHECK_EQ_INT(sss_tls_init(&cl, cctx, 0, "example.com"), 0);
    CHECK_EQ_INT(pump(&cl, &cg, &sv, &sg, &who), SSS_ETLS);
    CHECK_EQ_INT(who, 2);
    CHECK(!sss_tls_established(&cl));
    sss_tls_fini(&cl);
    sss_tls_fini(&sv);
}

/* A client that offers TLS 1.1 at most: the server refuses it. */
static void test_tls11(struct ssl_ctx_st *sctx)
{
    struct ssl_ctx_st *old;
    struct sss_tls cl, sv;
    char err[256];
    int who = 0;

    CHECK_EQ_INT(sss_tls_client_ctx(NULL, 0, &old, err, sizeof(err)), 0);
    SSL_CTX_set_min_proto_version(old, TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
    SSL_CTX_set_security_level(old, 0); /* OpenSSL 3 offers 1.1 only at level 0 */
    SSL_CTX_set_cipher_list(old, "DEFAULT:@SECLEVEL=0");
    CHECK_EQ_INT(sss_tls_init(&sv, sctx, 1, NULL), 0);
    CHECK_EQ_INT(sss_tls_init(&cl, old, 0, NULL), 0);
    CHECK(sss_tls_pending(&cl) > 0);
    CHECK_EQ_INT(pump(&cl, &cg, &sv, &sg, &who), SSS_ETLS);
    CHECK_EQ_INT(who, 1);
    CHECK(sv.failed && !sss_tls_established(&sv));
    sss_tls_fini(&cl);
    sss_tls_fini(&sv);
    sss_tls_ctx_unref(old);
}

static void test_bad_files(void)
{
    struct ssl_ctx_st *ctx = NULL;
    char err[512];

    CHECK_EQ_INT(sss_tls_server_ctx("/nonexistent/cert.pem", key_path, &ctx, err, sizeof(err)),
                 SSS_ETLS);
    CHECK(strstr(err, "/nonexistent/cert.pem") != NULL);
    CHECK_EQ_INT(sss_tls_server_ctx(cert_path, "/nonexistent/key.pem", &ctx, err, sizeof(err)),
                 SSS_ETLS);
    CHECK(strstr(err, "/nonexistent/key.pem") != NULL);
    /* A key file that is a certificate. */
    CHECK_EQ_INT(sss_tls_server_ctx(cert_path, cert_path, &ctx, err, sizeof(err)), SSS_ETLS);
    /* A key of another certificate. */
    CHECK_EQ_INT(sss_tls_server_ctx(cert_path, other_key_path, &ctx, err, sizeof(err)), SSS_ETLS);
    CHECK(strstr(err, other_key_path) != NULL);
    CHECK_EQ_INT(sss_tls_client_ctx("/nonexistent/ca.pem", 1, &ctx, err, sizeof(err)), SSS_ETLS);
    CHECK(ctx == NULL);
}

int main(void)
{
    struct ssl_ctx_st *sctx, *cctx;
    char err[512];
    int probe = sss_tls_ktls_probe();

    make_cert();
    CHECK_EQ_INT(sss_tls_server_ctx(cert_path, key_path, &sctx, err, sizeof(err)), 0);
    CHECK_EQ_INT(sss_tls_client_ctx(cert_path, 1, &cctx, err, sizeof(err)), 0);
    test_exchange(sctx, cctx);
    test_not_tls(sctx);
    test_wrong_name(sctx, cctx);
    test_tls11(sctx);
    test_bad_files();
    /* Either answer is fine; it must be one of the two the probe documents. */
    CHECK(probe == 0 || probe == -ENOENT || probe == -EPERM || probe == -EOPNOTSUPP);
    printf("kernel tls ULP: %s\n", probe == 0 ? "offered" : strerror(-probe));
    CHECK(strstr(sss_tls_library(), "OpenSSL") != NULL);
    sss_tls_ctx_unref(sctx);
    sss_tls_ctx_unref(cctx);
    cleanup();
    return sss_test_done();
}
