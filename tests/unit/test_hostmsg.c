/*
 * Unit tests of the host messages (src/proto/sss_hostmsg.c): every record
 * type packs and unpacks to the same fields and bytes; every truncation, every
 * extra byte and every lying length is refused with its code; the dispatcher
 * calls the right handler, counts refusals and never hands out a bad record;
 * a packed record crosses a mailbox ring through the outbox intact. Records
 * under test are also unpacked flush against a PROT_NONE page, so a read
 * past their end faults.
 */
#include "sss_hostmsg.h"
#include "sss_alloc.h"
#include "sss_log.h"
#include "sss_ring.h"
#include "sss_test.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static const struct sss_uid U1 = {1700000000000ull, 42}, U2 = {7, 9};

/* One packed sample of every record type (strings are static). */
static int sample(uint32_t type, struct sss_hm_rec *r)
{
    switch (type) {
    case SSS_HM_PUBLISH:
        return sss_hm_pack_publish(r, 11, 12, SSS_HM_WANT_REPLY, "chan", 4, "topic", 5,
                                   "{\"a\":1}", 7);
    case SSS_HM_LAST_UID:
        return sss_hm_pack_last_uid(r, 13, "room:1", 6);
    case SSS_HM_HISTORY:
        return sss_hm_pack_history(r, 14, &U1, "news", 4);
    case SSS_HM_BROADCAST:
        return sss_hm_pack_broadcast(r, "t", 1, "[1,2]", 5);
    case SSS_HM_HELLO:
        sss_hm_pack_hello(r, 4242);
        return 0;
    case SSS_HM_PRESENCE:
        return sss_hm_pack_presence(r, -1, "chat", 4, "alice", 5);
    case SSS_HM_SESSION:
        return sss_hm_pack_session(r, SSS_HM_SESSION_SUB, "sid-1", 5, "chat", 4, "bob", 3, &U2);
    case SSS_HM_SESSION_LOAD:
        return sss_hm_pack_session_load(r, 15, "sid-2", 5);
    case SSS_HM_BOOT:
        return sss_hm_pack_boot(r, SSS_HM_BOOT_USER, "carol", 5, "bye", 3);
    case SSS_HM_RESYNC:
        sss_hm_pack_resync(r, 4343);
        return 0;
    case SSS_HM_PUBLISHED:
        sss_hm_pack_published(r, 16, SSS_ELIMIT, U1);
        return 0;
    case SSS_HM_LAST_UID_R:
        sss_hm_pack_last_uid_r(r, 17, 1, U2);
        return 0;
    case SSS_HM_HIST_REC:
        return sss_hm_pack_hist_rec(r, 18, U1, "tp", 2, "\"m\"", 3);
    case SSS_HM_HIST_END:
        sss_hm_pack_hist_end(r, 19, 0, 1, 1, U2);
        return 0;
    case SSS_HM_SESSION_ENTRY:
        return sss_hm_pack_session_entry(r, 20, &U1, "chan-x", 6);
    case SSS_HM_SESSION_END:
        sss_hm_pack_session_end(r, 21, 1, 1);
        return 0;
    case SSS_HM_FEED:
        return sss_hm_pack_feed(r, U1, 3, 99, SSS_HM_SKIP_SENDER, "feed", 4, "top", 3, "{}", 2);
    case SSS_HM_BCAST_RECORD:
        return sss_hm_pack_bcast_record(r, "bt", 2, "null", 4);
    case SSS_HM_BOOT_RECORD:
        return sss_hm_pack_boot_record(r, SSS_HM_BOOT_CHANNEL, "room", 4, "", 0);
    case SSS_HM_GAP_RECORD:
        return sss_hm_pack_gap_record(r, "lost", 4);
    case SSS_HM_TELL:
        return sss_hm_pack_tell(r, 0x0001000200000003ull, 0x5e0c13a7u, "h1:80", 5, "tt", 2,
                                "{\"x\":[1]}", 9);
    case SSS_HM_TELL_CONN:
        return sss_hm_pack_tell_conn(r, 0x0000000200000004ull, 7, "tc", 2, "true", 4);
    case SSS_HM_TELL_RECORD:
        return sss_hm_pack_tell_record(r, 5, 0xffffffffu, "a@b:c", 5, "tr", 2, "\"s\"", 3);
    }
    return -1;
}

