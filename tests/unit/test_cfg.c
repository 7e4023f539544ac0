/* Unit tests of the flag table and parser (src/common/sss_cfg.c). */
#include "sss_cfg.h"
#include "sss_log.h"
#include "sss_test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static FILE *sink(void)
{
    static FILE *f;

    if (!f)
        f = fopen("/dev/null", "w");
    return f;
}

static int parse(struct sss_cfg *cfg, char **envp, int argc, char **argv)
{
    sss_cfg_defaults(cfg);
    return sss_cfg_parse(cfg, argc, argv, envp, sink(), sink());
}

/* parse, with what the parser writes to its error stream (its warnings) in warned. */
static int parse_warned(struct sss_cfg *cfg, int argc, char **argv, char *warned, size_t cap)
{
    FILE *err;
    int rc;

    memset(warned, 0, cap);
    err = fmemopen(warned, cap - 1, "w");
    CHECK(err != NULL);
    if (!err)
        return -1;
    sss_cfg_defaults(cfg);
    rc = sss_cfg_parse(cfg, argc, argv, NULL, sink(), err);
    fclose(err);
    return rc;
}

static void test_defaults(void)
{
    struct sss_cfg cfg;
    char *argv[] = {"sss-server"};

    CHECK_EQ_INT(parse(&cfg, NULL, 1, argv), 0);
    CHECK_EQ_STR(cfg.host, "0.0.0.0");
    CHECK_EQ_INT(cfg.port, 8080);
    CHECK_EQ_INT(cfg.workers, 0);
    CHECK_EQ_STR(cfg.path, "/");
    CHECK_EQ_INT(cfg.echo, 0);
    CHECK_EQ_INT(cfg.handshake_timeout_ms, 5000);
    CHECK_EQ_INT(cfg.max_handshake_size, 8192);
    CHECK_EQ_INT(cfg.max_message_size, 1 << 20);
    CHECK_EQ_INT(cfg.idle_timeout_ms, 60000);
    CHECK_EQ_INT(cfg.log_level, SSS_LOG_INFO);
    CHECK_EQ_INT(sss_cfg_finish(&cfg, 4, 20000, sink()), 0);
    CHECK_EQ_INT(cfg.workers, 4);
    CHECK_EQ_INT(cfg.max_connections, 4L * (20000 - 64));
    CHECK_EQ_INT(cfg.origin_count, 0);
}

static void test_flags_and_env(void)
{
    struct sss_cfg cfg;
    char *envp[] = {"SSS_PORT=9000", "SSS_MAX_MESSAGE_SIZE=64k", "SSS_ECHO=true", "HOME=/x",
                    "SSS_UNKNOWN_THING=1", NULL};
    char *argv[] = {"sss-server", "--port", "9001", "--idle-timeout=2m", "--log-level",
                    "debug", "--allowed-origins", " http://a.example , http://b.example,,"};

    CHECK_EQ_INT(parse(&cfg, envp, 8, argv), 0);
    CHECK_EQ_INT(cfg.port, 9001); /* the flag wins over the environment */
    CHECK_EQ_INT(cfg.max_message_size, 65536);
    CHECK_EQ_INT(cfg.echo, 1);
    CHECK_EQ_INT(cfg.idle_timeout_ms, 120000);
    CHECK_EQ_INT(cfg.log_level, SSS_LOG_DEBUG);
    CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 1024, sink()), 0);
    CHECK_EQ_INT(cfg.origin_count, 2);
    CHECK_EQ_STR(cfg.origins[0], "http://a.example");
    CHECK_EQ_STR(cfg.origins[1], "http://b.example");
    CHECK(cfg.origins[2] == NULL);
}

