/*
 * Tests of the sss.v1.msgpack transcoder (src/proto/sss_msgpack.c):
 *   - the vectors of tests/vectors/msgpack/: each file is the MessagePack
 *     form of the same-named JSON vector; JSON -> MessagePack gives its bytes
 *     and MessagePack -> JSON gives the JSON vector's bytes;
 *   - values: integers at every width, floats (float32 in its shortest form,
 *     always with a '.' or exponent), bin as base64, str with NUL, key order;
 *   - every refusal, with its error and return code, before any allocation:
 *     counts and lengths beyond the frame, depth 33, non-string keys, ext,
 *     NaN, trailing bytes, 0xc1, a top that is not a map; depth 32 accepted.
 */
#include "sss_msgpack.h"
#include "sss_alloc.h"
#include "sss_test.h"
#include "sss_test_file.h"

#include <dirent.h>
#include <stdlib.h>

#define VECTORS SSS_SOURCE_DIR "/tests/vectors"

static int to_json(const void *mp, size_t len, char *out, size_t cap, enum sss_msgpack_error *e)
{
    struct sss_dynbuf b;
    int rc;

    sss_dynbuf_init(&b, NULL, 0);
    rc = sss_msgpack_to_json(&b, mp, len, e);
    snprintf(out, cap, "%.*s", (int)b.len, b.data ? b.data : "");
    sss_dynbuf_fini(&b);
    return rc;
}

/* JSON -> MessagePack -> JSON must give back the same text. */
static void roundtrip(const char *json, const char *want_mp, size_t want_len)
{
    struct sss_dynbuf mp;
    enum sss_msgpack_error e;
    char back[4096];

    sss_dynbuf_init(&mp, NULL, 0);
    CHECK_EQ_INT(sss_msgpack_from_json(&mp, json, strlen(json)), 0);
    if (want_mp) {
        CHECK(mp.len == want_len && memcmp(mp.data, want_mp, want_len) == 0);
        if (mp.len != want_len || memcmp(mp.data, want_mp, want_len) != 0) {
            fprintf(stderr, "  %s ->", json);
            for (size_t i = 0; i < mp.len; i++)
                fprintf(stderr, " %02x", (unsigned char)mp.data[i]);
            fprintf(stderr, "\n");
        }
    }
    CHECK_EQ_INT(to_json(mp.data, mp.len, back, sizeof(back), &e), 0);
    CHECK_EQ_STR(back, json);
    sss_dynbuf_fini(&mp);
}

static void test_values(void)
{
    char out[256];
    enum sss_msgpack_error e;

    roundtrip("{\"sys\":8}", "\x81\xa3sys\x08", 6);
    roundtrip("{\"a\":-1,\"b\":-33,\"c\":127,\"d\":128,\"e\":65536,\"f\":-2147483649}",
              "\x86\xa1" "a\xff\xa1" "b\xd0\xdf\xa1" "c\x7f\xa1" "d\xcc\x80\xa1"
              "e\xce\x00\x01\x00\x00\xa1" "f\xd3\xff\xff\xff\xff\x7f\xff\xff\xff",
              33);
    roundtrip("{\"u\":18446744073709551615,\"i\":-9223372036854775808}", NULL, 0);
    roundtrip("{\"f\":0.5,\"g\":1.0,\"h\":1e+300,\"k\":-2.5e-07}", NULL, 0);
    roundtrip("{\"s\":\"h\xc3\xa9llo \\\"q\\\" \\n\\u0000\",\"n\":null,\"t\":true,\"x\":false}",
              NULL, 0);
    roundtrip("{\"z\":1,\"a\":[[],{},[{\"b\":[1]}]]}", NULL, 0);
    /* Beyond 64 bits, and fractions: float64. */
    {
        struct sss_dynbuf mp;
        const char *j = "{\"b\":123456789012345678901234567890}";

        sss_dynbuf_init(&mp, NULL, 0);
        CHECK_EQ_INT(sss_msgpack_from_json(&mp, j, strlen(j)), 0);
        CHECK(mp.len == 12 && (unsigned char)mp.data[3] == 0xcb);
        CHECK_EQ_INT(to_json(mp.data, mp.len, out, sizeof(out), &e), 0);
        CHECK_EQ_STR(out, "{\"b\":1.2345678901234568e+29}");
        sss_dynbuf_fini(&mp);
    }
    /* float32 0.1 in its own shortest form; bin as base64; str with a NUL. */
    CHECK_EQ_INT(to_json("\x81\xa1" "f\xca\x3d\xcc\xcc\xcd", 8, out, sizeof(out), &e), 0);
    CHECK_EQ_STR(out, "{\"f\":0.1}");
    CHECK_EQ_INT(to_json("\x82\xa1" "b\xc4\x04\x00\x01\xfe\xff\xa1" "e\xc4\x00", 13, out,
                         sizeof(out), &e),
                 0);
    CHECK_EQ_STR(out, "{\"b\":\"AAH+/w==\",\"e\":\"\"}");
    CHECK_EQ_INT(to_json("\x81\xa1s\xa3" "a\x00" "b", 7, out, sizeof(out), &e), 0);
    CHECK_EQ_STR(out, "{\"s\":\"a\\u0000b\"}");
    /* Not one JSON object. */
    {
        struct sss_dynbuf mp;

        sss_dynbuf_init(&mp, NULL, 0);
        CHECK_EQ_INT(sss_msgpack_from_json(&mp, "[1]", 3), SSS_EPROTO);
        sss_dynbuf_reset(&mp);
        CHECK_EQ_INT(sss_msgpack_from_json(&mp, "{\"a\":", 5), SSS_EPROTO);
        sss_dynbuf_fini(&mp);
    }
}