static const uint32_t types[] = {
    SSS_HM_PUBLISH,    SSS_HM_LAST_UID,     SSS_HM_HISTORY,      SSS_HM_BROADCAST,
    SSS_HM_HELLO,      SSS_HM_PRESENCE,     SSS_HM_SESSION,      SSS_HM_SESSION_LOAD,
    SSS_HM_BOOT,       SSS_HM_RESYNC,       SSS_HM_PUBLISHED,    SSS_HM_LAST_UID_R,
    SSS_HM_HIST_REC,   SSS_HM_HIST_END,     SSS_HM_SESSION_ENTRY, SSS_HM_SESSION_END,
    SSS_HM_FEED,       SSS_HM_BCAST_RECORD, SSS_HM_BOOT_RECORD,  SSS_HM_GAP_RECORD,
    SSS_HM_TELL,       SSS_HM_TELL_CONN,    SSS_HM_TELL_RECORD,
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static size_t fixed_size(uint32_t type)
{
    struct sss_hm_rec r;

    if (sample(type, &r) < 0)
        return 0;
    return sss_hm_rec_size(&r) - r.v[0].len - r.v[1].len - r.v[2].len;
}

/* A page of bytes followed by a page nobody may touch. */
static unsigned char *guarded;
static size_t page;

static const void *at_guard(const void *p, size_t len)
{
    unsigned char *dst = guarded + page - len;

    if (len)
        memcpy(dst, p, len);
    return dst;
}

static int same_span(struct sss_hm_span a, struct sss_hm_span b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static void round_trip(void)
{
    for (size_t i = 0; i < NTYPES; i++) {
        struct sss_hm_rec r, u;
        struct iovec iov[1 + SSS_HM_MAX_PARTS];
        unsigned char buf[256], cat[256];
        size_t size, off = 0;
        long n;
        int niov;

        CHECK_EQ_INT(sample(types[i], &r), 0);
        size = sss_hm_rec_size(&r);
        n = sss_hm_write(&r, buf, sizeof(buf));
        CHECK_EQ_INT(n, (long)size);
        /* The iovecs say the same bytes as the flat copy. */
        niov = sss_hm_rec_iov(&r, iov);
        CHECK(niov >= 1 && niov <= 1 + SSS_HM_MAX_PARTS);
        for (int k = 0; k < niov; k++) {
            memcpy(cat + off, iov[k].iov_base, iov[k].iov_len);
            off += iov[k].iov_len;
        }
        CHECK(off == size && memcmp(cat, buf, size) == 0);
        CHECK_EQ_INT(sss_hm_write(&r, buf, size - 1), -EMSGSIZE);
        /* Unpacked in place: the fixed part equal, the spans inside the record. */
        {
            const unsigned char *rec = at_guard(buf, size);

            CHECK_EQ_INT(sss_hm_unpack(types[i], rec, size, &u), 0);
            CHECK_EQ_INT(u.type, types[i]);
            CHECK(memcmp(&u.h, &r.h, fixed_size(types[i])) == 0);
            for (int k = 0; k < SSS_HM_MAX_PARTS; k++) {
                CHECK(same_span(u.v[k], r.v[k]));
                if (u.v[k].len)
                    CHECK((const unsigned char *)u.v[k].p >= rec &&
                          (const unsigned char *)u.v[k].p + u.v[k].len <= rec + size);
            }
        }
        CHECK(strcmp(sss_hm_type_name(types[i]), "?") != 0);
    }
}

/* Named fields survive (a few that the generic check cannot tell apart). */
static void fields(void)
{
    struct sss_hm_rec r, u;
    unsigned char buf[256];
    long n;

    CHECK_EQ_INT(sss_hm_pack_history(&r, 5, NULL, "c", 1), 0);
    CHECK(r.h.history.has_after == 0);
    CHECK_EQ_INT(sss_hm_pack_session(&r, SSS_HM_SESSION_ONLINE, "s", 1, NULL, 0, "u", 1, NULL),
                 0);
    n = sss_hm_write(&r, buf, sizeof(buf));
    CHECK(n > 0 && sss_hm_unpack(SSS_HM_SESSION, buf, (size_t)n, &u) == 0);
    CHECK(u.h.session.op == SSS_HM_SESSION_ONLINE && u.h.session.has_uid == 0);
    CHECK(u.v[0].len == 1 && u.v[0].p[0] == 's' && u.v[1].len == 0 && u.v[2].p[0] == 'u');
    CHECK_EQ_INT(sss_hm_pack_feed(&r, U2, -1, 0, 0, "c", 1, "", 0, "1", 1), 0);
    n = sss_hm_write(&r, buf, sizeof(buf));
    CHECK(n > 0 && sss_hm_unpack(SSS_HM_FEED, buf, (size_t)n, &u) == 0);
    CHECK(u.h.feed.origin_worker == -1 && u.h.feed.uid.epoch == U2.epoch &&
          u.h.feed.uid.offset == U2.offset && u.v[2].p[0] == '1');
    sss_hm_pack_published(&r, 77, SSS_ELIMIT, U1);
    CHECK(r.h.published.req == 77 && r.h.published.rc == SSS_ELIMIT);
    /* A tell keeps its socket id and run; TELL_CONN has no host. */
    CHECK_EQ_INT(sss_hm_pack_tell_record(&r, UINT64_MAX, 0x89abcdefu, "h:1", 3, "t", 1, "[]", 2),
                 0);
    n = sss_hm_write(&r, buf, sizeof(buf));
    CHECK(n == (long)sizeof(struct sss_hm_tell) + 6);
    CHECK(sss_hm_unpack(SSS_HM_TELL_RECORD, buf, (size_t)n, &u) == 0);
    CHECK(u.h.tell.sid == UINT64_MAX && u.h.tell.run == 0x89abcdefu);
    CHECK(u.v[0].len == 3 && memcmp(u.v[0].p, "h:1", 3) == 0 && u.v[1].p[0] == 't' &&
          u.v[2].len == 2 && u.v[2].p[0] == '[');
    CHECK_EQ_INT(sss_hm_pack_tell_conn(&r, 42, 1, "t", 1, "0", 1), 0);
    CHECK(r.h.tell.host_len == 0 && r.v[0].len == 0 && r.h.tell.sid == 42);
    CHECK_EQ_STR(sss_hm_type_name(SSS_HM_TELL_CONN), "TELL_CONN");
    /* An empty gap record is a valid (empty) channel name. */
    CHECK_EQ_INT(sss_hm_unpack(SSS_HM_GAP_RECORD, at_guard("", 0), 0, &u), 0);
    CHECK(u.v[0].len == 0);
}

/* Every length short of the whole record, and one byte more, is refused. */
static void truncations(void)
{
    for (size_t i = 0; i < NTYPES; i++) {
        struct sss_hm_rec r, u;
        unsigned char buf[257];
        size_t size, fixed = fixed_size(types[i]);

        if (types[i] == SSS_HM_GAP_RECORD)
            continue; /* its length is the record's: any cut is another name */
        CHECK_EQ_INT(sample(types[i], &r), 0);
        size = sss_hm_rec_size(&r);
        CHECK(sss_hm_write(&r, buf, sizeof(buf)) == (long)size);
        for (size_t len = 0; len < size; len++) {
            int rc = sss_hm_unpack(types[i], at_guard(buf, len), len, &u);

            CHECK_EQ_INT(rc, len < fixed ? SSS_EHM_SHORT : SSS_EHM_LENGTH);
        }
        buf[size] = 'x';
        CHECK_EQ_INT(sss_hm_unpack(types[i], at_guard(buf, size + 1), size + 1, &u),
                     SSS_EHM_LENGTH);
    }
}

/* Offsets of each type's length fields, and their widths. */
struct lenfield {
    uint32_t type;
    size_t off, width;
};

#define LF(T, S, f) {T, offsetof(struct S, f), sizeof(((struct S *)0)->f)}
static const struct lenfield lenfields[] = {
    LF(SSS_HM_PUBLISH, sss_hm_publish, chan_len),
    LF(SSS_HM_PUBLISH, sss_hm_publish, topic_len),
    LF(SSS_HM_PUBLISH, sss_hm_publish, msg_len),
    LF(SSS_HM_LAST_UID, sss_hm_last_uid, chan_len),
    LF(SSS_HM_HISTORY, sss_hm_history, chan_len),
    LF(SSS_HM_BROADCAST, sss_hm_broadcast, topic_len),
    LF(SSS_HM_BROADCAST, sss_hm_broadcast, msg_len),
    LF(SSS_HM_PRESENCE, sss_hm_presence, chan_len),
    LF(SSS_HM_PRESENCE, sss_hm_presence, user_len),
    LF(SSS_HM_SESSION, sss_hm_session, session_len),
    LF(SSS_HM_SESSION, sss_hm_session, chan_len),
    LF(SSS_HM_SESSION, sss_hm_session, user_len),
    LF(SSS_HM_SESSION_LOAD, sss_hm_session_load, session_len),
    LF(SSS_HM_BOOT, sss_hm_boot, name_len),
    LF(SSS_HM_BOOT, sss_hm_boot, reason_len),
    LF(SSS_HM_HIST_REC, sss_hm_hist_rec, topic_len),
    LF(SSS_HM_HIST_REC, sss_hm_hist_rec, msg_len),
    LF(SSS_HM_SESSION_ENTRY, sss_hm_session_entry, chan_len),
    LF(SSS_HM_FEED, sss_hm_feed, chan_len),
    LF(SSS_HM_FEED, sss_hm_feed, topic_len),
    LF(SSS_HM_FEED, sss_hm_feed, msg_len),
    LF(SSS_HM_BCAST_RECORD, sss_hm_broadcast, topic_len),
    LF(SSS_HM_BCAST_RECORD, sss_hm_broadcast, msg_len),
    LF(SSS_HM_BOOT_RECORD, sss_hm_boot, name_len),
    LF(SSS_HM_BOOT_RECORD, sss_hm_boot, reason_len),
    LF(SSS_HM_TELL, sss_hm_tell, host_len),
    LF(SSS_HM_TELL, sss_hm_tell, topic_len),
    LF(SSS_HM_TELL, sss_hm_tell, msg_len),
    LF(SSS_HM_TELL_CONN, sss_hm_tell, topic_len),
    LF(SSS_HM_TELL_CONN, sss_hm_tell, msg_len),
    LF(SSS_HM_TELL_RECORD, sss_hm_tell, host_len),
    LF(SSS_HM_TELL_RECORD, sss_hm_tell, topic_len),
    LF(SSS_HM_TELL_RECORD, sss_hm_tell, msg_len),
};
#undef LF

static void set_len(unsigned char *buf, const struct lenfield *f, uint32_t v)
{
    if (f->width == 2) {
        uint16_t x = (uint16_t)v;

        memcpy(buf + f->off, &x, 2);
    } else {
        memcpy(buf + f->off, &v, 4);
    }
}

static uint32_t get_len(const unsigned char *buf, const struct lenfield *f)
{
    uint16_t x;
    uint32_t y;

    if (f->width == 2) {
        memcpy(&x, buf + f->off, 2);
        return x;
    }
    memcpy(&y, buf + f->off, 4);
    return y;
}

/* A length field that says one byte more or less, zero, or its maximum, is refused. */
static void lying_lengths(void)
{
    for (size_t i = 0; i < sizeof(lenfields) / sizeof(lenfields[0]); i++) {
        const struct lenfield *f = &lenfields[i];
        struct sss_hm_rec r, u;
        unsigned char buf[256], bad[256];
        uint32_t real, max = f->width == 2 ? UINT16_MAX : UINT32_MAX;
        uint32_t lies[4];
        size_t size;

        CHECK_EQ_INT(sample(f->type, &r), 0);
        size = sss_hm_rec_size(&r);
        CHECK(sss_hm_write(&r, buf, sizeof(buf)) == (long)size);
        real = get_len(buf, f);
        CHECK(real > 0 || f->type == SSS_HM_BOOT_RECORD); /* samples fill every part */
        lies[0] = real + 1, lies[1] = real ? real - 1 : 1, lies[2] = real ? 0 : 2, lies[3] = max;
        for (int k = 0; k < 4; k++) {
            memcpy(bad, buf, size);
            set_len(bad, f, lies[k]);
            CHECK_EQ_INT(sss_hm_unpack(f->type, at_guard(bad, size), size, &u), SSS_EHM_LENGTH);
        }
    }
}

static void unknown_types(void)
{
    static const uint32_t bad[] = {0, 12, 31, 39, 63, 69, 1000, UINT32_MAX};
    unsigned char buf[64] = {0};
    struct sss_hm_rec u;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(sss_hm_unpack(bad[i], buf, sizeof(buf), &u), SSS_EHM_TYPE);
        CHECK_EQ_STR(sss_hm_type_name(bad[i]), "?");
    }
}

/* Lengths too large for their fields are refused when packing. */
static void pack_limits(void)
{
    static char big[70000];
    struct sss_hm_rec r;

    CHECK_EQ_INT(sss_hm_pack_publish(&r, 1, 0, 0, big, 65536, "t", 1, "1", 1), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_publish(&r, 1, 0, 0, "c", 1, big, 65536, "1", 1), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_last_uid(&r, 1, big, 65536), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_history(&r, 1, NULL, big, 65536), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_broadcast(&r, big, 65536, "1", 1), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_presence(&r, 1, "c", 1, big, 65536), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_session(&r, 1, big, 65536, "c", 1, "", 0, NULL), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_session(&r, 70000, "s", 1, "c", 1, "", 0, NULL), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_session_load(&r, 1, big, 65536), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_boot(&r, 1, big, 65536, "", 0), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_boot_record(&r, -1, "n", 1, "", 0), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_hist_rec(&r, 1, U1, big, 65536, "1", 1), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_session_entry(&r, 1, NULL, big, 65536), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_feed(&r, U1, -1, 0, 0, "c", 1, big, 65536, "1", 1), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_bcast_record(&r, big, 65536, "", 0), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_tell(&r, 1, 1, big, 65536, "t", 1, "1", 1), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_tell_conn(&r, 1, 1, big, 65536, "1", 1), SSS_EINVAL);
    CHECK_EQ_INT(sss_hm_pack_tell_record(&r, 1, 1, "h", 1, big, 65536, "1", 1), SSS_EINVAL);
    /* At the limit it packs. */
    CHECK_EQ_INT(sss_hm_pack_last_uid(&r, 1, big, 65535), 0);
    CHECK_EQ_INT((long)sss_hm_rec_size(&r), (long)(sizeof(struct sss_hm_last_uid) + 65535));
}

/* ---- the dispatcher ---- */

struct seen {
    int calls, refused, last_rc;
    uint32_t last_type;
    uint64_t req;
    char chan[32];
};

static void on_last_uid(void *data, const struct sss_hm_rec *rec)
{
    struct seen *sn = data;

    sn->calls++;
    sn->last_type = rec->type;
    sn->req = rec->h.last_uid.req;
    memcpy(sn->chan, rec->v[0].p, rec->v[0].len < 31 ? rec->v[0].len : 31);
}

static void on_refused(void *data, uint32_t type, int rc, const struct sss_hm_rec *rec)
{
    struct seen *sn = data;

    sn->refused++;
    sn->last_rc = rc;
    sn->last_type = type;
    sn->req = rc == SSS_EHM_LENGTH ? rec->h.last_uid.req : 0;
}

static void dispatcher(void)
{
    struct sss_hm_dispatcher d = {.who = "test",
                                  .on = {[SSS_HM_LAST_UID] = on_last_uid},
                                  .on_refused = on_refused};
    struct seen sn;
    struct sss_hm_rec r;
    unsigned char buf[64];
    long n;

    memset(&sn, 0, sizeof(sn));
    CHECK_EQ_INT(sss_hm_pack_last_uid(&r, 99, "room", 4), 0);
    n = sss_hm_write(&r, buf, sizeof(buf));
    CHECK(n > 0);
    CHECK_EQ_INT(sss_hm_dispatch(&d, &sn, SSS_HM_LAST_UID, at_guard(buf, (size_t)n), (size_t)n),
                 0);
    CHECK(sn.calls == 1 && sn.req == 99 && strcmp(sn.chan, "room") == 0);
    /* Lengths lie: refused, the handler not called, the request id still readable. */
    CHECK_EQ_INT(sss_hm_dispatch(&d, &sn, SSS_HM_LAST_UID, at_guard(buf, (size_t)n - 1),
                                 (size_t)n - 1),
                 SSS_EHM_LENGTH);
    CHECK(sn.calls == 1 && sn.refused == 1 && sn.req == 99);
    /* Short. */
    CHECK_EQ_INT(sss_hm_dispatch(&d, &sn, SSS_HM_LAST_UID, at_guard(buf, 3), 3), SSS_EHM_SHORT);
    /* A known type the receiver does not take, and an unknown one. */
    CHECK_EQ_INT(sss_hm_dispatch(&d, &sn, SSS_HM_FEED, buf, (size_t)n), SSS_EHM_TYPE);
    CHECK_EQ_INT(sss_hm_dispatch(&d, &sn, 5000, buf, (size_t)n), SSS_EHM_TYPE);
    CHECK(sn.calls == 1 && sn.refused == 4 && sn.last_type == 5000);
    CHECK(d.handled == 1 && d.refused == 4);
}

/* A packed record through the outbox and a ring, with and without room. */
static void outbox(void)
{
    size_t cap = 4096;
    void *mem = aligned_alloc(64, sss_ring_size(cap));
    struct sss_ring *ring = mem ? sss_ring_init(mem, cap) : NULL;
    struct sss_hm_outbox o;
    struct sss_hm_rec r, u;
    static char msg[1500];
    int sent = 0, waited = 0, got = 0;

    CHECK(ring != NULL);
    if (!ring)
        return;
    memset(msg, 'm', sizeof(msg));
    sss_hm_outbox_init(&o, ring);
    for (int i = 0; i < 8; i++) {
        int rc;

        CHECK_EQ_INT(sss_hm_pack_publish(&r, (uint64_t)i, 5, 0, "chan", 4, "top", 3, msg,
                                         sizeof(msg)),
                     0);
        rc = sss_hm_outbox_put(&o, &r);
        CHECK(rc == 0 || rc == 1);
        sent += rc == 1, waited += rc == 0;
    }
    CHECK(sent > 0 && waited > 0);
    for (int rounds = 0; rounds < 16 && got < 8; rounds++) {
        const void *p;
        uint32_t type;
        size_t len;

        while (sss_ring_peek(ring, &type, &p, &len) == 1) {
            CHECK_EQ_INT(sss_hm_unpack(type, p, len, &u), 0);
            CHECK(u.h.publish.req == (uint64_t)got && same_span(u.v[0], r.v[0]) &&
                  same_span(u.v[1], r.v[1]) && same_span(u.v[2], r.v[2]));
            sss_ring_consume(ring);
            got++;
        }
        (void)sss_hm_outbox_flush(&o);
    }
    CHECK_EQ_INT(got, 8);
    CHECK(o.head == NULL && o.pending_bytes == 0);
    /* A two-part and a fixed-only record. */
    CHECK_EQ_INT(sss_hm_pack_presence(&r, 1, "c", 1, "u", 1), 0);
    CHECK_EQ_INT(sss_hm_outbox_put(&o, &r), 1);
    sss_hm_pack_hello(&r, 1);
    CHECK_EQ_INT(sss_hm_outbox_put(&o, &r), 1);
    {
        const void *p;
        uint32_t type;
        size_t len;

        CHECK(sss_ring_peek(ring, &type, &p, &len) == 1 && type == SSS_HM_PRESENCE &&
              sss_hm_unpack(type, p, len, &u) == 0 && u.v[1].p[0] == 'u');
        sss_ring_consume(ring);
        CHECK(sss_ring_peek(ring, &type, &p, &len) == 1 && type == SSS_HM_HELLO &&
              sss_hm_unpack(type, p, len, &u) == 0 && u.h.hello.pid == 1);
        sss_ring_consume(ring);
    }
    sss_hm_outbox_clear(&o);
    free(mem);
}

int main(void)
{
    sss_log_setup(SSS_LOG_ERROR, "test");
    page = (size_t)sysconf(_SC_PAGESIZE);
    guarded = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guarded == MAP_FAILED || mprotect(guarded + page, page, PROT_NONE) < 0) {
        perror("mmap");
        return 1;
    }
    round_trip();
    fields();
    truncations();
    lying_lengths();
    unknown_types();
    pack_limits();
    dispatcher();
    outbox();
    return sss_test_done();
}