static void test_errors(void)
{
    struct sss_cfg cfg;
    char *bad[][3] = {
        {"sss-server", "--port", "abc"},        {"sss-server", "--port", "70000"},
        {"sss-server", "--nope", "1"},          {"sss-server", "--max-message-size", "12q"},
        {"sss-server", "--idle-timeout", "5h"}, {"sss-server", "--echo=maybe", ""},
        {"sss-server", "--log-level", "loud"},  {"sss-server", "stray", ""},
        {"sss-server", "--workers", "-1"},      {"sss-server", "--max-message-size", "-5"},
        /* a control character in a string: here a header of its own after the CSP */
        {"sss-server", "--static-csp", "default-src 'self'\r\nSet-Cookie: a=b"},
        {"sss-server", "--path", "/a\tb"},
    };
    char *envp[] = {"SSS_WORKERS=many", NULL};
    char *noval[] = {"sss-server", "--port"};
    char *ok[] = {"sss-server"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int argc = bad[i][2][0] ? 3 : 2;

        CHECK_EQ_INT(parse(&cfg, NULL, argc, bad[i]), SSS_EINVAL);
    }
    CHECK_EQ_INT(parse(&cfg, NULL, 2, noval), SSS_EINVAL);
    CHECK_EQ_INT(parse(&cfg, envp, 1, ok), SSS_EINVAL);
}

static void test_finish_errors(void)
{
    struct sss_cfg cfg;
    char *path[] = {"sss-server", "--path", "ws"};
    char *bufs[] = {"sss-server", "--io-buffers", "100"};
    char *ok[] = {"sss-server"};

    CHECK_EQ_INT(parse(&cfg, NULL, 3, path), 0);
    CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), SSS_EINVAL);
    CHECK_EQ_INT(parse(&cfg, NULL, 3, bufs), 0);
    CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), SSS_EINVAL);
    CHECK_EQ_INT(parse(&cfg, NULL, 1, ok), 0);
    CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 50, sink()), SSS_EINVAL); /* fd limit too low */
    {
        /* Big messages need a bigger bus and mailboxes, except in --echo mode. */
        char *big[] = {"sss-server", "--max-message-size", "32m"};
        char *big_echo[] = {"sss-server", "--max-message-size", "32m", "--echo"};
        char *big_bus[] = {"sss-server", "--max-message-size", "32m", "--bus-size", "256m",
                           "--mailbox-size", "128m"};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, big), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), SSS_EINVAL);
        CHECK_EQ_INT(parse(&cfg, NULL, 4, big_echo), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
        CHECK_EQ_INT(parse(&cfg, NULL, 7, big_bus), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
    }
}

/* Browser safety at start: an open API only on loopback; a JWT cookie only with an Origin list. */
static void test_browser_safety(void)
{
    struct sss_cfg cfg;
    /* Writable: a secret given on the command line is overwritten in argv. */
    char key[] = "k", secret[] = "0123456789abcdef0123456789abcdef";
    const char *loop[] = {"127.0.0.1:0", "127.1.2.3:9090", "[::1]:0", "localhost:9090",
                          "[::ffff:127.0.0.1]:1"};
    const char *wide[] = {"0.0.0.0:9090", ":9090", "[::]:0", "10.0.0.1:9090", "api.example:1",
                          "[::ffff:10.0.0.1]:1"};

    for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
        char *argv[] = {"sss-server", "--api-listen", (char *)loop[i]};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
    }
    for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
        char *argv[] = {"sss-server", "--api-listen", (char *)wide[i], "--api-key", key};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), SSS_EINVAL);
        CHECK_EQ_INT(parse(&cfg, NULL, 5, argv), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
    }
    {
        char *cookie[] = {"sss-server", "--jwt-secret", secret, "--jwt-cookie", "token",
                          "--allowed-origins", "https://app.example", "--allow-any-origin"};
        char *bad_name[] = {"sss-server", "--jwt-secret", secret, "--jwt-cookie", "to;ken",
                            "--allow-any-origin"};
        char *no_secret[] = {"sss-server", "--jwt-cookie", "token", "--allow-any-origin"};

        CHECK_EQ_INT(parse(&cfg, NULL, 5, cookie), 0); /* a cookie, any origin: refused */
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), SSS_EINVAL);
        CHECK_EQ_INT(parse(&cfg, NULL, 7, cookie), 0); /* a cookie and an Origin list */
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
        CHECK_EQ_INT(parse(&cfg, NULL, 3, cookie), 0); /* no cookie: any origin is fine */
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
        CHECK_EQ_STR(cfg.jwt_cookie, "");
        CHECK_EQ_INT(parse(&cfg, NULL, 6, bad_name), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), SSS_EINVAL);
        CHECK_EQ_INT(parse(&cfg, NULL, 4, no_secret), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), SSS_EINVAL);
    }
    {
        char *any[] = {"sss-server", "--jwt-secret", secret, "--jwt-cookie", "token",
                       "--allow-any-origin"};

        CHECK_EQ_INT(parse(&cfg, NULL, 6, any), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
        CHECK_EQ_INT(cfg.api_open_connections, 16);
        CHECK_EQ_INT(cfg.api_max_per_address, 8);
    }
}

