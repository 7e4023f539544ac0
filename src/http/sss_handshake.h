/*
 * What to do with a connection's opening request, decided from its bytes:
 * wait for more; answer a plain GET with a static file (--static); refuse
 * (a malformed or unacceptable upgrade with its own answer, a server at its
 * connection limit, a session parser's refusal); upgrade, naming the
 * client's user and session (sss_auth); or, for a session parser that
 * answers later, wait for its decision, which sss_handshake_finish turns
 * into an upgrade or a refusal.
 *
 * A pure function over the request bytes and the worker's settings: no
 * socket, no connection. The connection layer (src/worker/sss_conn.c)
 * queues what it decides.
 * May include: libc, common, http (sss_http, sss_auth, sss_static), include/sss.
 */
#ifndef SSS_HANDSHAKE_H
#define SSS_HANDSHAKE_H

#include <stddef.h>

#include "sss/sss.h"
#include "sss_auth.h"
#include "sss_buf.h"
#include "sss_http.h"
#include "sss_static.h"

/* The worker's settings for every handshake (all borrowed). */
struct sss_handshake_cfg {
    const struct sss_http_policy *policy;
    struct sss_static_cfg statics; /* --static (dirfd -1: none) */
    const char *jwt_secret;     /* "" = no built-in parser */
    const struct sss_jwt_rules *jwt_rules; /* its rules (NULL: none) */
    const char *jwt_cookie;     /* the built-in parser's cookie; NULL or "" = none */
    sss_session_fn on_session;  /* the application's parser, or NULL */
    void *session_data;
    int session_later;          /* a parser answers later (sss_on_session_later): DECIDE */
};

enum sss_handshake_verdict {
    SSS_HANDSHAKE_MORE = 0, /* the request head is not complete yet */
    SSS_HANDSHAKE_STATIC,   /* a plain GET: send file.head (NULL: out of memory), then the
                             * file's body from file.fd if it is >= 0, then close */
    SSS_HANDSHAKE_ANSWER,   /* refused by the request checks: sss_http_response(&up), close */
    SSS_HANDSHAKE_REFUSE,   /* refused: sss_http_error(status, reason), then close */
    SSS_HANDSHAKE_UPGRADE,  /* accepted: 101 (sss_http_response(&up)); auth names the client */
    SSS_HANDSHAKE_DECIDE,   /* a valid upgrade the session parser decides later: keep hs,
                             * ask it (sss_auth_request), then sss_handshake_finish */
};

struct sss_handshake {
    struct sss_http_upgrade up; /* the parsed request (valid unless MORE) */
    struct sss_auth auth;       /* UPGRADE: user and session */
    struct sss_static_reply file; /* STATIC: the answer (its head and fd are the caller's) */
    int status;                 /* ANSWER, REFUSE, STATIC: the HTTP status */
    const char *reason;         /* ANSWER, REFUSE: one line */
};

/*
 * Decide on the len request bytes received so far. at_limit: the worker is
 * at its connection limit (everything but a static file gets 503). remote:
 * the peer's "ip:port" for the application's parser (NULL: "").
 * Returns an enum sss_handshake_verdict and fills hs.
 */
int sss_handshake_decide(const struct sss_handshake_cfg *cfg, const char *req, size_t len,
                         int at_limit, const char *remote, struct sss_handshake *hs);

/*
 * Finish a DECIDE verdict with the session parser's decision, judged by
 * sss_auth_check (auth->status 0: accepted). Returns SSS_HANDSHAKE_UPGRADE
 * (hs->auth names the client) or SSS_HANDSHAKE_REFUSE (hs->status and
 * hs->reason, which points into auth: keep auth while using it).
 */
int sss_handshake_finish(struct sss_handshake *hs, const struct sss_auth *auth);

#endif
