/*
 * Unit tests of the scaler's handling of worker records (src/scaler/sss_scaler.c,
 * included for its statics): a record is refused unread unless its fixed part
 * and lengths add up to its size, and a good one reaches the store; a FEED
 * that does not fit the bus becomes a gap record for its channel (issue 11:
 * it was only logged, and the channel's subscribers never knew).
 *
 * Records under test sit flush against a PROT_NONE page, so any read past
 * their end faults instead of passing unnoticed.
 */
#include "../../src/scaler/sss_scaler.c"

#include "sss_test.h"

#include <stdlib.h>
#include <sys/mman.h>

struct fake_store {
    struct sss_store base;
    int online, subscribe, unsubscribe;
    char session[64];
    size_t session_len;
};

static void fk_online(struct sss_store *st, int w, const char *session, size_t len,
                      const char *user, size_t user_len, int delta, unsigned flags,
                      int64_t now_ms)
{
    struct fake_store *f = (struct fake_store *)st;

    (void)w, (void)user, (void)user_len, (void)delta, (void)flags, (void)now_ms;
    f->online++;
    f->session_len = len < sizeof(f->session) ? len : sizeof(f->session);
    memcpy(f->session, session, f->session_len);
}

static void fk_reset(struct sss_store *st, int w, int64_t now_ms)
{
    (void)st, (void)w, (void)now_ms;
}

static void fk_subscribe(struct sss_store *st, const char *session, size_t len, const char *chan,
                         size_t chan_len, int has_uid, const struct sss_uid *uid)
{
    (void)session, (void)len, (void)chan, (void)chan_len, (void)has_uid, (void)uid;
    ((struct fake_store *)st)->subscribe++;
}

static void fk_unsubscribe(struct sss_store *st, const char *session, size_t len,
                           const char *chan, size_t chan_len)
{
    (void)session, (void)len, (void)chan, (void)chan_len;
    ((struct fake_store *)st)->unsubscribe++;
}

static const struct sss_store_ops fake_ops = {
    .name = "fake",
    .online = fk_online,
    .reset_worker = fk_reset,
    .subscribe = fk_subscribe,
    .unsubscribe = fk_unsubscribe,
};

/* A page of bytes followed by a page nobody may touch. */
static unsigned char *guarded;
static size_t page;

static int guard_setup(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    guarded = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guarded == MAP_FAILED)
        return -1;
    return mprotect(guarded + page, page, PROT_NONE);
}

/* Copy len bytes so that they end where the guard page begins. */
static const void *at_guard(const void *p, size_t len)
{
    unsigned char *dst = guarded + page - len;

    memcpy(dst, p, len);
    return dst;
}

/*
 * Issue 10: a SESSION record shorter than struct sss_hm_session had its
 * session_len read (and a pointer made from it) before its length was checked.
 */
static void issue10_session_len_before_length_check(struct sss_scaler *s, struct fake_store *st)
{
    struct sss_hm_session sq;
    unsigned char rec[sizeof(sq) + 8];

    memset(&sq, 0, sizeof(sq));
    sq.op = SSS_HM_SESSION_ONLINE;
    sq.session_len = 5;
    memcpy(rec, &sq, sizeof(sq));
    memcpy(rec + sizeof(sq), "sess1", 5);
    /* Every length short of the fixed part: nothing read past the end, nothing stored. */
    for (size_t len = 0; len < sizeof(sq); len++)
        handle(s, 0, SSS_HM_SESSION, at_guard(rec, len), len);
    CHECK_EQ_INT(st->online, 0);
    /* Fixed part whole, session_len lying: refused too. */
    handle(s, 0, SSS_HM_SESSION, at_guard(rec, sizeof(sq) + 4), sizeof(sq) + 4);
    CHECK_EQ_INT(st->online, 0);
    /* The whole record goes through. */
    handle(s, 0, SSS_HM_SESSION, at_guard(rec, sizeof(sq) + 5), sizeof(sq) + 5);
    CHECK_EQ_INT(st->online, 1);
    CHECK(st->session_len == 5 && memcmp(st->session, "sess1", 5) == 0);
}