/* --proxy-url and --proxy-events: the derived fields, and what is refused at start. */
static void test_proxy(void)
{
    struct sss_cfg cfg;
    char *ok[] = {"sss-server", "--proxy-url", "http://backend.local:8000/hooks/",
                  "--proxy-events", "ask, close"};
    char *plain[] = {"sss-server", "--proxy-url", "http://[::1]"};
    char *none[] = {"sss-server"};
    const char *bad_urls[] = {"https://b:443", "ftp://b:1", "b:80", "http://u@b:1",
                              "http://b:1/x?y", "http://:1", "http://b:0"};

    CHECK_EQ_INT(parse(&cfg, NULL, 1, none), 0);
    CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
    CHECK_EQ_INT(cfg.proxy_mask, 0); /* no URL: no proxy */
    CHECK_EQ_INT(cfg.proxy_timeout_ms, 5000);
    CHECK_EQ_INT(cfg.proxy_connections, 16);
    CHECK_EQ_INT(parse(&cfg, NULL, 5, ok), 0);
    CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
    CHECK_EQ_STR(cfg.proxy_host, "backend.local");
    CHECK_EQ_INT(cfg.proxy_port, 8000);
    CHECK_EQ_STR(cfg.proxy_prefix, "/hooks");
    CHECK_EQ_INT(cfg.proxy_mask, (1u << SSS_PROXY_ASK) | (1u << SSS_PROXY_CLOSE));
    CHECK_EQ_INT(parse(&cfg, NULL, 3, plain), 0);
    CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), 0);
    CHECK_EQ_STR(cfg.proxy_host, "::1");
    CHECK_EQ_INT(cfg.proxy_port, 80);
    CHECK_EQ_STR(cfg.proxy_prefix, "");
    CHECK_EQ_INT(cfg.proxy_mask, (1u << SSS_PROXY_EVENTS) - 1);
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        char *argv[] = {"sss-server", "--proxy-url", (char *)bad_urls[i]};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), SSS_EINVAL);
    }
    {
        char *argv[] = {"sss-server", "--proxy-url", "http://b:1", "--proxy-events", "ask,nope"};

        CHECK_EQ_INT(parse(&cfg, NULL, 5, argv), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 20000, sink()), SSS_EINVAL);
    }
    CHECK_EQ_STR(sss_proxy_event_name(SSS_PROXY_SUBSCRIBE), "subscribe");
    CHECK_EQ_STR(sss_proxy_fail_name(SSS_PROXY_FAIL_QUEUE), "queue_full");
    CHECK_EQ_STR(sss_proxy_fail_name(SSS_PROXY_FAIL_COUNT), "?");
}

static void test_units(void)
{
    int64_t ms;
    size_t sz;

    CHECK(sss_cfg_parse_duration("250ms", &ms) == 0 && ms == 250);
    CHECK(sss_cfg_parse_duration("1.5s", &ms) == 0 && ms == 1500);
    CHECK(sss_cfg_parse_duration("2m", &ms) == 0 && ms == 120000);
    CHECK(sss_cfg_parse_duration("40", &ms) == 0 && ms == 40);
    CHECK(sss_cfg_parse_duration("", &ms) < 0);
    CHECK(sss_cfg_parse_duration("-1s", &ms) < 0);
    CHECK(sss_cfg_parse_duration("1d", &ms) < 0);
    CHECK(sss_cfg_parse_size("64k", &sz) == 0 && sz == 65536);
    CHECK(sss_cfg_parse_size("1M", &sz) == 0 && sz == 1048576);
    CHECK(sss_cfg_parse_size("2gb", &sz) == 0 && sz == 2147483648UL);
    CHECK(sss_cfg_parse_size("100", &sz) == 0 && sz == 100);
    CHECK(sss_cfg_parse_size("k", &sz) < 0);
    CHECK(sss_cfg_parse_size("1kx", &sz) < 0);
    CHECK(sss_cfg_parse_size("99999999999999999999", &sz) < 0);
}

