/*
 * JWT HS256 session tokens (see sss_jwt.h for the contract).
 *
 * A token is at most SSS_JWT_TOKEN_MAX bytes, so each decoded part fits a
 * fixed stack buffer. Checks go from cheap and unauthenticated to
 * authenticated: split into three parts, strict base64url of each (no
 * padding, canonical trailing bits, so a token has exactly one spelling;
 * OpenSSL's EVP blocks do the work), the header's algorithm, the HMAC in
 * constant time (CRYPTO_memcmp), and only then the claims of the payload.
 *
 * Both documents are read by sss_json, the strict yajl reader of src/proto:
 * RFC 8259 to the letter (no comments, no trailing commas, no lone
 * surrogates, well-formed UTF-8 only, one value and only whitespace after
 * it), nesting at most JSON_DEPTH_MAX deep. Only top-level members count;
 * numbers arrive as their text and are rounded here with exact decimal
 * arithmetic. yajl's memory comes from sss_json's stack region: a token
 * this size never needs the heap.
 */
#include "sss_jwt.h"
#include "sss_json.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIG_LEN 32                               /* HMAC-SHA256 */
#define SIG_B64_LEN 43                           /* base64url of 32 bytes, unpadded */
#define PART_MAX (SSS_JWT_TOKEN_MAX / 4 * 3 + 3) /* decoded bytes of any part, rounded up */
#define JSON_DEPTH_MAX 16                        /* levels of containers, the top one included */
#define NUM_EXP_MAX 10000                        /* exponents beyond this clamp the result */

