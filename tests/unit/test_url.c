/*
 * Unit tests of sss_url, the one URL parser: every part of the grammar,
 * IPv6 literals, the forms --redis, --api-listen and the C client use, and
 * each refusal. sss_redis_target_parse and --api-listen's check are run
 * through it here too.
 */
#include "sss_cfg.h"
#include "sss_redis_conn.h"
#include "sss_test.h"
#include "sss_url.h"

#include <stdio.h>

/* "scheme|user|password|host|v6|port|path" with "-" for an absent part. */
static char got[512];

static void put(struct sss_url_part p, size_t *n)
{
    *n += (size_t)snprintf(got + *n, sizeof(got) - *n, "%.*s|", p.ptr ? (int)p.len : 1,
                           p.ptr ? p.ptr : "-");
}

static int parse(const char *url)
{
    struct sss_url u;
    size_t n = 0;
    int rc = sss_url_parse(url, &u);

    got[0] = '\0';
    put(u.scheme, &n);
    put(u.user, &n);
    put(u.password, &n);
    put(u.host, &n);
    n += (size_t)snprintf(got + n, sizeof(got) - n, "%d|%d|", u.ipv6, u.port);
    put(u.path, &n);
    return rc;
}

static void test_parts(void)
{
    CHECK_EQ_INT(parse("redis://127.0.0.1:6379/0"), 0);
    CHECK_EQ_STR(got, "redis|-|-|127.0.0.1|0|6379|/0|");
    CHECK_EQ_INT(parse("redis://:s3cret@db.example:6380/2"), 0);
    CHECK_EQ_STR(got, "redis||s3cret|db.example|0|6380|/2|");
    CHECK_EQ_INT(parse("redis://user:pw:x@h"), 0);
    CHECK_EQ_STR(got, "redis|user|pw:x|h|0|-1|-|");
    CHECK_EQ_INT(parse("redis://only@h/"), 0);
    CHECK_EQ_STR(got, "redis|only|-|h|0|-1|/|");
    CHECK_EQ_INT(parse("ws://[::1]:8080/ws?room=1#top"), 0);
    CHECK_EQ_STR(got, "ws|-|-|::1|1|8080|/ws?room=1#top|");
    CHECK_EQ_INT(parse("ws://[fe80::1%25eth0]"), 0);
    CHECK_EQ_STR(got, "ws|-|-|fe80::1%25eth0|1|-1|-|");
    CHECK_EQ_INT(parse("ws://host?x=1"), 0);
    CHECK_EQ_STR(got, "ws|-|-|host|0|-1|?x=1|");
    /* '@' and ':' after the authority belong to the path. */
    CHECK_EQ_INT(parse("ws://h/a@b:c"), 0);
    CHECK_EQ_STR(got, "ws|-|-|h|0|-1|/a@b:c|");
    /* Without a scheme: --api-listen's forms. */
    CHECK_EQ_INT(parse("127.0.0.1:9090"), 0);
    CHECK_EQ_STR(got, "-|-|-|127.0.0.1|0|9090|-|");
    CHECK_EQ_INT(parse(":0"), 0);
    CHECK_EQ_STR(got, "-|-|-||0|0|-|");
    CHECK_EQ_INT(parse("[::]:65535"), 0);
    CHECK_EQ_STR(got, "-|-|-|::|1|65535|-|");
    CHECK_EQ_INT(parse("localhost"), 0);
    CHECK_EQ_STR(got, "-|-|-|localhost|0|-1|-|");
    CHECK_EQ_INT(parse("mongodb+srv://h"), 0);
    CHECK_EQ_STR(got, "mongodb+srv|-|-|h|0|-1|-|");
    CHECK_EQ_INT(parse(""), 0);
    CHECK_EQ_STR(got, "-|-|-||0|-1|-|");
}

static void test_refused(void)
{
    static const char *bad[] = {
        "redis://h:",          "redis://h:notaport/0", "redis://h:65536",  "redis://h:-1",
        "redis://h:+80",       "redis://[::1",         "redis://[::1]x",   "redis://[::1]x:80",
        "ws://h:80:81",        "::1:80",               "1redis://h",       "re dis://h",
        "://h",                "ws://h/a b",           "ws://h\t",         "ws://h/\x7f",
        "ws://h:99999999999999999999",
    };
    struct sss_url u;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i]);

        if (rc != SSS_EINVAL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_EQ_INT(rc, SSS_EINVAL);
        CHECK_EQ_STR(got, "-|-|-|-|0|-1|-|");
    }
    /* A scheme's "://" after a '/' is path, not scheme. */
    CHECK_EQ_INT(sss_url_parse("h/x://y", &u), 0);
    CHECK(!u.scheme.ptr && u.host.len == 1 && u.path.len == 6);
}

