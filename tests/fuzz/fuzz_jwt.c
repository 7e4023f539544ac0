/*
 * libFuzzer target for the JWT session parser (sss_jwt). Input layout:
 *
 *   byte 0        secret length n (mod 65, cut to what is there)
 *   bytes 1..n    the secret
 *   the rest      the token, also used as a request-target, Cookie and
 *                 Authorization value, and as a payload to sign
 *
 * Verification at a few times must keep the contract of sss_jwt.h (claims
 * only on success, a reason on failure); find_token must point inside its
 * inputs; and tokens made by sss_jwt_sign must verify: one with a subject
 * built from the input always, one with the raw input as payload at least
 * past the signature. A broken invariant calls abort().
 */
#include "fuzz_check.h"
#include "http/sss_jwt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_user_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static void check_claims(int rc, const struct sss_jwt_claims *c)
{
    size_t i, n;

    if (rc != 0) {
        require(rc < 0 && c->error != NULL && c->error[0] != '\0');
        require(c->user[0] == '\0' && c->session[0] == '\0');
        return;
    }
    require(c->error == NULL);
    n = strnlen(c->user, sizeof(c->user));
    require(n >= 1 && n <= SSS_JWT_USER_MAX);
    for (i = 0; i < n; i++)
        require(is_user_char(c->user[i]));
    n = strnlen(c->session, sizeof(c->session));
    require(n <= SSS_JWT_SESSION_MAX);
    for (i = 0; i < n; i++)
        require(c->session[i] > 0x20 && c->session[i] < 0x7f);
}

static void check_found(int rc, const char *tok, size_t len, const char *a, size_t a_len,
                        const char *b, size_t b_len)
{
    if (rc == 0) {
        require(tok == NULL && len == 0);
        return;
    }
    require(rc == 1 && tok != NULL);
    require((tok >= a && tok + len <= a + a_len) || (tok >= b && tok + len <= b + b_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t times[] = {INT64_MIN, 0, 1800000000, INT64_MAX};
    static const uint8_t fallback_key[] = "fuzz";
    static char text[SSS_JWT_TOKEN_MAX + 1], signed_tok[4 * SSS_JWT_TOKEN_MAX];
    struct sss_jwt_claims claims;
    const uint8_t *secret;
    const char *token, *tok;
    size_t secret_len, token_len, text_len, i, tok_len;
    char payload[160];
    int rc;

    if (size == 0)
        return 0;
    secret_len = data[0] % 65;
    if (secret_len > size - 1)
        secret_len = size - 1;
    secret = data + 1;
    token = (const char *)data + 1 + secret_len;
    token_len = size - 1 - secret_len;

    for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        rc = sss_jwt_verify(token, token_len, secret, secret_len, times[i], &claims);
        check_claims(rc, &claims);
        if (secret_len == 0)
            require(rc == SSS_EINVAL);
    }

    /* The token bytes as every place a token hides; the target needs a NUL. */
    text_len = strnlen(token, token_len < SSS_JWT_TOKEN_MAX ? token_len : SSS_JWT_TOKEN_MAX);
    memcpy(text, token, text_len);
    text[text_len] = '\0';
    rc = sss_jwt_find_token(text, token, token_len, token, token_len, NULL, &tok, &tok_len);
    check_found(rc, tok, tok_len, text, text_len, token, token_len);
    rc = sss_jwt_find_token(text, NULL, 0, NULL, 0, "sid", &tok, &tok_len);
    check_found(rc, tok, tok_len, text, text_len, text, text_len);
    rc = sss_jwt_find_token(NULL, token, token_len, NULL, 0, text, &tok, &tok_len);
    check_found(rc, tok, tok_len, token, token_len, token, token_len);

    if (secret_len == 0) {
        secret = fallback_key;
        secret_len = sizeof(fallback_key) - 1;
    }

    /* A subject made of the input always verifies, and comes back as it went in. */
    {
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        char user[SSS_JWT_USER_MAX + 1];
        size_t n = token_len < SSS_JWT_USER_MAX ? token_len : SSS_JWT_USER_MAX;

        if (n == 0)
            n = 1;
        for (i = 0; i < n; i++)
            user[i] = alphabet[(i < token_len ? (unsigned char)token[i] : 0) % 64];
        user[n] = '\0';
        memcpy(payload, "{\"sub\":\"", 8);
        memcpy(payload + 8, user, n);
        memcpy(payload + 8 + n, "\"}", 3);
        rc = sss_jwt_sign(payload, secret, secret_len, signed_tok, sizeof(signed_tok));
        require(rc > 0 && (size_t)rc == strlen(signed_tok));
        rc = sss_jwt_verify(signed_tok, (size_t)rc, secret, secret_len, 0, &claims);
        check_claims(rc, &claims);
        require(rc == 0 && strcmp(claims.user, user) == 0 && claims.session[0] == '\0');
    }

    /* The input as a payload: the signature always holds; only the claims may fail. */
    rc = sss_jwt_sign(text, secret, secret_len, signed_tok, sizeof(signed_tok));
    require(rc > 0 && (size_t)rc == strlen(signed_tok));
    {
        size_t n = (size_t)rc;

        rc = sss_jwt_verify(signed_tok, n, secret, secret_len, 1800000000, &claims);
        check_claims(rc, &claims);
        if (n > SSS_JWT_TOKEN_MAX)
            require(rc == SSS_JWT_EMALFORMED && strcmp(claims.error, "token too long") == 0);
        else
            require(rc != SSS_JWT_ESIG && rc != SSS_JWT_EALG && rc != SSS_EINVAL);
    }
    return 0;
}
