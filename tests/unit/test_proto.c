/*
 * Unit tests of the JSON codec (src/proto/sss_proto_decode.c and
 * sss_proto_encode.c): every message of PROTOCOL.md decoded (client examples literally) and encoded to an exact
 * string, raw spans byte-identical, ids echoed verbatim, every error path with
 * its message, the depth and subscription limits, channel names, uids.
 */
#include "sss_proto.h"
#include "sss_alloc.h"
#include "sss_test.h"

#include <errno.h>
#include <stdlib.h>

static struct sss_proto_decoder dec;
static struct sss_proto_msg msg;

static int decode_n(const char *s, size_t n)
{
    return sss_proto_decode(&dec, s, n, &msg);
}

static int decode(const char *s)
{
    return decode_n(s, strlen(s));
}

static bool span_is(struct sss_proto_span sp, const char *s)
{
    return sp.ptr && sp.len == strlen(s) && memcmp(sp.ptr, s, sp.len) == 0;
}

#define CHECK_SPAN(sp, s)                                                                          \
    do {                                                                                           \
        CHECK(span_is((sp), (s)));                                                                 \
        if (!span_is((sp), (s)))                                                                   \
            fprintf(stderr, "  span: \"%.*s\"\n", (int)(sp).len, (sp).ptr ? (sp).ptr : "");        \
    } while (0)

/* Decoding of in must succeed. */
static void ok_n(int line, const char *in, size_t n)
{
    int rc = decode_n(in, n);

    CHECK_EQ_INT(rc, 0);
    if (rc)
        fprintf(stderr, "  line %d: %s: %s\n", line, in, sss_proto_strerror(msg.error));
}
#define OK(in) ok_n(__LINE__, (in), strlen(in))

/* Decoding of in must fail with e and return rc. */
static void bad_n(int line, const char *in, size_t n, enum sss_proto_error e, int rc)
{
    int got = decode_n(in, n);

    CHECK_EQ_INT(got, rc);
    CHECK_EQ_INT(msg.error, e);
    if (got != rc || msg.error != e)
        fprintf(stderr, "  line %d: %s: got \"%s\"\n", line, in, sss_proto_strerror(msg.error));
}
#define BAD(in, e) bad_n(__LINE__, (in), strlen(in), (e), SSS_EPROTO)
#define BAD_LIMIT(in, e) bad_n(__LINE__, (in), strlen(in), (e), SSS_ELIMIT)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* An input that must decode, and the raw span it must leave in one field (NULL: none). */
struct span_case {
    const char *in;
    const char *span;
};

/* Decodes each case; field is the span of msg that the cases speak of. */
static void span_cases(int line, const struct span_case *c, size_t n,
                       const struct sss_proto_span *field)
{
    for (size_t i = 0; i < n; i++) {
        ok_n(line, c[i].in, strlen(c[i].in));
        if (c[i].span)
            CHECK_SPAN(*field, c[i].span);
        else
            CHECK(field->ptr == NULL);
        if (c[i].span ? !span_is(*field, c[i].span) : field->ptr != NULL)
            fprintf(stderr, "  line %d: %s\n", line, c[i].in);
    }
}
#define SPAN_CASES(cases, field) span_cases(__LINE__, (cases), COUNT(cases), &msg.field)

/* An input that must fail with e (SSS_EPROTO), and the text of e when not NULL. */
struct bad_case {
    const char *in;
    enum sss_proto_error e;
    const char *text;
};

static void bad_cases(int line, const struct bad_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bad_n(line, c[i].in, strlen(c[i].in), c[i].e, SSS_EPROTO);
        if (c[i].text)
            CHECK_EQ_STR(sss_proto_strerror(msg.error), c[i].text);
    }
}
#define BAD_CASES(cases) bad_cases(__LINE__, (cases), COUNT(cases))

static char outbuf[64];
static struct sss_proto_out out;

/* out must hold exactly s; then it is reset. */
static void expect_out(int line, int rc, const char *s)
{
    size_t n = strlen(s);
    bool same = rc == 0 && out.len == n && memcmp(out.data, s, n) == 0;

    CHECK(same);
    if (!same)
        fprintf(stderr, "  line %d: rc %d\n   got: %.*s\n  want: %s\n", line, rc, (int)out.len,
                out.data ? out.data : "", s);
    sss_proto_out_reset(&out);
}
#define EXPECT(call, s) expect_out(__LINE__, (call), (s))

static const struct sss_proto_span no_id = {NULL, 0};

static struct sss_proto_span S(const char *s)
{
    return sss_proto_span_str(s);
}

/* ---- Decoding: the client examples of PROTOCOL.md, literally ---- */