struct bad {
    const char *what;
    const char *mp;
    size_t len;
    int rc;
    enum sss_msgpack_error err;
};

static void test_refusals(void)
{
    static const struct bad bad[] = {
        {"empty", "", 0, SSS_EPROTO, SSS_MSGPACK_E_NOT_MAP},
        {"0xc1", "\xc1", 1, SSS_EPROTO, SSS_MSGPACK_E_MALFORMED},
        {"an array", "\x91\x01", 2, SSS_EPROTO, SSS_MSGPACK_E_NOT_MAP},
        {"truncated map", "\x82\xa3sys\x01", 6, SSS_EPROTO, SSS_MSGPACK_E_MALFORMED},
        {"truncated str", "\x81\xa3sys\xa5" "ab", 8, SSS_EPROTO, SSS_MSGPACK_E_LENGTH},
        {"truncated uint64", "\x81\xa1" "a\xcf\x00", 5, SSS_EPROTO, SSS_MSGPACK_E_MALFORMED},
        {"trailing", "\x80\x00", 2, SSS_EPROTO, SSS_MSGPACK_E_TRAILING},
        {"map32 of 2^32-1", "\xdf\xff\xff\xff\xff", 5, SSS_EPROTO, SSS_MSGPACK_E_LENGTH},
        {"array32 of 2^32-1", "\x81\xa1" "a\xdd\xff\xff\xff\xff", 8, SSS_EPROTO,
         SSS_MSGPACK_E_LENGTH},
        {"map16 over the frame", "\x81\xa1" "a\xde\x00\x10\x01", 7, SSS_EPROTO,
         SSS_MSGPACK_E_LENGTH},
        {"str32 of 2^32-1", "\x81\xa1" "a\xdb\xff\xff\xff\xff", 8, SSS_EPROTO,
         SSS_MSGPACK_E_LENGTH},
        {"bin32 of 2^31", "\x81\xa1" "a\xc6\x80\x00\x00\x00", 8, SSS_EPROTO,
         SSS_MSGPACK_E_LENGTH},
        {"int key", "\x81\x01\x01", 3, SSS_EPROTO, SSS_MSGPACK_E_KEY},
        {"nil key deep", "\x81\xa1" "a\x81\xc0\x01", 6, SSS_EPROTO, SSS_MSGPACK_E_KEY},
        {"bin key", "\x81\xc4\x01" "a\x01", 5, SSS_EPROTO, SSS_MSGPACK_E_KEY},
        {"fixext", "\x81\xa1" "a\xd4\x01\x00", 6, SSS_EPROTO, SSS_MSGPACK_E_EXT},
        {"ext8", "\x81\xa1" "a\xc7\x01\x05\x00", 7, SSS_EPROTO, SSS_MSGPACK_E_EXT},
        {"NaN", "\x81\xa1" "a\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 12, SSS_EPROTO,
         SSS_MSGPACK_E_FLOAT},
        {"float32 inf", "\x81\xa1" "a\xca\x7f\x80\x00\x00", 8, SSS_EPROTO, SSS_MSGPACK_E_FLOAT},
    };
    char out[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum sss_msgpack_error e = SSS_MSGPACK_OK;
        int rc = to_json(bad[i].mp, bad[i].len, out, sizeof(out), &e);

        CHECK_EQ_INT(rc, bad[i].rc);
        CHECK_EQ_INT((int)e, (int)bad[i].err);
        if (rc != bad[i].rc || e != bad[i].err)
            fprintf(stderr, "  %s: rc %d err %s\n", bad[i].what, rc, sss_msgpack_strerror(e));
    }
}