static const char HEADER_JSON[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/*
 * ---- base64url (RFC 4648 section 5, no padding) over OpenSSL's EVP blocks --
 *
 * The alphabet's "-_" are translated to and from "+/", and the padding the
 * EVP functions want is added and taken away here. Work goes in chunks of
 * CHUNK characters (only the last is short and padded) through stack
 * buffers. Canonical form is checked by encoding the last decoded group
 * again: a spelling with non-zero leftover bits does not come back.
 */

#define CHUNK 256 /* characters per EVP block call, a multiple of 4 */
#define CHUNK_BYTES (CHUNK / 4 * 3)

static size_t b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static int in_alphabet(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Encode n bytes into dst, which has room for b64url_len(n) characters (no NUL). */
static size_t b64url_encode(const void *src, size_t n, char *dst)
{
    const unsigned char *in = src;
    unsigned char block[CHUNK + 1]; /* EVP_EncodeBlock adds a NUL */
    size_t out = 0;

    while (n > 0) {
        size_t take = n < CHUNK_BYTES ? n : CHUNK_BYTES, len, i;

        len = (size_t)EVP_EncodeBlock(block, in, (int)take);
        while (len > 0 && block[len - 1] == '=')
            len--;
        for (i = 0; i < len; i++)
            dst[out + i] = block[i] == '+' ? '-' : block[i] == '/' ? '_' : (char)block[i];
        out += len;
        in += take;
        n -= take;
    }
    return out;
}

/*
 * Decode n characters into dst (cap bytes). Refuses any character outside the
 * alphabet (so '=', '+', '/' and whitespace too), a length that leaves a lone
 * character, non-zero leftover bits, which would give a second spelling of
 * the same bytes, and output over cap. Returns the decoded length, or -1.
 */
static long b64url_decode(const char *s, size_t n, void *dst, size_t cap)
{
    unsigned char block[CHUNK], bytes[CHUNK_BYTES], *out = dst;
    size_t done = 0, i, total;

    if (n % 4 == 1)
        return -1;
    total = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (total > cap || total > (size_t)LONG_MAX)
        return -1;
    for (i = 0; i < n; i++) {
        if (!in_alphabet((unsigned char)s[i]))
            return -1;
    }
    for (i = 0; i < n; i += CHUNK) {
        size_t take = n - i < CHUNK ? n - i : CHUNK, pad = (4 - take % 4) % 4, k;
        int got;

        for (k = 0; k < take; k++)
            block[k] = s[i + k] == '-' ? '+' : s[i + k] == '_' ? '/' : (unsigned char)s[i + k];
        memset(block + take, '=', pad);
        got = EVP_DecodeBlock(bytes, block, (int)(take + pad));
        /* The output counts the padding as zero bytes: not ours to keep. */
        if (got < 0 || (size_t)got != (take + pad) / 4 * 3)
            return -1;
        memcpy(out + done, bytes, (size_t)got - pad);
        done += (size_t)got - pad;
    }
    if (done != total)
        return -1;
    /* The last group spelled canonically: the bits its last character carries
     * beyond the bytes (4 of them after one byte, 2 after two) are zero. */
    if (n % 4) {
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        long v = strchr(alphabet, s[n - 1]) - alphabet;

        if (v & (n % 4 == 2 ? 0x0f : 0x03))
            return -1;
    }
    return (long)total;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int key_is(const struct sss_json_item *it, const char *name)
{
    return it->key_len == strlen(name) && memcmp(it->key, name, it->key_len) == 0;
}

static int str_is(const struct sss_json_item *it, const char *s)
{
    return it->type == SSS_JSON_STRING && it->str_len == strlen(s) &&
           memcmp(it->str, s, it->str_len) == 0;
}

/* Digit k of the significand: the integer digits, then the fraction digits. */
static int sig_digit(const char *s, size_t int_at, size_t int_len, size_t frac_at, size_t k)
{
    return k < int_len ? s[int_at + k] - '0' : s[frac_at + k - int_len] - '0';
}

/*
 * The ceiling of a JSON number (already checked by yajl), clamped to
 * int64_t. Exact decimal arithmetic, so 1e3, 1000.0 and 999.5 all give 1000
 * with no float rounding and no locale.
 */
static int64_t json_ceil(const char *s, size_t n)
{
    size_t i = 0, int_at, int_len, frac_at, frac_len = 0, digits, k;
    long exp = 0, point;
    int neg = 0, exp_neg = 0, big = 0, frac = 0;
    uint64_t mag = 0;

    if (s[i] == '-') {
        neg = 1;
        i++;
    }
    int_at = i;
    while (i < n && is_digit((unsigned char)s[i]))
        i++;
    int_len = i - int_at;
    frac_at = i;
    if (i < n && s[i] == '.') {
        frac_at = ++i;
        while (i < n && is_digit((unsigned char)s[i]))
            i++;
        frac_len = i - frac_at;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            exp_neg = s[i++] == '-';
        for (; i < n && is_digit((unsigned char)s[i]); i++) {
            if (exp < NUM_EXP_MAX)
                exp = exp * 10 + (s[i] - '0');
        }
    }
    digits = int_len + frac_len;
    point = (long)int_len + (exp_neg ? -exp : exp); /* digits before the decimal point */
    for (k = 0; (long)k < point && !big; k++) {
        int d = k < digits ? sig_digit(s, int_at, int_len, frac_at, k) : 0;

        if (mag > (UINT64_MAX - (uint64_t)d) / 10)
            big = 1;
        else
            mag = mag * 10 + (uint64_t)d;
        if (k >= digits && mag == 0)
            break; /* only zeros from here: stays 0 */
    }
    for (k = point > 0 ? (size_t)point : 0; k < digits; k++)
        frac |= sig_digit(s, int_at, int_len, frac_at, k) != 0;
    if (neg) /* the ceiling of a negative number drops its fraction */
        return big || mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
    if (big || mag >= (uint64_t)INT64_MAX)
        return INT64_MAX;
    return (int64_t)mag + frac;
}

/* ---- header and claims ------------------------------------------------- */

struct jwt_check {
    struct sss_jwt_claims *out;
    const struct sss_jwt_rules *rules; /* NULL: none (and in the header) */
    unsigned seen;
    int iss_ok, aud_ok; /* the asked-for issuer and audience were found */
    unsigned aud_items;
    const char *error;
};

enum {
    SEEN_ALG = 1u << 0,
    SEEN_TYP = 1u << 1,
    SEEN_SUB = 1u << 2,
    SEEN_SESSION = 1u << 3,
    SEEN_EXP = 1u << 4,
    SEEN_NBF = 1u << 5,
    SEEN_ISS = 1u << 6,
    SEEN_AUD = 1u << 7,
};

#define AUD_ITEMS_MAX 16    /* strings of an "aud" array */
#define LEEWAY_MAX_S 86400  /* a larger leeway is taken as this (so now +- it cannot overflow) */

static int reject(struct jwt_check *c, int code, const char *error)
{
    c->error = error;
    return code;
}

/* Mark a member as seen; a second one is refused (parsers disagree on which wins). */
static int first_time(struct jwt_check *c, unsigned bit)
{
    if (c->seen & bit)
        return reject(c, SSS_JWT_EMALFORMED, "malformed token");
    c->seen |= bit;
    return 0;
}

static int header_member(void *data, const struct sss_json_item *v)
{
    struct jwt_check *c = data;

    if (key_is(v, "alg")) {
        if (first_time(c, SEEN_ALG) < 0)
            return SSS_JWT_EMALFORMED;
        if (!str_is(v, "HS256"))
            return reject(c, SSS_JWT_EALG, "unsupported alg");
    } else if (key_is(v, "typ")) {
        if (first_time(c, SEEN_TYP) < 0)
            return SSS_JWT_EMALFORMED;
        if (!str_is(v, "JWT"))
            return reject(c, SSS_JWT_EMALFORMED, "malformed token");
    } else if (key_is(v, "crit")) {
        /* RFC 7515 4.1.11: extensions we must understand, and we know none. */
        return reject(c, SSS_JWT_EALG, "unsupported header");
    }
    return 0;
}

static int is_user_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

static int time_claim(struct jwt_check *c, unsigned bit, const struct sss_json_item *v, int *has,
                      int64_t *t)
{
    if (first_time(c, bit) < 0)
        return SSS_JWT_EMALFORMED;
    if (v->type != SSS_JSON_NUMBER)
        return reject(c, SSS_JWT_EMALFORMED, "malformed token");
    *has = 1;
    *t = json_ceil(v->raw, v->raw_len);
    return 0;
}

static int asked(const char *rule)
{
    return rule && rule[0];
}

/* One string of an "aud" array. */
static int aud_item(void *data, const struct sss_json_item *v)
{
    struct jwt_check *c = data;

    if (v->type != SSS_JSON_STRING || ++c->aud_items > AUD_ITEMS_MAX)
        return reject(c, SSS_JWT_ECLAIM, "bad audience");
    if (str_is(v, c->rules->audience))
        c->aud_ok = 1;
    return 0;
}

/* "iss" and "aud", read only when the rules ask for them. */
static int rule_claim(struct jwt_check *c, const struct sss_json_item *v)
{
    if (key_is(v, "iss")) {
        if (first_time(c, SEEN_ISS) < 0)
            return SSS_JWT_EMALFORMED;
        if (v->type != SSS_JSON_STRING)
            return reject(c, SSS_JWT_ECLAIM, "bad issuer");
        c->iss_ok = str_is(v, c->rules->issuer);
        return 0;
    }
    if (first_time(c, SEEN_AUD) < 0)
        return SSS_JWT_EMALFORMED;
    if (v->type == SSS_JSON_STRING) {
        c->aud_ok = str_is(v, c->rules->audience);
        return 0;
    }
    if (v->type != SSS_JSON_ARRAY)
        return reject(c, SSS_JWT_ECLAIM, "bad audience");
    /* Inside the claims' parse: its own (stack) region, one level deep. */
    if (sss_json_each(v->raw, v->raw_len, SSS_JSON_ARRAY, 1, SSS_JSON_STRICT, aud_item, c) < 0)
        return reject(c, SSS_JWT_ECLAIM, "bad audience");
    return 0;
}

static int claims_member(void *data, const struct sss_json_item *v)
{
    struct jwt_check *c = data;
    struct sss_jwt_claims *out = c->out;
    size_t i;

    if (c->rules && ((asked(c->rules->issuer) && key_is(v, "iss")) ||
                     (asked(c->rules->audience) && key_is(v, "aud"))))
        return rule_claim(c, v);

    if (key_is(v, "sub")) {
        if (first_time(c, SEEN_SUB) < 0)
            return SSS_JWT_EMALFORMED;
        if (v->type != SSS_JSON_STRING || v->str_len == 0 || v->str_len > SSS_JWT_USER_MAX)
            return reject(c, SSS_JWT_ESUB, "bad subject");
        for (i = 0; i < v->str_len; i++) {
            if (!is_user_char(v->str[i]))
                return reject(c, SSS_JWT_ESUB, "bad subject");
        }
        memcpy(out->user, v->str, v->str_len);
        out->user[v->str_len] = '\0';
    } else if (key_is(v, "sid") || key_is(v, "session")) {
        if (first_time(c, SEEN_SESSION) < 0)
            return SSS_JWT_EMALFORMED;
        if (v->type != SSS_JSON_STRING || v->str_len == 0 || v->str_len > SSS_JWT_SESSION_MAX)
            return reject(c, SSS_JWT_ESESSION, "bad session");
        for (i = 0; i < v->str_len; i++) {
            if (v->str[i] <= 0x20 || v->str[i] > 0x7e)
                return reject(c, SSS_JWT_ESESSION, "bad session");
        }
        memcpy(out->session, v->str, v->str_len);
        out->session[v->str_len] = '\0';
    } else if (key_is(v, "exp")) {
        return time_claim(c, SEEN_EXP, v, &out->has_exp, &out->exp);
    } else if (key_is(v, "nbf")) {
        return time_claim(c, SEEN_NBF, v, &out->has_nbf, &out->nbf);
    }
    return 0;
}

static int fail(struct sss_jwt_claims *out, int code, const char *error)
{
    out->user[0] = '\0';
    out->session[0] = '\0';
    out->error = error;
    return code;
}

/*
 * A decoded part that must be one JSON object, fn called for each member with
 * c, which starts afresh for out. Returns 0, or fails out (see fail) with the
 * first code from fn, SSS_JWT_EMALFORMED for anything that is not such a
 * document, or -ENOMEM ("internal error").
 */
static int read_object(const unsigned char *buf, size_t n, sss_json_item_fn fn,
                       const struct sss_jwt_rules *rules, struct jwt_check *c,
                       struct sss_jwt_claims *out)
{
    int rc;

    memset(c, 0, sizeof(*c));
    c->out = out;
    c->rules = rules;
    rc = sss_json_each((const char *)buf, n, SSS_JSON_OBJECT, JSON_DEPTH_MAX, SSS_JSON_STRICT, fn,
                       c);
    if (rc == -ENOMEM)
        rc = reject(c, -ENOMEM, "internal error");
    else if (rc == SSS_EPROTO)
        rc = SSS_JWT_EMALFORMED;
    return rc < 0 ? fail(out, rc, c->error ? c->error : "malformed token") : rc;
}

/* ---- verify, find, sign ------------------------------------------------ */

static int hmac_sha256(const uint8_t *secret, size_t secret_len, const char *data, size_t len,
                       unsigned char md[EVP_MAX_MD_SIZE])
{
    unsigned int md_len = 0;

    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)data, len, md,
              &md_len) ||
        md_len != SIG_LEN)
        return -1;
    return 0;
}

