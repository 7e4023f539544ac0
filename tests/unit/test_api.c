/* Unit tests of the HTTP API's pure helpers (src/http/sss_api.h). */
#include "sss_api.h"
#include "sss_test.h"

#include <stdlib.h>

static void splice(const char *body, int sys, int want_rc, const char *want)
{
    struct sss_dynbuf b = SSS_DYNBUF_INIT;
    int rc = sss_api_splice_sys(&b, body, strlen(body), sys);

    CHECK_EQ_INT(rc, want_rc);
    if (rc == 0)
        CHECK_EQ_STR(b.data, want);
    sss_dynbuf_fini(&b);
}

static void test_splice(void)
{
    struct sss_proto_decoder d;
    struct sss_proto_msg m;
    struct sss_dynbuf b = SSS_DYNBUF_INIT;
    const char *body = " {\"channel\":\"c\",\"topic\":\"t\",\"msg\":{ \"a\" : [1, 2] }}";

    splice("{\"a\":1}", 13, 0, "{\"sys\":13,\"a\":1}");
    splice("  \n{ \"a\":1}", 6, 0, "  \n{\"sys\":6, \"a\":1}");
    splice("{}", 13, 0, "{\"sys\":13}");
    splice("{ \t}", 13, 0, "{\"sys\":13 \t}");
    splice("{", 13, 0, "{\"sys\":13,"); /* the decoder reports the bad JSON */
    splice("", 13, SSS_EINVAL, NULL);
    splice("   ", 13, SSS_EINVAL, NULL);
    splice("[1]", 13, SSS_EINVAL, NULL);
    splice("\"x\"", 13, SSS_EINVAL, NULL);

    /* The spliced body decodes as a PUBLISH with msg a raw span of it. */
    CHECK_EQ_INT(sss_proto_decoder_init(&d, 1), 0);
    CHECK_EQ_INT(sss_api_splice_sys(&b, body, strlen(body), SSS_PROTO_PUBLISH), 0);
    CHECK_EQ_INT(sss_proto_decode(&d, b.data, b.len, &m), 0);
    CHECK_EQ_INT(m.sys, SSS_PROTO_PUBLISH);
    CHECK_EQ_STR(m.channel, "c");
    CHECK_EQ_STR(m.topic, "t");
    CHECK(m.msg.ptr && m.msg.len == 16 && memcmp(m.msg.ptr, "{ \"a\" : [1, 2] }", 16) == 0);
    /* A sys of the caller's later in the body wins: the API then refuses it. */
    body = "{\"sys\":5,\"topic\":\"t\"}";
    CHECK_EQ_INT(sss_api_splice_sys(&b, body, strlen(body), SSS_PROTO_PUBLISH), 0);
    CHECK_EQ_INT(sss_proto_decode(&d, b.data, b.len, &m), 0);
    CHECK_EQ_INT(m.sys, SSS_PROTO_ASK);
    sss_proto_decoder_fini(&d);
    sss_dynbuf_fini(&b);
}

static void test_auth(void)
{
    const char *v;

#define AUTH(s, key) sss_api_auth_ok(s, strlen(s), key)
    CHECK(AUTH("Bearer secret", "secret"));
    CHECK(AUTH("bearer secret", "secret"));
    CHECK(AUTH("BEARER   secret  ", "secret"));
    CHECK(!AUTH("Bearer secre", "secret"));
    CHECK(!AUTH("Bearer secretx", "secret"));
    CHECK(!AUTH("Bearer Secret", "secret"));
    CHECK(!AUTH("Bearer", "secret"));
    CHECK(!AUTH("Bearer ", "secret"));
    CHECK(!AUTH("Bearersecret", "secret"));
    CHECK(!AUTH("Basic c2VjcmV0", "secret"));
    CHECK(!AUTH("", "secret"));
    CHECK(!AUTH("Bearer ", "")); /* an empty key never matches (the API is then open) */
#undef AUTH
    /* Not NUL-terminated: only len bytes count. */
    v = "Bearer secretXYZ";
    CHECK(sss_api_auth_ok(v, 13, "secret"));
    CHECK(!sss_api_auth_ok(v, 14, "secret"));
}

static void test_addr(void)
{
    char host[64];
    int port = -1;

    CHECK_EQ_INT(sss_api_parse_addr("127.0.0.1:9090", host, sizeof(host), &port), 0);
    CHECK_EQ_STR(host, "127.0.0.1");
    CHECK_EQ_INT(port, 9090);
    CHECK_EQ_INT(sss_api_parse_addr("[::1]:0", host, sizeof(host), &port), 0);
    CHECK_EQ_STR(host, "::1");
    CHECK_EQ_INT(port, 0);
    CHECK_EQ_INT(sss_api_parse_addr(":80", host, sizeof(host), &port), 0);
    CHECK_EQ_STR(host, "");
    CHECK_EQ_INT(sss_api_parse_addr("localhost:65535", host, sizeof(host), &port), 0);
    CHECK_EQ_STR(host, "localhost");
    CHECK_EQ_INT(sss_api_parse_addr("127.0.0.1", host, sizeof(host), &port), SSS_EINVAL);
    CHECK_EQ_INT(sss_api_parse_addr("127.0.0.1:", host, sizeof(host), &port), SSS_EINVAL);
    CHECK_EQ_INT(sss_api_parse_addr("127.0.0.1:65536", host, sizeof(host), &port), SSS_EINVAL);
    CHECK_EQ_INT(sss_api_parse_addr("127.0.0.1:-1", host, sizeof(host), &port), SSS_EINVAL);
    CHECK_EQ_INT(sss_api_parse_addr("127.0.0.1:8x", host, sizeof(host), &port), SSS_EINVAL);
    CHECK_EQ_INT(sss_api_parse_addr("::1:80", host, sizeof(host), &port), SSS_EINVAL);
    CHECK_EQ_INT(sss_api_parse_addr("[::1:80", host, sizeof(host), &port), SSS_EINVAL);
    CHECK_EQ_INT(sss_api_parse_addr("averyveryverylonghostname:1", host, 8, &port), SSS_EINVAL);
}

