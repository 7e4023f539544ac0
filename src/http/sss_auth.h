/*
 * Who a connection is, decided once at its upgrade: the application's
 * session parser (sss_on_session) when the module has one, otherwise with
 * --jwt-secret the built-in parser (an HS256 token from the query, the
 * Authorization header or the cookie --jwt-cookie names), otherwise everyone
 * is anonymous.
 *
 * Pure functions over the parsed upgrade request: no connection, no socket.
 * The connection layer queues the refusal (an HTTP status with a one-line
 * reason) or keeps the user and session.
 * May include: libc, common, proto, http (sss_http, sss_jwt), include/sss.
 */
#ifndef SSS_AUTH_H
#define SSS_AUTH_H

#include <stdint.h>

#include "sss/sss.h"
#include "sss_http.h"

struct sss_auth {
    int status;         /* 0: accepted; else the refusal's HTTP status (401, 403, 500) */
    const char *reason; /* the refusal's one-line reason (static, or the parser's) */
    char user[SSS_USER_MAX + 1];       /* "" = anonymous */
    char session[SSS_SESSION_MAX + 1]; /* "" = none */
};

struct sss_jwt_rules;

/*
 * The built-in parser: the token (a bearer Authorization, the query's token,
 * or the cookie named cookie_name; NULL or "": no cookie is read) must be an
 * HS256 JWT signed with secret, valid at now_s under rules (NULL: none; see
 * sss_jwt_verify_rules). Fills out. Returns 0 when accepted, -1 when refused
 * (out->status 401).
 */
int sss_auth_jwt(const char *secret, const char *cookie_name, const struct sss_jwt_rules *rules,
                 const struct sss_http_upgrade *up, int64_t now_s, struct sss_auth *out);

/*
 * What an application's parser sees: views into up (and remote, the peer's
 * "ip:port", "" when unknown), valid while both are.
 */
void sss_auth_request(const struct sss_http_upgrade *up, const char *remote,
                      struct sss_request *req);

/*
 * Judge what an application's parser answered (now, or later through
 * sss_decide_session): its refusal becomes 403 (when it said 403) or 401,
 * with its reason (NULL: "refused"; the pointer is kept, not copied); a user
 * that is no valid channel name, or a session with bytes outside 0x21..0x7e,
 * is the parser's error (500). Returns 0 when accepted, -1 when refused, -2
 * when refused for the parser's error.
 */
int sss_auth_check(const struct sss_session_out *so, struct sss_auth *out);

/*
 * The application's parser fn(data), judged by sss_auth_check. Returns 0
 * when accepted, -1 when refused.
 */
int sss_auth_app(sss_session_fn fn, void *data, const struct sss_http_upgrade *up,
                 const char *remote, struct sss_auth *out);

#endif