int sss_jwt_verify(const char *token, size_t len, const uint8_t *secret, size_t secret_len,
                   int64_t now_s, struct sss_jwt_claims *out)
{
    return sss_jwt_verify_rules(token, len, secret, secret_len, now_s, NULL, out);
}

int sss_jwt_verify_rules(const char *token, size_t len, const uint8_t *secret, size_t secret_len,
                         int64_t now_s, const struct sss_jwt_rules *rules,
                         struct sss_jwt_claims *out)
{
    int64_t leeway = rules && rules->leeway_s > 0 ? rules->leeway_s : 0;

    if (leeway > LEEWAY_MAX_S)
        leeway = LEEWAY_MAX_S;

    unsigned char header[PART_MAX], payload[PART_MAX], sig[PART_MAX], mac[EVP_MAX_MD_SIZE];
    const char *dot1, *dot2;
    size_t h_len, p_len, s_len;
    long header_n, payload_n, sig_n;
    struct jwt_check c;
    int rc;

    memset(out, 0, sizeof(*out));
    if (secret_len == 0 || secret_len > INT_MAX || !secret)
        return fail(out, SSS_EINVAL, "no secret");
    if (!token)
        return fail(out, SSS_JWT_EMALFORMED, "malformed token");
    if (len > SSS_JWT_TOKEN_MAX)
        return fail(out, SSS_JWT_EMALFORMED, "token too long");

