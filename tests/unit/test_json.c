/*
 * Unit tests of sss_json, the strict reader of one container's children:
 * what each child looks like (keys, unescaped strings, raw spans of every
 * type), arrays, the depth bound, stopping from the callback, and the
 * strictness it adds to yajl (\v and \f, UTF-8, surrogate escapes, an
 * unterminated string after the value), what SSS_JSON_LOOSE_STRINGS lets
 * through, and that a JWT-sized document never touches the heap (yajl does
 * not survive a failed allocation mid-parse). The JWT tests (test_jwt.c)
 * go through it too, with many more malformed documents; the wire decoder
 * sits on the same parser (test_proto.c).
 */
#include "sss_alloc.h"
#include "sss_json.h"
#include "sss_test.h"

#include <errno.h>
#include <stdlib.h>

/* Each child as one line "key|type|str|raw", keys and strings cut at a NUL. */
static char seen[2048];

static int record(void *data, const struct sss_json_item *it)
{
    size_t n = strlen(seen);

    (void)data;
    snprintf(seen + n, sizeof(seen) - n, "%.*s|%d|%.*s|%.*s\n", it->key ? (int)it->key_len : 4,
             it->key ? it->key : "NULL", (int)it->type, (int)it->str_len, it->str ? it->str : "",
             (int)it->raw_len, it->raw);
    return 0;
}

static int each(const char *doc, enum sss_json_type top, unsigned depth)
{
    seen[0] = '\0';
    return sss_json_each(doc, strlen(doc), top, depth, SSS_JSON_STRICT, record, NULL);
}

static int stop_at_b(void *data, const struct sss_json_item *it)
{
    int *calls = data;

    (*calls)++;
    return it->key_len == 1 && it->key[0] == 'b' ? -EPERM : 0;
}

static void test_object(void)
{
    CHECK_EQ_INT(each(" {\"a\" : \"x\\ny\", \"n\":-1.5e3,\"t\":true,\"f\":false,\"z\":null,"
                      "\"o\": {\"k\":[1,\"}\"]} ,\"l\":[ ],\"e\\u0041\":\"\\u00e9\"}\r\n",
                      SSS_JSON_OBJECT, 8),
                 0);
    CHECK_EQ_STR(seen, "a|4|x\ny|\"x\\ny\"\n"
                       "n|3||-1.5e3\n"
                       "t|2||true\n"
                       "f|1||false\n"
                       "z|0||null\n"
                       "o|5||{\"k\":[1,\"}\"]}\n"
                       "l|6||[ ]\n"
                       "eA|4|\xc3\xa9|\"\\u00e9\"\n");
    /* Keys are passed on as they come, repeats too; long keys as well. */
    {
        char doc[1200], key[1001];

        memset(key, 'k', 1000);
        key[1000] = '\0';
        snprintf(doc, sizeof(doc), "{\"%s\":1,\"a\":1,\"a\":2}", key);
        CHECK_EQ_INT(each(doc, SSS_JSON_OBJECT, 2), 0);
        CHECK(strncmp(seen, key, 1000) == 0 && strstr(seen, "|3||1\na|3||1\na|3||2\n"));
    }
    CHECK_EQ_INT(each("{}", SSS_JSON_OBJECT, 1), 0);
    CHECK_EQ_STR(seen, "");
    /* A key with an escaped quote and backslashes before the closing quote. */
    CHECK_EQ_INT(each("{\"q\\\"\\\\\":\"\\\\\"}", SSS_JSON_OBJECT, 1), 0);
    CHECK_EQ_STR(seen, "q\"\\|4|\\|\"\\\\\"\n");
}

