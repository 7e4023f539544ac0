/*
 * JWT HS256 session tokens (see sss_jwt.h for the contract).
 *
 * A token is at most SSS_JWT_TOKEN_MAX bytes, so each decoded part fits a
 * fixed stack buffer and nothing is allocated. Checks go from cheap and
 * unauthenticated to authenticated: split into three parts, strict base64url
 * of each (no padding, canonical trailing bits, so a token has exactly one
 * spelling), the header's algorithm, the HMAC in constant time, and only
 * then the claims of the payload.
 *
 * JSON is read by a small strict scanner rather than yajl: both documents
 * are a few hundred bytes, and the scanner needs no allocation (yajl's buffers
 * do not survive a failed malloc) and reports only top-level members, whose
 * keys and string values it unescapes into bounded buffers. It follows
 * RFC 8259 to the letter: no comments, no trailing commas, no lone
 * surrogates, well-formed UTF-8 only, one value and only whitespace after it,
 * nesting at most JSON_DEPTH_MAX deep.
 */
#include "http/sss_jwt.h"

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
#define JSON_KEY_MAX 16                          /* longer keys are none we read */
#define JSON_STR_MAX 256                         /* longer strings are none we accept */
#define NUM_EXP_MAX 10000                        /* exponents beyond this clamp the result */

static const char HEADER_JSON[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* ---- base64url (RFC 4648 section 5, no padding) ------------------------ */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

static size_t b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/*
 * Decode n characters into dst (cap bytes). Refuses any character outside the
 * alphabet (so '=' too), a length that leaves a lone character, and non-zero
 * leftover bits, which would give a second spelling of the same bytes.
 * Returns the decoded length, or -1.
 */
static long b64url_decode(const char *s, size_t n, unsigned char *dst, size_t cap)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t i, len = 0;

    if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
        return -1;
    for (i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)s[i]);

        if (v < 0)
            return -1;
        acc = ((acc << 6) | (uint32_t)v) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[len++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1))
        return -1;
    return (long)len;
}

/* Encode n bytes into dst, which has room for b64url_len(n) characters (no NUL). */
static void b64url_encode(const unsigned char *src, size_t n, char *dst)
{
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];

        dst[o++] = b64url_alphabet[v >> 18];
        dst[o++] = b64url_alphabet[(v >> 12) & 63];
        dst[o++] = b64url_alphabet[(v >> 6) & 63];
        dst[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)src[i] << 16;

        dst[o++] = b64url_alphabet[v >> 18];
        dst[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;

        dst[o++] = b64url_alphabet[v >> 18];
        dst[o++] = b64url_alphabet[(v >> 12) & 63];
        dst[o++] = b64url_alphabet[(v >> 6) & 63];
    }
}

/* ---- a strict JSON scanner for flat documents -------------------------- */

enum json_type {
    JSON_STRING,
    JSON_NUMBER,
    JSON_LITERAL, /* true, false, null */
    JSON_OBJECT,
    JSON_ARRAY,
};

/* A top-level member's value. Strings are unescaped and NUL-terminated. */
struct json_value {
    enum json_type type;
    char str[JSON_STR_MAX];
    size_t str_len;
    int str_overlong; /* the string did not fit: str is incomplete */
    const char *num;  /* JSON_NUMBER: the raw text, num_len bytes */
    size_t num_len;
};

struct json {
    const unsigned char *p, *end;
};

/* Called for each top-level member; returns 0 to go on or a negative code to stop. */
typedef int (*json_member_fn)(void *data, const char *key, size_t key_len, int key_overlong,
                              const struct json_value *v);

