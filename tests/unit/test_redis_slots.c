/*
 * Unit tests of sss_redis_slots: CRC16 and key slots against the values
 * Redis gives (CLUSTER KEYSLOT), hash tags, a CLUSTER SLOTS reply read
 * through hiredis's own reader, and MOVED / ASK redirections.
 */
#include "sss_err.h"
#include "sss_redis_slots.h"
#include "sss_test.h"

#include <string.h>

static redisReply *read_reply(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    void *r = NULL;

    redisReaderFeed(rd, resp, strlen(resp));
    if (redisReaderGetReply(rd, &r) != REDIS_OK)
        r = NULL;
    redisReaderFree(rd);
    return r;
}

static void test_slots(void)
{
    CHECK_EQ_INT(sss_redis_crc16("123456789", 9), 0x31C3); /* the XModem check value */
    CHECK_EQ_INT(sss_redis_key_slot("foo", 3), 12182);      /* CLUSTER KEYSLOT foo */
    CHECK_EQ_INT(sss_redis_key_slot("sss:{a}", 7), 15495);  /* measured on redis 7.0 */
    CHECK_EQ_INT(sss_redis_key_slot("sss:{b}", 7), 3300);
    CHECK_EQ_INT(sss_redis_key_slot("sss:{a}:h", 9), sss_redis_key_slot("a", 1));
    CHECK_EQ_INT(sss_redis_key_slot("{user1000}.following", 20),
                 sss_redis_key_slot("{user1000}.followers", 20));
    /* An empty tag hashes the whole key, as Redis does. */
    CHECK_EQ_INT(sss_redis_key_slot("{}x", 3), sss_redis_crc16("{}x", 3) & 16383);
    CHECK_EQ_INT(sss_redis_key_slot("a{", 2), sss_redis_crc16("a{", 2) & 16383);
}

static void test_parse(void)
{
    struct sss_redis_range rg[4];
    redisReply *r = read_reply("*2\r\n"
                               "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n"
                               "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nid\r\n"
                               "*3\r\n:5461\r\n:16383\r\n*2\r\n$0\r\n\r\n:7002\r\n");

    CHECK(r != NULL);
    CHECK_EQ_INT(sss_redis_slots_parse(r, rg, 4), 2);
    CHECK_EQ_INT(rg[0].start, 0);
    CHECK_EQ_INT(rg[0].end, 5460);
    CHECK_EQ_STR(rg[0].host, "127.0.0.1");
    CHECK_EQ_INT(rg[0].port, 7001);
    CHECK_EQ_STR(rg[1].host, "");
    CHECK_EQ_INT(rg[1].port, 7002);
    CHECK_EQ_INT(sss_redis_slots_parse(r, rg, 1), SSS_EPROTO); /* more ranges than room */
    freeReplyObject(r);
    r = read_reply("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n");
    CHECK_EQ_INT(sss_redis_slots_parse(r, rg, 4), SSS_EPROTO); /* slot out of range */
    freeReplyObject(r);
    r = read_reply("-ERR This instance has cluster support disabled\r\n");
    CHECK_EQ_INT(sss_redis_slots_parse(r, rg, 4), SSS_EPROTO);
    freeReplyObject(r);
    CHECK_EQ_INT(sss_redis_slots_parse(NULL, rg, 4), SSS_EPROTO);
}

static void test_redirect(void)
{
    char host[64];
    int ask = -1, slot = -1, port = -1;
    const char *m = "MOVED 3300 127.0.0.1:31001", *a = "ASK 12 ::1:7000";

    CHECK_EQ_INT(sss_redis_redirect_parse(m, strlen(m), &ask, &slot, host, sizeof(host), &port), 1);
    CHECK_EQ_INT(ask, 0);
    CHECK_EQ_INT(slot, 3300);
    CHECK_EQ_STR(host, "127.0.0.1");
    CHECK_EQ_INT(port, 31001);
    CHECK_EQ_INT(sss_redis_redirect_parse(a, strlen(a), &ask, &slot, host, sizeof(host), &port), 1);
    CHECK_EQ_INT(ask, 1);
    CHECK_EQ_STR(host, "::1");
    CHECK_EQ_INT(port, 7000);
    CHECK_EQ_INT(sss_redis_redirect_parse("ERR x", 5, &ask, &slot, host, sizeof(host), &port), 0);
    CHECK_EQ_INT(sss_redis_redirect_parse("MOVED 16384 h:1", 15, &ask, &slot, host, sizeof(host),
                                          &port),
                 0);
    CHECK_EQ_INT(
        sss_redis_redirect_parse("MOVED 1 h:0", 11, &ask, &slot, host, sizeof(host), &port), 0);
    CHECK_EQ_INT(sss_redis_redirect_parse("MOVED 1 hostonly", 16, &ask, &slot, host, sizeof(host),
                                          &port),
                 0);
}

int main(void)
{
    test_slots();
    test_parse();
    test_redirect();
    return sss_test_done();
}