static void test_array(void)
{
    CHECK_EQ_INT(each("[{\"sys\":8},{\"a\":[\"]\"]}, 7 ,\"s\",[]]", SSS_JSON_ARRAY, 4), 0);
    CHECK_EQ_STR(seen, "NULL|5||{\"sys\":8}\n"
                       "NULL|5||{\"a\":[\"]\"]}\n"
                       "NULL|3||7\n"
                       "NULL|4|s|\"s\"\n"
                       "NULL|6||[]\n");
    /* The wrong top container, or none. */
    CHECK_EQ_INT(each("[1]", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{}", SSS_JSON_ARRAY, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("1", SSS_JSON_ARRAY, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("\"a\"", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each(" ", SSS_JSON_ARRAY, 4), SSS_EPROTO);
}

static void test_depth_and_stop(void)
{
    int calls = 0;

    CHECK_EQ_INT(each("[[[]]]", SSS_JSON_ARRAY, 3), 0);
    CHECK_EQ_INT(each("[[[[]]]]", SSS_JSON_ARRAY, 3), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":{\"b\":{}}}", SSS_JSON_OBJECT, 2), SSS_EPROTO);
    {
        static char deep[100000];

        memset(deep, '[', sizeof(deep) - 1);
        CHECK_EQ_INT(each(deep, SSS_JSON_ARRAY, 64), SSS_EPROTO);
    }
    /* The callback's code stops the reading at once, even before bad JSON. */
    CHECK_EQ_INT(sss_json_each("{\"a\":1,\"b\":2,\"c\":3,", 19, SSS_JSON_OBJECT, 4, SSS_JSON_STRICT,
                               stop_at_b, &calls),
                 -EPERM);
    CHECK_EQ_INT(calls, 2);
    /* Children before a problem are seen; the problem still fails the document. */
    CHECK_EQ_INT(each("{\"a\":1,\"b\":}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_STR(seen, "a|3||1\n");
    /* A number at the very end is seen (yajl needs the end of input to finish it). */
    CHECK_EQ_INT(each("{\"a\":12", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_STR(seen, "a|3||12\n");
}

static void test_strict(void)
{
    /* What yajl alone would accept. */
    CHECK_EQ_INT(each("{\"a\":1}\v", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\f\"a\":1}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":1,\v\"b\":2}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_STR(seen, "a|3||1\n");
    CHECK_EQ_INT(each("{\"a\":1}\"", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("[] \"abc", SSS_JSON_ARRAY, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":\"\\ud800\"}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":\"\\udc00\"}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":\"\\ud800\\u0041\"}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"\\ud800\":1}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":[\"\xed\xa0\x80\"]}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":\"\xc0\xaf\"}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":\"\xf4\x90\x80\x80\"}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    /* And what it refuses itself. */
    CHECK_EQ_INT(each("{\"a\":1,}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":01}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":1}/**/", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":1}{}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    CHECK_EQ_INT(each("{\"a\":\"\t\"}", SSS_JSON_OBJECT, 4), SSS_EPROTO);
    /* Well-formed escapes and UTF-8 are fine. */
    CHECK_EQ_INT(each("{\"a\":\"\\ud83d\\ude00\xf0\x9f\x98\x80\\u0000\"}", SSS_JSON_OBJECT, 4), 0);
    CHECK(strncmp(seen, "a|4|\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 12) == 0);
}

/* Count the children, one more for a last "\n2999". */
static int count_n2999(void *data, const struct sss_json_item *it)
{
    int *calls = data;

    (*calls)++;
    if (it->str_len == 5 && memcmp(it->str, "\n2999", 5) == 0)
        (*calls)++;
    return 0;
}

/* 3 KiB of escapes (yajl's decoding buffer grows to 4 KiB), 16 levels: all inside the region. */
static void test_no_heap(void)
{
    static char doc[4000];
    size_t n = 0;
    int i;

    n += (size_t)snprintf(doc, sizeof(doc), "{\"s\":\"");
    for (i = 0; i < 500; i++)
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\\u00e9");
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\",\"x\":");
    sss_test_nest(doc, n, 15);
    setenv("SSS_FAIL_ALLOC", "1", 1);
    sss_alloc_init(); /* the next heap allocation fails */
    CHECK_EQ_INT(each(doc, SSS_JSON_OBJECT, 16), 0);
    CHECK(strncmp(seen, "s|4|\xc3\xa9\xc3\xa9", 8) == 0);
    {
        void *p = sss_malloc(1);

        CHECK(p == NULL); /* still armed: the parse took nothing from the heap */
        sss_free(p);
    }
    unsetenv("SSS_FAIL_ALLOC");
    sss_alloc_init();
    /* A bigger document goes on to the heap, and still reads right. */
    {
        static char big[40000];

        n = 0;
        n += (size_t)snprintf(big, sizeof(big), "[");
        for (i = 0; i < 3000; i++)
            n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"\\n%04d\"", i ? "," : "", i);
        snprintf(big + n, sizeof(big) - n, "]");
        int calls = 0;

        CHECK_EQ_INT(sss_json_each(big, strlen(big), SSS_JSON_ARRAY, 2, SSS_JSON_STRICT, count_n2999,
                                   &calls), 0);
        CHECK_EQ_INT(calls, 3001); /* 3000 elements, and the last one was "\n2999" */
    }
}

/* Each child's key and whether it is loose, as "key:0;" or "key:1;". */
static int record_loose(void *data, const struct sss_json_item *it)
{
    size_t n = strlen(seen);

    (void)data;
    snprintf(seen + n, sizeof(seen) - n, "%.*s:%d;", (int)it->key_len, it->key, it->loose);
    return 0;
}

static int each_loose(const char *doc)
{
    seen[0] = '\0';
    return sss_json_each(doc, strlen(doc), SSS_JSON_OBJECT, 4, SSS_JSON_LOOSE_STRINGS,
                         record_loose, NULL);
}

/* The wire decoder's string rules (the API's boot): lone surrogates pass, marked loose. */
static void test_loose(void)
{
    CHECK_EQ_INT(each_loose("{\"a\":\"\\ud800\",\"b\":\"\\ud83d\\ude00\",\"\\udc00\":1,"
                            "\"c\":[\"\\ud800\"],\"d\":\"\\u0000\"}"),
                 0);
    /* yajl renders the lone \\udc00 of the third key as '?' or CESU bytes. */
    CHECK(strncmp(seen, "a:1;b:0;", 8) == 0 && strstr(seen, ":1;c:0;d:0;"));
    /* Only strings are looser: the rest of the rules stand. */
    CHECK_EQ_INT(each_loose("{\"a\":\"\\ud800\"}\""), SSS_EPROTO);
    CHECK_EQ_INT(each_loose("{\"a\":1}\v"), SSS_EPROTO);
    CHECK_EQ_INT(each_loose("{\"a\":[[[[1]]]]}"), SSS_EPROTO);
    CHECK_EQ_INT(each_loose("[1]"), SSS_EPROTO);
    CHECK_EQ_INT(each_loose("{\"a\":1,}"), SSS_EPROTO);
}

int main(void)
{
    test_object();
    test_array();
    test_depth_and_stop();
    test_strict();
    test_loose();
    test_no_heap();
    return sss_test_done();
}