static void json_ws(struct json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Bounded append to an unescaping buffer; buf NULL skips. One byte stays for the NUL. */
static void str_put(char *buf, size_t cap, size_t *len, int *overlong, const unsigned char *b,
                    size_t n)
{
    if (!buf || *overlong)
        return;
    if (n >= cap - *len) {
        *overlong = 1;
        return;
    }
    memcpy(buf + *len, b, n);
    *len += n;
}

/* Length of the well-formed UTF-8 sequence (RFC 3629) at p, or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    uint32_t cp;
    size_t n, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Four hex digits of a \u escape at p. */
static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *out)
{
    uint32_t v = 0;
    int i;

    if (end - p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        unsigned char c = p[i];

        v <<= 4;
        if (is_digit(c))
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(uint32_t cp, unsigned char b[4])
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (unsigned char)(0xf0 | cp >> 18);
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * A string at j->p (the opening quote), unescaped into buf (cap bytes, may be
 * NULL to only check it). \u0000 becomes a NUL byte inside the string; the
 * callers' character checks refuse it.
 */
static int json_string(struct json *j, char *buf, size_t cap, size_t *len, int *overlong)
{
    const unsigned char *p = j->p + 1, *end = j->end;

    *len = 0;
    *overlong = 0;
    for (;;) {
        unsigned char c, b[4];
        uint32_t cp, lo;
        size_t n;

        if (p >= end)
            return -1;
        c = *p;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            n = utf8_seq(p, end);
            if (n == 0)
                return -1;
            str_put(buf, cap, len, overlong, p, n);
            p += n;
            continue;
        }
        if (end - p < 2)
            return -1;
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
            b[0] = p[1];
            break;
        case 'b':
            b[0] = '\b';
            break;
        case 'f':
            b[0] = '\f';
            break;
        case 'n':
            b[0] = '\n';
            break;
        case 'r':
            b[0] = '\r';
            break;
        case 't':
            b[0] = '\t';
            break;
        case 'u':
            if (hex4(p + 2, end, &cp) < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
                return -1;
            p += 6;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* A high surrogate needs its low half right after it. */
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            n = utf8_encode(cp, b);
            str_put(buf, cap, len, overlong, b, n);
            continue;
        default:
            return -1;
        }
        str_put(buf, cap, len, overlong, b, 1);
        p += 2;
    }
    if (buf)
        buf[*len] = '\0';
    j->p = p + 1;
    return 0;
}

static void json_digits(struct json *j)
{
    while (j->p < j->end && is_digit(*j->p))
        j->p++;
}

/* -? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)? */
static int json_number(struct json *j)
{
    const unsigned char *start;

    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end || !is_digit(*j->p))
        return -1;
    if (*j->p == '0')
        j->p++;
    else
        json_digits(j);
    if (j->p < j->end && *j->p == '.') {
        start = ++j->p;
        json_digits(j);
        if (j->p == start)
            return -1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        start = j->p;
        json_digits(j);
        if (j->p == start)
            return -1;
    }
    return 0;
}

static int json_literal(struct json *j, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

/* One value at depth (the top-level object is depth 1); v NULL: check and skip it. */
static int json_value(struct json *j, int depth, struct json_value *v)
{
    const unsigned char *start;
    size_t len;
    int overlong, close, rc;

    json_ws(j);
    if (j->p >= j->end)
        return -1;
    start = j->p;
    switch (*j->p) {
    case '{':
    case '[':
        if (depth > JSON_DEPTH_MAX)
            return -1;
        close = *j->p == '{' ? '}' : ']';
        if (v)
            v->type = close == '}' ? JSON_OBJECT : JSON_ARRAY;
        j->p++;
        json_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            if (close == '}') {
                json_ws(j);
                if (j->p >= j->end || *j->p != '"' || json_string(j, NULL, 0, &len, &overlong) < 0)
                    return -1;
                json_ws(j);
                if (j->p >= j->end || *j->p != ':')
                    return -1;
                j->p++;
            }
            if (json_value(j, depth + 1, NULL) < 0)
                return -1;
            json_ws(j);
            if (j->p >= j->end)
                return -1;
            if (*j->p == close) {
                j->p++;
                return 0;
            }
            if (*j->p != ',')
                return -1;
            j->p++;
        }
    case '"':
        if (!v)
            return json_string(j, NULL, 0, &len, &overlong);
        v->type = JSON_STRING;
        return json_string(j, v->str, sizeof(v->str), &v->str_len, &v->str_overlong);
    case 't':
    case 'f':
    case 'n':
        rc = json_literal(j, *j->p == 't' ? "true" : *j->p == 'f' ? "false" : "null");
        if (v)
            v->type = JSON_LITERAL;
        return rc;
    default:
        rc = json_number(j);
        if (v) {
            v->type = JSON_NUMBER;
            v->num = (const char *)start;
            v->num_len = (size_t)(j->p - start);
        }
        return rc;
    }
}

