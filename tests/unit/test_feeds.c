/* Unit tests of the FEED list (src/worker/sss_feeds.c) and of sss_str_copy
 * (src/common/sss_str.h), which it copies topics with: a string that fits
 * exactly is taken, one byte more is refused and leaves everything as it was. */
#include "sss_feeds.h"
#include "sss_str.h"
#include "sss_test.h"

static void test_str_copy(void)
{
    char dst[4] = "zzz";

    CHECK_EQ_INT(sss_str_copy(dst, sizeof(dst), "abc", 3), 0);
    CHECK_EQ_STR(dst, "abc");
    CHECK_EQ_INT(sss_str_copy(dst, sizeof(dst), "wxyz", 4), -1); /* no room for the NUL */
    CHECK_EQ_STR(dst, "abc");                                    /* untouched */
    CHECK_EQ_INT(sss_str_copy(dst, sizeof(dst), NULL, 0), 0);    /* an empty span */
    CHECK_EQ_STR(dst, "");
    CHECK_EQ_INT(sss_str_copy(dst, sizeof(dst), "a\0b", 3), 0); /* bytes as they are */
    CHECK(memcmp(dst, "a\0b", 4) == 0);
}

static void test_feeds_topic_bound(void)
{
    static char topic[SSS_PROTO_TOPIC_MAX + 2];
    struct sss_uid uid = {7, 1};
    struct sss_feeds fl;
    size_t len;

    memset(topic, 't', sizeof(topic) - 1);
    sss_feeds_init(&fl);
    sss_feeds_add(&fl, "news", topic, SSS_PROTO_TOPIC_MAX, sss_proto_span_of("1", 1), &uid);
    CHECK_EQ_INT(fl.n, 1);
    CHECK(!fl.text.oom);
    len = fl.text.len;
    CHECK(len > SSS_PROTO_TOPIC_MAX && fl.len[0] == len);
    /* One byte over the protocol's limit: skipped, the list as it was. */
    sss_feeds_add(&fl, "news", topic, SSS_PROTO_TOPIC_MAX + 1, sss_proto_span_of("2", 1), &uid);
    CHECK_EQ_INT(fl.n, 1);
    CHECK_EQ_INT(fl.text.len, len);
    CHECK(!fl.text.oom);
    sss_feeds_clear(&fl);
    CHECK_EQ_INT(fl.n, 0);
    sss_feeds_fini(&fl);
}

int main(void)
{
    test_str_copy();
    test_feeds_topic_bound();
    return sss_test_done();
}