static void test_help(void)
{
    struct sss_cfg cfg;
    char *argv[] = {"sss-server", "--help"};
    char *ver[] = {"sss-server", "--version"};
    char buf[16384] = {0};
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

    sss_cfg_defaults(&cfg);
    CHECK_EQ_INT(sss_cfg_parse(&cfg, 2, argv, NULL, f, sink()), 1);
    fclose(f);
    CHECK(strstr(buf, "--max-connections") != NULL);
    CHECK(strstr(buf, "SSS_MAX_SEND_QUEUE") != NULL);
    CHECK(strstr(buf, "default: 5s") != NULL);
    CHECK_EQ_INT(parse(&cfg, NULL, 2, ver), 1);
}

/* Every row of the flags table must appear verbatim in the README. */
static void test_readme_table(void)
{
    char table[16384] = {0}, *readme, *line, *save = NULL;
    FILE *f = fmemopen(table, sizeof(table) - 1, "w"), *r;
    long n;

    sss_cfg_print_markdown(f);
    fclose(f);
    r = fopen(SSS_SOURCE_DIR "/README.md", "r");
    CHECK(r != NULL);
    if (!r)
        return;
    fseek(r, 0, SEEK_END);
    n = ftell(r);
    fseek(r, 0, SEEK_SET);
    readme = calloc(1, (size_t)n + 1);
    CHECK(fread(readme, 1, (size_t)n, r) == (size_t)n);
    fclose(r);
    for (line = strtok_r(table, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strstr(readme, line))
            fprintf(stderr, "README.md lacks the flags row: %s\n(run sss-server --help-markdown)\n",
                    line);
        CHECK(strstr(readme, line) != NULL);
    }
    free(readme);
}

/* A temporary file holding text with mode; its path in path (cap bytes). */
static void temp_file(char *path, size_t cap, const char *text, mode_t mode)
{
    int fd;

    snprintf(path, cap, "/tmp/sss-test-cfg-XXXXXX");
    fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    CHECK(fchmod(fd, mode) == 0);
    close(fd);
}

static const char KEY32[] = "0123456789abcdef0123456789abcdef";

