/*
 * Unit tests of the JWT HS256 session parser (sss_jwt): known-answer tokens
 * made with Python's hmac (they guard sss_jwt_sign too), every refusal and
 * its reason, the claims' types, bounds and times, strict base64url and
 * JSON, and where a token is found in an upgrade request.
 *
 * Tokens with headers other than ours are signed here with OpenSSL directly
 * and a base64url encoder of the test's own, so the module under test never
 * checks itself.
 */
#include "http/sss_jwt.h"
#include "sss_test.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const uint8_t KEY[] = "k3y-for-sss-unit-tests";
#define KEY_LEN (sizeof(KEY) - 1)
#define NOW 1800000000

/*
 * Known answers, computed with:
 *   b = lambda x: base64.urlsafe_b64encode(x).rstrip(b'=').decode()
 *   s = b(header) + '.' + b(payload)
 *   s + '.' + b(hmac.new(key, s.encode(), hashlib.sha256).digest())
 */
/* jwt.io's example: key "your-256-bit-secret". */
static const char JWTIO_PAYLOAD[] =
    "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}";
static const char JWTIO[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
/* Key KEY. */
static const char ALICE_PAYLOAD[] =
    "{\"sub\":\"alice\",\"sid\":\"s-123\",\"exp\":2000000000,\"iat\":1700000000}";
static const char ALICE[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJhbGljZSIsInNpZCI6InMtMTIzIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9."
    "jIexVRyYYMod0ko8x1IhSC21MznZv9P3nVppoJOzK_g";
static const char U1[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9."
                         "brabzkTa4mmPh41ctzfaKQEvVJ2hCjTR4q0_V0BsF2g";
/*
 * Key bytes 0..31; header '{ "alg" : "HS256" }', payload
 * '{"sub":"Bob_9-x", "session":"sess\/\u0041", "nbf": 1.5e9, "exp": 1.7e9}'.
 */
static const char BOB[] =
    "eyAiYWxnIiA6ICJIUzI1NiIgfQ."
    "eyJzdWIiOiJCb2JfOS14IiwgInNlc3Npb24iOiJzZXNzXC9cdTAwNDEiLCAibmJmIjogMS41ZTksICJleHAiOiAxLjdl"
    "OX0.eJ8QmfzIq_rUBuAImNi8N_Ga_awnhmBNN5PSlL5IwGo";

static struct sss_jwt_claims claims;

/* ---- helpers: our own base64url and signing ----------------------------- */

static size_t b64url(const void *src, size_t n, char *dst)
{
    size_t len, i;

    len = (size_t)EVP_EncodeBlock((unsigned char *)dst, src, (int)n);
    while (len > 0 && dst[len - 1] == '=')
        len--;
    for (i = 0; i < len; i++) {
        if (dst[i] == '+')
            dst[i] = '-';
        else if (dst[i] == '/')
            dst[i] = '_';
    }
    dst[len] = '\0';
    return len;
}

/* header.payload.signature with any header, into a static buffer. */
static const char *sign_raw(const char *header, const char *payload, const uint8_t *key,
                            size_t key_len)
{
    static char out[16384];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t n;

    n = b64url(header, strlen(header), out);
    out[n++] = '.';
    n += b64url(payload, strlen(payload), out + n);
    HMAC(EVP_sha256(), key, (int)key_len, (unsigned char *)out, n, mac, &mac_len);
    out[n++] = '.';
    b64url(mac, mac_len, out + n);
    return out;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static int verify_at(const char *token, int64_t now)
{
    return sss_jwt_verify(token, strlen(token), KEY, KEY_LEN, now, &claims);
}

static int verify(const char *token)
{
    return verify_at(token, NOW);
}

/* A payload signed with our header and KEY must fail with code and reason. */
static void expect_payload(const char *payload, int code, const char *reason)
{
    CHECK_EQ_INT(verify(sign_raw(HS256, payload, KEY, KEY_LEN)), code);
    if (reason)
        CHECK_EQ_STR(claims.error, reason);
    if (code != 0) {
        CHECK_EQ_STR(claims.user, "");
        CHECK_EQ_STR(claims.session, "");
    }
}

static void expect_header(const char *header, int code, const char *reason)
{
    CHECK_EQ_INT(verify(sign_raw(header, "{\"sub\":\"a\"}", KEY, KEY_LEN)), code);
    if (reason)
        CHECK_EQ_STR(claims.error, reason);
    else
        CHECK(claims.error == NULL);
}

/*
 * A payload of before, max times c, then after verifies and keeps all max bytes
 * in stored (a field of claims); one byte more fails with code and reason.
 */
static void expect_limit(const char *before, char c, const char *after, size_t max,
                         const char *stored, int code, const char *reason)
{
    char payload[512], s[256];

    memset(s, c, max + 1);
    s[max] = '\0';
    snprintf(payload, sizeof(payload), "%s%s%s", before, s, after);
    expect_payload(payload, 0, NULL);
    CHECK_EQ_INT(strlen(stored), max);
    s[max] = c;
    s[max + 1] = '\0';
    snprintf(payload, sizeof(payload), "%s%s%s", before, s, after);
    expect_payload(payload, code, reason);
}

static void expect_token(const char *token, int code, const char *reason)
{
    CHECK_EQ_INT(verify(token), code);
    CHECK_EQ_STR(claims.error, reason);
    CHECK_EQ_STR(claims.user, "");
}

/* A header or payload, and the code and reason verify must give for it. */
struct jwt_case {
    const char *json;
    int code;
    const char *reason;
};

/* expect_header for each case; a failed case is named. */
static void expect_headers(const struct jwt_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int failed = sss_test_failed;

        expect_header(c[i].json, c[i].code, c[i].reason);
        if (sss_test_failed != failed)
            fprintf(stderr, "  header: %s\n", c[i].json);
    }
}

/* Each payload (signed with our header and KEY) must be refused as malformed. */
static void expect_malformed(const char *const *payloads, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int failed = sss_test_failed;

        expect_payload(payloads[i], SSS_JWT_EMALFORMED, "malformed token");
        if (sss_test_failed != failed)
            fprintf(stderr, "  payload: %s\n", payloads[i]);
    }
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- known answers ------------------------------------------------------ */

static void test_known_answers(void)
{
    static const uint8_t jwtio_key[] = "your-256-bit-secret";
    uint8_t bob_key[32];
    char out[512];
    int i;

    CHECK_EQ_INT(sss_jwt_verify(JWTIO, strlen(JWTIO), jwtio_key, sizeof(jwtio_key) - 1, NOW,
                                &claims),
                 0);
    CHECK(claims.error == NULL);
    CHECK_EQ_STR(claims.user, "1234567890");
    CHECK_EQ_STR(claims.session, "");
    CHECK(!claims.has_exp && !claims.has_nbf);

    CHECK_EQ_INT(verify(ALICE), 0);
    CHECK_EQ_STR(claims.user, "alice");
    CHECK_EQ_STR(claims.session, "s-123");
    CHECK(claims.has_exp && claims.exp == 2000000000);

    CHECK_EQ_INT(verify(U1), 0);
    CHECK_EQ_STR(claims.user, "u1");

    for (i = 0; i < 32; i++)
        bob_key[i] = (uint8_t)i;
    CHECK_EQ_INT(sss_jwt_verify(BOB, strlen(BOB), bob_key, sizeof(bob_key), 1600000000, &claims),
                 0);
    CHECK_EQ_STR(claims.user, "Bob_9-x");
    CHECK_EQ_STR(claims.session, "sess/A");
    CHECK(claims.has_nbf && claims.nbf == 1500000000);
    CHECK(claims.has_exp && claims.exp == 1700000000);
    CHECK_EQ_INT(sss_jwt_verify(BOB, strlen(BOB), bob_key, sizeof(bob_key), 1700000000, &claims),
                 SSS_JWT_EEXPIRED);
    CHECK_EQ_INT(sss_jwt_verify(BOB, strlen(BOB), bob_key, sizeof(bob_key), 1499999999, &claims),
                 SSS_JWT_ENOTYET);
    /* The wrong key. */
    CHECK_EQ_INT(sss_jwt_verify(BOB, strlen(BOB), KEY, KEY_LEN, 1600000000, &claims),
                 SSS_JWT_ESIG);
    CHECK_EQ_STR(claims.error, "bad signature");

    /* sss_jwt_sign gives exactly Python's tokens. */
    CHECK_EQ_INT(sss_jwt_sign(JWTIO_PAYLOAD, jwtio_key, sizeof(jwtio_key) - 1, out, sizeof(out)),
                 strlen(JWTIO));
    CHECK_EQ_STR(out, JWTIO);
    CHECK_EQ_INT(sss_jwt_sign(ALICE_PAYLOAD, KEY, KEY_LEN, out, sizeof(out)), strlen(ALICE));
    CHECK_EQ_STR(out, ALICE);
    CHECK_EQ_INT(sss_jwt_sign("{\"sub\":\"u1\"}", KEY, KEY_LEN, out, sizeof(out)), strlen(U1));
    CHECK_EQ_STR(out, U1);
    /* And the test's own signer agrees with both. */
    CHECK_EQ_STR(sign_raw(HS256, ALICE_PAYLOAD, KEY, KEY_LEN), ALICE);
}

static void test_sign(void)
{
    char out[256];
    size_t need;

    need = (size_t)sss_jwt_sign("{\"sub\":\"x\"}", KEY, KEY_LEN, out, sizeof(out));
    CHECK(need > 0 && need == strlen(out));
    CHECK_EQ_INT(verify(out), 0);
    CHECK_EQ_STR(claims.user, "x");
    /* Exactly enough room, and one byte less. */
    CHECK_EQ_INT(sss_jwt_sign("{\"sub\":\"x\"}", KEY, KEY_LEN, out, need + 1), need);
    CHECK_EQ_INT(sss_jwt_sign("{\"sub\":\"x\"}", KEY, KEY_LEN, out, need), -ENOSPC);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(sss_jwt_sign("{\"sub\":\"x\"}", KEY, KEY_LEN, out, 0), -ENOSPC);
    CHECK_EQ_INT(sss_jwt_sign("{\"sub\":\"x\"}", KEY, 0, out, sizeof(out)), SSS_EINVAL);
    CHECK_EQ_INT(sss_jwt_verify(U1, strlen(U1), KEY, 0, NOW, &claims), SSS_EINVAL);
    CHECK_EQ_STR(claims.error, "no secret");
    /* Payload lengths 0..3 mod 3 all round-trip through the encoder. */
    CHECK(sss_jwt_sign("{\"sub\":\"ab\"}", KEY, KEY_LEN, out, sizeof(out)) > 0);
    CHECK_EQ_INT(verify(out), 0);
    CHECK(sss_jwt_sign("{\"sub\":\"abc\"}", KEY, KEY_LEN, out, sizeof(out)) > 0);
    CHECK_EQ_INT(verify(out), 0);
    CHECK(sss_jwt_sign("{\"sub\":\"abcd\"}", KEY, KEY_LEN, out, sizeof(out)) > 0);
    CHECK_EQ_INT(verify(out), 0);
    CHECK_EQ_STR(claims.user, "abcd");
    /* The length given is what counts, not a NUL. */
    CHECK(sss_jwt_verify(ALICE, strlen(ALICE) - 1, KEY, KEY_LEN, NOW, &claims) < 0);
    CHECK(sss_jwt_verify(ALICE, strlen(ALICE) - 4, KEY, KEY_LEN, NOW, &claims) < 0);
}

/* ---- signature ---------------------------------------------------------- */

static int b64_value(char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = strchr(alphabet, c);

    return p && c ? (int)(p - alphabet) : -1;
}

static char b64_char(int v)
{
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[v];
}

/* Every single-bit change of every character is refused; past the header, as a bad signature. */
static void test_bit_flips(void)
{
    char t[sizeof(ALICE)];
    size_t i, n = strlen(ALICE), dot1 = strchr(ALICE, '.') - ALICE;
    size_t dot2 = strrchr(ALICE, '.') - ALICE;
    int bit, bad = 0, not_sig = 0;

    for (i = 0; i < n; i++) {
        int v = b64_value(ALICE[i]);

        if (v < 0)
            continue;
        for (bit = 0; bit < 6; bit++) {
            int rc;

            memcpy(t, ALICE, sizeof(t));
            t[i] = b64_char(v ^ (1 << bit));
            rc = verify(t);
            if (rc == 0)
                bad++;
            /* Last characters carry unused bits, whose change is malformed base64url. */
            if (i > dot1 && i != dot2 - 1 && i != n - 1 && rc != SSS_JWT_ESIG)
                not_sig++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(not_sig, 0);

    /* A last character with non-zero unused bits: another spelling of the same bytes. */
    memcpy(t, ALICE, sizeof(t));
    t[n - 1] = b64_char(b64_value(t[n - 1]) ^ 1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    /* A signature of the wrong length. */
    memcpy(t, ALICE, sizeof(t));
    t[n - 3] = '\0';
    expect_token(t, SSS_JWT_ESIG, "bad signature");
    {
        char longer[sizeof(ALICE) + 4];

        memcpy(longer, ALICE, n);
        memcpy(longer + n, "AAAA", 5);
        expect_token(longer, SSS_JWT_ESIG, "bad signature");
    }
    /* Signed with another key. */
    expect_token(sign_raw(HS256, "{\"sub\":\"a\"}", (const uint8_t *)"other", 5), SSS_JWT_ESIG,
                 "bad signature");
}

/* ---- header ------------------------------------------------------------- */

static void test_header(void)
{
    static const struct jwt_case headers[] = {
        {"{\"alg\":\"HS256\"}", 0, NULL},
        {"{\"typ\":\"JWT\",\"kid\":\"k1\",\"alg\":\"HS256\"}", 0, NULL},
        {"{\"alg\":\"none\"}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"alg\":\"HS512\",\"typ\":\"JWT\"}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"alg\":\"RS256\"}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"alg\":\"hs256\"}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"alg\":\"HS256 \"}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"alg\":\"HS256\\u0000\"}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"alg\":256}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"alg\":null}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"alg\":[\"HS256\"]}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"typ\":\"JWT\"}", SSS_JWT_EALG, "unsupported alg"},
        {"{}", SSS_JWT_EALG, "unsupported alg"},
        {"{\"alg\":\"HS256\",\"alg\":\"HS256\"}", SSS_JWT_EMALFORMED, "malformed token"},
        {"{\"alg\":\"HS256\",\"alg\":\"none\"}", SSS_JWT_EMALFORMED, "malformed token"},
        /* An escaped key is the same key. */
        {"{\"alg\":\"HS256\",\"a\\u006cg\":\"none\"}", SSS_JWT_EMALFORMED, "malformed token"},
        {"{\"a\\u006cg\":\"HS\\u0032\\u00356\"}", 0, NULL},
        {"{\"alg\":\"HS256\",\"typ\":\"JWS\"}", SSS_JWT_EMALFORMED, "malformed token"},
        {"{\"alg\":\"HS256\",\"typ\":1}", SSS_JWT_EMALFORMED, "malformed token"},
        {"{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", SSS_JWT_EALG,
         "unsupported header"},
        {"[\"alg\",\"HS256\"]", SSS_JWT_EMALFORMED, "malformed token"},
        {"{\"alg\":\"HS256\"", SSS_JWT_EMALFORMED, "malformed token"},
        {"{\"alg\":\"HS256\"}x", SSS_JWT_EMALFORMED, "malformed token"},
        {"{'alg':'HS256'}", SSS_JWT_EMALFORMED, "malformed token"},
        {"", SSS_JWT_EMALFORMED, "malformed token"},
    };
    char t[512];
    const char *s;

    expect_headers(headers, COUNT(headers));

    /* alg none with the customary empty signature. */
    s = sign_raw("{\"alg\":\"none\"}", "{\"sub\":\"a\"}", KEY, KEY_LEN);
    snprintf(t, sizeof(t), "%.*s", (int)(strrchr(s, '.') + 1 - s), s);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    /* alg none with a correct HMAC is still none. */
    expect_token(s, SSS_JWT_EALG, "unsupported alg");
}

/* ---- times -------------------------------------------------------------- */

static void test_times(void)
{
    static const char *const malformed[] = {
        /* Wrong types and repeats. */
        "{\"sub\":\"a\",\"exp\":\"2000000000\"}",
        "{\"sub\":\"a\",\"exp\":null}",
        "{\"sub\":\"a\",\"nbf\":true}",
        "{\"sub\":\"a\",\"exp\":2000000000,\"exp\":1}",
        "{\"sub\":\"a\",\"nbf\":1,\"nbf\":1}",
        /* Not JSON numbers. */
        "{\"sub\":\"a\",\"exp\":01}",
        "{\"sub\":\"a\",\"exp\":+1}",
        "{\"sub\":\"a\",\"exp\":1.}",
        "{\"sub\":\"a\",\"exp\":.5}",
        "{\"sub\":\"a\",\"exp\":1e}",
        "{\"sub\":\"a\",\"exp\":-}",
        "{\"sub\":\"a\",\"exp\":0x10}",
        "{\"sub\":\"a\",\"exp\":NaN}",
        "{\"sub\":\"a\",\"exp\":Infinity}",
    };
    const char *t = sign_raw(HS256, "{\"sub\":\"a\",\"exp\":1000,\"nbf\":900}", KEY, KEY_LEN);
    char copy[512];

    snprintf(copy, sizeof(copy), "%s", t);
    CHECK_EQ_INT(verify_at(copy, 999), 0);
    CHECK(claims.exp == 1000 && claims.nbf == 900);
    CHECK_EQ_INT(verify_at(copy, 1000), SSS_JWT_EEXPIRED);
    CHECK_EQ_STR(claims.error, "token expired");
    CHECK_EQ_STR(claims.user, "");
    CHECK_EQ_INT(verify_at(copy, 5000), SSS_JWT_EEXPIRED);
    CHECK_EQ_INT(verify_at(copy, 900), 0);
    CHECK_EQ_INT(verify_at(copy, 899), SSS_JWT_ENOTYET);
    CHECK_EQ_STR(claims.error, "token not yet valid");
    CHECK_EQ_INT(verify_at(copy, INT64_MIN), SSS_JWT_ENOTYET);

    /* Without exp and nbf any time is fine. */
    snprintf(copy, sizeof(copy), "%s", sign_raw(HS256, "{\"sub\":\"a\"}", KEY, KEY_LEN));
    CHECK_EQ_INT(verify_at(copy, INT64_MAX), 0);
    CHECK_EQ_INT(verify_at(copy, INT64_MIN), 0);

    /* Fractions round up: 100.5 expires at 101 and is valid from 101. */
    snprintf(copy, sizeof(copy), "%s",
             sign_raw(HS256, "{\"sub\":\"a\",\"exp\":100.5}", KEY, KEY_LEN));
    CHECK_EQ_INT(verify_at(copy, 100), 0);
    CHECK_EQ_INT(claims.exp, 101);
    CHECK_EQ_INT(verify_at(copy, 101), SSS_JWT_EEXPIRED);
    snprintf(copy, sizeof(copy), "%s",
             sign_raw(HS256, "{\"sub\":\"a\",\"nbf\":100.5}", KEY, KEY_LEN));
    CHECK_EQ_INT(verify_at(copy, 100), SSS_JWT_ENOTYET);
    CHECK_EQ_INT(verify_at(copy, 101), 0);

    /* Number forms: exact decimal, clamped at the ends of int64_t. */
    expect_payload("{\"sub\":\"a\",\"exp\":1e10}", 0, NULL);
    CHECK_EQ_INT(claims.exp, 10000000000);
    expect_payload("{\"sub\":\"a\",\"exp\":2E+9}", 0, NULL);
    CHECK_EQ_INT(claims.exp, 2000000000);
    expect_payload("{\"sub\":\"a\",\"exp\":17999999995e-1}", SSS_JWT_EEXPIRED, "token expired");
    expect_payload("{\"sub\":\"a\",\"exp\":18000000000001e-4}", 0, NULL);
    CHECK_EQ_INT(claims.exp, NOW + 1);
    expect_payload("{\"sub\":\"a\",\"nbf\":12345e-2}", 0, NULL);
    CHECK_EQ_INT(claims.nbf, 124);
    expect_payload("{\"sub\":\"a\",\"nbf\":0.000}", 0, NULL);
    CHECK_EQ_INT(claims.nbf, 0);
    expect_payload("{\"sub\":\"a\",\"nbf\":-1.5}", 0, NULL);
    CHECK_EQ_INT(claims.nbf, -1);
    expect_payload("{\"sub\":\"a\",\"nbf\":-0.5}", 0, NULL);
    CHECK_EQ_INT(claims.nbf, 0);
    expect_payload("{\"sub\":\"a\",\"exp\":99999999999999999999999}", 0, NULL);
    CHECK(claims.exp == INT64_MAX);
    expect_payload("{\"sub\":\"a\",\"exp\":1e400}", 0, NULL);
    CHECK(claims.exp == INT64_MAX);
    expect_payload("{\"sub\":\"a\",\"nbf\":-1e400}", 0, NULL);
    CHECK(claims.nbf == INT64_MIN);
    expect_payload("{\"sub\":\"a\",\"nbf\":1e-400}", 0, NULL);
    CHECK_EQ_INT(claims.nbf, 1);
    expect_payload("{\"sub\":\"a\",\"exp\":0e99999999999}", SSS_JWT_EEXPIRED, "token expired");
    expect_payload("{\"sub\":\"a\",\"exp\":-9223372036854775808}", SSS_JWT_EEXPIRED,
                   "token expired");
    expect_payload("{\"sub\":\"a\",\"exp\":1700000000}", SSS_JWT_EEXPIRED, "token expired");
    expect_payload("{\"sub\":\"a\",\"nbf\":1900000000}", SSS_JWT_ENOTYET, "token not yet valid");
    /* iat is ignored, whatever it holds. */
    expect_payload("{\"sub\":\"a\",\"iat\":\"yesterday\",\"iat\":[]}", 0, NULL);

    expect_malformed(malformed, COUNT(malformed));
}

/* ---- subject and session ------------------------------------------------ */

static void test_subject(void)
{
    char payload[512], user[200];

    expect_payload("{}", SSS_JWT_ESUB, "missing sub");
    expect_payload("{\"name\":\"a\",\"nested\":{\"sub\":\"b\"}}", SSS_JWT_ESUB, "missing sub");
    expect_payload("{\"sub\":123}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":null}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":[\"a\"]}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":{\"id\":\"a\"}}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":\"\"}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":\"a.b\"}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":\"a b\"}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":\"a:b\"}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":\"a/b\"}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":\"\\u00e9\"}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":\"a\\u0000b\"}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":\"a\\nb\"}", SSS_JWT_ESUB, "bad subject");
    expect_payload("{\"sub\":\"a\",\"sub\":\"a\"}", SSS_JWT_EMALFORMED, "malformed token");
    expect_payload("{\"sub\":\"a\",\"s\\u0075b\":\"b\"}", SSS_JWT_EMALFORMED, "malformed token");
    /* Escapes of allowed characters are fine. */
    expect_payload("{\"sub\":\"\\u0041-\\u005f\"}", 0, NULL);
    CHECK_EQ_STR(claims.user, "A-_");
    expect_payload("{\"sub\":\"_u_-09azAZ\"}", 0, NULL);
    CHECK_EQ_STR(claims.user, "_u_-09azAZ");

    /* 120 bytes are fine, 121 are not. */
    expect_limit("{\"sub\":\"", 'u', "\"}", 120, claims.user, SSS_JWT_ESUB, "bad subject");
    /* Far longer than the scanner's buffer. */
    memset(user, 'u', 199);
    user[199] = '\0';
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s%s\"}", user, user);
    expect_payload(payload, SSS_JWT_ESUB, "bad subject");
}

static void test_session(void)
{
    expect_payload("{\"sub\":\"a\",\"sid\":\"abc-123/x=\"}", 0, NULL);
    CHECK_EQ_STR(claims.session, "abc-123/x=");
    expect_payload("{\"session\":\"s1\",\"sub\":\"a\"}", 0, NULL);
    CHECK_EQ_STR(claims.session, "s1");
    expect_payload("{\"sub\":\"a\",\"sid\":\"s1\",\"session\":\"s1\"}", SSS_JWT_EMALFORMED,
                   "malformed token");
    expect_payload("{\"sub\":\"a\",\"sid\":\"s1\",\"sid\":\"s2\"}", SSS_JWT_EMALFORMED,
                   "malformed token");
    expect_payload("{\"sub\":\"a\",\"sid\":1}", SSS_JWT_ESESSION, "bad session");
    expect_payload("{\"sub\":\"a\",\"sid\":\"\"}", SSS_JWT_ESESSION, "bad session");
    expect_payload("{\"sub\":\"a\",\"sid\":\"a b\"}", SSS_JWT_ESESSION, "bad session");
    expect_payload("{\"sub\":\"a\",\"sid\":\"a\\u0000\"}", SSS_JWT_ESESSION, "bad session");
    expect_payload("{\"sub\":\"a\",\"session\":\"\\u00e9\"}", SSS_JWT_ESESSION, "bad session");
    expect_limit("{\"sub\":\"a\",\"sid\":\"", 's', "\"}", 128, claims.session, SSS_JWT_ESESSION,
                 "bad session");
}

/* ---- base64url and token shape ------------------------------------------ */

static void test_shape(void)
{
    char t[1024];
    size_t n = strlen(U1);
    const char *dot1 = strchr(U1, '.'), *dot2 = strrchr(U1, '.');
    int h = (int)(dot1 - U1), p = (int)(dot2 - dot1 - 1);

    expect_token("", SSS_JWT_EMALFORMED, "malformed token");
    expect_token("abc", SSS_JWT_EMALFORMED, "malformed token");
    expect_token("..", SSS_JWT_EMALFORMED, "malformed token");
    expect_token("...", SSS_JWT_EMALFORMED, "malformed token");
    /* Two parts, four parts, empty parts. */
    snprintf(t, sizeof(t), "%.*s", (int)(dot2 - U1), U1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), "%s.%s", U1, dot2 + 1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), "%s.", U1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), ".%s", U1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), "%.*s.%s", h, U1, dot1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), "%.*s.%s", h + 1 + p, U1, "");
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), "%s%s", dot1, "");
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), "%.*s..%s", h, U1, dot2 + 1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");

    /* Padding, anywhere. The header part is 36 characters: "==" can't even fit its length. */
    snprintf(t, sizeof(t), "%.*s==%s", h, U1, dot1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), "%.*s=%s", h + 1 + p, U1, dot2);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), "%s=", U1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    snprintf(t, sizeof(t), "%s====", U1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");

    /* Characters outside base64url: standard base64's +/ too. */
    {
        static const char bad[] = "+/=%!~ \t\n\"\\\x80\xff";
        size_t i, pos;

        for (i = 0; i < sizeof(bad) - 1; i++) {
            for (pos = 0; pos < n; pos += 7) {
                if (U1[pos] == '.')
                    continue;
                memcpy(t, U1, n + 1);
                t[pos] = bad[i];
                CHECK_EQ_INT(verify(t), SSS_JWT_EMALFORMED);
            }
        }
        /* An embedded NUL inside the given length. */
        memcpy(t, U1, n + 1);
        t[5] = '\0';
        CHECK_EQ_INT(sss_jwt_verify(t, n, KEY, KEY_LEN, NOW, &claims), SSS_JWT_EMALFORMED);
    }
    /* A part of 4k+1 characters can't be base64. */
    snprintf(t, sizeof(t), "%.*sA%s", h, U1, dot1);
    expect_token(t, SSS_JWT_EMALFORMED, "malformed token");
    CHECK_EQ_INT(sss_jwt_verify(NULL, 0, KEY, KEY_LEN, NOW, &claims), SSS_JWT_EMALFORMED);
}