/* Every worker -> scaler type, cut anywhere short of its fixed part, is refused unread. */
static void short_records_refused(struct sss_scaler *s, struct fake_store *st)
{
    static const uint32_t types[] = {SSS_HM_PUBLISH, SSS_HM_LAST_UID, SSS_HM_HISTORY,
                                     SSS_HM_BROADCAST, SSS_HM_PRESENCE, SSS_HM_SESSION,
                                     SSS_HM_SESSION_LOAD, SSS_HM_BOOT};
    unsigned char rec[64];

    memset(rec, 0xff, sizeof(rec));
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        for (size_t len = 0; len < 8; len++)
            handle(s, 0, types[t], at_guard(rec, len), len);
    CHECK_EQ_INT(st->online + st->subscribe + st->unsubscribe, 1); /* the one above */
}

/* A LAST_UID whose fixed part came whole but whose length lies is answered with an error. */
static void lying_request_answered(struct sss_scaler *s)
{
    struct sss_hm_last_uid q;
    unsigned char rec[sizeof(q) + 4];
    struct sss_hm_rec u;
    const void *p;
    uint32_t type;
    size_t len;

    memset(&q, 0, sizeof(q));
    q.req = 77;
    q.chan_len = 9; /* 4 bytes follow */
    memcpy(rec, &q, sizeof(q));
    memcpy(rec + sizeof(q), "chan", 4);
    handle(s, 0, SSS_HM_LAST_UID, at_guard(rec, sizeof(rec)), sizeof(rec));
    CHECK(sss_ring_peek(s->out[0].ring, &type, &p, &len) == 1 && type == SSS_HM_LAST_UID_R &&
          sss_hm_unpack(type, p, len, &u) == 0 && u.h.last_uid_r.req == 77 &&
          u.h.last_uid_r.has == 0);
    sss_ring_consume(s->out[0].ring);
}

static void feed_too_big_becomes_gap(struct sss_scaler *s)
{
    static char big[2048];
    struct sss_engine_msg m = {.uid = {1, 7}, .topic = "t", .topic_len = 1, .msg = big};
    struct sss_bus_reader rd;
    struct sss_bus *bus = sss_bus_init(aligned_alloc(64, sss_bus_size(4096, 1)), 4096, 1, 0);
    char buf[1024];
    uint32_t type = 0;
    size_t len = 0;

    CHECK(bus != NULL);
    if (!bus)
        return;
    CHECK(sss_bus_reader_init(&rd, bus, 0) == 0);
    s->bus = bus;
    memset(big, 'x', sizeof(big));
    m.msg_len = sizeof(big); /* over a quarter of a 4 KB bus */
    on_feed(s, "sport", 5, &m, NULL);
    CHECK_EQ_INT(sss_bus_read(&rd, buf, sizeof(buf), &type, &len), 1);
    CHECK_EQ_INT(type, SSS_HM_GAP_RECORD);
    CHECK(len == 5 && memcmp(buf, "sport", 5) == 0);
    CHECK_EQ_INT(s->stats.feeds_lost, 1);
    sss_bus_reader_fini(&rd);
    s->bus = NULL;
    free(bus);
}

int main(void)
{
    struct fake_store st;
    struct sss_scaler s;
    void *ring_mem;

    sss_log_setup(SSS_LOG_ERROR, "test");
    if (guard_setup() < 0) {
        perror("mmap");
        return 1;
    }
    memset(&st, 0, sizeof(st));
    st.base.ops = &fake_ops;
    memset(&s, 0, sizeof(s));
    s.nworkers = 1;
    s.store = &st.base;
    s.from_workers = from_workers;
    s.presence = sss_presence_create(1);
    s.out = sss_calloc(1, sizeof(*s.out));
    s.wake_worker = sss_calloc(1, 1);
    CHECK(s.presence && s.out && s.wake_worker);
    ring_mem = aligned_alloc(64, sss_ring_size(4096));
    CHECK(ring_mem != NULL);
    if (!ring_mem || !s.out)
        return sss_test_done();
    sss_hm_outbox_init(&s.out[0], sss_ring_init(ring_mem, 4096));
    issue10_session_len_before_length_check(&s, &st);
    short_records_refused(&s, &st);
    lying_request_answered(&s);
    feed_too_big_becomes_gap(&s);
    CHECK(s.from_workers.handled == 1 && s.from_workers.refused == 32 + 1 + 64 + 1);
    sss_presence_destroy(s.presence);
    sss_free(s.out);
    sss_free(s.wake_worker);
    free(ring_mem);
    return sss_test_done();
}