/*
 * Parse a whole document that must be one object, calling fn for each of its
 * members. Returns 0, SSS_JWT_EMALFORMED for anything that is not such a
 * document, or the first negative code from fn.
 */
static int json_object(const unsigned char *buf, size_t n, json_member_fn fn, void *data)
{
    struct json j = {buf, buf + n};
    struct json_value v;
    char key[JSON_KEY_MAX];
    size_t key_len;
    int key_overlong, rc;

    json_ws(&j);
    if (j.p >= j.end || *j.p != '{')
        return SSS_JWT_EMALFORMED;
    j.p++;
    json_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
        goto end;
    }
    for (;;) {
        json_ws(&j);
        if (j.p >= j.end || *j.p != '"' ||
            json_string(&j, key, sizeof(key), &key_len, &key_overlong) < 0)
            return SSS_JWT_EMALFORMED;
        json_ws(&j);
        if (j.p >= j.end || *j.p != ':')
            return SSS_JWT_EMALFORMED;
        j.p++;
        memset(&v, 0, sizeof(v));
        if (json_value(&j, 2, &v) < 0)
            return SSS_JWT_EMALFORMED;
        rc = fn(data, key, key_len, key_overlong, &v);
        if (rc < 0)
            return rc;
        json_ws(&j);
        if (j.p >= j.end)
            return SSS_JWT_EMALFORMED;
        if (*j.p == '}') {
            j.p++;
            break;
        }
        if (*j.p != ',')
            return SSS_JWT_EMALFORMED;
        j.p++;
    }
end:
    json_ws(&j);
    return j.p == j.end ? 0 : SSS_JWT_EMALFORMED;
}

static int key_is(const char *key, size_t key_len, int key_overlong, const char *name)
{
    return !key_overlong && key_len == strlen(name) && memcmp(key, name, key_len) == 0;
}

static int str_is(const struct json_value *v, const char *s)
{
    return v->type == JSON_STRING && !v->str_overlong && v->str_len == strlen(s) &&
           memcmp(v->str, s, v->str_len) == 0;
}

/* Digit k of the significand: the integer digits, then the fraction digits. */
static int sig_digit(const char *s, size_t int_at, size_t int_len, size_t frac_at, size_t k)
{
    return k < int_len ? s[int_at + k] - '0' : s[frac_at + k - int_len] - '0';
}

