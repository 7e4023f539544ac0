/* Unit tests of the local channel index and its holds (src/pubsub/sss_sub.c). */
#include "sss_sub.h"
#include "sss_test.h"

/* Stand-in connections: the index only passes them back to the callbacks. */
struct fake {
    int got[64];
    int n;
    long held;
};

static void deliver(struct sss_conn *conn, struct sss_buf *frame, void *data)
{
    struct fake *f = (struct fake *)conn;

    (void)data;
    if (f->n < 64)
        f->got[f->n] = frame->data[0];
    f->n++;
}

static void held(struct sss_conn *conn, long delta, void *data)
{
    (void)data;
    ((struct fake *)conn)->held += delta;
}

static struct sss_buf *frame(int v)
{
    struct sss_buf *b = sss_buf_new(8);

    b->data[0] = (uint8_t)v;
    b->len = 1;
    return b;
}

static void feed(struct sss_index *ix, const char *chan, uint64_t off)
{
    struct sss_uid u = {7, off};
    struct sss_buf *b = frame((int)off);

    sss_index_feed(ix, sss_index_chan(ix, chan, strlen(chan)), &u, b, NULL);
    sss_buf_unref(b);
}

int main(void)
{
    struct sss_index ix;
    struct fake a = {{0}, 0, 0}, b = {{0}, 0, 0};
    struct sss_sub *subs_a = NULL, *subs_b = NULL, *sa, *sb;
    struct sss_uid floor = {7, 2};
    int created;

    sss_index_init(&ix, deliver, held, NULL);
    sa = sss_index_subscribe(&ix, (struct sss_conn *)&a, &subs_a, "news", 4, &created);
    CHECK(sa && created && sa->pending);
    CHECK(sss_index_subscribe(&ix, (struct sss_conn *)&a, &subs_a, "news", 4, &created) == sa);
    CHECK_EQ_INT(created, 0);
    sb = sss_index_subscribe(&ix, (struct sss_conn *)&b, &subs_b, "news", 4, &created);
    CHECK(sss_index_chan(&ix, "news", 4)->nsubs == 2);
    /* Pending: held, not delivered. */
    feed(&ix, "news", 1);
    feed(&ix, "news", 2);
    feed(&ix, "news", 3);
    CHECK_EQ_INT(a.n, 0);
    CHECK_EQ_INT(a.held, 3);
    /* Floor 2: only 3 comes out of the hold, then live 4 and 5 in order. */
    sss_index_activate(&ix, sa, &floor);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_INT(a.got[0], 3);
    CHECK_EQ_INT(a.held, 0);
    feed(&ix, "news", 4);
    feed(&ix, "news", 3); /* a repeat is dropped */
    feed(&ix, "news", 5);
    CHECK_EQ_INT(a.n, 3);
    CHECK(a.got[1] == 4 && a.got[2] == 5);
    /* b got nothing yet; an empty floor delivers everything it held, in order. */
    CHECK_EQ_INT(b.n, 0);
    floor.epoch = 0;
    floor.offset = 0;
    sss_index_activate(&ix, sb, &floor);
    CHECK_EQ_INT(b.n, 5);
    CHECK(b.got[0] == 1 && b.got[1] == 2 && b.got[2] == 3 && b.got[3] == 4 && b.got[4] == 5);
    /* Channel hold (lap recovery): nothing until release, then above `after` only. */
    sss_index_hold_channel(sss_index_chan(&ix, "news", 4), 99);
    feed(&ix, "news", 6);
    feed(&ix, "news", 7);
    CHECK_EQ_INT(a.n, 3);
    floor.epoch = 7;
    floor.offset = 6;
    sss_index_release_channel(&ix, sss_index_chan(&ix, "news", 4), &floor);
    CHECK_EQ_INT(a.n, 4);
    CHECK_EQ_INT(a.got[3], 7);
    /* A new epoch is greater than any uid of the old one. */
    {
        struct sss_uid u = {8, 1};
        struct sss_buf *f = frame(42);

        sss_index_feed(&ix, sss_index_chan(&ix, "news", 4), &u, f, NULL);
        sss_buf_unref(f);
        CHECK_EQ_INT(a.got[4], 42);
    }
    /* A socket publish skips its sender: floor moves, nothing delivered, UPDATESUB owed. */
    {
        struct sss_uid u = {8, 2};
        struct sss_buf *f = frame(43);
        int before_a = a.n, before_b = b.n;

        CHECK_EQ_INT(sss_index_feed(&ix, sss_index_chan(&ix, "news", 4), &u, f,
                                    (struct sss_conn *)&a), 1);
        sss_buf_unref(f);
        CHECK_EQ_INT(a.n, before_a);
        CHECK_EQ_INT(b.n, before_b + 1);
        CHECK(sa->floor.epoch == 8 && sa->floor.offset == 2);
    }
    /* Unsubscribing the last subscriber frees the channel. */
    sss_index_unsubscribe(&ix, &subs_a, sa);
    CHECK(subs_a == NULL);
    CHECK(sss_index_chan(&ix, "news", 4) != NULL);
    sss_index_unsubscribe(&ix, &subs_b, sb);
    CHECK(sss_index_chan(&ix, "news", 4) == NULL);
    /* Pending with held frames, then unsubscribed: the held bytes are returned. */
    sa = sss_index_subscribe(&ix, (struct sss_conn *)&a, &subs_a, "x", 1, &created);
    feed(&ix, "x", 1);
    CHECK_EQ_INT(a.held, 1);
    sss_index_unsubscribe(&ix, &subs_a, sa);
    CHECK_EQ_INT(a.held, 0);
    sss_index_fini(&ix);
    return sss_test_done();
}
