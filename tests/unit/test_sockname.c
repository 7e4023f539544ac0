/*
 * Unit tests of socket names (src/proto/sss_sockname.c): a name formats and
 * parses back to the same socket id, run and host, also for host ids that
 * hold ':', '.' or '@'; every spelling but the one canonical spelling is
 * refused (leading zeros, upper-case or short hex, overflow, missing parts,
 * an empty or too long host, a NUL); a buffer too small is refused; and the
 * parts of a socket id come apart as sss_socket_id puts them together.
 */
#include "sss_sockname.h"
#include "sss_test.h"

#include <errno.h>
#include <stdint.h>

static void round_trip(void)
{
    static const struct {
        uint64_t sid;
        uint32_t run;
        const char *host, *name;
    } cases[] = {
        {1, 0, "h", "1.00000000@h"},
        {(UINT64_C(3) << 48) | (UINT64_C(2) << 32) | 7, 0x5e0c13a7, "web1:8080",
         "844433520066567.5e0c13a7@web1:8080"},
        {UINT64_MAX, UINT32_MAX, "[::1]:9000", "18446744073709551615.ffffffff@[::1]:9000"},
        {42, 0xabcdef01, "a@b.c:1", "42.abcdef01@a@b.c:1"},
        {9, 1, "x.1@y", "9.00000001@x.1@y"},
    };
    char buf[SSS_SOCKET_NAME_MAX + 1];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sss_sockname n;
        int len = sss_sockname_format(buf, sizeof(buf), cases[i].sid, cases[i].run,
                                      cases[i].host, strlen(cases[i].host));

        CHECK_EQ_INT(len, (long)strlen(cases[i].name));
        CHECK_EQ_STR(buf, cases[i].name);
        CHECK_EQ_INT(sss_sockname_parse(buf, strlen(buf), &n), 0);
        CHECK(n.sid == cases[i].sid && n.run == cases[i].run);
        CHECK(n.host_len == strlen(cases[i].host) &&
              memcmp(n.host, cases[i].host, n.host_len) == 0);
        CHECK(n.host == buf + (strchr(buf, '@') - buf) + 1);
    }
}

/* The longest name fits SSS_SOCKET_NAME_MAX; one byte less of buffer does not. */
static void limits(void)
{
    char host[SSS_HOST_ID_MAX + 2], buf[SSS_SOCKET_NAME_MAX + 2];
    struct sss_sockname n;
    int len;

    memset(host, 'h', sizeof(host));
    len = sss_sockname_format(buf, SSS_SOCKET_NAME_MAX + 1, UINT64_MAX, UINT32_MAX, host,
                              SSS_HOST_ID_MAX);
    CHECK_EQ_INT(len, SSS_SOCKET_NAME_MAX);
    CHECK_EQ_INT(sss_sockname_parse(buf, (size_t)len, &n), 0);
    CHECK_EQ_INT(sss_sockname_format(buf, SSS_SOCKET_NAME_MAX, UINT64_MAX, UINT32_MAX, host,
                                     SSS_HOST_ID_MAX),
                 -ENOSPC);
    CHECK_EQ_STR(buf, "");
    CHECK_EQ_INT(sss_sockname_format(buf, 0, 1, 1, "h", 1), -ENOSPC);
    /* Hosts a name cannot carry. */
    CHECK_EQ_INT(sss_sockname_format(buf, sizeof(buf), 1, 1, host, SSS_HOST_ID_MAX + 1),
                 SSS_EINVAL);
    CHECK_EQ_INT(sss_sockname_format(buf, sizeof(buf), 1, 1, "", 0), SSS_EINVAL);
    CHECK_EQ_INT(sss_sockname_format(buf, sizeof(buf), 1, 1, NULL, 0), SSS_EINVAL);
    CHECK_EQ_INT(sss_sockname_format(buf, sizeof(buf), 1, 1, "a\0b", 3), SSS_EINVAL);
    /* A host one byte too long does not parse either. */
    len = snprintf(buf, sizeof(buf), "1.00000000@%.*s", SSS_HOST_ID_MAX + 1, host);
    CHECK_EQ_INT(sss_sockname_parse(buf, (size_t)len, &n), SSS_EINVAL);
    CHECK_EQ_INT(sss_sockname_parse(buf, (size_t)len - 1, &n), 0);
}

static void refused(void)
{
    static const char *const bad[] = {
        "",
        "@",
        "1",
        "1.00000000",
        "1.00000000@",
        "01.00000000@h",
        ".00000000@h",
        "1.0000000@h",
        "1.000000000@h",
        "1.0000000G@h",
        "1.ABCDEF01@h",
        "1,00000000@h",
        "1 .00000000@h",
        " 1.00000000@h",
        "+1.00000000@h",
        "-1.00000000@h",
        "18446744073709551616.00000000@h",
        "99999999999999999999.00000000@h",
        "1.00000000h",
        "1@00000000@h",
        "1..0000000@h",
    };
    struct sss_sockname n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = sss_sockname_parse(bad[i], strlen(bad[i]), &n);

        if (rc != SSS_EINVAL)
            fprintf(stderr, "case %zu: \"%s\"\n", i, bad[i]);
        CHECK_EQ_INT(rc, SSS_EINVAL);
    }
    /* A lone zero is no leading zero (no connection has id 0, but the grammar allows it). */
    CHECK_EQ_INT(sss_sockname_parse("0.00000000@h", 12, &n), 0);
    CHECK(n.sid == 0);
    /* A NUL inside, and only len bytes are read. */
    CHECK_EQ_INT(sss_sockname_parse("1.00000000@a\0b", 14, &n), SSS_EINVAL);
    CHECK_EQ_INT(sss_sockname_parse("1.00000000@ab", 12, &n), 0);
    CHECK(n.host_len == 1 && n.host[0] == 'a');
    CHECK_EQ_INT(sss_sockname_parse(NULL, 0, &n), SSS_EINVAL);
}

/* sss_socket_id = worker << 48 | incarnation << 32 | counter. */
static void parts(void)
{
    uint64_t sid = (UINT64_C(5) << 48) | (UINT64_C(0xbeef) << 32) | 0xfffffffe;

    CHECK_EQ_INT(sss_sockname_worker(sid), 5);
    CHECK_EQ_INT(sss_sockname_incarnation(sid), 0xbeef);
    CHECK(sss_sockname_conn(sid) == ((UINT64_C(0xbeef) << 32) | 0xfffffffe));
    CHECK_EQ_INT(sss_sockname_worker(UINT64_MAX), 0xffff);
}

int main(void)
{
    round_trip();
    limits();
    refused();
    parts();
    return sss_test_done();
}
