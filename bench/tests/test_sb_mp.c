/*
 * Unit test of sb_mp (sss.v1.msgpack in sss-bench) against the server's own
 * transcoder (src/proto/sss_msgpack.c): what sss-bench packs must read, on
 * the server, as the JSON message it stands for; what the server writes
 * (built as JSON, transcoded) must read right in sss-bench; a FEED must be
 * seen as one by its first bytes, with its payload's bytes intact inside;
 * malformed input and small buffers are refused.
 */
#include "sb_mp.h"
#include "sb_check.h"

#include <string.h>

#include "sss_msgpack.h"

/* The server's JSON reading of the msgpack message in buf. */
static int to_json(const char *buf, size_t len, char *out, size_t cap)
{
    struct sss_dynbuf d;
    enum sss_msgpack_error e;
    int rc;

    sss_dynbuf_init(&d, NULL, 0);
    rc = sss_msgpack_to_json(&d, buf, len, &e);
    if (rc == 0)
        snprintf(out, cap, "%.*s", (int)d.len, d.data);
    sss_dynbuf_fini(&d);
    return rc;
}

/* The server's msgpack form of a JSON message, into buf; returns its length (0: failed). */
static size_t from_json(const char *json, char *buf, size_t cap)
{
    struct sss_dynbuf d;
    size_t n = 0;

    sss_dynbuf_init(&d, NULL, 0);
    if (sss_msgpack_from_json(&d, json, strlen(json)) == 0 && d.len <= cap) {
        memcpy(buf, d.data, d.len);
        n = d.len;
    }
    sss_dynbuf_fini(&d);
    return n;
}

static void test_client_messages(void)
{
    char buf[512], json[512];
    const char *payload = "~sb~3:17:123456789:xxxxxxxx";
    size_t n;

    n = sb_mp_begin(buf, sizeof(buf));
    CHECK(n > 0 && to_json(buf, n, json, sizeof(json)) == 0);
    CHECK(strcmp(json, "{\"sys\":3}") == 0);

    n = sb_mp_subscribe(buf, sizeof(buf), "bench-7", 7, 1);
    CHECK(n > 0 && to_json(buf, n, json, sizeof(json)) == 0);
    CHECK(strcmp(json, "{\"sys\":1,\"id\":1,\"channel\":\"bench-7\"}") == 0);

    n = sb_mp_publish(buf, sizeof(buf), "bench-0", 7, "b", payload, strlen(payload), 42);
    CHECK(n > 0 && to_json(buf, n, json, sizeof(json)) == 0);
    CHECK(strcmp(json, "{\"sys\":13,\"channel\":\"bench-0\",\"topic\":\"b\",\"msg\":\"~sb~3:17:"
                       "123456789:xxxxxxxx\",\"id\":42}") == 0);
    /* the payload travels as it is: the marker is in the packed bytes */
    CHECK(memmem(buf, n, payload, strlen(payload)) != NULL);

    n = sb_mp_ask(buf, sizeof(buf), "echo", payload, strlen(payload), 9000000000ULL);
    CHECK(n > 0 && to_json(buf, n, json, sizeof(json)) == 0);
    CHECK(strcmp(json, "{\"sys\":5,\"id\":9000000000,\"topic\":\"echo\",\"msg\":\"~sb~3:17:"
                       "123456789:xxxxxxxx\"}") == 0);

    /* too small a buffer: 0, never a partial message; exactly enough: the message */
    n = sb_mp_publish(buf, sizeof(buf), "bench-0", 7, "b", payload, strlen(payload), 42);
    for (size_t cap = 0; cap < n; cap++)
        CHECK(sb_mp_publish(buf, cap, "bench-0", 7, "b", payload, strlen(payload), 42) == 0);
    CHECK(sb_mp_publish(buf, n, "bench-0", 7, "b", payload, strlen(payload), 42) == n);
    CHECK(sb_mp_begin(buf, 0) == 0);
}

