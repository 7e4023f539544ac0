/* Unit tests of src/common/sss_log.c: no credential reaches a log line (issue 18). */
#include "sss_log.h"
#include "sss_test.h"

#include <string.h>

static const char *redact(const char *in)
{
    static char out[512];

    sss_log_redact(in, strlen(in), out, sizeof(out));
    return out;
}

static void test_redact(void)
{
    char small[16];

    CHECK_EQ_STR(redact("upgraded fd=7 target=/?token=eyJ.abc.def&x=1 protocol=-"),
                 "upgraded fd=7 target=/?token=[redacted]&x=1 protocol=-");
    CHECK_EQ_STR(redact("target=/ws?a=1&token=eyJ.a.b"), "target=/ws?a=1&token=[redacted]");
    CHECK_EQ_STR(redact("cookie: a=b; token=\"abc\"; c=d"),
                 "cookie: a=b; token=\"[redacted]\"; c=d");
    CHECK_EQ_STR(redact("Authorization: Bearer eyJ.x.y, next"),
                 "Authorization: Bearer [redacted], next");
    CHECK_EQ_STR(redact("authorization: BEARER   k3y"), "authorization: BEARER   [redacted]");
    CHECK_EQ_STR(redact("--redis redis://:hunter2@10.0.0.1:6379/0: bad"),
                 "--redis redis://:[redacted]@10.0.0.1:6379/0: bad");
    CHECK_EQ_STR(redact("--mongo 'mongodb://ann:p@ss@db:27017/sss'"),
                 "--mongo 'mongodb://ann:[redacted]@db:27017/sss'");
    /* Nothing to hide: unchanged. */
    CHECK_EQ_STR(redact("mongodb://ann@db:27017/sss token= http://h:80/x?token"),
                 "mongodb://ann@db:27017/sss token= http://h:80/x?token");
    CHECK_EQ_STR(redact(""), "");
    /* Cut to the output's size, still NUL-terminated, never the secret's bytes. */
    CHECK_EQ_INT(sss_log_redact("x token=secretsecret", 20, small, sizeof(small)), 15);
    CHECK_EQ_STR(small, "x token=[redact");
}

int main(void)
{
    test_redact();
    return sss_test_done();
}