    /* Exactly three non-empty parts. */
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return fail(out, SSS_JWT_EMALFORMED, "malformed token");
    h_len = (size_t)(dot1 - token);
    p_len = (size_t)(dot2 - dot1 - 1);
    s_len = len - (size_t)(dot2 + 1 - token);
    if (h_len == 0 || p_len == 0 || s_len == 0)
        return fail(out, SSS_JWT_EMALFORMED, "malformed token");
    header_n = b64url_decode(token, h_len, header, sizeof(header));
    payload_n = b64url_decode(dot1 + 1, p_len, payload, sizeof(payload));
    sig_n = b64url_decode(dot2 + 1, s_len, sig, sizeof(sig));
    if (header_n < 0 || payload_n < 0 || sig_n < 0)
        return fail(out, SSS_JWT_EMALFORMED, "malformed token");

    /* The header says how to check the rest: only HS256 is ever accepted. */
    rc = read_object(header, (size_t)header_n, header_member, NULL, &c, out);
    if (rc < 0)
        return rc;
    if (!(c.seen & SEEN_ALG))
        return fail(out, SSS_JWT_EALG, "unsupported alg");

    if (hmac_sha256(secret, secret_len, token, h_len + 1 + p_len, mac) < 0)
        return fail(out, -ENOMEM, "internal error");
    if (sig_n != SIG_LEN || CRYPTO_memcmp(mac, sig, SIG_LEN) != 0)
        return fail(out, SSS_JWT_ESIG, "bad signature");

