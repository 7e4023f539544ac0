/* Unit test: payload encode/decode, padding ('x' and text), and the JSON integer finder. */
#include "sb.h"
#include "sb_check.h"

#include <zlib.h>

/* --payload text: exact size, printable, nothing a JSON string or the marker search would
 * trip on, different per message, and deflating to about half (like chat text), where 'x'
 * padding deflates to almost nothing. */
static void test_text(void)
{
    static char a[4096], b[4096];
    static unsigned char z[8192];
    uLongf zl;
    size_t hl, n;
    uint64_t pub, seq, t;

    for (size_t size = 0; size <= 2048; size += size < 40 ? 1 : 97) {
        n = sb_payload_encode(a, sizeof(a), size, 3, 17, 999, SB_PAYLOAD_TEXT);
        hl = strlen("~sb~3:17:999:");
        CHECK(n == (size > hl ? size : hl));
        CHECK(sb_payload_decode(a, n, &pub, &seq, &t) == hl && pub == 3 && seq == 17);
        for (size_t i = 0; i < n; i++)
            CHECK(a[i] >= 32 && a[i] < 127 && a[i] != '"' && a[i] != '\\');
        CHECK(memmem(a + 1, n - 1, SB_MARK, SB_MARK_LEN) == NULL);
    }
    n = sb_payload_encode(a, sizeof(a), 512, 3, 17, 999, SB_PAYLOAD_TEXT);
    CHECK(sb_payload_encode(b, sizeof(b), 512, 3, 18, 999, SB_PAYLOAD_TEXT) == n);
    CHECK(memcmp(a + 20, b + 20, n - 20) != 0);
    CHECK(sb_payload_encode(b, sizeof(b), 512, 3, 17, 999, SB_PAYLOAD_TEXT) == n &&
          memcmp(a, b, n) == 0); /* the same (pub, seq): the same text */
    zl = sizeof(z);
    CHECK(compress2(z, &zl, (const Bytef *)a, n, 1) == Z_OK);
    CHECK(zl > n * 35 / 100 && zl < n * 75 / 100);
    n = sb_payload_encode(b, sizeof(b), 512, 3, 17, 999, SB_PAYLOAD_X);
    zl = sizeof(z);
    CHECK(compress2(z, &zl, (const Bytef *)b, n, 1) == Z_OK && zl < n / 8);
}

/* A fresh tracker (counts in r, state in q) fed the n sequence numbers seqs. */
static void track(struct sb_result *r, struct sb_seq *q, const uint64_t *seqs, size_t n)
{
    memset(r, 0, sizeof(*r));
    memset(q, 0, sizeof(*q));
    for (size_t i = 0; i < n; i++)
        sb_track_seq(r, q, seqs[i]);
}