static void test_decode_examples(void)
{
    OK("{\"sys\":3}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_BEGIN);
    CHECK(msg.id.ptr == NULL && msg.msg.ptr == NULL && msg.query.ptr == NULL);
    CHECK_EQ_INT(msg.has, 0);

    OK("{\"sys\":3,\"session\":\"<id>\"}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_BEGIN);
    CHECK(msg.has & SSS_PROTO_HAS_SESSION);
    CHECK_EQ_STR(msg.session, "<id>");
    CHECK_EQ_INT(msg.session_len, 4);

    OK("{\"sys\":1,\"channel\":\"sport\",\"query\":null,\"id\":7}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_SUBSCRIBE);
    CHECK_EQ_STR(msg.channel, "sport");
    CHECK_EQ_INT(msg.channel_len, 5);
    CHECK_SPAN(msg.query, "null");
    CHECK_SPAN(msg.id, "7");

    OK("{\"sys\":1,\"channel\":\"sport\",\"query\":{\"team\":\"ajax\"},\"id\":7}");
    CHECK_SPAN(msg.query, "{\"team\":\"ajax\"}");

    OK("{\"sys\":2,\"channel\":\"sport\"}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_UNSUBSCRIBE);
    CHECK_EQ_STR(msg.channel, "sport");
    CHECK(msg.id.ptr == NULL);
    OK("{\"sys\":2,\"channel\":\"sport\",\"id\":8}");
    CHECK_SPAN(msg.id, "8");

    OK("{\"sys\":5,\"topic\":\"serverTime\",\"msg\":null,\"id\":9}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_ASK);
    CHECK_EQ_STR(msg.topic, "serverTime");
    CHECK_SPAN(msg.msg, "null");
    CHECK_SPAN(msg.id, "9");

    OK("{\"sys\":6,\"topic\":\"likedMsg\",\"msg\":42}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_TELL);
    CHECK_EQ_STR(msg.topic, "likedMsg");
    CHECK_SPAN(msg.msg, "42");

    OK("{\"sys\":4,\"id\":3,\"subscriptions\":[\n"
       "  {\"channel\":\"sport\",\"lastUid\":\"1-42\",\"query\":null},\n"
       "  {\"channel\":\"_u_alice\",\"lastUid\":\"1-40\",\"query\":null}]}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_SYNC);
    CHECK_SPAN(msg.id, "3");
    CHECK(msg.has & SSS_PROTO_HAS_SUBS);
    CHECK_EQ_INT(msg.nsubs, 2);
    CHECK_EQ_STR(msg.subs[0].channel, "sport");
    CHECK_EQ_INT(msg.subs[0].channel_len, 5);
    CHECK(msg.subs[0].has_last_uid);
    CHECK_EQ_STR(msg.subs[0].last_uid, "1-42");
    CHECK_EQ_INT(msg.subs[0].last_uid_len, 4);
    CHECK_SPAN(msg.subs[0].query, "null");
    CHECK_EQ_STR(msg.subs[1].channel, "_u_alice");
    CHECK_EQ_STR(msg.subs[1].last_uid, "1-40");
    CHECK_SPAN(msg.subs[1].query, "null");

    OK("{\"sys\":13,\"channel\":\"chat\",\"topic\":\"say\",\"msg\":\"hi\",\"id\":11}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_PUBLISH);
    CHECK_EQ_STR(msg.channel, "chat");
    CHECK_EQ_STR(msg.topic, "say");
    CHECK_SPAN(msg.msg, "\"hi\"");
    CHECK_SPAN(msg.id, "11");

    /* The heartbeat: exactly the one byte "h". */
    OK("h");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_HEARTBEAT);
    BAD("h ", SSS_PROTO_E_JSON);
    BAD("hh", SSS_PROTO_E_JSON);
    BAD("H", SSS_PROTO_E_JSON);
    BAD("\"h\"", SSS_PROTO_E_NOT_OBJECT);
}

/* SYNC variants: null and absent lastUid, queries, empty list, duplicates. */
static void test_decode_sync(void)
{
    OK("{\"sys\":4,\"subscriptions\":[]}");
    CHECK_EQ_INT(msg.nsubs, 0);
    CHECK(msg.id.ptr == NULL);

    OK("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\",\"lastUid\":null},{\"channel\":\"b\"},"
       "{\"query\":{\"x\":[1,{\"channel\":5}]},\"channel\":\"c\",\"extra\":{\"lastUid\":7}}]}");
    CHECK_EQ_INT(msg.nsubs, 3);
    CHECK(!msg.subs[0].has_last_uid);
    CHECK_EQ_STR(msg.subs[0].last_uid, "");
    CHECK(msg.subs[0].query.ptr == NULL);
    CHECK(!msg.subs[1].has_last_uid);
    CHECK_EQ_STR(msg.subs[2].channel, "c");
    CHECK_SPAN(msg.subs[2].query, "{\"x\":[1,{\"channel\":5}]}");
    CHECK(!msg.subs[2].has_last_uid);

    /* lastUid: the last occurrence wins, an empty string is a string. */
    OK("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\",\"lastUid\":\"1-1\",\"lastUid\":\"2-5\"},"
       "{\"channel\":\"b\",\"lastUid\":\"\"},{\"channel\":\"c\",\"lastUid\":\"1-1\","
       "\"lastUid\":null}]}");
    CHECK_EQ_STR(msg.subs[0].last_uid, "2-5");
    CHECK(msg.subs[1].has_last_uid);
    CHECK_EQ_INT(msg.subs[1].last_uid_len, 0);
    CHECK(!msg.subs[2].has_last_uid);

    /* A second "subscriptions" replaces the first. */
    OK("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\"},{\"channel\":\"b\"}],"
       "\"subscriptions\":[{\"channel\":\"z\"}]}");
    CHECK_EQ_INT(msg.nsubs, 1);
    CHECK_EQ_STR(msg.subs[0].channel, "z");

    /* Escapes in a subscription's channel and lastUid are unescaped. */
    OK("{\"sys\":4,\"subscriptions\":[{\"channel\":\"sp\\u006frt\",\"lastUid\":\"1\\u002d42\"}]}");
    CHECK_EQ_STR(msg.subs[0].channel, "sport");
    CHECK_EQ_STR(msg.subs[0].last_uid, "1-42");

    /* Whitespace everywhere; the query span keeps its inner whitespace. */
    OK(" { \"sys\" : 4 , \"subscriptions\" : [ { \"channel\" : \"a\" , \"query\" : [ 1 ,"
       " 2 ] } ] } ");
    CHECK_SPAN(msg.subs[0].query, "[ 1 , 2 ]");

    BAD("{\"sys\":4}", SSS_PROTO_E_NO_SUBS);
    BAD("{\"sys\":4,\"subscriptions\":null}", SSS_PROTO_E_SUBS_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":{\"channel\":\"a\"}}", SSS_PROTO_E_SUBS_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":\"a\"}", SSS_PROTO_E_SUBS_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":[\"a\"]}", SSS_PROTO_E_SUB_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":[[{\"channel\":\"a\"}]]}", SSS_PROTO_E_SUB_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":[null]}", SSS_PROTO_E_SUB_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":[{}]}", SSS_PROTO_E_NO_CHANNEL);
    BAD("{\"sys\":4,\"subscriptions\":[{\"lastUid\":\"1-1\"}]}", SSS_PROTO_E_NO_CHANNEL);
    BAD("{\"sys\":4,\"subscriptions\":[{\"channel\":5}]}", SSS_PROTO_E_CHANNEL_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":[{\"channel\":null}]}", SSS_PROTO_E_CHANNEL_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a b\"}]}", SSS_PROTO_E_CHANNEL);
    BAD("{\"sys\":4,\"subscriptions\":[{\"channel\":\"\"}]}", SSS_PROTO_E_CHANNEL);
    BAD("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\",\"lastUid\":5}]}",
        SSS_PROTO_E_LASTUID_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\",\"lastUid\":[]}]}",
        SSS_PROTO_E_LASTUID_TYPE);
    BAD("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\",\"lastUid\":\"\\ud800\"}]}",
        SSS_PROTO_E_ESCAPE);
    BAD("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\",\"lastUid\":"
        "\"12345678901234567890-123456789012345678901234567890123456789012345\"}]}",
        SSS_PROTO_E_LASTUID_LONG);
}

/* Too many subscriptions: the decoder was given max 3. */
static void test_decode_limits(void)
{
    OK("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\"},{\"channel\":\"b\"},"
       "{\"channel\":\"c\"}]}");
    CHECK_EQ_INT(msg.nsubs, 3);
    BAD_LIMIT("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\"},{\"channel\":\"b\"},"
              "{\"channel\":\"c\"},{\"channel\":\"d\"}],\"id\":\"s1\"}",
              SSS_PROTO_E_TOO_MANY_SUBS);
    CHECK_EQ_STR(sss_proto_strerror(msg.error), "too many subscriptions");
    CHECK_EQ_INT(msg.nsubs, 3);
    CHECK_EQ_INT(msg.sys, SSS_PROTO_SYNC);
    CHECK_SPAN(msg.id, "\"s1\""); /* seen after the limit, still echoed */
    /* Elements past the limit are not inspected, but must still be objects. */
    BAD_LIMIT("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\"},{\"channel\":\"b\"},"
              "{\"channel\":\"c\"},{\"channel\":5}]}",
              SSS_PROTO_E_TOO_MANY_SUBS);
    BAD("{\"sys\":4,\"subscriptions\":[{\"channel\":\"a\"},{\"channel\":\"b\"},"
        "{\"channel\":\"c\"},5]}",
        SSS_PROTO_E_SUB_TYPE);
    /* ...and the first problem in document order wins. */
    BAD("{\"sys\":4,\"subscriptions\":[{},{\"channel\":\"a\"},{},{}]}", SSS_PROTO_E_NO_CHANNEL);
}

/* A nesting of depth n: {"sys":3,"x":[[[...]]]} with n containers in all. */
static void nest(char *buf, size_t cap, unsigned n, const char *field)
{
    size_t o = 0;
    unsigned i;

    o += (size_t)snprintf(buf + o, cap - o, "{\"sys\":3,\"%s\":", field);
    for (i = 1; i < n; i++)
        buf[o++] = '[';
    for (i = 1; i < n; i++)
        buf[o++] = ']';
    buf[o++] = '}';
    buf[o] = '\0';
}

/* A SYNC whose one query nests n objects: {"k":{"k":...1}}. */
static void sync_nest(char *buf, size_t cap, unsigned n)
{
    size_t o;
    unsigned i;

    o = (size_t)snprintf(buf, cap, "{\"sys\":4,\"id\":1,\"subscriptions\":[{\"channel\":\"a\","
                                   "\"query\":");
    for (i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, cap - o, "{\"k\":");
    buf[o++] = '1';
    for (i = 0; i < n; i++)
        buf[o++] = '}';
    snprintf(buf + o, cap - o, "}]}");
}

static void test_decode_depth(void)
{
    char buf[4096];

    nest(buf, sizeof(buf), SSS_PROTO_MAX_DEPTH, "unknown");
    OK(buf);
    nest(buf, sizeof(buf), SSS_PROTO_MAX_DEPTH, "msg");
    OK(buf);
    CHECK_EQ_INT(msg.msg.len, 2 * (SSS_PROTO_MAX_DEPTH - 1));
    nest(buf, sizeof(buf), SSS_PROTO_MAX_DEPTH + 1, "unknown");
    BAD_LIMIT(buf, SSS_PROTO_E_DEPTH);
    CHECK_EQ_STR(sss_proto_strerror(msg.error), "nesting too deep");
    nest(buf, sizeof(buf), SSS_PROTO_MAX_DEPTH + 1, "msg");
    BAD_LIMIT(buf, SSS_PROTO_E_DEPTH);
    CHECK_EQ_INT(msg.sys, SSS_PROTO_BEGIN);

    /* Objects count too, and depth inside a subscription's query (3 levels above it). */
    sync_nest(buf, sizeof(buf), SSS_PROTO_MAX_DEPTH - 3);
    OK(buf);
    CHECK_EQ_INT(msg.nsubs, 1);
    CHECK_EQ_INT(msg.subs[0].query.len, (SSS_PROTO_MAX_DEPTH - 3) * 6 + 1);
    sync_nest(buf, sizeof(buf), SSS_PROTO_MAX_DEPTH - 2);
    BAD_LIMIT(buf, SSS_PROTO_E_DEPTH);
    CHECK_SPAN(msg.id, "1");

    /* A deep hostile frame stops early; the id seen before is kept. */
    {
        static char deep[200001];

        memcpy(deep, "{\"id\":\"x\",\"a\":", 14);
        memset(deep + 14, '[', sizeof(deep) - 15);
        deep[sizeof(deep) - 1] = '\0';
        BAD_LIMIT(deep, SSS_PROTO_E_DEPTH);
        CHECK_SPAN(msg.id, "\"x\"");
    }
}

/* Raw spans are the input bytes, untouched. */
static void test_decode_raw(void)
{
    static const char *const values[] = {
        "null",
        "true",
        "false",
        "0",
        "-0",
        "9007199254740993",
        "-9007199254740993",
        "1e400",
        "-1.5E-400",
        "123456789012345678901234567890",
        "\"\"",
        "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\ud83d\\ude00\\u2028\"",
        "\"\\ud800\"", /* lone surrogate: passed through untouched in msg */
        "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
        "{}",
        "[]",
        "{ \"a\" : [ 1 , 2.50 , { } ] ,\n\t\"b\" : \"x\" }",
        "[[[[\"deep\"]]],{\"sys\":99,\"channel\":5,\"id\":{}}]",
    };
    static const struct span_case msgs[] = {
        /* Absent and null differ. */
        {"{\"sys\":5,\"topic\":\"t\"}", NULL},
        {"{\"sys\":5,\"topic\":\"t\",\"msg\":null}", "null"},
        /* The last msg wins. */
        {"{\"sys\":6,\"topic\":\"t\",\"msg\":{\"a\":1},\"msg\":[2]}", "[2]"},
        {"{\"sys\":6,\"topic\":\"t\",\"msg\":[2],\"msg\":3}", "3"},
    };
    char buf[512];
    size_t i;

    for (i = 0; i < COUNT(values); i++) {
        snprintf(buf, sizeof(buf), "{\"sys\":6,\"topic\":\"t\",\"msg\":%s}", values[i]);
        OK(buf);
        CHECK_SPAN(msg.msg, values[i]);
        CHECK_EQ_INT(msg.sys, SSS_PROTO_TELL);
        snprintf(buf, sizeof(buf), "{ \"sys\" :1,\"query\"  :\r\n %s \n,\"channel\":\"c\"}",
                 values[i]);
        OK(buf);
        CHECK_SPAN(msg.query, values[i]);
    }
    SPAN_CASES(msgs, msg);
    /* Spans point into the input. */
    {
        const char *in = "{\"sys\":6,\"topic\":\"t\",\"msg\":[1]}";

        OK(in);
        CHECK(msg.msg.ptr == in + 27);
    }
}

static void test_decode_id(void)
{
    static const struct span_case ids[] = {
        {"{\"sys\":3,\"id\":7}", "7"},
        {"{\"sys\":3,\"id\":-7.25e+3}", "-7.25e+3"},
        {"{\"sys\":3,\"id\":9007199254740993}", "9007199254740993"},
        {"{\"sys\":3,\"id\":1e400}", "1e400"},
        {"{\"sys\":3,\"id\":\"abc\"}", "\"abc\""},
        {"{\"sys\":3,\"id\":\"a\\\"b\\u00e9\"}", "\"a\\\"b\\u00e9\""},
        {"{\"sys\":3,\"id\":\"\"}", "\"\""},
        {"{\"sys\":3,\"id\" : 12 }", "12"},
        {"{\"id\":1,\"sys\":3,\"id\":2}", "2"},
        {"{\"sys\":3,\"id\":null}", NULL},
        {"{\"sys\":3,\"id\":1,\"id\":null}", NULL},
    };
    static const struct bad_case bad[] = {
        {"{\"sys\":3,\"id\":true}", SSS_PROTO_E_ID, NULL},
        {"{\"sys\":3,\"id\":{}}", SSS_PROTO_E_ID, NULL},
        {"{\"sys\":3,\"id\":[1]}", SSS_PROTO_E_ID, "id must be a number or a string"},
    };

    SPAN_CASES(ids, id);
    BAD_CASES(bad);
    /* At most SSS_PROTO_ID_MAX bytes as sent; a longer id is not kept. */
    {
        struct sss_proto_decoder d;
        struct sss_proto_msg m;
        char buf[400];
        int n;

        CHECK_EQ_INT(sss_proto_decoder_init(&d, 8), 0);
        n = snprintf(buf, sizeof(buf), "{\"sys\":5,\"topic\":\"t\",\"id\":\"%0*d\"}",
                     SSS_PROTO_ID_MAX - 2, 0);
        CHECK_EQ_INT(sss_proto_decode(&d, buf, (size_t)n, &m), 0);
        CHECK_EQ_INT((int)m.id.len, SSS_PROTO_ID_MAX);
        n = snprintf(buf, sizeof(buf), "{\"sys\":5,\"topic\":\"t\",\"id\":1%0*d}",
                     SSS_PROTO_ID_MAX, 0); /* a number of 129 digits */
        CHECK(sss_proto_decode(&d, buf, (size_t)n, &m) < 0);
        CHECK_EQ_INT(m.error, SSS_PROTO_E_ID_LONG);
        CHECK(m.id.ptr == NULL && m.id.len == 0);
        CHECK_EQ_STR(sss_proto_strerror(m.error), "id too long");
        sss_proto_decoder_fini(&d);
    }
}

static void test_decode_errors(void)
{
    /* Each field's errors, with the text of each error once. */
    static const struct bad_case fields[] = {
        {"{\"sys\":1}", SSS_PROTO_E_NO_CHANNEL, "missing channel"},
        {"{\"sys\":1,\"channel\":5}", SSS_PROTO_E_CHANNEL_TYPE, "channel must be a string"},
        {"{\"sys\":1,\"channel\":null}", SSS_PROTO_E_CHANNEL_TYPE, NULL},
        {"{\"sys\":1,\"channel\":[\"a\"]}", SSS_PROTO_E_CHANNEL_TYPE, NULL},
        {"{\"sys\":1,\"channel\":{}}", SSS_PROTO_E_CHANNEL_TYPE, NULL},
        {"{\"sys\":2}", SSS_PROTO_E_NO_CHANNEL, NULL},
        {"{\"sys\":13,\"topic\":\"t\"}", SSS_PROTO_E_NO_CHANNEL, NULL},
        {"{\"sys\":13,\"channel\":\"c\"}", SSS_PROTO_E_NO_TOPIC, NULL},
        {"{\"sys\":5}", SSS_PROTO_E_NO_TOPIC, "missing topic"},
        {"{\"sys\":6,\"msg\":1}", SSS_PROTO_E_NO_TOPIC, NULL},
        {"{\"sys\":5,\"topic\":1}", SSS_PROTO_E_TOPIC_TYPE, "topic must be a string"},
        {"{\"sys\":5,\"topic\":null}", SSS_PROTO_E_TOPIC_TYPE, NULL},
        {"{\"sys\":3,\"session\":1}", SSS_PROTO_E_SESSION_TYPE, "session must be a string"},
        {"{\"sys\":3,\"session\":null}", SSS_PROTO_E_SESSION_TYPE, NULL},
        {"{\"sys\":3,\"lastUid\":1}", SSS_PROTO_E_LASTUID_TYPE, "lastUid must be a string or null"},
        {"{\"sys\":4,\"subscriptions\":1}", SSS_PROTO_E_SUBS_TYPE,
         "subscriptions must be an array"},
        {"{\"sys\":4,\"subscriptions\":[1]}", SSS_PROTO_E_SUB_TYPE,
         "subscription must be an object"},
        {"{\"sys\":4}", SSS_PROTO_E_NO_SUBS, "missing subscriptions"},
        /* Every occurrence is checked, even one a later duplicate replaces. */
        {"{\"sys\":1,\"channel\":5,\"channel\":\"a\"}", SSS_PROTO_E_CHANNEL_TYPE, NULL},
        {"{\"sys\":1,\"channel\":\"a b\",\"channel\":\"a\"}", SSS_PROTO_E_CHANNEL, NULL},
        /* The first problem in document order. */
        {"{\"sys\":5,\"topic\":1,\"channel\":2}", SSS_PROTO_E_TOPIC_TYPE, NULL},
        {"{\"channel\":2,\"sys\":99}", SSS_PROTO_E_CHANNEL_TYPE, NULL},
    };

    BAD("", SSS_PROTO_E_JSON);
    CHECK_EQ_STR(sss_proto_strerror(msg.error), "bad JSON");
    BAD(" ", SSS_PROTO_E_JSON);
    BAD("{", SSS_PROTO_E_JSON);
    BAD("{\"sys\":1,", SSS_PROTO_E_JSON);
    BAD("{\"sys\":1", SSS_PROTO_E_JSON);
    BAD("{\"sys\":1,\"id\":12", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3}}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3} {\"sys\":3}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3}x", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3,}", SSS_PROTO_E_JSON);
    BAD("{'sys':3}", SSS_PROTO_E_JSON);
    BAD("{sys:3}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":03}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3,\"msg\":NaN}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3,\"msg\":/*c*/1}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3,\"msg\":\"a\x01\"}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3,\"msg\":\"\\x\"}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3,\"msg\":\"\xff\"}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3,\v\"msg\":1}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3,\"msg\":\f1}", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3}\v", SSS_PROTO_E_JSON);
    {
        static const char nul_after[] = "{\"sys\":3}\0";
        static const char nul_in[] = "{\"sys\":6,\"topic\":\"a\0b\"}";

        bad_n(__LINE__, nul_after, sizeof(nul_after) - 1, SSS_PROTO_E_JSON, SSS_EPROTO);
        bad_n(__LINE__, nul_in, sizeof(nul_in) - 1, SSS_PROTO_E_JSON, SSS_EPROTO);
    }
    /* Bad JSON beats a field error seen before it; the id is kept. */
    BAD("{\"id\":5,\"sys\":1,\"channel\":7,", SSS_PROTO_E_JSON);
    CHECK_SPAN(msg.id, "5");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_SUBSCRIBE);

    BAD("[]", SSS_PROTO_E_NOT_OBJECT);
    CHECK_EQ_STR(sss_proto_strerror(msg.error), "message must be a JSON object");
    BAD("[{\"sys\":3}]", SSS_PROTO_E_NOT_OBJECT);
    BAD("3", SSS_PROTO_E_NOT_OBJECT);
    BAD("null", SSS_PROTO_E_NOT_OBJECT);
    BAD("true", SSS_PROTO_E_NOT_OBJECT);
    BAD("\"sys\"", SSS_PROTO_E_NOT_OBJECT);

    BAD("{}", SSS_PROTO_E_NO_SYS);
    CHECK_EQ_STR(sss_proto_strerror(msg.error), "missing sys");
    BAD("{\"id\":4,\"channel\":\"a\"}", SSS_PROTO_E_NO_SYS);
    CHECK_SPAN(msg.id, "4");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_NONE);
    BAD("{\"x\":{\"sys\":3}}", SSS_PROTO_E_NO_SYS);

    BAD("{\"sys\":0}", SSS_PROTO_E_SYS);
    CHECK_EQ_STR(sss_proto_strerror(msg.error), "unknown sys");
    BAD("{\"sys\":15}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":99,\"id\":\"q\"}", SSS_PROTO_E_SYS);
    CHECK_SPAN(msg.id, "\"q\"");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_NONE);
    BAD("{\"sys\":-1}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":3.0}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":3e0}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":100}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":18446744073709551619}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":\"3\"}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":null}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":true}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":[3]}", SSS_PROTO_E_SYS);
    BAD("{\"sys\":{\"sys\":3}}", SSS_PROTO_E_SYS);
    OK("{\"sys\":99,\"sys\":3}"); /* last wins */
    CHECK_EQ_INT(msg.sys, SSS_PROTO_BEGIN);
    BAD("{\"sys\":3,\"sys\":99}", SSS_PROTO_E_SYS);

    BAD_CASES(fields);

    CHECK_EQ_STR(sss_proto_strerror(SSS_PROTO_E_ESCAPE), "lone surrogate or NUL escape in string");
    CHECK_EQ_STR(sss_proto_strerror(SSS_PROTO_E_NOMEM), "out of memory");
    CHECK_EQ_STR(sss_proto_strerror(SSS_PROTO_OK), "ok");
    CHECK_EQ_STR(sss_proto_strerror((enum sss_proto_error)999), "unknown error");

    /* Unknown fields, any nesting, any type. */
    OK("{\"sys\":3,\"x\":{\"channel\":5,\"sys\":99,\"a\":[{\"id\":{}}]},\"y\":[true,null],"
       "\"z\":1.5,"
       "\"\":\"\",\"channel2\":0,\"Sys\":1,\"ch\\u0061nnel\":\"esc\"}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_BEGIN);
    CHECK_EQ_STR(msg.channel, "esc"); /* an escaped key is the same key */
    CHECK(msg.id.ptr == NULL);
}