/* A payload of exactly len JSON bytes: {"sub":"a","x":"xxx..."}. */
static void padded_payload(char *buf, size_t len)
{
    static const char head[] = "{\"sub\":\"a\",\"x\":\"";
    size_t fill = len - (sizeof(head) - 1) - 2;

    memcpy(buf, head, sizeof(head) - 1);
    memset(buf + sizeof(head) - 1, 'x', fill);
    memcpy(buf + sizeof(head) - 1 + fill, "\"}", 3);
}

static void test_size(void)
{
    static char payload[8192], token[16384];
    int n;

    /* 36 + 1 + 4015 + 1 + 43 = 4096: 4015 characters are 3011 bytes. */
    padded_payload(payload, 3011);
    n = sss_jwt_sign(payload, KEY, KEY_LEN, token, sizeof(token));
    CHECK_EQ_INT(n, SSS_JWT_TOKEN_MAX);
    CHECK_EQ_INT(verify(token), 0);
    CHECK_EQ_STR(claims.user, "a");
    padded_payload(payload, 3012);
    n = sss_jwt_sign(payload, KEY, KEY_LEN, token, sizeof(token));
    CHECK_EQ_INT(n, SSS_JWT_TOKEN_MAX + 1);
    expect_token(token, SSS_JWT_EMALFORMED, "token too long");
    padded_payload(payload, 8000);
    CHECK(sss_jwt_sign(payload, KEY, KEY_LEN, token, sizeof(token)) > 10000);
    expect_token(token, SSS_JWT_EMALFORMED, "token too long");
    /* Huge lengths are refused before anything is read. */
    CHECK_EQ_INT(sss_jwt_verify(token, SIZE_MAX, KEY, KEY_LEN, NOW, &claims), SSS_JWT_EMALFORMED);
}