/* Issue 18: secrets from files, the environment; warned and blanked on the command line. */
static void test_secrets(void)
{
    struct sss_cfg cfg;
    char path[64], path2[64], env_file[96], arg_secret[64], arg_url[128], arg_key[64], errbuf[2048];

    temp_file(path, sizeof(path), "0123456789abcdef0123456789abcdef\n", 0600);
    {
        char *argv[] = {"sss-server", "--jwt-secret-file", path};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), 0);
        CHECK_EQ_STR(cfg.jwt_secret, KEY32); /* the final newline is dropped */
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 1024, sink()), 0);
    }
    snprintf(env_file, sizeof(env_file), "SSS_API_KEY_FILE=%s", path);
    {
        char *envp[] = {env_file, NULL};
        char *argv[] = {"sss-server"};

        CHECK_EQ_INT(parse(&cfg, envp, 1, argv), 0);
        CHECK_EQ_STR(cfg.api_key, KEY32);
    }
    {
        char *envp[] = {"SSS_JWT_SECRET=0123456789abcdef0123456789abcdef", NULL};
        char *argv[] = {"sss-server", "--jwt-secret-file", path};

        CHECK_EQ_INT(parse(&cfg, envp, 3, argv), SSS_EINVAL); /* both: refused */
    }
    /* Two lines, an empty file, a folder: refused. */
    temp_file(path2, sizeof(path2), "a\nb\n", 0600);
    {
        char *argv[] = {"sss-server", "--api-key-file", path2};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), SSS_EINVAL);
    }
    unlink(path2);
    temp_file(path2, sizeof(path2), "\n", 0600);
    {
        char *argv[] = {"sss-server", "--api-key-file", path2};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), SSS_EINVAL);
    }
    unlink(path2);
    {
        char *argv[] = {"sss-server", "--redis-url-file", "/tmp"};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), SSS_EINVAL);
    }
    /* On the command line: a warning, and the bytes blanked in argv. */
    snprintf(arg_secret, sizeof(arg_secret), "%s", KEY32);
    snprintf(arg_url, sizeof(arg_url), "redis://:hunter2@127.0.0.1:6379/0");
    snprintf(arg_key, sizeof(arg_key), "--api-key=k3y-value");
    {
        char *argv[] = {"sss-server", "--jwt-secret", arg_secret, "--redis", arg_url, arg_key};

        CHECK_EQ_INT(parse_warned(&cfg, 6, argv, errbuf, sizeof(errbuf)), 0);
        CHECK_EQ_STR(cfg.jwt_secret, KEY32);
        CHECK_EQ_STR(cfg.redis_url, "redis://:hunter2@127.0.0.1:6379/0");
        CHECK_EQ_STR(cfg.api_key, "k3y-value");
        CHECK_EQ_STR(arg_secret, "********************************");
        CHECK_EQ_STR(arg_url, "redis://:*******@127.0.0.1:6379/0");
        CHECK_EQ_STR(arg_key, "--api-key=*********");
        CHECK(strstr(errbuf, "--jwt-secret on the command line") != NULL);
        CHECK(strstr(errbuf, "--redis on the command line") != NULL);
        CHECK(strstr(errbuf, "--api-key on the command line") != NULL);
        CHECK(strstr(errbuf, "hunter2") == NULL && strstr(errbuf, "k3y") == NULL);
    }
    /* A URL without a password is no secret: no warning, left alone. */
    snprintf(arg_url, sizeof(arg_url), "mongodb://ann@127.0.0.1:27017/sss");
    {
        char *argv[] = {"sss-server", "--mongo", arg_url};

        CHECK_EQ_INT(parse_warned(&cfg, 3, argv, errbuf, sizeof(errbuf)), 0);
        CHECK_EQ_STR(errbuf, "");
        CHECK_EQ_STR(arg_url, "mongodb://ann@127.0.0.1:27017/sss");
    }
    /* A world-readable secret file is used, with a warning. */
    CHECK(chmod(path, 0644) == 0);
    {
        char *argv[] = {"sss-server", "--jwt-secret-file", path};

        CHECK_EQ_INT(parse_warned(&cfg, 3, argv, errbuf, sizeof(errbuf)), 0);
        CHECK(strstr(errbuf, "readable by every local user") != NULL);
    }
    unlink(path);
    /* An HS256 key shorter than 32 bytes, a leeway over 10 minutes: refused at start. */
    {
        char short_key[] = "0123456789abcdef0123456789abcde"; /* 31 bytes; argv is writable */
        char *argv[] = {"sss-server", "--jwt-secret", short_key};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 1024, sink()), SSS_EINVAL);
    }
    {
        char *argv[] = {"sss-server", "--jwt-leeway", "11m"};

        CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), 0);
        CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 1024, sink()), SSS_EINVAL);
    }
    /* A ticket lifetime past TLS 1.3's 7 days, or not in whole seconds: refused. */
    {
        const char *bad[] = {"10081m", "1500ms"}, *good[] = {"10080m", "0", "1s"};

        for (size_t i = 0; i < 2; i++) {
            char *argv[] = {"sss-server", "--tls-ticket-lifetime", (char *)bad[i]};

            CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), 0);
            CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 1024, sink()), SSS_EINVAL);
        }
        for (size_t i = 0; i < 3; i++) {
            char *argv[] = {"sss-server", "--tls-ticket-lifetime", (char *)good[i]};

            CHECK_EQ_INT(parse(&cfg, NULL, 3, argv), 0);
            CHECK_EQ_INT(sss_cfg_finish(&cfg, 2, 1024, sink()), 0);
        }
    }
    {
        char *argv[] = {"sss-server"};

        CHECK_EQ_INT(parse(&cfg, NULL, 1, argv), 0);
        CHECK_EQ_INT(cfg.jwt_require_exp, 1);
        CHECK_EQ_INT(cfg.jwt_leeway_ms, 0);
    }
}

int main(void)
{
    test_secrets();
    test_readme_table();
    test_defaults();
    test_flags_and_env();
    test_errors();
    test_finish_errors();
    test_proxy();
    test_browser_safety();
    test_units();
    test_help();
    return sss_test_done();
}