static void test_helpers(void)
{
    struct sss_url u;
    char buf[8];

    CHECK_EQ_INT(sss_url_parse("REDIS://abc:1", &u), 0);
    CHECK(sss_url_part_is(u.scheme, "redis"));
    CHECK(!sss_url_part_is(u.scheme, "redi"));
    CHECK(!sss_url_part_is(u.path, ""));
    CHECK_EQ_INT(sss_url_part_copy(u.host, buf, sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "abc");
    CHECK_EQ_INT(sss_url_part_copy(u.host, buf, 3), SSS_EINVAL);
    CHECK_EQ_STR(buf, "");
    CHECK_EQ_INT(sss_url_part_copy(u.path, buf, sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "");
    CHECK_EQ_INT(sss_url_part_copy(u.host, buf, 0), SSS_EINVAL);
}

/* --redis: numeric hosts only, so nothing is looked up on the network. */
static void test_redis(void)
{
    struct sss_redis_target t;

    CHECK_EQ_INT(sss_redis_target_parse("redis://127.0.0.1:6379/0", &t), 0);
    CHECK_EQ_STR(t.where, "127.0.0.1:6379");
    CHECK_EQ_STR(t.password, "");
    CHECK_EQ_INT(t.db, 0);
    CHECK_EQ_INT(sss_redis_target_parse("redis://:pw@127.0.0.1/7", &t), 0);
    CHECK_EQ_STR(t.where, "127.0.0.1:6379");
    CHECK_EQ_STR(t.password, "pw");
    CHECK_EQ_INT(t.db, 7);
    CHECK_EQ_INT(sss_redis_target_parse("redis://ignored:pw2@127.0.0.1:7000/", &t), 0);
    CHECK_EQ_STR(t.password, "pw2");
    CHECK_EQ_STR(t.where, "127.0.0.1:7000");
    CHECK_EQ_INT(sss_redis_target_parse("redis://secret@127.0.0.1", &t), 0);
    CHECK_EQ_STR(t.password, "secret");
    CHECK_EQ_INT(sss_redis_target_parse("redis://[::1]:6390/1", &t), 0);
    CHECK_EQ_STR(t.where, "[::1]:6390");
    CHECK_EQ_INT(sss_redis_target_parse("http://127.0.0.1:6379", &t), SSS_EINVAL);
    CHECK_EQ_INT(sss_redis_target_parse("redis://127.0.0.1:notaport/0", &t), SSS_EINVAL);
    CHECK_EQ_INT(sss_redis_target_parse("redis://127.0.0.1:6379/x", &t), SSS_EINVAL);
    CHECK_EQ_INT(sss_redis_target_parse("redis://127.0.0.1:6379/-1", &t), SSS_EINVAL);
    CHECK_EQ_INT(sss_redis_target_parse("redis://127.0.0.1?db=1", &t), SSS_EINVAL);
    CHECK_EQ_INT(sss_redis_target_parse("redis://:pw@", &t), SSS_EINVAL);
    CHECK_EQ_INT(sss_redis_target_parse("redis://", &t), SSS_EINVAL);
}

static int api_listen(const char *spec)
{
    struct sss_cfg cfg;
    FILE *devnull = fopen("/dev/null", "w");
    int rc;

    sss_cfg_defaults(&cfg);
    snprintf(cfg.api_listen, sizeof(cfg.api_listen), "%s", spec);
    snprintf(cfg.api_key, sizeof(cfg.api_key), "k"); /* else only loopback is allowed */
    rc = sss_cfg_finish(&cfg, 2, 20000, devnull);
    fclose(devnull);
    return rc;
}

/* --api-listen: HOST:PORT, [V6]:PORT or :PORT and nothing else. */
static void test_api_listen(void)
{
    static const char *good[] = {"127.0.0.1:9090", "[::1]:0", ":65535", "localhost:80"};
    static const char *bad[] = {"127.0.0.1",   "::1:80", "[::1]", "h:65536",
                                "http://h:80", "u@h:80", "h:80/"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK_EQ_INT(api_listen(good[i]), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(api_listen(bad[i]), SSS_EINVAL);
}

int main(void)
{
    test_parts();
    test_refused();
    test_helpers();
    test_redis();
    test_api_listen();
    return sss_test_done();
}