/* ---- JSON --------------------------------------------------------------- */

static void test_json(void)
{
    static const char *const malformed[] = {
        /* Not an object, or not one object alone. */
        "[\"sub\",\"a\"]",
        "\"a\"",
        "42",
        "null",
        " ",
        "",
        "{\"sub\":\"a\"}{}",
        "{\"sub\":\"a\"} x",
        "{\"sub\":\"a\"",
        "{\"sub\":\"a}",
        /* An unterminated string after the object (yajl's trailing-garbage check misses it). */
        "{\"sub\":\"a\"}\"",
        "{\"sub\":\"a\"} \"x",
        /* \v and \f are no JSON whitespace; what comes before them still counts. */
        "{\"sub\":\"a\"}\v",
        "{\"sub\":\f\"a\"}",
        /* Grammar. */
        "{\"sub\":\"a\",}",
        "{,\"sub\":\"a\"}",
        "{\"sub\" \"a\"}",
        "{\"sub\":\"a\" \"x\":1}",
        "{sub:\"a\"}",
        "{'sub':'a'}",
        "{\"sub\":\"a\"/* c */}",
        "{\"sub\":\"a\",\"x\":[1,]}",
        "{\"sub\":\"a\",\"x\":[1 2]}",
        "{\"sub\":\"a\",\"x\":{\"y\"}}",
        "{\"sub\":\"a\",\"x\":tru}",
        "{\"sub\":\"a\",\"x\":True}",
        "{\"sub\":\"a\",\"x\":undefined}",
        /* Strings: control characters, bad escapes, surrogates, UTF-8. */
        "{\"sub\":\"a\",\"x\":\"\t\"}",
        "{\"sub\":\"a\",\"x\":\"\\x41\"}",
        "{\"sub\":\"a\",\"x\":\"\\u12\"}",
        "{\"sub\":\"a\",\"x\":\"\\ud800\"}",
        "{\"sub\":\"a\",\"x\":\"\\udc00\"}",
        "{\"sub\":\"a\",\"x\":\"\\ud800\\u0041\"}",
        "{\"sub\":\"a\",\"x\":\"\xc3\"}",
        "{\"sub\":\"a\",\"x\":\"\xc0\xaf\"}",
        "{\"sub\":\"a\",\"x\":\"\xe0\x80\xaf\"}",
        "{\"sub\":\"a\",\"x\":\"\xed\xa0\x80\"}",
        "{\"sub\":\"a\",\"x\":\"\xf4\x90\x80\x80\"}",
        "{\"sub\":\"a\",\"x\":\"\xff\"}",
        "{\"s\xffub\":\"a\"}",
    };
    char payload[512];

    expect_malformed(malformed, COUNT(malformed));
    /* The same unterminated string after a header. */
    expect_header("{\"alg\":\"HS256\"}\"", SSS_JWT_EMALFORMED, "malformed token");
    /* What comes before a \v still counts. */
    expect_payload("{\"sub\":1\v}", SSS_JWT_ESUB, "bad subject");
    /* A surrogate pair and UTF-8. */
    expect_payload("{\"sub\":\"a\",\"x\":\"\\ud83d\\ude00\"}", 0, NULL);
    expect_payload("{\"sub\":\"a\",\"x\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", 0, NULL);
    /* Whitespace of all four kinds, nested unknown claims, repeated unknown claims. */
    expect_payload(" \t\r\n{ \"sub\" :\n\"a\" , \"roles\":[\"x\",{\"y\":[null,true,false,-1.5e3]}],"
                   "\"name\":\"n\",\"name\":\"m\",\"o\":{}, \"l\":[]}\r\n",
                   0, NULL);
    CHECK_EQ_STR(claims.user, "a");

    /* Nesting: 16 levels with the top object, not 17. */
    {
        size_t n = (size_t)snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"x\":");

        sss_test_nest(payload, n, 15);
        expect_payload(payload, 0, NULL);
        sss_test_nest(payload, n, 16);
        expect_payload(payload, SSS_JWT_EMALFORMED, "malformed token");
    }
    /* Deep nesting far past the limit fails cleanly. */
    {
        static char deep[3000];

        memset(deep, '[', sizeof(deep) - 1);
        deep[sizeof(deep) - 1] = '\0';
        memcpy(deep, "{\"x\":", 5);
        expect_payload(deep, SSS_JWT_EMALFORMED, "malformed token");
    }
}