int main(void)
{
    char buf[256];
    uint64_t pub, seq, t;
    size_t n, hl;

    n = sb_payload_encode(buf, sizeof(buf), 100, 7, 42, 123456789012345ULL, SB_PAYLOAD_X);
    CHECK(n == 100);
    CHECK(memcmp(buf, "~sb~7:42:123456789012345:", 25) == 0);
    for (size_t i = 25; i < n; i++)
        CHECK(buf[i] == 'x');
    hl = sb_payload_decode(buf, n, &pub, &seq, &t);
    CHECK(hl == 25);
    CHECK(pub == 7 && seq == 42 && t == 123456789012345ULL);

    /* A size below the header: the header alone. */
    n = sb_payload_encode(buf, sizeof(buf), 0, 0, 1, 5, SB_PAYLOAD_X);
    CHECK(n == strlen("~sb~0:1:5:"));
    CHECK(sb_payload_decode(buf, n, &pub, &seq, &t) == n && pub == 0 && seq == 1 && t == 5);

    /* Too small a destination. */
    CHECK(sb_payload_encode(buf, 10, 100, 1, 1, 1, SB_PAYLOAD_X) == 0);

    /* The largest numbers round-trip. */
    n = sb_payload_encode(buf, sizeof(buf), 64, UINT64_MAX, UINT64_MAX - 1, UINT64_MAX,
                          SB_PAYLOAD_X);
    CHECK(sb_payload_decode(buf, n, &pub, &seq, &t) > 0);
    CHECK(pub == UINT64_MAX && seq == UINT64_MAX - 1 && t == UINT64_MAX);

    /* Inside JSON (as a FEED carries it) and truncated or broken ones. */
    {
        const char *feed = "{\"sys\":8,\"channel\":\"bench-1\",\"msg\":\"~sb~3:9:77:xx\",\"uid\":\"1-2\"}";
        const char *m = memmem(feed, strlen(feed), SB_MARK, SB_MARK_LEN);

        CHECK(m && sb_payload_decode(m, strlen(m), &pub, &seq, &t) > 0);
        CHECK(pub == 3 && seq == 9 && t == 77);
    }
    CHECK(sb_payload_decode("~sb~1:2:3", 9, &pub, &seq, &t) == 0); /* no final ':' */
    CHECK(sb_payload_decode("~sb~1:2:", 8, &pub, &seq, &t) == 0);
    CHECK(sb_payload_decode("~sb~a:2:3:", 10, &pub, &seq, &t) == 0);
    CHECK(sb_payload_decode("~sb~:2:3:", 9, &pub, &seq, &t) == 0);
    CHECK(sb_payload_decode("~sx~1:2:3:", 10, &pub, &seq, &t) == 0);
    CHECK(sb_payload_decode("~sb", 3, &pub, &seq, &t) == 0);

    /* sb_json_uint */
    {
        const char *r = "{\"sys\":7,\"id\": 1234,\"msg\":{\"uid\":\"1-5\"}}";

        CHECK(sb_json_uint(r, strlen(r), "\"sys\"") == 7);
        CHECK(sb_json_uint(r, strlen(r), "\"id\"") == 1234);
        CHECK(sb_json_uint(r, strlen(r), "\"uid\"") == -1); /* a string */
        CHECK(sb_json_uint(r, strlen(r), "\"nope\"") == -1);
        CHECK(sb_json_uint("{\"sys\":8", 8, "\"sys\"") == 8);
        CHECK(sb_json_uint("{\"sys\":", 7, "\"sys\"") == -1);
    }

    /* channel names and the number writer */
    {
        char *p = buf;

        CHECK(sb_channel_name(buf, sizeof(buf), 12) == 8 && strcmp(buf, "bench-12") == 0);
        p = sb_put_u64(p, 0);
        p = SB_PUTS(p, ",");
        p = sb_put_u64(p, 18446744073709551615ULL);
        *p = 0;
        CHECK(strcmp(buf, "0,18446744073709551615") == 0);
    }
    /* Sequence tracking: in order, gaps, late arrivals, duplicates (within 64 and beyond). */
    {
        static struct sb_result r;
        struct sb_seq q;
        const uint64_t in_order[] = {1, 2, 3, 4};
        const uint64_t mixed[] = {1, 3, 2, 2, 3, 5, 4, 4};
        const uint64_t wide[] = {
            1,
            100, /* 98 skipped */
            1,   /* 99 below: beyond the mask, counted late */
            60,  /* late, within the mask */
            60,  /* now a duplicate */
            99,
            164, /* shift by 64: 100 stays at bit 63 */
            100, /* duplicate */
            101, /* late */
        };
        const uint64_t from_five[] = {5};

        track(&r, &q, in_order, 4);
        CHECK(r.gaps == 0 && r.duplicates == 0 && r.reordered == 0);

        track(&r, &q, mixed, 8);
        /* 3 skips 2 (gap), 2 late, 2 again dup, 3 dup, 5 skips 4 (gap), 4 late, 4 dup */
        CHECK(r.gaps == 2);
        CHECK(r.reordered == 2);
        CHECK(r.duplicates == 3);

        track(&r, &q, wide, sizeof(wide) / sizeof(wide[0]));
        CHECK(r.gaps == 98 + 63);
        CHECK(r.reordered == 4);
        CHECK(r.duplicates == 2);
        CHECK(q.last == 164);

        /* a first message that is not 1: the ones before it are gaps */
        track(&r, &q, from_five, 1);
        CHECK(r.gaps == 4 && q.last == 5 && q.mask == 0);
    }
    test_text();
    return sb_check_done("test_sb_payload");
}