    /* Authenticated from here on. */
    rc = read_object(payload, (size_t)payload_n, claims_member, rules, &c, out);
    if (rc < 0)
        return rc;
    if (rules && rules->require_exp && !out->has_exp)
        return fail(out, SSS_JWT_ECLAIM, "missing exp");
    if (out->has_exp && now_s - leeway >= out->exp)
        return fail(out, SSS_JWT_EEXPIRED, "token expired");
    if (out->has_nbf && now_s + leeway < out->nbf)
        return fail(out, SSS_JWT_ENOTYET, "token not yet valid");
    if (!(c.seen & SEEN_SUB))
        return fail(out, SSS_JWT_ESUB, "missing sub");
    if (rules && asked(rules->issuer) && !c.iss_ok)
        return fail(out, SSS_JWT_ECLAIM, "bad issuer");
    if (rules && asked(rules->audience) && !c.aud_ok)
        return fail(out, SSS_JWT_ECLAIM, "bad audience");
    out->error = NULL;
    return 0;
}

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int ascii_lower(int ch)
{
    return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

/* "Bearer" followed by whitespace or nothing, then the token. */
static int find_bearer(const char *h, size_t n, const char **tok, size_t *tok_len)
{
    static const char scheme[] = "bearer";
    size_t i;

    if (n < sizeof(scheme) - 1)
        return 0;
    for (i = 0; i < sizeof(scheme) - 1; i++) {
        if (ascii_lower((unsigned char)h[i]) != scheme[i])
            return 0;
    }
    if (i < n && !is_ows(h[i]))
        return 0;
    while (i < n && is_ows(h[i]))
        i++;
    while (n > i && is_ows(h[n - 1]))
        n--;
    *tok = h + i;
    *tok_len = n - i;
    return 1;
}

/* The "token" parameter of the query; twice is refused with an empty token. */
static int find_query(const char *target, const char **tok, size_t *tok_len)
{
    const char *p = strchr(target, '?'), *end;
    int found = 0;

    if (!p)
        return 0;
    p++;
    end = p + strcspn(p, "#");
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *name_end = eq ? eq : stop;

        if (name_end - p == 5 && memcmp(p, "token", 5) == 0) {
            if (found) {
                *tok_len = 0;
                return 1;
            }
            found = 1;
            *tok = eq ? eq + 1 : stop;
            *tok_len = (size_t)(stop - *tok);
        }
        p = stop + 1;
    }
    return found;
}

