/* Unit tests of the envelopes between hosts (src/scaler/sss_envelope.c). */
#include "sss_envelope.h"
#include "sss_err.h"
#include "sss_test.h"

#include <stdlib.h>

/* A whole envelope as Redis delivers it: the script's head, then our tail. */
static size_t build(char *out, const char *uid, const char *chan, int32_t worker)
{
    msgpack_sbuffer sb;
    size_t n;

    msgpack_sbuffer_init(&sb);
    sss_envelope_pack_tail(&sb, chan, strlen(chan), "top", 3, "{\"a\":1}", 7, "h1", 2, worker,
                           1234567890123ULL, 5);
    n = sss_envelope_head(out, uid, strlen(uid));
    memcpy(out + n, sb.data, sb.size);
    n += sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

static void test_roundtrip(void)
{
    char buf[256];
    size_t n = build(buf, "1700000000000-42", "news", 3);
    struct sss_envelope e;

    CHECK_EQ_INT(sss_envelope_decode(buf, n, &e), 0);
    CHECK(e.uid.epoch == 1700000000000ULL && e.uid.offset == 42);
    CHECK(e.chan_len == 4 && !memcmp(e.chan, "news", 4));
    CHECK(e.topic_len == 3 && !memcmp(e.topic, "top", 3));
    CHECK(e.msg_len == 7 && !memcmp(e.msg, "{\"a\":1}", 7));
    CHECK(e.host_len == 2 && !memcmp(e.host, "h1", 2));
    CHECK(e.worker == 3 && e.conn == 1234567890123ULL && e.flags == 5);
    CHECK(e.msg >= buf && e.msg + e.msg_len <= buf + n); /* points into the input */
    n = build(buf, "1-1", "x", -1);
    CHECK_EQ_INT(sss_envelope_decode(buf, n, &e), 0);
    CHECK_EQ_INT(e.worker, -1);
}

static void test_malformed(void)
{
    char buf[256], bad[300];
    size_t n = build(buf, "5-6", "news", 1);
    struct sss_envelope e;

    /* Every truncation and one byte too many. */
    for (size_t k = 0; k < n; k++)
        CHECK_EQ_INT(sss_envelope_decode(buf, k, &e), SSS_EPROTO);
    memcpy(bad, buf, n);
    bad[n] = 0;
    CHECK_EQ_INT(sss_envelope_decode(bad, n + 1, &e), SSS_EPROTO);
    /* A bad uid, a bad channel name, another version. */
    n = build(buf, "5-x", "news", 1);
    CHECK_EQ_INT(sss_envelope_decode(buf, n, &e), SSS_EPROTO);
    n = build(buf, "5-6", "bad name", 1);
    CHECK_EQ_INT(sss_envelope_decode(buf, n, &e), SSS_EPROTO);
    n = build(buf, "5-6", "news", 1);
    memcpy(bad, buf, n);
    CHECK((unsigned char)bad[3 + 3] == SSS_ENVELOPE_VERSION); /* after the head "5-6" */
    bad[6] = 2;
    CHECK_EQ_INT(sss_envelope_decode(bad, n, &e), SSS_EPROTO);
    /* An array declared with 2^32-1 elements where a scalar belongs: refused
     * before msgpack-c could try to allocate it. */
    {
        const unsigned char huge[] = {0x99, 0xa3, '1', '-', '1', 0xdd, 0xff, 0xff, 0xff, 0xff};

        CHECK_EQ_INT(sss_envelope_decode((const char *)huge, sizeof(huge), &e), SSS_EPROTO);
    }
    /* Not a 9-array at all. */
    CHECK_EQ_INT(sss_envelope_decode("\x92\x01\x02", 3, &e), SSS_EPROTO);
    CHECK_EQ_INT(sss_envelope_decode("", 0, &e), SSS_EPROTO);
}

static void test_control(void)
{
    msgpack_sbuffer sb;
    const char *rec;
    size_t len;
    uint32_t type;

    msgpack_sbuffer_init(&sb);
    sss_envelope_pack_control(&sb, 65, "\x01\x02\x00rec", 6);
    CHECK_EQ_INT(sss_envelope_decode_control(sb.data, sb.size, &type, &rec, &len), 0);
    CHECK(type == 65 && len == 6 && !memcmp(rec, "\x01\x02\x00rec", 6));
    for (size_t k = 0; k < sb.size; k++)
        CHECK_EQ_INT(sss_envelope_decode_control(sb.data, k, &type, &rec, &len), SSS_EPROTO);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    test_roundtrip();
    test_malformed();
    test_control();
    return sss_test_done();
}