/*
 * The ceiling of a JSON number (already checked by json_number), clamped to
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
    unsigned seen;
    const char *error;
};

enum {
    SEEN_ALG = 1u << 0,
    SEEN_TYP = 1u << 1,
    SEEN_SUB = 1u << 2,
    SEEN_SESSION = 1u << 3,
    SEEN_EXP = 1u << 4,
    SEEN_NBF = 1u << 5,
};

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

static int header_member(void *data, const char *key, size_t key_len, int key_overlong,
                         const struct json_value *v)
{
    struct jwt_check *c = data;

    if (key_is(key, key_len, key_overlong, "alg")) {
        if (first_time(c, SEEN_ALG) < 0)
            return SSS_JWT_EMALFORMED;
        if (!str_is(v, "HS256"))
            return reject(c, SSS_JWT_EALG, "unsupported alg");
    } else if (key_is(key, key_len, key_overlong, "typ")) {
        if (first_time(c, SEEN_TYP) < 0)
            return SSS_JWT_EMALFORMED;
        if (!str_is(v, "JWT"))
            return reject(c, SSS_JWT_EMALFORMED, "malformed token");
    } else if (key_is(key, key_len, key_overlong, "crit")) {
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

static int time_claim(struct jwt_check *c, unsigned bit, const struct json_value *v, int *has,
                      int64_t *t)
{
    if (first_time(c, bit) < 0)
        return SSS_JWT_EMALFORMED;
    if (v->type != JSON_NUMBER)
        return reject(c, SSS_JWT_EMALFORMED, "malformed token");
    *has = 1;
    *t = json_ceil(v->num, v->num_len);
    return 0;
}

static int claims_member(void *data, const char *key, size_t key_len, int key_overlong,
                         const struct json_value *v)
{
    struct jwt_check *c = data;
    struct sss_jwt_claims *out = c->out;
    size_t i;

    if (key_is(key, key_len, key_overlong, "sub")) {
        if (first_time(c, SEEN_SUB) < 0)
            return SSS_JWT_EMALFORMED;
        if (v->type != JSON_STRING || v->str_overlong || v->str_len == 0 ||
            v->str_len > SSS_JWT_USER_MAX)
            return reject(c, SSS_JWT_ESUB, "bad subject");
        for (i = 0; i < v->str_len; i++) {
            if (!is_user_char(v->str[i]))
                return reject(c, SSS_JWT_ESUB, "bad subject");
        }
        memcpy(out->user, v->str, v->str_len + 1);
    } else if (key_is(key, key_len, key_overlong, "sid") ||
               key_is(key, key_len, key_overlong, "session")) {
        if (first_time(c, SEEN_SESSION) < 0)
            return SSS_JWT_EMALFORMED;
        if (v->type != JSON_STRING || v->str_overlong || v->str_len == 0 ||
            v->str_len > SSS_JWT_SESSION_MAX)
            return reject(c, SSS_JWT_ESESSION, "bad session");
        for (i = 0; i < v->str_len; i++) {
            if (v->str[i] <= 0x20 || v->str[i] > 0x7e)
                return reject(c, SSS_JWT_ESESSION, "bad session");
        }
        memcpy(out->session, v->str, v->str_len + 1);
    } else if (key_is(key, key_len, key_overlong, "exp")) {
        return time_claim(c, SEEN_EXP, v, &out->has_exp, &out->exp);
    } else if (key_is(key, key_len, key_overlong, "nbf")) {
        return time_claim(c, SEEN_NBF, v, &out->has_nbf, &out->nbf);
    }
    return 0;
}

/* ---- verify, find, sign ------------------------------------------------ */

static int fail(struct sss_jwt_claims *out, int code, const char *error)
{
    out->user[0] = '\0';
    out->session[0] = '\0';
    out->error = error;
    return code;
}

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
    memset(&c, 0, sizeof(c));
    c.out = out;
    rc = json_object(header, (size_t)header_n, header_member, &c);
    if (rc < 0)
        return fail(out, rc, c.error ? c.error : "malformed token");
    if (!(c.seen & SEEN_ALG))
        return fail(out, SSS_JWT_EALG, "unsupported alg");

    if (hmac_sha256(secret, secret_len, token, h_len + 1 + p_len, mac) < 0)
        return fail(out, -ENOMEM, "internal error");
    if (sig_n != SIG_LEN || CRYPTO_memcmp(mac, sig, SIG_LEN) != 0)
        return fail(out, SSS_JWT_ESIG, "bad signature");

    /* Authenticated from here on. */
    memset(&c, 0, sizeof(c));
    c.out = out;
    rc = json_object(payload, (size_t)payload_n, claims_member, &c);
    if (rc < 0)
        return fail(out, rc, c.error ? c.error : "malformed token");
    if (out->has_exp && now_s >= out->exp)
        return fail(out, SSS_JWT_EEXPIRED, "token expired");
    if (out->has_nbf && now_s < out->nbf)
        return fail(out, SSS_JWT_ENOTYET, "token not yet valid");
    if (!(c.seen & SEEN_SUB))
        return fail(out, SSS_JWT_ESUB, "missing sub");
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
    b64url_encode((const unsigned char *)HEADER_JSON, sizeof(HEADER_JSON) - 1, out);
    out[h_len] = '.';
    b64url_encode((const unsigned char *)payload_json, n, out + h_len + 1);
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