/* The first cookie called name in "a=b; name=value; c=d". */
static int find_cookie(const char *h, size_t n, const char *name, const char **tok,
                       size_t *tok_len)
{
    size_t name_len = strlen(name), i = 0;

    while (i < n) {
        const char *semi = memchr(h + i, ';', n - i);
        size_t stop = semi ? (size_t)(semi - h) : n, b = i, e, eq;

        i = stop + 1;
        while (b < stop && is_ows(h[b]))
            b++;
        e = stop;
        while (e > b && is_ows(h[e - 1]))
            e--;
        for (eq = b; eq < e && h[eq] != '='; eq++)
            ;
        if (eq == e)
            continue; /* no '=': not a cookie-pair */
        {
            size_t ne = eq, vb = eq + 1;

            while (ne > b && is_ows(h[ne - 1]))
                ne--;
            if (ne - b != name_len || memcmp(h + b, name, name_len) != 0)
                continue;
            while (vb < e && is_ows(h[vb]))
                vb++;
            if (e - vb >= 2 && h[vb] == '"' && h[e - 1] == '"') {
                vb++;
                e--;
            }
            *tok = h + vb;
            *tok_len = e - vb;
            return 1;
        }
    }
    return 0;
}

int sss_jwt_find_token(const char *target, const char *cookie_header, size_t cookie_len,
                       const char *authz_header, size_t authz_len, const char *cookie_name,
                       const char **tok, size_t *tok_len)
{
    *tok = NULL;
    *tok_len = 0;
    if (!cookie_name || !cookie_name[0])
        cookie_name = "token";
    if (authz_header && find_bearer(authz_header, authz_len, tok, tok_len))
        return 1;
    if (target && find_query(target, tok, tok_len))
        return 1;
    if (cookie_header && find_cookie(cookie_header, cookie_len, cookie_name, tok, tok_len))
        return 1;
    *tok = NULL;
    *tok_len = 0;
    return 0;
}

int sss_jwt_sign(const char *payload_json, const uint8_t *secret, size_t secret_len, char *out,
                 size_t cap)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t h_len = b64url_len(sizeof(HEADER_JSON) - 1), p_len, n;

    if (cap > 0)
        out[0] = '\0';
    if (secret_len == 0 || secret_len > INT_MAX || !secret || !payload_json)
        return SSS_EINVAL;
    n = strlen(payload_json);
    if (n > (size_t)INT_MAX)
        return -ENOSPC;
    p_len = b64url_len(n);
    /* header "." payload "." signature NUL, and the length must fit the int we return. */
    if (cap < h_len + 1 + p_len + 1 + SIG_B64_LEN + 1 ||
        h_len + 1 + p_len + 1 + SIG_B64_LEN > (size_t)INT_MAX)
        return -ENOSPC;
    b64url_encode(HEADER_JSON, sizeof(HEADER_JSON) - 1, out);
    out[h_len] = '.';
    b64url_encode(payload_json, n, out + h_len + 1);
    n = h_len + 1 + p_len;
    if (hmac_sha256(secret, secret_len, out, n, mac) < 0) {
        out[0] = '\0';
        return -ENOMEM;
    }
    out[n++] = '.';
    b64url_encode(mac, SIG_LEN, out + n);
    n += SIG_B64_LEN;
    out[n] = '\0';
    return (int)n;
}