/* Strings we unescape: escapes, lone surrogates, NUL, bounds. */
static void test_decode_strings(void)
{
    char buf[1024];
    size_t i;
    static const char *const bad_escapes[] = {
        "\\ud800",         "\\udbff",         "\\udc00",         "\\udfff",
        "a\\ud800b",       "\\ud800\\u0041",  "\\ud800\\ud800",  "\\udc00\\ud800",
        "\\u0000",         "a\\u0000",        "\\ud800\\n",      "x\\uDFFF",
    };
    /* Each string field's limit, and the length msg gives for the string decoded. */
    static const struct {
        const char *head; /* the message up to the string's opening quote */
        char fill;
        size_t max;
        const size_t *len;
        enum sss_proto_error e;
        const char *text;
    } bounds[] = {
        {"{\"sys\":6,\"topic\":\"", 't', SSS_PROTO_TOPIC_MAX, &msg.topic_len,
         SSS_PROTO_E_TOPIC_LONG, "topic too long"},
        {"{\"sys\":3,\"session\":\"", 's', SSS_PROTO_SESSION_MAX, &msg.session_len,
         SSS_PROTO_E_SESSION_LONG, "session too long"},
        {"{\"sys\":3,\"lastUid\":\"", '1', SSS_PROTO_LASTUID_MAX, &msg.last_uid_len,
         SSS_PROTO_E_LASTUID_LONG, "lastUid too long"},
    };

    OK("{\"sys\":6,\"topic\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\te\",\"msg\":1}");
    CHECK_EQ_STR(msg.topic, "a\"b\\c/d\b\f\n\r\te");
    OK("{\"sys\":6,\"topic\":\"\\u00e9\\u20AC\\ud83d\\ude00\\uD834\\uDD1E\\u0041\"}");
    CHECK_EQ_STR(msg.topic, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf0\x9d\x84\x9e" "A");
    OK("{\"sys\":6,\"topic\":\"caf\xc3\xa9\"}");
    CHECK_EQ_STR(msg.topic, "caf\xc3\xa9");
    OK("{\"sys\":6,\"topic\":\"\"}");
    CHECK_EQ_STR(msg.topic, "");
    CHECK(msg.has & SSS_PROTO_HAS_TOPIC);
    OK("{\"sys\":3,\"lastUid\":\"1-42\"}");
    CHECK(msg.has & SSS_PROTO_HAS_LAST_UID);
    CHECK(!(msg.has & SSS_PROTO_HAS_LAST_UID_NULL));
    CHECK_EQ_STR(msg.last_uid, "1-42");
    CHECK_EQ_INT(msg.last_uid_len, 4);
    OK("{\"sys\":3,\"lastUid\":null}");
    CHECK(!(msg.has & SSS_PROTO_HAS_LAST_UID));
    CHECK(msg.has & SSS_PROTO_HAS_LAST_UID_NULL);
    OK("{\"sys\":3}");
    CHECK(!(msg.has & (SSS_PROTO_HAS_LAST_UID | SSS_PROTO_HAS_LAST_UID_NULL)));
    OK("{\"sys\":3,\"lastUid\":null,\"lastUid\":\"2-1\"}");
    CHECK_EQ_INT(msg.has, SSS_PROTO_HAS_LAST_UID);

    for (i = 0; i < sizeof(bad_escapes) / sizeof(bad_escapes[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"sys\":6,\"topic\":\"%s\"}", bad_escapes[i]);
        BAD(buf, SSS_PROTO_E_ESCAPE);
        snprintf(buf, sizeof(buf), "{\"sys\":3,\"session\":\"%s\"}", bad_escapes[i]);
        BAD(buf, SSS_PROTO_E_ESCAPE);
        snprintf(buf, sizeof(buf), "{\"sys\":3,\"lastUid\":\"%s\"}", bad_escapes[i]);
        BAD(buf, SSS_PROTO_E_ESCAPE);
        snprintf(buf, sizeof(buf), "{\"sys\":1,\"channel\":\"%s\"}", bad_escapes[i]);
        BAD(buf, SSS_PROTO_E_CHANNEL);
        /* The same escapes pass untouched in raw values and ignored fields. */
        snprintf(buf, sizeof(buf), "{\"sys\":6,\"topic\":\"t\",\"msg\":\"%s\",\"x\":\"%s\"}",
                 bad_escapes[i], bad_escapes[i]);
        OK(buf);
    }

    /* Bounds: exactly at the limit, then one byte over. */
    for (size_t b = 0; b < COUNT(bounds); b++) {
        size_t max = bounds[b].max;

        memset(buf, 0, sizeof(buf));
        i = (size_t)snprintf(buf, sizeof(buf), "%s", bounds[b].head);
        memset(buf + i, bounds[b].fill, max);
        memcpy(buf + i + max, "\"}", 3);
        OK(buf);
        CHECK_EQ_INT(*bounds[b].len, max);
        buf[i + max] = bounds[b].fill;
        memcpy(buf + i + max + 1, "\"}", 3);
        BAD(buf, bounds[b].e);
        CHECK_EQ_STR(sss_proto_strerror(msg.error), bounds[b].text);
    }
    /* Over the topic's limit via an escape: 255 + 2 bytes. */
    i = (size_t)snprintf(buf, sizeof(buf), "%s", bounds[0].head);
    memset(buf + i, 't', SSS_PROTO_TOPIC_MAX - 1);
    memcpy(buf + i + SSS_PROTO_TOPIC_MAX - 1, "\\u00e9\"}", 9);
    BAD(buf, SSS_PROTO_E_TOPIC_LONG);
}

static void test_channels(void)
{
    char name[200], buf[400];

    CHECK(sss_proto_channel_valid("sport", 5));
    CHECK(sss_proto_channel_valid("A-z_0-9", 7));
    CHECK(sss_proto_channel_valid("_u_alice", 8));
    CHECK(sss_proto_channel_valid("-", 1));
    CHECK(!sss_proto_channel_valid("", 0));
    CHECK(!sss_proto_channel_valid("a b", 3));
    CHECK(!sss_proto_channel_valid("a.b", 3));
    CHECK(!sss_proto_channel_valid("a/b", 3));
    CHECK(!sss_proto_channel_valid("caf\xc3\xa9", 5));
    CHECK(!sss_proto_channel_valid("a\0b", 3));
    CHECK(!sss_proto_channel_valid("a\n", 2));
    memset(name, 'x', sizeof(name));
    CHECK(sss_proto_channel_valid(name, 128));
    CHECK(!sss_proto_channel_valid(name, 129));
    CHECK(sss_proto_channel_reserved("_u_alice", 8));
    CHECK(sss_proto_channel_reserved("_", 1));
    CHECK(sss_proto_channel_reserved("_bc_", 4));
    CHECK(!sss_proto_channel_reserved("u_", 2));
    CHECK(!sss_proto_channel_reserved("", 0));

    BAD("{\"sys\":1,\"channel\":\"\"}", SSS_PROTO_E_CHANNEL);
    CHECK_EQ_STR(sss_proto_strerror(msg.error), "invalid channel name");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_SUBSCRIBE); /* answerable with result false */
    BAD("{\"sys\":1,\"channel\":\"a b\",\"id\":7}", SSS_PROTO_E_CHANNEL);
    CHECK_EQ_STR(msg.channel, "a b"); /* kept for the reply */
    CHECK(msg.has & SSS_PROTO_HAS_CHANNEL);
    CHECK_SPAN(msg.id, "7");
    BAD("{\"sys\":1,\"channel\":\"caf\xc3\xa9\"}", SSS_PROTO_E_CHANNEL);
    BAD("{\"sys\":1,\"channel\":\"caf\\u00e9\"}", SSS_PROTO_E_CHANNEL);
    BAD("{\"sys\":1,\"channel\":\"a\\nb\"}", SSS_PROTO_E_CHANNEL);
    BAD("{\"sys\":1,\"channel\":\"a.b\"}", SSS_PROTO_E_CHANNEL);
    BAD("{\"sys\":2,\"channel\":\" a\"}", SSS_PROTO_E_CHANNEL);
    BAD("{\"sys\":13,\"channel\":\"a:b\",\"topic\":\"t\"}", SSS_PROTO_E_CHANNEL);
    OK("{\"sys\":1,\"channel\":\"_u_bob\"}"); /* reserved is the server's decision */
    OK("{\"sys\":1,\"channel\":\"\\u0041\\u005f-z\"}");
    CHECK_EQ_STR(msg.channel, "A_-z");

    memset(name, 'c', 128);
    name[128] = '\0';
    snprintf(buf, sizeof(buf), "{\"sys\":1,\"channel\":\"%s\"}", name);
    OK(buf);
    CHECK_EQ_INT(msg.channel_len, 128);
    CHECK_EQ_STR(msg.channel, name);
    name[128] = 'c';
    name[129] = '\0';
    snprintf(buf, sizeof(buf), "{\"sys\":1,\"channel\":\"%s\"}", name);
    BAD(buf, SSS_PROTO_E_CHANNEL);
    /* Invalid, but kept so that the refusal can name it... */
    CHECK(msg.has & SSS_PROTO_HAS_CHANNEL);
    CHECK_EQ_INT(msg.channel_len, 129);
    /* ...up to twice the limit; longer names are not kept. */
    {
        char longer[2 * SSS_PROTO_CHANNEL_MAX + 2];

        memset(longer, 'd', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        snprintf(buf, sizeof(buf), "{\"sys\":1,\"channel\":\"%s\"}", longer);
        BAD(buf, SSS_PROTO_E_CHANNEL);
        CHECK(!(msg.has & SSS_PROTO_HAS_CHANNEL));
        CHECK_EQ_INT(msg.channel_len, 0);
    }
}

/* Decoding server messages (as a client does): the PROTOCOL.md examples. */
static void test_decode_server(void)
{
    dec.from_server = true;
    OK("{\"sys\":3,\"prot\":{\"hb\":true,\"hbInterval\":30000,\"hbThreshold\":2500},\n"
       " \"channel\":\"_u_alice\",\"lastUid\":\"1-41\",\"session\":\"s-9f2c\"}");
    CHECK_SPAN(msg.prot, "{\"hb\":true,\"hbInterval\":30000,\"hbThreshold\":2500}");
    CHECK_EQ_STR(msg.channel, "_u_alice");
    CHECK_EQ_STR(msg.last_uid, "1-41");
    CHECK_EQ_STR(msg.session, "s-9f2c");
    OK("{\"sys\":1,\"id\":7,\"channel\":\"sport\",\"result\":true,\"lastUid\":\"1-41\"}");
    CHECK_SPAN(msg.result, "true");
    CHECK_SPAN(msg.id, "7");
    OK("{\"sys\":2,\"id\":8,\"channel\":\"sport\",\"result\":true}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_UNSUBSCRIBE);
    OK("{\"sys\":7,\"id\":9,\"msg\":1732550400000}");
    CHECK_SPAN(msg.msg, "1732550400000");
    OK("{\"sys\":7,\"id\":9,\"err\":{\"name\":\"Timeout\",\"message\":\"...\"}}");
    CHECK_SPAN(msg.err, "{\"name\":\"Timeout\",\"message\":\"...\"}");
    OK("{\"sys\":6,\"topic\":\"updateToken\",\"msg\":\"...\"}");
    OK("{\"sys\":8,\"channel\":\"sport\",\"topic\":\"article\",\"msg\":{\"t\":1},"
       "\"uid\":\"1-42\"}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_FEED);
    CHECK_SPAN(msg.uid, "\"1-42\"");
    OK("{\"sys\":12,\"channel\":\"sport\",\"uid\":\"1-43\"}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_UPDATESUB);
    OK("{\"sys\":11,\"topic\":\"maintenance\",\"msg\":\"...\"}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_BROADCAST);
    OK("{\"sys\":9,\"reason\":\"...\"}");
    CHECK_SPAN(msg.reason, "\"...\"");
    OK("{\"sys\":10,\"channel\":\"sport\",\"reason\":\"...\"}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_BOOTCHANNEL);
    OK("{\"sys\":4,\"id\":3,\"result\":{\"sport\":true,\"_u_alice\":true},\n"
       " \"records\":[ {\"sys\":8,\"channel\":\"sport\",\"topic\":\"a\",\"msg\":1,"
       "\"uid\":\"1-43\"} ]}");
    CHECK_SPAN(msg.result, "{\"sport\":true,\"_u_alice\":true}");
    CHECK_SPAN(msg.records,
               "[ {\"sys\":8,\"channel\":\"sport\",\"topic\":\"a\",\"msg\":1,\"uid\":\"1-43\"} ]");
    CHECK_EQ_INT(msg.nsubs, 0);
    OK("{\"sys\":14,\"err\":{\"name\":\"...\",\"message\":\"...\"},\"id\":5}");
    CHECK_EQ_INT(msg.sys, SSS_PROTO_ERROR);
    CHECK_SPAN(msg.id, "5");
    dec.from_server = false;
    BAD("{\"sys\":4,\"id\":3,\"result\":{},\"records\":[]}", SSS_PROTO_E_NO_SUBS);
}

/* The bump region: strings with escapes larger than it, and many frames in a row. */
static void test_decode_memory(void)
{
    size_t n = 3 * SSS_PROTO_YAJL_MEM, i, o;
    char *big = sss_malloc(2 * n + 64);

    CHECK(big != NULL);
    if (!big)
        return;
    o = (size_t)snprintf(big, 64, "{\"sys\":6,\"topic\":\"t\",\"msg\":\"");
    for (i = 0; i < n; i++) {
        big[o++] = '\\';
        big[o++] = 'n';
    }
    memcpy(big + o, "\"}", 3);
    OK(big);
    CHECK_EQ_INT(msg.msg.len, 2 * n + 2);
    /* An escaped key and an escaped topic after the big string. */
    memcpy(big + o, "\",\"t\\u006fpic\":\"x\\ty\"}", 23);
    OK(big);
    CHECK_EQ_STR(msg.topic, "x\ty");
    sss_free(big);
    for (i = 0; i < 10000; i++)
        if (decode("{\"sys\":6,\"topic\":\"a\\nb\",\"msg\":\"c\\\"d\","
                   "\"x\":[[[[\"\\u00e9\"]]]]}") != 0)
            break;
    CHECK_EQ_INT(i, 10000);
    /* The region is free again after every frame: those frames never touch the heap. */
    setenv("SSS_FAIL_ALLOC", "1", 1);
    sss_alloc_init(); /* the next heap allocation fails */
    for (i = 0; i < 1000; i++)
        if (decode("{\"sys\":6,\"topic\":\"a\\nb\",\"msg\":\"c\\\"d\","
                   "\"x\":[[[[\"\\u00e9\"]]]]}") != 0)
            break;
    CHECK_EQ_INT(i, 1000);
    big = sss_malloc(1);
    CHECK(big == NULL); /* still armed */
    sss_free(big);
    unsetenv("SSS_FAIL_ALLOC");
    sss_alloc_init();
}

/* ---- Encoding ---- */

static void test_encode_server(void)
{
    struct sss_uid u41 = {1, 41}, u42 = {1, 42}, u43 = {1, 43}, u44 = {1, 44};
    struct sss_proto_begin_reply br = {.hb = true,
                                       .hb_interval = 30000,
                                       .hb_threshold = 2500,
                                       .channel = "_u_alice",
                                       .last_uid = &u41,
                                       .session = "s-9f2c"};
    struct sss_proto_begin_reply empty = {0};
    struct sss_proto_fail refused = {"Subscription refused", "reserved channel"};
    struct sss_proto_fail unknown = {"Super Scaled Sockets Error",
                                     "Unknown request topic sent from client"};
    struct sss_proto_fail timeout = {"Timeout", "no answer within 5000 ms"};
    struct sss_proto_fail bad = {"Protocol Error", "unknown sys"};

    EXPECT(sss_proto_encode_begin_reply(&out, &br),
           "{\"sys\":3,\"prot\":{\"hb\":true,\"hbInterval\":30000,\"hbThreshold\":2500},"
           "\"channel\":\"_u_alice\",\"lastUid\":\"1-41\",\"session\":\"s-9f2c\"}");
    EXPECT(sss_proto_encode_begin_reply(&out, &empty), "{\"sys\":3,\"prot\":{}}");
    br.hb = false;
    br.last_uid = NULL;
    br.session = NULL;
    EXPECT(sss_proto_encode_begin_reply(&out, &br),
           "{\"sys\":3,\"prot\":{},\"channel\":\"_u_alice\",\"lastUid\":null}");
    br.channel = NULL;
    br.session = "s\"1";
    EXPECT(sss_proto_encode_begin_reply(&out, &br), "{\"sys\":3,\"prot\":{},"
                                                    "\"session\":\"s\\\"1\"}");

    EXPECT(sss_proto_encode_subscribe_reply(&out, S("7"), "sport", true, &u41, NULL),
           "{\"sys\":1,\"id\":7,\"channel\":\"sport\",\"result\":true,\"lastUid\":\"1-41\"}");
    EXPECT(sss_proto_encode_subscribe_reply(&out, S("\"a\""), "sport", true, NULL, NULL),
           "{\"sys\":1,\"id\":\"a\",\"channel\":\"sport\",\"result\":true,\"lastUid\":null}");
    EXPECT(sss_proto_encode_subscribe_reply(&out, no_id, "sport", true, &u41, NULL),
           "{\"sys\":1,\"channel\":\"sport\",\"result\":true,\"lastUid\":\"1-41\"}");
    EXPECT(sss_proto_encode_subscribe_reply(&out, S("7"), "_u_bob", false, NULL, &refused),
           "{\"sys\":1,\"id\":7,\"channel\":\"_u_bob\",\"result\":false,"
           "\"err\":{\"name\":\"Subscription refused\",\"message\":\"reserved channel\"}}");
    EXPECT(sss_proto_encode_subscribe_reply(&out, S("7"), "x", false, &u41, NULL),
           "{\"sys\":1,\"id\":7,\"channel\":\"x\",\"result\":false}");

    EXPECT(sss_proto_encode_unsubscribe_reply(&out, S("8"), "sport", true),
           "{\"sys\":2,\"id\":8,\"channel\":\"sport\",\"result\":true}");
    EXPECT(sss_proto_encode_unsubscribe_reply(&out, S("8"), "sport", false),
           "{\"sys\":2,\"id\":8,\"channel\":\"sport\",\"result\":false}");

    EXPECT(sss_proto_encode_response(&out, S("9"), S("1732550400000")),
           "{\"sys\":7,\"id\":9,\"msg\":1732550400000}");
    EXPECT(sss_proto_encode_response(&out, S("9"), no_id), "{\"sys\":7,\"id\":9,\"msg\":null}");
    EXPECT(sss_proto_encode_response(&out, S("9.50"), S("{ \"a\" : 9007199254740993 }")),
           "{\"sys\":7,\"id\":9.50,\"msg\":{ \"a\" : 9007199254740993 }}");
    EXPECT(sss_proto_encode_response_err(&out, S("9"), &unknown),
           "{\"sys\":7,\"id\":9,\"err\":{\"name\":\"Super Scaled Sockets Error\","
           "\"message\":\"Unknown request topic sent from client\"}}");
    EXPECT(sss_proto_encode_response_err(&out, S("9"), &timeout),
           "{\"sys\":7,\"id\":9,\"err\":{\"name\":\"Timeout\",\"message\":\"no answer within 5000 "
           "ms\"}}");
    EXPECT(sss_proto_encode_publish_reply(&out, S("11"), &u44),
           "{\"sys\":7,\"id\":11,\"msg\":{\"uid\":\"1-44\"}}");

    EXPECT(sss_proto_encode_tell(&out, "updateToken", S("\"tok\"")),
           "{\"sys\":6,\"topic\":\"updateToken\",\"msg\":\"tok\"}");
    EXPECT(sss_proto_encode_tell(&out, "t", no_id), "{\"sys\":6,\"topic\":\"t\"}");
    EXPECT(sss_proto_encode_feed(&out, "sport", "article", S("{\"title\":\"Goal\"}"), &u42),
           "{\"sys\":8,\"channel\":\"sport\",\"topic\":\"article\",\"msg\":{\"title\":\"Goal\"},"
           "\"uid\":\"1-42\"}");
    EXPECT(sss_proto_encode_feed(&out, "c", "t", S("1e400"), NULL),
           "{\"sys\":8,\"channel\":\"c\",\"topic\":\"t\",\"msg\":1e400,\"uid\":null}");
    EXPECT(sss_proto_encode_updatesub(&out, "sport", &u43),
           "{\"sys\":12,\"channel\":\"sport\",\"uid\":\"1-43\"}");
    EXPECT(sss_proto_encode_broadcast(&out, "maintenance", S("\"at 3am\"")),
           "{\"sys\":11,\"topic\":\"maintenance\",\"msg\":\"at 3am\"}");
    EXPECT(sss_proto_encode_boot(&out, "banned"), "{\"sys\":9,\"reason\":\"banned\"}");
    EXPECT(sss_proto_encode_bootchannel(&out, "sport", "kicked"),
           "{\"sys\":10,\"channel\":\"sport\",\"reason\":\"kicked\"}");
    EXPECT(sss_proto_encode_error(&out, &bad, S("5")),
           "{\"sys\":14,\"err\":{\"name\":\"Protocol Error\",\"message\":\"unknown sys\"},"
           "\"id\":5}");
    EXPECT(sss_proto_encode_error(&out, &bad, no_id),
           "{\"sys\":14,\"err\":{\"name\":\"Protocol Error\",\"message\":\"unknown sys\"}}");
    EXPECT(sss_proto_encode_heartbeat(&out), "h");
    {
        struct sss_proto_fail nulls = {NULL, NULL};

        EXPECT(sss_proto_encode_error(&out, &nulls, S("\"x\"")),
               "{\"sys\":14,\"err\":{\"name\":\"\",\"message\":\"\"},\"id\":\"x\"}");
    }
}

static void test_encode_sync(void)
{
    struct sss_proto_sync_reply b;
    const char *f1 = "{\"sys\":8,\"channel\":\"sport\",\"topic\":\"a\",\"msg\":1,\"uid\":\"1-43\"}";
    const char *f2 = "{\"sys\":8,\"channel\":\"_u_alice\",\"topic\":\"b\",\"msg\":[],"
                     "\"uid\":\"1-41\"}";
    int rc = 0;

    rc |= sss_proto_sync_reply_begin(&b, &out, S("3"));
    rc |= sss_proto_sync_reply_result(&b, "sport", true);
    rc |= sss_proto_sync_reply_result(&b, "_u_alice", true);
    rc |= sss_proto_sync_reply_result(&b, "gone", false);
    rc |= sss_proto_sync_reply_record(&b, f1, strlen(f1));
    rc |= sss_proto_sync_reply_record(&b, f2, strlen(f2));
    CHECK_EQ_INT(sss_proto_sync_reply_result(&b, "late", true), SSS_EINVAL);
    rc |= sss_proto_sync_reply_end(&b);
    EXPECT(rc, "{\"sys\":4,\"id\":3,\"result\":{\"sport\":true,\"_u_alice\":true,\"gone\":false},"
               "\"records\":[{\"sys\":8,\"channel\":\"sport\",\"topic\":\"a\",\"msg\":1,\"uid\":"
               "\"1-43\"},{\"sys\":8,\"channel\":\"_u_alice\",\"topic\":\"b\",\"msg\":[],\"uid\":"
               "\"1-41\"}]}");

    rc = sss_proto_sync_reply_begin(&b, &out, S("3"));
    rc |= sss_proto_sync_reply_end(&b);
    EXPECT(rc, "{\"sys\":4,\"id\":3,\"result\":{},\"records\":[]}");

    rc = sss_proto_sync_reply_begin(&b, &out, no_id);
    rc |= sss_proto_sync_reply_result(&b, "a", false);
    rc |= sss_proto_sync_reply_end(&b);
    EXPECT(rc, "{\"sys\":4,\"result\":{\"a\":false},\"records\":[]}");

    rc = sss_proto_sync_reply_begin(&b, &out, S("\"s\""));
    rc |= sss_proto_sync_reply_record(&b, f1, strlen(f1));
    rc |= sss_proto_sync_reply_end(&b);
    EXPECT(rc, "{\"sys\":4,\"id\":\"s\",\"result\":{},\"records\":[{\"sys\":8,"
               "\"channel\":\"sport\","
               "\"topic\":\"a\",\"msg\":1,\"uid\":\"1-43\"}]}");
}

static void test_encode_client(void)
{
    struct sss_proto_sub subs[2];

    EXPECT(sss_proto_encode_subscribe(&out, "sport", S("null"), S("7")),
           "{\"sys\":1,\"channel\":\"sport\",\"query\":null,\"id\":7}");
    EXPECT(sss_proto_encode_subscribe(&out, "sport", no_id, no_id),
           "{\"sys\":1,\"channel\":\"sport\"}");
    EXPECT(sss_proto_encode_unsubscribe(&out, "sport", no_id), "{\"sys\":2,\"channel\":\"sport\"}");
    EXPECT(sss_proto_encode_unsubscribe(&out, "sport", S("8")),
           "{\"sys\":2,\"channel\":\"sport\",\"id\":8}");
    EXPECT(sss_proto_encode_begin(&out, NULL), "{\"sys\":3}");
    EXPECT(sss_proto_encode_begin(&out, "s-9f2c"), "{\"sys\":3,\"session\":\"s-9f2c\"}");
    EXPECT(sss_proto_encode_ask(&out, "serverTime", S("null"), S("9")),
           "{\"sys\":5,\"topic\":\"serverTime\",\"msg\":null,\"id\":9}");
    EXPECT(sss_proto_encode_tell(&out, "likedMsg", S("42")),
           "{\"sys\":6,\"topic\":\"likedMsg\",\"msg\":42}");
    EXPECT(sss_proto_encode_publish(&out, "chat", "say", S("\"hi\""), S("11")),
           "{\"sys\":13,\"channel\":\"chat\",\"topic\":\"say\",\"msg\":\"hi\",\"id\":11}");
    memset(subs, 0, sizeof(subs));
    memcpy(subs[0].channel, "sport", 6);
    subs[0].has_last_uid = true;
    memcpy(subs[0].last_uid, "1-42", 5);
    subs[0].query = S("null");
    memcpy(subs[1].channel, "_u_alice", 9);
    EXPECT(sss_proto_encode_sync(&out, S("3"), subs, 2),
           "{\"sys\":4,\"id\":3,\"subscriptions\":[{\"channel\":\"sport\",\"lastUid\":\"1-42\","
           "\"query\":null},{\"channel\":\"_u_alice\",\"lastUid\":null}]}");
    EXPECT(sss_proto_encode_sync(&out, no_id, subs, 0), "{\"sys\":4,\"subscriptions\":[]}");
}

/* The string escaper, through TELL's topic. */
static void test_escape(void)
{
    /* TELL's topic in, the frame out. */
    static const struct {
        const char *topic, *json;
    } tells[] = {
        {"q\"b\\s/", "{\"sys\":6,\"topic\":\"q\\\"b\\\\s/\"}"},
        {"\b\f\n\r\t", "{\"sys\":6,\"topic\":\"\\b\\f\\n\\r\\t\"}"},
        {"\x01\x1f\x7f", "{\"sys\":6,\"topic\":\"\\u0001\\u001f\x7f\"}"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8",
         "{\"sys\":6,\"topic\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8\"}"},
        /* Invalid UTF-8: stray continuation, overlong, surrogate, > U+10FFFF, truncated. */
        {"a\x80z", "{\"sys\":6,\"topic\":\"a\\ufffdz\"}"},
        {"\xc0\xaf", "{\"sys\":6,\"topic\":\"\\ufffd\\ufffd\"}"},
        {"\xe0\x80\xaf", "{\"sys\":6,\"topic\":\"\\ufffd\\ufffd\\ufffd\"}"},
        {"\xed\xa0\x80", "{\"sys\":6,\"topic\":\"\\ufffd\\ufffd\\ufffd\"}"},
        {"\xf4\x90\x80\x80", "{\"sys\":6,\"topic\":\"\\ufffd\\ufffd\\ufffd\\ufffd\"}"},
        {"\xf0\x9f\x98", "{\"sys\":6,\"topic\":\"\\ufffd\\ufffd\\ufffd\"}"},
        {"\xff\xfe", "{\"sys\":6,\"topic\":\"\\ufffd\\ufffd\"}"},
        {"\xf4\x8f\xbf\xbf", "{\"sys\":6,\"topic\":\"\xf4\x8f\xbf\xbf\"}"},
        {"", "{\"sys\":6,\"topic\":\"\"}"},
    };

    /* The writer every encoder (and the HTTP API) uses for a string. */
    EXPECT(sss_proto_encode_string(&out, "a\"\n\x01"), "\"a\\\"\\n\\u0001\"");
    for (size_t i = 0; i < COUNT(tells); i++)
        EXPECT(sss_proto_encode_tell(&out, tells[i].topic, no_id), tells[i].json);

    /* Decoding what we encode gives the string back. */
    CHECK_EQ_INT(sss_proto_encode_tell(&out, "a\"b\\c\n\x01\xc3\xa9", S("1")), 0);
    CHECK_EQ_INT(decode_n(out.data, out.len), 0);
    CHECK_EQ_STR(msg.topic, "a\"b\\c\n\x01\xc3\xa9");
    sss_proto_out_reset(&out);
}

/* Output buffer: growth out of caller storage, appending, allocation failure. */
static void test_out(void)
{
    struct sss_proto_out o;
    char small[8], big[5000];
    size_t i;

    sss_proto_out_init(&o, small, sizeof(small));
    CHECK_EQ_INT(sss_proto_encode_heartbeat(&o), 0);
    CHECK(o.data == small && o.len == 1 && !o.heap);
    CHECK_EQ_INT(sss_proto_encode_begin(&o, NULL), 0); /* appends */
    CHECK(o.heap && o.len == 10 && memcmp(o.data, "h{\"sys\":3}", 10) == 0);
    sss_proto_out_reset(&o);
    for (i = 0; i < sizeof(big) - 1; i++)
        big[i] = (char)('a' + i % 26);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(sss_proto_encode_boot(&o, big), 0);
    CHECK_EQ_INT(o.len, sizeof(big) - 1 + 21);
    sss_proto_out_fini(&o);
    CHECK(o.data == NULL);

    sss_proto_out_init(&o, NULL, 0);
    CHECK_EQ_INT(sss_proto_encode_begin(&o, "x"), 0);
    CHECK(o.heap && o.len == 23);
    sss_proto_out_fini(&o);

    /* The next allocation fails: -ENOMEM, sticky until reset. */
    setenv("SSS_FAIL_ALLOC", "1", 1);
    sss_alloc_init();
    sss_proto_out_init(&o, small, sizeof(small));
    CHECK_EQ_INT(sss_proto_encode_begin(&o, "session"), -ENOMEM);
    CHECK(o.oom);
    CHECK_EQ_INT(sss_proto_encode_heartbeat(&o), -ENOMEM);
    sss_proto_out_reset(&o);
    CHECK_EQ_INT(sss_proto_encode_heartbeat(&o), 0);
    sss_proto_out_fini(&o);
    unsetenv("SSS_FAIL_ALLOC");
    sss_alloc_init();
}

/* ---- Uids ---- */

static void test_uid(void)
{
    struct sss_uid u = {7, 7}, a, b;
    char buf[SSS_PROTO_UID_BUF];
    static const char *const bad[] = {
        "",     "-",      "1",       "1-",     "-1",     "1--1",    "01-1",    "1-01",
        "00-0", "+1-1",   "1-+1",    "1-1-1",  " 1-1",   "1-1 ",    "1.0-1",   "a-1",
        "1-a",  "0x1-1",  "1-1e3",   "1_1",    "-1-1",
        "18446744073709551616-0", "0-18446744073709551616", "99999999999999999999-1",
        "000000000000000000001-1",
    };
    size_t i;

    CHECK_EQ_INT(sss_proto_uid_parse(&u, "1-42", 4), 0);
    CHECK(u.epoch == 1 && u.offset == 42);
    CHECK_EQ_INT(sss_proto_uid_parse(&u, "0-0", 3), 0);
    CHECK(u.epoch == 0 && u.offset == 0);
    CHECK_EQ_INT(sss_proto_uid_parse(&u, "18446744073709551615-18446744073709551615", 41), 0);
    CHECK(u.epoch == UINT64_MAX && u.offset == UINT64_MAX);
    CHECK_EQ_INT(sss_proto_uid_parse(&u, "1-42xyz", 4), 0); /* only len bytes */
    CHECK(u.epoch == 1 && u.offset == 42);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        u.epoch = u.offset = 5;
        CHECK_EQ_INT(sss_proto_uid_parse(&u, bad[i], strlen(bad[i])), SSS_EINVAL);
        CHECK(u.epoch == 5 && u.offset == 5);
    }
    CHECK_EQ_INT(sss_proto_uid_parse(&u, "1-\0" "2", 4), SSS_EINVAL);

    u.epoch = 1;
    u.offset = 42;
    CHECK_EQ_INT(sss_proto_uid_format(&u, buf, sizeof(buf)), 4);
    CHECK_EQ_STR(buf, "1-42");
    u.epoch = u.offset = 0;
    CHECK_EQ_INT(sss_proto_uid_format(&u, buf, sizeof(buf)), 3);
    CHECK_EQ_STR(buf, "0-0");
    u.epoch = u.offset = UINT64_MAX;
    CHECK_EQ_INT(sss_proto_uid_format(&u, buf, sizeof(buf)), 41);
    CHECK_EQ_STR(buf, "18446744073709551615-18446744073709551615");
    CHECK_EQ_INT(sss_proto_uid_format(&u, buf, 41), 0); /* too small */
    CHECK_EQ_STR(buf, "");
    CHECK_EQ_INT(sss_proto_uid_parse(&a, buf, 0), SSS_EINVAL);

    a.epoch = 1, a.offset = 42;
    b = a;
    CHECK_EQ_INT(sss_proto_uid_cmp(&a, &b), 0);
    b.offset = 43;
    CHECK(sss_proto_uid_cmp(&a, &b) < 0);
    CHECK(sss_proto_uid_cmp(&b, &a) > 0);
    b.epoch = 2, b.offset = 0; /* a new epoch beats any offset */
    a.offset = UINT64_MAX;
    CHECK(sss_proto_uid_cmp(&a, &b) < 0);
    CHECK(sss_proto_uid_cmp(&b, &a) > 0);
    a.epoch = UINT64_MAX, a.offset = 0;
    b.epoch = 0, b.offset = UINT64_MAX;
    CHECK(sss_proto_uid_cmp(&a, &b) > 0);
    /* Numeric, not textual, order: "1-9" < "1-10". */
    CHECK_EQ_INT(sss_proto_uid_parse(&a, "1-9", 3), 0);
    CHECK_EQ_INT(sss_proto_uid_parse(&b, "1-10", 4), 0);
    CHECK(sss_proto_uid_cmp(&a, &b) < 0);
    /* Round trip. */
    for (i = 0; i < 64; i++) {
        a.epoch = (uint64_t)1 << i;
        a.offset = ((uint64_t)1 << i) - 1;
        CHECK_EQ_INT(sss_proto_uid_parse(&b, buf, sss_proto_uid_format(&a, buf, sizeof(buf))), 0);
        CHECK_EQ_INT(sss_proto_uid_cmp(&a, &b), 0);
    }
}

/* Bodies that carry one message kind without "sys" (the HTTP API's). */
static void test_decode_as(void)
{
    struct sss_proto_msg m;
    const char *body = " {\"channel\":\"c\",\"topic\":\"t\",\"msg\":{ \"a\" : [1, 2] }}";

    CHECK_EQ_INT(sss_proto_decode_as(&dec, body, strlen(body), SSS_PROTO_PUBLISH, &m), 0);
    CHECK_EQ_INT(m.sys, SSS_PROTO_PUBLISH);
    CHECK_EQ_STR(m.channel, "c");
    CHECK_EQ_STR(m.topic, "t");
    CHECK(m.msg.ptr == body + 34 && m.msg.len == 16 &&
          memcmp(m.msg.ptr, "{ \"a\" : [1, 2] }", 16) == 0);
    body = "{\"topic\":\"t\",\"msg\":1}";
    CHECK_EQ_INT(sss_proto_decode_as(&dec, body, strlen(body), SSS_PROTO_TELL, &m), 0);
    CHECK_EQ_INT(m.sys, SSS_PROTO_TELL);
    /* A sys in the body wins, as a later duplicate would. */
    body = "{\"sys\":5,\"topic\":\"t\"}";
    CHECK_EQ_INT(sss_proto_decode_as(&dec, body, strlen(body), SSS_PROTO_PUBLISH, &m), 0);
    CHECK_EQ_INT(m.sys, SSS_PROTO_ASK);
    body = "{\"sys\":\"x\",\"topic\":\"t\"}";
    CHECK_EQ_INT(sss_proto_decode_as(&dec, body, strlen(body), SSS_PROTO_TELL, &m), SSS_EPROTO);
    CHECK_EQ_INT(m.error, SSS_PROTO_E_SYS);
    /* The rest as sss_proto_decode: required fields, bad JSON, no heartbeat. */
    CHECK_EQ_INT(sss_proto_decode_as(&dec, "{ }", 3, SSS_PROTO_PUBLISH, &m), SSS_EPROTO);
    CHECK_EQ_INT(m.error, SSS_PROTO_E_NO_CHANNEL);
    CHECK_EQ_INT(sss_proto_decode_as(&dec, "{", 1, SSS_PROTO_PUBLISH, &m), SSS_EPROTO);
    CHECK_EQ_INT(m.error, SSS_PROTO_E_JSON);
    CHECK_EQ_INT(sss_proto_decode_as(&dec, "h", 1, SSS_PROTO_TELL, &m), SSS_EPROTO);
    CHECK_EQ_INT(m.error, SSS_PROTO_E_JSON);
}

/*
 * Issue 10: trailing garbage that is an unterminated string was accepted
 * (yajl's lexer just waits for the rest of the string). Only whitespace may
 * follow the object, whatever the bytes after it look like.
 */
static void test_issue10_trailing_string(void)
{
    BAD("{\"sys\":3}\"", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3} \"abc", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3}\"\\", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3}x", SSS_PROTO_E_JSON);
    BAD("{\"sys\":3} \"a\"", SSS_PROTO_E_JSON);
    CHECK_EQ_INT(sss_proto_decode_as(&dec, "{\"topic\":\"t\"}\"", 14, SSS_PROTO_TELL, &msg),
                 SSS_EPROTO);
    CHECK_EQ_INT(msg.error, SSS_PROTO_E_JSON);
    OK("{\"sys\":3} \t\r\n");
}

int main(void)
{
    sss_alloc_init();
    if (sss_proto_decoder_init(&dec, 3) != 0) {
        fprintf(stderr, "decoder_init failed\n");
        return 1;
    }
    sss_proto_out_init(&out, outbuf, sizeof(outbuf));

    test_decode_examples();
    test_decode_sync();
    test_decode_limits();
    test_decode_depth();
    test_decode_raw();
    test_decode_id();
    test_decode_errors();
    test_decode_strings();
    test_channels();
    test_decode_server();
    test_decode_memory();
    test_decode_as();
    test_issue10_trailing_string();
    test_encode_server();
    test_encode_sync();
    test_encode_client();
    test_escape();
    test_out();
    test_uid();

    sss_proto_out_fini(&out);
    sss_proto_decoder_fini(&dec);
    return sss_test_done();
}