/* ---- finding the token -------------------------------------------------- */

static int find(const char *target, const char *cookie, const char *authz, const char *name,
                char *got, size_t cap)
{
    static const char junk[] = "junk";
    const char *tok = junk;
    size_t len = 99;
    int rc = sss_jwt_find_token(target, cookie, cookie ? strlen(cookie) : 0, authz,
                                authz ? strlen(authz) : 0, name, &tok, &len);

    if (rc == 1)
        snprintf(got, cap, "%.*s", (int)len, tok);
    else
        snprintf(got, cap, "%s", tok == NULL && len == 0 ? "(none)" : "(junk)");
    return rc;
}

/*
 * Where a token is looked for, what find returns, and the token it finds
 * ("(none)" when it says there is none).
 */
struct find_case {
    const char *target, *cookie, *authz, *name;
    int rc;
    const char *got;
};

static void test_find(void)
{
    static const struct find_case finds[] = {
        /* Authorization first, then the query, then the cookie. */
        {"/ws?token=q", "token=c", "Bearer h", NULL, 1, "h"},
        {"/ws?token=q", "token=c", NULL, NULL, 1, "q"},
        {"/ws", "token=c", NULL, NULL, 1, "c"},
        {"/ws", "a=b", "Basic dXNlcjpwdw==", NULL, 0, "(none)"},
        {NULL, NULL, NULL, NULL, 0, "(none)"},
        /* Authorization: scheme case, spaces, other schemes skipped. */
        {NULL, NULL, "bearer abc.def.ghi", NULL, 1, "abc.def.ghi"},
        {NULL, NULL, "BEARER \t x  ", NULL, 1, "x"},
        {NULL, NULL, "Bearer", NULL, 1, ""},
        {NULL, "token=c", "Bearerx y", NULL, 1, "c"},
        {NULL, "token=c", "Bear", NULL, 1, "c"},
        {NULL, "token=c", "Basic abc", NULL, 1, "c"},
        {NULL, "token=c", "", NULL, 1, "c"},
        /* Query: exact parameter name, first '?', fragment cut, '%' kept for verify to refuse. */
        {"/ws?a=1&token=t1&b=2", NULL, NULL, NULL, 1, "t1"},
        {"/ws?xtoken=a&tokens=b&token_=c", "token=c", NULL, NULL, 1, "c"},
        {"/ws?token=a.b.c#frag", NULL, NULL, NULL, 1, "a.b.c"},
        {"/ws?x=1#token=a", NULL, NULL, NULL, 0, "(none)"},
        {"/ws?token=a?b=c", NULL, NULL, NULL, 1, "a?b=c"},
        {"/ws?token=a=b", NULL, NULL, NULL, 1, "a=b"},
        {"/ws?token=", "token=c", NULL, NULL, 1, ""},
        {"/ws?token", "token=c", NULL, NULL, 1, ""},
        {"/ws?token=a&token=b", "token=c", NULL, NULL, 1, ""},
        {"/ws?&&token=x&", NULL, NULL, NULL, 1, "x"},
        {"/ws?", NULL, NULL, NULL, 0, "(none)"},
        {"/token=x", NULL, NULL, NULL, 0, "(none)"},
        {"/ws?token=eyJ%2E", NULL, NULL, NULL, 1, "eyJ%2E"},
        /* Cookies: exact names (prefixes and suffixes are other cookies), the first wins. */
        {NULL, "xtoken=a; token=b", NULL, NULL, 1, "b"},
        {NULL, "tokenx=a; token=b; c=d", NULL, NULL, 1, "b"},
        {NULL, "a=token=x; token=b", NULL, NULL, 1, "b"},
        {NULL, "token=first; token=second", NULL, NULL, 1, "first"},
        {NULL, "Token=a; TOKEN=b", NULL, NULL, 0, "(none)"},
        {NULL, "xtoken=a; tokens=b", NULL, NULL, 0, "(none)"},
        {NULL, "token", NULL, NULL, 0, "(none)"},
        {NULL, "", NULL, NULL, 0, "(none)"},
        {NULL, ";;; ;", NULL, NULL, 0, "(none)"},
        {NULL, "token=", NULL, NULL, 1, ""},
        {NULL, "  token = v1 ;x=y", NULL, NULL, 1, "v1"},
        {NULL, "a=b;token=\"quoted\"", NULL, NULL, 1, "quoted"},
        {NULL, "token=\"", NULL, NULL, 1, "\""},
        {NULL, "token=a=b", NULL, NULL, 1, "a=b"},
        /* Another cookie name; NULL and "" mean "token". */
        {NULL, "token=a; sss_jwt=b", NULL, "sss_jwt", 1, "b"},
        {NULL, "token=a; x_sss_jwt=b", NULL, "sss_jwt", 0, "(none)"},
        {NULL, "token=a", NULL, "", 1, "a"},
    };
    char got[256];

    for (size_t i = 0; i < COUNT(finds); i++) {
        const struct find_case *f = &finds[i];
        int failed = sss_test_failed;

        CHECK_EQ_INT(find(f->target, f->cookie, f->authz, f->name, got, sizeof(got)), f->rc);
        CHECK_EQ_STR(got, f->got);
        if (sss_test_failed != failed)
            fprintf(stderr, "  case %zu: target %s, cookie %s, authz %s\n", i,
                    f->target ? f->target : "-", f->cookie ? f->cookie : "-",
                    f->authz ? f->authz : "-");
    }
    /* Query: '%' is kept, for verify to refuse. */
    {
        const char *tok;
        size_t len;
        char t[256];

        snprintf(t, sizeof(t), "/ws?token=%.10s%%41%s", U1, U1 + 10);
        CHECK_EQ_INT(sss_jwt_find_token(t, NULL, 0, NULL, 0, NULL, &tok, &len), 1);
        CHECK_EQ_INT(sss_jwt_verify(tok, len, KEY, KEY_LEN, NOW, &claims), SSS_JWT_EMALFORMED);
        snprintf(t, sizeof(t), "/ws?room=1&token=%s", U1);
        CHECK_EQ_INT(sss_jwt_find_token(t, NULL, 0, NULL, 0, NULL, &tok, &len), 1);
        CHECK_EQ_INT(sss_jwt_verify(tok, len, KEY, KEY_LEN, NOW, &claims), 0);
        CHECK_EQ_STR(claims.user, "u1");
    }

    /* The lengths bound the headers, which need no NUL. */
    {
        const char *tok;
        size_t len;

        CHECK_EQ_INT(sss_jwt_find_token(NULL, "token=abcdef", 9, "Bearer xyz", 5, NULL, &tok, &len),
                     1);
        CHECK_EQ_INT(len, 3);
        CHECK(memcmp(tok, "abc", 3) == 0);
        CHECK_EQ_INT(sss_jwt_find_token(NULL, "token=abcdef", 5, NULL, 0, NULL, &tok, &len), 0);
    }
}