/* Every sample line is `name{labels} value` or `name value`; comments are HELP/TYPE. */
static int prometheus_ok(const char *text)
{
    char *copy = strdup(text), *line, *save = NULL;
    int ok = 1;

    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strrchr(line, ' '), *end;

        if (line[0] == '#') {
            ok &= strncmp(line, "# HELP sss_", 11) == 0 || strncmp(line, "# TYPE sss_", 11) == 0;
            continue;
        }
        if (!sp || strncmp(line, "sss_", 4) != 0)
            return free(copy), 0;
        (void)strtod(sp + 1, &end);
        ok &= *end == '\0' && end != sp + 1;
        for (char *p = line; p < sp; p++)
            if (*p == ' ')
                ok = 0; /* one space only, before the value */
    }
    free(copy);
    return ok;
}

static void test_formats(void)
{
    struct sss_api_worker_stats w[2];
    struct sss_api_scaler_stats s = {.publishes = 7, .publish_errors = 1, .broadcasts = 2,
                                     .engine = "redis", .engine_up = 0, .store = "mongodb",
                                     .store_up = 1, .store_queued = 3, .store_written = 4,
                                     .store_dropped = 1, .store_errors = 2};
    struct sss_dynbuf b = SSS_DYNBUF_INIT;

    memset(w, 0, sizeof(w));
    w[0].pid = 100;
    w[0].conns_open = 12;
    w[0].ws_open = 11;
    w[0].sendq_high = 500;
    w[0].bytes_out = 1234567890123LL;
    w[1].pid = 101;
    w[1].conns_open = 3;
    w[1].ws_open = 3;
    w[1].sendq_high = 900;
    sss_api_format_metrics(&b, w, 2, &s, 5);
    CHECK(!b.oom);
    CHECK(prometheus_ok(b.data));
    CHECK(strstr(b.data, "# TYPE sss_connections gauge\n"
                         "sss_connections{worker=\"0\"} 12\nsss_connections{worker=\"1\"} 3\n"));
    CHECK(strstr(b.data, "sss_bytes_out_total{worker=\"0\"} 1234567890123\n"));
    CHECK(strstr(b.data, "# TYPE sss_publishes_total counter\nsss_publishes_total 7\n"));
    CHECK(strstr(b.data, "sss_engine_up{engine=\"redis\"} 0\n"));
    CHECK(strstr(b.data, "sss_store_dropped_total 1\n"));
    CHECK(strstr(b.data, "sss_api_requests_total 5\n"));
    CHECK(strstr(b.data, "sss_workers 2\n"));
    /* Every counter is named *_total. */
    for (const char *p = strstr(b.data, " counter\n"); p; p = strstr(p + 1, " counter\n")) {
        const char *q = p;

        while (q > b.data && q[-1] != ' ')
            q--;
        CHECK(p - q > 6 && memcmp(p - 6, "_total", 6) == 0);
    }

    sss_dynbuf_reset(&b);
    sss_api_format_stats(&b, w, 2, &s, 5);
    CHECK(!b.oom);
    CHECK(strstr(b.data, "{\"workers\":[{\"worker\":0,\"pid\":100,\"connections\":12,"
                         "\"websockets\":11,") == b.data);
    CHECK(strstr(b.data, "\"total\":{\"connections\":15,\"websockets\":14,"));
    CHECK(strstr(b.data, "\"send_queue_high\":900,")); /* the largest, not the sum */
    CHECK(strstr(b.data, "\"scaler\":{\"publishes\":7,\"publish_errors\":1,\"broadcasts\":2,"
                         "\"api_requests\":5,\"engine\":\"redis\",\"engine_up\":false,"
                         "\"store\":\"mongodb\",\"store_up\":true,\"store_queued\":3,"
                         "\"store_written\":4,\"store_dropped\":1,\"store_errors\":2}}"));
    /* It is one JSON value: the proto decoder's strict parser would take it as
     * a (sys-less) object, which is all we can check here without a JSON library. */
    CHECK(b.data[0] == '{' && b.data[b.len - 1] == '}');

    sss_dynbuf_reset(&b);
    sss_api_format_stats(&b, w, 0, &s, 0);
    CHECK(strstr(b.data, "{\"workers\":[],\"total\":{\"connections\":0,"));
    sss_dynbuf_fini(&b);
}

int main(void)
{
    test_splice();
    test_auth();
    test_addr();
    test_formats();
    return sss_test_done();
}
