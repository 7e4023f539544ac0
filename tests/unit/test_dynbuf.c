/* Unit tests of the growable byte buffer (src/common/sss_dynbuf.h). */
#include "sss_dynbuf.h"
#include "sss_test.h"

#include <stdlib.h>

static void test_append_printf(void)
{
    struct sss_dynbuf b = SSS_DYNBUF_INIT;
    char big[3000];

    CHECK_EQ_INT(sss_dynbuf_append(&b, "ab", 2), 0);
    CHECK_EQ_INT(sss_dynbuf_printf(&b, "-%d-", 42), 0);
    CHECK_EQ_STR(b.data, "ab-42-");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    /* Longer than the room left: grows and formats again. */
    CHECK_EQ_INT(sss_dynbuf_printf(&b, "%s|", big), 0);
    CHECK_EQ_INT(b.len, 6 + sizeof(big) - 1 + 1);
    CHECK(b.data[b.len - 1] == '|' && b.data[b.len] == '\0');
    sss_dynbuf_reset(&b);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_STR(b.data, "");
    sss_dynbuf_fini(&b);
    CHECK(b.data == NULL && b.cap == 0);
}

static void test_storage(void)
{
    struct sss_dynbuf b;
    char small[4];

    sss_dynbuf_init(&b, small, sizeof(small));
    CHECK_EQ_INT(sss_dynbuf_append(&b, "abc", 3), 0); /* 3 bytes and the NUL fit */
    CHECK(b.data == small && !b.heap);
    CHECK_EQ_STR(b.data, "abc");
    CHECK_EQ_INT(sss_dynbuf_append(&b, "d", 1), 0); /* moves to the heap, copying */
    CHECK(b.data != small && b.heap);
    CHECK_EQ_STR(b.data, "abcd");
    sss_dynbuf_consume(&b, 1);
    CHECK_EQ_STR(b.data, "bcd");
    CHECK_EQ_INT(b.len, 3);
    CHECK_EQ_INT(sss_dynbuf_reserve(&b, 10), 0);
    memcpy(b.data + b.len, "ef", 2);
    sss_dynbuf_commit(&b, 2);
    CHECK_EQ_STR(b.data, "bcdef");
    sss_dynbuf_fini(&b);
}

static void test_oom(void)
{
    struct sss_dynbuf b = SSS_DYNBUF_INIT;

    setenv("SSS_FAIL_ALLOC", "1", 1);
    sss_alloc_init();
    CHECK_EQ_INT(sss_dynbuf_append(&b, "x", 1), -ENOMEM);
    CHECK(b.oom);
    unsetenv("SSS_FAIL_ALLOC");
    sss_alloc_init();
    CHECK_EQ_INT(sss_dynbuf_append(&b, "x", 1), -ENOMEM); /* sticky */
    CHECK_EQ_INT(sss_dynbuf_printf(&b, "%d", 1), -ENOMEM);
    sss_dynbuf_reset(&b);
    CHECK_EQ_INT(sss_dynbuf_append(&b, "x", 1), 0);
    CHECK_EQ_STR(b.data, "x");
    sss_dynbuf_fini(&b);
}

int main(void)
{
    test_append_printf();
    test_storage();
    test_oom();
    return sss_test_done();
}