/* A token signed by sss_jwt_sign, found in each place, verifies. */
static void test_round_trip(void)
{
    char token[512], target[600], cookie[600], authz[600];
    const char *tok;
    size_t len;

    CHECK(sss_jwt_sign("{\"sub\":\"carol\",\"session\":\"S9\",\"exp\":1900000000}", KEY, KEY_LEN,
                       token, sizeof(token)) > 0);
    snprintf(target, sizeof(target), "/ws?token=%s", token);
    snprintf(cookie, sizeof(cookie), "xtoken=nope; token=%s; z=1", token);
    snprintf(authz, sizeof(authz), "Bearer %s", token);

    CHECK_EQ_INT(sss_jwt_find_token(target, NULL, 0, NULL, 0, NULL, &tok, &len), 1);
    CHECK_EQ_INT(sss_jwt_verify(tok, len, KEY, KEY_LEN, NOW, &claims), 0);
    CHECK_EQ_STR(claims.user, "carol");
    CHECK_EQ_STR(claims.session, "S9");
    CHECK_EQ_INT(sss_jwt_find_token("/ws", cookie, strlen(cookie), NULL, 0, NULL, &tok, &len), 1);
    CHECK_EQ_INT(sss_jwt_verify(tok, len, KEY, KEY_LEN, NOW, &claims), 0);
    CHECK_EQ_STR(claims.user, "carol");
    CHECK_EQ_INT(sss_jwt_find_token("/ws", NULL, 0, authz, strlen(authz), NULL, &tok, &len), 1);
    CHECK_EQ_INT(sss_jwt_verify(tok, len, KEY, KEY_LEN, NOW, &claims), 0);
    CHECK_EQ_INT(sss_jwt_verify(tok, len, KEY, KEY_LEN, 1900000000, &claims), SSS_JWT_EEXPIRED);
}