static void test_server_messages(void)
{
    char buf[512];
    struct sb_mp_msg m;
    size_t n;

    n = from_json("{\"sys\":3,\"prot\":{\"hb\":true,\"hbInterval\":30000}}", buf, sizeof(buf));
    CHECK(n > 0 && sb_mp_read(buf, n, &m) == 0);
    CHECK(m.sys == 3 && m.id == -1 && m.result == -1 && !m.err && !sb_mp_is_feed(buf, n));

    n = from_json("{\"sys\":1,\"id\":1,\"channel\":\"bench-3\",\"result\":true,\"lastUid\":null}",
                  buf, sizeof(buf));
    CHECK(n > 0 && sb_mp_read(buf, n, &m) == 0);
    CHECK(m.sys == 1 && m.id == 1 && m.result == 1 && !m.err);

    n = from_json("{\"sys\":1,\"id\":1,\"channel\":\"_x\",\"result\":false,\"err\":{\"name\":"
                  "\"Subscription refused\",\"message\":\"no such channel\"}}",
                  buf, sizeof(buf));
    CHECK(n > 0 && sb_mp_read(buf, n, &m) == 0);
    CHECK(m.sys == 1 && m.result == 0 && m.err && m.text_len == 15 &&
          memcmp(m.text, "no such channel", 15) == 0);

    n = from_json("{\"sys\":7,\"id\":77,\"msg\":{\"uid\":\"E-O\"}}", buf, sizeof(buf));
    CHECK(n > 0 && sb_mp_read(buf, n, &m) == 0);
    CHECK(m.sys == 7 && m.id == 77 && !m.err);

    n = from_json("{\"sys\":7,\"id\":78,\"err\":{\"name\":\"Publish refused\",\"message\":\"no\"}}",
                  buf, sizeof(buf));
    CHECK(n > 0 && sb_mp_read(buf, n, &m) == 0);
    CHECK(m.sys == 7 && m.id == 78 && m.err && m.text_len == 2);

    n = from_json("{\"sys\":14,\"err\":{\"name\":\"Super Scaled Sockets Error\",\"message\":"
                  "\"bad\"},\"id\":\"str\"}",
                  buf, sizeof(buf));
    CHECK(n > 0 && sb_mp_read(buf, n, &m) == 0);
    CHECK(m.sys == 14 && m.id == -1 && m.err); /* a string id is not ours */

    /* a FEED as the server writes it: seen by its first bytes, the payload intact */
    n = from_json("{\"sys\":8,\"channel\":\"bench-0\",\"topic\":\"b\",\"msg\":\"~sb~0:1:5:xx\","
                  "\"uid\":\"E-O\"}",
                  buf, sizeof(buf));
    CHECK(n > 0 && sb_mp_is_feed(buf, n));
    CHECK(memmem(buf, n, "~sb~0:1:5:xx", 12) != NULL);
    CHECK(sb_mp_read(buf, n, &m) == 0 && m.sys == 8);
    /* a FEED with its keys in another order is still one for sb_mp_read */
    n = from_json("{\"channel\":\"bench-0\",\"sys\":8,\"msg\":\"x\"}", buf, sizeof(buf));
    CHECK(n > 0 && !sb_mp_is_feed(buf, n) && sb_mp_read(buf, n, &m) == 0 && m.sys == 8);
    /* a map16 FEED (16 keys or more) */
    n = from_json("{\"sys\":8,\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,"
                  "\"i\":1,\"j\":1,\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1}",
                  buf, sizeof(buf));
    CHECK(n > 0 && (unsigned char)buf[0] == 0xde && sb_mp_is_feed(buf, n));
}

static void test_malformed(void)
{
    char buf[512];
    struct sb_mp_msg m;
    size_t n = from_json("{\"sys\":7,\"id\":77}", buf, sizeof(buf));

    CHECK(sb_mp_read(buf, n - 1, &m) == -1); /* truncated */
    buf[n] = (char)0xc0;
    CHECK(sb_mp_read(buf, n + 1, &m) == -1); /* trailing bytes */
    CHECK(sb_mp_read("\x93\x01\x02\x03", 4, &m) == -1); /* an array */
    CHECK(sb_mp_read("\xc1", 1, &m) == -1);
    CHECK(sb_mp_read("", 0, &m) == -1);
    CHECK(!sb_mp_is_feed("h", 1) && !sb_mp_is_feed("", 0));
    CHECK(!sb_mp_is_feed("\x81\xa3sys\x07", 6));
}

int main(void)
{
    test_client_messages();
    test_server_messages();
    test_malformed();
    return sb_check_done("test_sb_mp");
}