/* {"a":[[...[nil]...]]} with `arrays` arrays: depth arrays + 1. */
static void test_depth(void)
{
    unsigned char buf[64];
    char out[256];
    enum sss_msgpack_error e;
    size_t n = 0;

    buf[n++] = 0x81;
    buf[n++] = 0xa1;
    buf[n++] = 'a';
    for (int i = 0; i < SSS_MSGPACK_MAX_DEPTH - 1; i++)
        buf[n++] = 0x91;
    buf[n++] = 0xc0;
    CHECK_EQ_INT(to_json(buf, n, out, sizeof(out), &e), 0); /* 32 deep: msgpack-c's limit */
    memmove(buf + 4, buf + 3, n - 3);
    buf[3] = 0x91;
    CHECK_EQ_INT(to_json(buf, n + 1, out, sizeof(out), &e), SSS_ELIMIT);
    CHECK_EQ_INT((int)e, (int)SSS_MSGPACK_E_DEPTH);
}

static void test_vectors(void)
{
    static const char *const sides[] = {"client", "server"};
    int ran = 0;

    for (int s = 0; s < 2; s++) {
        char dir[1024], path[2048];
        struct dirent *de;
        DIR *d;

        snprintf(dir, sizeof(dir), "%s/msgpack/%s", VECTORS, sides[s]);
        d = opendir(dir);
        CHECK(d != NULL);
        if (!d)
            continue;
        while ((de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name), mlen = 0, jlen = 0;
            char *mp, *js;
            struct sss_dynbuf a, b;
            enum sss_msgpack_error e;

            if (n < 9 || strcmp(de->d_name + n - 8, ".msgpack") != 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            mp = sss_test_read_file(path, &mlen);
            snprintf(path, sizeof(path), "%s/%s/%.*s.json", VECTORS, sides[s], (int)(n - 8),
                     de->d_name);
            js = sss_test_read_file(path, &jlen);
            CHECK(mp && js);
            if (!mp || !js)
                goto next;
            sss_dynbuf_init(&a, NULL, 0);
            sss_dynbuf_init(&b, NULL, 0);
            CHECK_EQ_INT(sss_msgpack_from_json(&a, js, jlen), 0);
            CHECK(a.len == mlen && memcmp(a.data, mp, mlen) == 0);
            CHECK_EQ_INT(sss_msgpack_to_json(&b, mp, mlen, &e), 0);
            CHECK(b.len == jlen && memcmp(b.data, js, jlen) == 0);
            if (a.len != mlen || memcmp(a.data, mp, mlen) || b.len != jlen ||
                memcmp(b.data, js, jlen))
                fprintf(stderr, "  %s/%s differs\n", sides[s], de->d_name);
            sss_dynbuf_fini(&a);
            sss_dynbuf_fini(&b);
            ran++;
        next:
            sss_free(mp);
            sss_free(js);
        }
        closedir(d);
    }
    printf("msgpack vectors: %d\n", ran);
    CHECK(ran >= 30);
}

int main(void)
{
    sss_alloc_init();
    test_values();
    test_refusals();
    test_depth();
    test_vectors();
    return sss_test_done();
}
