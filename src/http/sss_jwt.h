/*
 * The built-in session parser: JSON Web Tokens signed with HMAC-SHA256
 * (RFC 7519 over RFC 7515 compact serialization, "alg":"HS256" only),
 * checked during the WebSocket upgrade (PROTOCOL.md 1 and 8).
 *
 * A token names the user ("sub", which becomes the per-user channel
 * "_u_<user>", so it must be a channel-name suffix) and optionally a session
 * ("sid" or "session"). The worker finds the token in the upgrade request
 * with sss_jwt_find_token, checks it with sss_jwt_verify, and refuses the
 * upgrade with 401 and out->error as the reason on any failure.
 *
 * Everything is strict and bounded: tokens over SSS_JWT_TOKEN_MAX bytes,
 * base64url with padding or foreign characters, non-canonical base64url,
 * malformed JSON, duplicate or mistyped claims are all refused. Pure
 * functions over byte buffers: no state, nothing on the heap but OpenSSL's
 * per-call HMAC context (yajl's memory is sss_json's stack region), safe
 * from any thread, never blocking.
 */
#ifndef SSS_JWT_H
#define SSS_JWT_H

#include "sss/sss_limits.h"
#include <stddef.h>
#include <stdint.h>

#include "sss_err.h"

#define SSS_JWT_TOKEN_MAX 4096  /* bytes of a compact token; longer ones are refused */
#define SSS_JWT_USER_MAX SSS_USER_MAX       /* bytes of "sub" */
#define SSS_JWT_SESSION_MAX SSS_SESSION_MAX /* bytes of "sid"/"session" */

/* Our codes (the -1200 family); out->error says more. */
enum sss_jwt_err {
    SSS_JWT_EMALFORMED = -1200, /* "malformed token", "token too long" */
    SSS_JWT_EALG = -1201,       /* "unsupported alg", "unsupported header" (crit) */
    SSS_JWT_ESIG = -1202,       /* "bad signature" */
    SSS_JWT_EEXPIRED = -1203,   /* "token expired" */
    SSS_JWT_ENOTYET = -1204,    /* "token not yet valid" */
    SSS_JWT_ESUB = -1205,       /* "missing sub", "bad subject" */
    SSS_JWT_ESESSION = -1206,   /* "bad session" */
    SSS_JWT_ECLAIM = -1207,     /* "missing exp", "bad issuer", "bad audience" */
};

/*
 * What a deployment asks of every token beyond its signature (the
 * --jwt-issuer, --jwt-audience, --jwt-leeway and --jwt-require-exp flags).
 * All borrowed. A zeroed struct asks nothing more.
 */
struct sss_jwt_rules {
    const char *issuer;   /* NULL or "": any; else "iss" must be exactly this string */
    const char *audience; /* NULL or "": any; else "aud" (a string, or an array of strings)
                           * must be or hold exactly this string */
    int64_t leeway_s;     /* seconds of clock skew allowed around "exp" and "nbf" (0..86400) */
    int require_exp;      /* a token without "exp" is refused ("missing exp") */
};

struct sss_jwt_claims {
    char user[SSS_JWT_USER_MAX + 1];       /* "sub": [A-Za-z0-9_-]{1,120} */
    char session[SSS_JWT_SESSION_MAX + 1]; /* "sid" or "session"; "" when absent */
    int has_exp, has_nbf;
    int64_t exp, nbf;  /* seconds; fractional values are rounded up */
    const char *error; /* static one-line reason on failure, NULL on success */
};

/*
 * Verify a compact JWS token (len bytes, need not be NUL-terminated) with
 * the shared secret, at time now_s (Unix seconds), and extract its claims.
 *
 * The token is exactly three non-empty base64url parts without padding. The
 * header is a JSON object with "alg":"HS256" ("none", other algorithms and a
 * missing alg are refused), "typ" if present "JWT", and no "crit". The
 * signature is HMAC-SHA256 over "header.payload", compared in constant time.
 * The payload is a JSON object with a string "sub" (required, a channel-name
 * suffix), optionally "sid" or "session" (a string of 1..128 printable ASCII
 * bytes; not both), and numbers "exp" (expired when now_s >= exp) and "nbf"
 * (not yet valid when now_s < nbf); no leeway. "iat" and unknown claims are
 * ignored. A repeated claim or header parameter that we read is refused.
 * The same as sss_jwt_verify_rules with a zeroed struct sss_jwt_rules.
 *
 * Returns 0 with out filled and out->error NULL; or a negative sss_jwt_err
 * (SSS_EINVAL if secret_len is 0) with out->error a static reason and
 * out->user, out->session empty. The payload is read only after the
 * signature is checked.
 */
int sss_jwt_verify(const char *token, size_t len, const uint8_t *secret, size_t secret_len,
                   int64_t now_s, struct sss_jwt_claims *out) SSS_WUR;

/*
 * sss_jwt_verify, then the deployment's rules (NULL: none), each checked
 * only after the signature: "exp" required when rules->require_exp
 * (SSS_JWT_ECLAIM "missing exp"); expired when now_s >= exp + leeway_s, not
 * yet valid when now_s < nbf - leeway_s; "iss" a string equal to
 * rules->issuer ("bad issuer"); "aud" a string, or an array of at most 16
 * strings, one of them equal to rules->audience ("bad audience"). "iss" and
 * "aud" are read (and a mistyped or repeated one refused) only when asked
 * for. Same returns as sss_jwt_verify, plus SSS_JWT_ECLAIM.
 */
int sss_jwt_verify_rules(const char *token, size_t len, const uint8_t *secret, size_t secret_len,
                         int64_t now_s, const struct sss_jwt_rules *rules,
                         struct sss_jwt_claims *out) SSS_WUR;

/*
 * Find the token of an upgrade request, looking in this order at:
 *   1. authz_header (authz_len bytes): "Bearer <token>", scheme
 *      case-insensitive; other schemes are skipped;
 *   2. the "token" parameter of the query of target (NUL-terminated
 *      request-target; NULL: none). Not percent-decoded: a token holding '%'
 *      is returned as is, so that sss_jwt_verify refuses it. A parameter
 *      given twice yields an empty token (refused too);
 *   3. the cookie named cookie_name (NULL: "token", exact and case-sensitive
 *      match) in cookie_header (cookie_len bytes, "a=b; token=xyz"); the
 *      first one wins, as RFC 6265 puts the most specific first. Quotes
 *      around the value are dropped.
 * A source that names a token (even an empty one) ends the search, so a
 * broken token never falls back to another source: it is refused instead.
 *
 * Returns 1 with *tok (pointing into the inputs, borrowed) and *tok_len, or 0
 * when no source has a token (*tok NULL, *tok_len 0). The caller must refuse
 * the upgrade when sss_http_upgrade's headers_truncated is set: the inputs
 * are then incomplete.
 */
int sss_jwt_find_token(const char *target, const char *cookie_header, size_t cookie_len,
                       const char *authz_header, size_t authz_len, const char *cookie_name,
                       const char **tok, size_t *tok_len);

/*
 * Sign payload_json (NUL-terminated, used as is, not checked) with header
 * {"alg":"HS256","typ":"JWT"} into out (cap bytes, NUL-terminated), for tests
 * and tools.
 *
 * Returns the token's length, or SSS_EINVAL (empty secret) or -ENOSPC (cap
 * too small); out is then "" when cap > 0.
 */
int sss_jwt_sign(const char *payload_json, const uint8_t *secret, size_t secret_len, char *out,
                 size_t cap) SSS_WUR;

#endif
