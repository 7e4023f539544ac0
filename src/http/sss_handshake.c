/*
 * What to do with a connection's opening request (see sss_handshake.h).
 * May include: libc, common, http (sss_http, sss_auth, sss_static), include/sss.
 */
#include "sss_handshake.h"
#include "sss_static.h"
#include "sss_time.h"

int sss_handshake_decide(const struct sss_handshake_cfg *cfg, const char *req, size_t len,
                         int at_limit, const char *remote, struct sss_handshake *hs)
{
    int rc;

    hs->file.head = NULL;
    hs->file.fd = -1;
    hs->status = 0;
    hs->reason = NULL;
    if (sss_http_upgrade_parse(req, len, cfg->policy, &hs->up) == 0)
        return SSS_HANDSHAKE_MORE;
    if (hs->up.status != 101 && hs->up.plain_get && cfg->statics.dirfd >= 0 && !at_limit) {
        hs->status = sss_static_open(&cfg->statics, hs->up.target, &hs->file) < 0
                         ? 500
                         : hs->file.status;
        return SSS_HANDSHAKE_STATIC;
    }
    if (hs->up.status != 101) {
        hs->status = hs->up.status;
        hs->reason = hs->up.reason;
        return SSS_HANDSHAKE_ANSWER;
    }
    if (at_limit) {
        hs->status = 503;
        hs->reason = "server is at its connection limit";
        return SSS_HANDSHAKE_REFUSE;
    }
    if (cfg->session_later)
        return SSS_HANDSHAKE_DECIDE;
    if (cfg->on_session)
        rc = sss_auth_app(cfg->on_session, cfg->session_data, &hs->up, remote, &hs->auth);
    else if (cfg->jwt_secret[0])
        rc = sss_auth_jwt(cfg->jwt_secret, cfg->jwt_cookie, cfg->jwt_rules, &hs->up,
                          sss_wall_ms() / 1000, &hs->auth);
    else {
        hs->auth.status = 0;
        hs->auth.reason = NULL;
        hs->auth.user[0] = hs->auth.session[0] = '\0';
        rc = 0;
    }
    if (rc < 0) {
        hs->status = hs->auth.status;
        hs->reason = hs->auth.reason;
        return SSS_HANDSHAKE_REFUSE;
    }
    return SSS_HANDSHAKE_UPGRADE;
}

int sss_handshake_finish(struct sss_handshake *hs, const struct sss_auth *auth)
{
    hs->auth = *auth;
    if (auth->status) {
        hs->status = auth->status;
        hs->reason = auth->reason ? auth->reason : "refused";
        return SSS_HANDSHAKE_REFUSE;
    }
    hs->status = 0;
    hs->reason = NULL;
    return SSS_HANDSHAKE_UPGRADE;
}
