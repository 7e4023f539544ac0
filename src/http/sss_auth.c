/*
 * Who a connection is (see sss_auth.h): the built-in JWT parser and the
 * checks on what an application's session parser answers.
 * May include: libc, common, proto, http (sss_http, sss_jwt), include/sss.
 */
#include "sss_auth.h"
#include "sss_jwt.h"
#include "sss_log.h"
#include "sss_proto.h"

#include <stdio.h>
#include <string.h>

static int refuse(struct sss_auth *out, int status, const char *reason)
{
    out->status = status;
    out->reason = reason;
    return -1;
}

int sss_auth_jwt(const char *secret, const char *cookie_name, const struct sss_jwt_rules *rules,
                 const struct sss_http_upgrade *up, int64_t now_s, struct sss_auth *out)
{
    struct sss_jwt_claims claims;
    const char *tok;
    size_t tok_len;

    memset(out, 0, sizeof(*out));
    if (up->headers_truncated)
        return refuse(out, 401, "authentication headers too long");
    /* The cookie only when named: a browser sends it with every site's request. */
    if (!sss_jwt_find_token(up->target, cookie_name && cookie_name[0] ? up->cookie : NULL,
                            strlen(up->cookie), up->authorization, strlen(up->authorization),
                            cookie_name, &tok, &tok_len))
        return refuse(out, 401, "missing token");
    if (sss_jwt_verify_rules(tok, tok_len, (const uint8_t *)secret, strlen(secret), now_s, rules,
                             &claims) < 0)
        return refuse(out, 401, claims.error ? claims.error : "invalid token");
    snprintf(out->user, sizeof(out->user), "%s", claims.user);
    snprintf(out->session, sizeof(out->session), "%s", claims.session);
    return 0;
}

void sss_auth_request(const struct sss_http_upgrade *up, const char *remote,
                      struct sss_request *req)
{
    req->target = up->target;
    req->cookie = up->cookie;
    req->authorization = up->authorization;
    req->remote = remote ? remote : "";
    req->origin = up->origin;
    req->user_agent = up->user_agent;
    req->forwarded_for = up->forwarded_for;
}

int sss_auth_check(const struct sss_session_out *so, struct sss_auth *out)
{
    size_t ul = strnlen(so->user, sizeof(so->user)), sl = strnlen(so->session, sizeof(so->session));

    memset(out, 0, sizeof(*out));
    if (so->status)
        return refuse(out, so->status == 403 ? 403 : 401, so->reason ? so->reason : "refused");
    if (ul == sizeof(so->user) || sl == sizeof(so->session) ||
        (ul && !sss_proto_channel_valid(so->user, ul))) {
        sss_log_warn("conn", "the session parser named an invalid user; refusing");
        refuse(out, 500, "session parser error");
        return -2;
    }
    for (size_t i = 0; i < sl; i++)
        if (so->session[i] < 0x21 || so->session[i] > 0x7e) {
            refuse(out, 500, "session parser error");
            return -2;
        }
    memcpy(out->user, so->user, ul + 1);
    memcpy(out->session, so->session, sl + 1);
    return 0;
}

int sss_auth_app(sss_session_fn fn, void *data, const struct sss_http_upgrade *up,
                 const char *remote, struct sss_auth *out)
{
    struct sss_request req;
    struct sss_session_out so;

    sss_auth_request(up, remote, &req);
    memset(&so, 0, sizeof(so));
    fn(&req, &so, data);
    /* A name that fills its whole buffer is cut, as before, to its last byte. */
    so.user[sizeof(so.user) - 1] = '\0';
    so.session[sizeof(so.session) - 1] = '\0';
    return sss_auth_check(&so, out) < 0 ? -1 : 0;
}