/* Verify payload (signed with KEY) at NOW under rules. */
static int verify_rules(const char *payload, const struct sss_jwt_rules *rules)
{
    char tok[2048];
    int n = sss_jwt_sign(payload, KEY, KEY_LEN, tok, sizeof(tok));

    CHECK(n > 0);
    return sss_jwt_verify_rules(tok, (size_t)n, KEY, KEY_LEN, NOW, rules, &claims);
}

/* Issue 18: --jwt-issuer, --jwt-audience, --jwt-leeway, --jwt-require-exp. */
static void test_rules(void)
{
    struct sss_jwt_rules none = {0}, exp = {.require_exp = 1};
    struct sss_jwt_rules iss = {.issuer = "https://id.example", .audience = "sss"};
    struct sss_jwt_rules lee = {.leeway_s = 30};

    /* exp: optional without the rule, required with it. */
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\"}", NULL), 0);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\"}", &none), 0);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\"}", &exp), SSS_JWT_ECLAIM);
    CHECK_EQ_STR(claims.error, "missing exp");
    CHECK_EQ_STR(claims.user, "");
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"exp\":1800000001}", &exp), 0);
    /* Leeway: both ways, and no further. */
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"exp\":1799999990}", &none), SSS_JWT_EEXPIRED);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"exp\":1799999990}", &lee), 0);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"exp\":1799999970}", &lee), SSS_JWT_EEXPIRED);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"nbf\":1800000030}", &lee), 0);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"nbf\":1800000031}", &lee), SSS_JWT_ENOTYET);
    /* Issuer and audience: exact; aud a string or an array holding it. */
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":\"https://id.example\",\"aud\":\"sss\"}",
                              &iss),
                 0);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":\"https://id.example\",\"aud\":[\"x\","
                              "\"sss\"]}",
                              &iss),
                 0);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"aud\":\"sss\"}", &iss), SSS_JWT_ECLAIM);
    CHECK_EQ_STR(claims.error, "bad issuer");
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":\"https://id.example/\",\"aud\":\"sss\"}",
                              &iss),
                 SSS_JWT_ECLAIM);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":\"https://id.example\"}", &iss),
                 SSS_JWT_ECLAIM);
    CHECK_EQ_STR(claims.error, "bad audience");
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":\"https://id.example\",\"aud\":[\"x\"]}",
                              &iss),
                 SSS_JWT_ECLAIM);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":\"https://id.example\",\"aud\":[[\"sss\"]]}",
                              &iss),
                 SSS_JWT_ECLAIM);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":\"https://id.example\",\"aud\":7}", &iss),
                 SSS_JWT_ECLAIM);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":1,\"aud\":\"sss\"}", &iss), SSS_JWT_ECLAIM);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":\"https://id.example\",\"iss\":"
                              "\"https://id.example\",\"aud\":\"sss\"}",
                              &iss),
                 SSS_JWT_EMALFORMED);
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":\"https://id.example\",\"aud\":[\"1\",\"2\","
                              "\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\","
                              "\"14\",\"15\",\"16\",\"sss\"]}",
                              &iss),
                 SSS_JWT_ECLAIM);
    /* Not asked for: iss and aud of any type are ignored, as before. */
    CHECK_EQ_INT(verify_rules("{\"sub\":\"a\",\"iss\":1,\"aud\":{}}", &none), 0);
}

int main(void)
{
    test_rules();
    test_known_answers();
    test_sign();
    test_bit_flips();
    test_header();
    test_times();
    test_subject();
    test_session();
    test_shape();
    test_size();
    test_json();
    test_find();
    test_round_trip();
    return sss_test_done();
}
