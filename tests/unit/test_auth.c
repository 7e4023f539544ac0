/*
 * Tests of the upgrade's session parsers (src/http/sss_auth.c): the
 * built-in JWT one refuses a missing token and truncated headers with 401;
 * an application's parser is obeyed (403 stays 403, other refusals are
 * 401) and an invalid user or session it names is its error (500).
 */
#include "sss_auth.h"
#include "sss_test.h"

#include <string.h>

static void parser(const struct sss_request *req, struct sss_session_out *out, void *data)
{
    const char *mode = data;

    if (strcmp(mode, "403") == 0) {
        out->status = 403;
        out->reason = "go away";
    } else if (strcmp(mode, "402") == 0) {
        out->status = 402;
    } else if (strcmp(mode, "bad-user") == 0) {
        snprintf(out->user, sizeof(out->user), "a b");
    } else if (strcmp(mode, "bad-session") == 0) {
        snprintf(out->session, sizeof(out->session), "s\x01");
    } else {
        snprintf(out->user, sizeof(out->user), "alice");
        snprintf(out->session, sizeof(out->session), "%s", req->target + 1);
    }
}

static void test_auth_app(void)
{
    static struct sss_http_upgrade up;
    struct sss_auth a;

    snprintf(up.target, sizeof(up.target), "/s1");
    CHECK_EQ_INT(sss_auth_app(parser, "ok", &up, NULL, &a), 0);
    CHECK_EQ_STR(a.user, "alice");
    CHECK_EQ_STR(a.session, "s1");
    CHECK_EQ_INT(sss_auth_app(parser, "403", &up, NULL, &a), -1);
    CHECK_EQ_INT(a.status, 403);
    CHECK_EQ_STR(a.reason, "go away");
    CHECK_EQ_INT(sss_auth_app(parser, "402", &up, NULL, &a), -1);
    CHECK_EQ_INT(a.status, 401);
    CHECK_EQ_STR(a.reason, "refused");
    CHECK_EQ_INT(sss_auth_app(parser, "bad-user", &up, NULL, &a), -1);
    CHECK_EQ_INT(a.status, 500);
    CHECK_EQ_INT(sss_auth_app(parser, "bad-session", &up, NULL, &a), -1);
    CHECK_EQ_INT(a.status, 500);
}

static void test_auth_jwt(void)
{
    static struct sss_http_upgrade up;
    struct sss_auth a;

    snprintf(up.target, sizeof(up.target), "/");
    CHECK_EQ_INT(sss_auth_jwt("secret", "token", NULL, &up, 0, &a), -1);
    CHECK_EQ_INT(a.status, 401);
    CHECK_EQ_STR(a.reason, "missing token");
    snprintf(up.target, sizeof(up.target), "/?token=not.a.jwt");
    CHECK_EQ_INT(sss_auth_jwt("secret", "token", NULL, &up, 0, &a), -1);
    CHECK_EQ_INT(a.status, 401);
    up.headers_truncated = 1;
    CHECK_EQ_INT(sss_auth_jwt("secret", "token", NULL, &up, 0, &a), -1);
    CHECK_EQ_STR(a.reason, "authentication headers too long");
    /* The cookie is read only when --jwt-cookie names it. */
    up.headers_truncated = 0;
    snprintf(up.target, sizeof(up.target), "/");
    snprintf(up.cookie, sizeof(up.cookie), "a=1; sid=not.a.jwt");
    CHECK_EQ_INT(sss_auth_jwt("secret", NULL, NULL, &up, 0, &a), -1);
    CHECK_EQ_STR(a.reason, "missing token");
    CHECK_EQ_INT(sss_auth_jwt("secret", "", NULL, &up, 0, &a), -1);
    CHECK_EQ_STR(a.reason, "missing token");
    CHECK_EQ_INT(sss_auth_jwt("secret", "token", NULL, &up, 0, &a), -1);
    CHECK_EQ_STR(a.reason, "missing token");
    CHECK_EQ_INT(sss_auth_jwt("secret", "sid", NULL, &up, 0, &a), -1);
    CHECK_EQ_STR(a.reason, "malformed token");
}

int main(void)
{
    test_auth_app();
    test_auth_jwt();
    return sss_test_done();
}
