/*
 * Tests of the decision on a connection's opening request
 * (src/http/sss_handshake.c): more bytes wanted; a malformed upgrade gets
 * its own answer; a server at its limit refuses with 503; the application's
 * parser or the built-in JWT one decides who the client is; a plain GET
 * without --static is refused like any bad upgrade.
 */
#include "sss_handshake.h"
#include "sss_test.h"

#include <string.h>

#define VALID                                                                                      \
    "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"      \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

static const struct sss_http_policy policy = {.path = "/ws", .max_size = 4096};
static struct sss_handshake hs;

static void named(const struct sss_request *req, struct sss_session_out *out, void *data)
{
    (void)req;
    (void)data;
    snprintf(out->user, sizeof(out->user), "bob");
}

static int decide(const struct sss_handshake_cfg *cfg, const char *req, int at_limit)
{
    return sss_handshake_decide(cfg, req, strlen(req), at_limit, "127.0.0.1:4242", &hs);
}

static void test_handshake_decide(void)
{
    struct sss_handshake_cfg cfg = {.policy = &policy, .statics = {.dirfd = -1}, .jwt_secret = ""};

    CHECK_EQ_INT(sss_handshake_decide(&cfg, VALID, 20, 0, NULL, &hs), SSS_HANDSHAKE_MORE);
    CHECK_EQ_INT(decide(&cfg, VALID, 0), SSS_HANDSHAKE_UPGRADE);
    CHECK_EQ_INT(hs.up.status, 101);
    CHECK_EQ_STR(hs.auth.user, "");
    CHECK_EQ_INT(decide(&cfg, VALID, 1), SSS_HANDSHAKE_REFUSE);
    CHECK_EQ_INT(hs.status, 503);
    CHECK_EQ_INT(decide(&cfg, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", 0), SSS_HANDSHAKE_ANSWER);
    CHECK(hs.status >= 400 && hs.reason != NULL);
    /* The built-in parser: no token, 401. */
    cfg.jwt_secret = "secret";
    CHECK_EQ_INT(decide(&cfg, VALID, 0), SSS_HANDSHAKE_REFUSE);
    CHECK_EQ_INT(hs.status, 401);
    CHECK_EQ_STR(hs.reason, "missing token");
    /* The application's parser wins over it. */
    cfg.on_session = named;
    CHECK_EQ_INT(decide(&cfg, VALID, 0), SSS_HANDSHAKE_UPGRADE);
    CHECK_EQ_STR(hs.auth.user, "bob");
}

/*
 * A parser that answers later: a valid upgrade is DECIDE (nothing judged
 * yet), whatever else wins first (a bad request, the connection limit);
 * sss_handshake_finish turns the decision into UPGRADE or REFUSE.
 */
static void test_handshake_decide_later(void)
{
    struct sss_handshake_cfg cfg = {.policy = &policy, .statics = {.dirfd = -1}, .jwt_secret = "secret",
                                    .on_session = named, .session_later = 1};
    struct sss_auth auth;
    struct sss_session_out out;
    struct sss_request req;

    CHECK_EQ_INT(decide(&cfg, VALID, 0), SSS_HANDSHAKE_DECIDE);
    CHECK_EQ_INT(hs.up.status, 101);
    CHECK_EQ_INT(decide(&cfg, VALID, 1), SSS_HANDSHAKE_REFUSE); /* the limit wins */
    CHECK_EQ_INT(hs.status, 503);
    CHECK_EQ_INT(decide(&cfg, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", 0), SSS_HANDSHAKE_ANSWER);
    CHECK_EQ_INT(sss_handshake_decide(&cfg, VALID, 20, 0, NULL, &hs), SSS_HANDSHAKE_MORE);

    /* What the later parser sees. */
    CHECK_EQ_INT(decide(&cfg, VALID, 0), SSS_HANDSHAKE_DECIDE);
    sss_auth_request(&hs.up, "127.0.0.1:4242", &req);
    CHECK_EQ_STR(req.target, "/ws");
    CHECK_EQ_STR(req.remote, "127.0.0.1:4242");
    CHECK_EQ_STR(req.origin, "");

    /* Accepted with a user. */
    memset(&out, 0, sizeof(out));
    snprintf(out.user, sizeof(out.user), "ann");
    snprintf(out.session, sizeof(out.session), "s1");
    CHECK_EQ_INT(sss_auth_check(&out, &auth), 0);
    CHECK_EQ_INT(sss_handshake_finish(&hs, &auth), SSS_HANDSHAKE_UPGRADE);
    CHECK_EQ_STR(hs.auth.user, "ann");
    CHECK_EQ_STR(hs.auth.session, "s1");
    CHECK_EQ_INT(hs.up.status, 101);

    /* Refused: 403 stays, any other status is 401. */
    memset(&out, 0, sizeof(out));
    out.status = 403;
    out.reason = "members only";
    CHECK_EQ_INT(sss_auth_check(&out, &auth), -1);
    CHECK_EQ_INT(sss_handshake_finish(&hs, &auth), SSS_HANDSHAKE_REFUSE);
    CHECK_EQ_INT(hs.status, 403);
    CHECK_EQ_STR(hs.reason, "members only");
    out.status = 402;
    CHECK_EQ_INT(sss_auth_check(&out, &auth), -1);
    CHECK_EQ_INT(sss_handshake_finish(&hs, &auth), SSS_HANDSHAKE_REFUSE);
    CHECK_EQ_INT(hs.status, 401);

    /* An invalid user, or one filling its buffer unterminated: the parser's error. */
    memset(&out, 0, sizeof(out));
    snprintf(out.user, sizeof(out.user), "no spaces");
    CHECK_EQ_INT(sss_auth_check(&out, &auth), -2);
    memset(out.user, 'a', sizeof(out.user));
    CHECK_EQ_INT(sss_auth_check(&out, &auth), -2);
    CHECK_EQ_INT(sss_handshake_finish(&hs, &auth), SSS_HANDSHAKE_REFUSE);
    CHECK_EQ_INT(hs.status, 500);

    /* The timeout's decision (sss_decide.c). */
    memset(&auth, 0, sizeof(auth));
    auth.status = 503;
    auth.reason = "application did not answer";
    CHECK_EQ_INT(sss_handshake_finish(&hs, &auth), SSS_HANDSHAKE_REFUSE);
    CHECK_EQ_INT(hs.status, 503);
}

int main(void)
{
    test_handshake_decide();
    test_handshake_decide_later();
    return sss_test_done();
}
