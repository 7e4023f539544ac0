/* Unit tests of the memory store and the presence table (src/scaler/); the
 * *_many tests make their walks delete many entries, across the table's
 * wrap-around, as they go. */
#include "sss_presence.h"
#include "sss_store.h"
#include "sss_test.h"

#include <stdlib.h>

struct got {
    int n;
    char chans[8][32];
    int has[8];
    uint64_t off[8];
    int found; /* from done: -1 until it is called */
    int kept;
};

static void on_entry(void *data, const char *chan, size_t len, int has_uid,
                     const struct sss_uid *uid)
{
    struct got *g = data;

    if (g->n < 8) {
        snprintf(g->chans[g->n], sizeof(g->chans[0]), "%.*s", (int)len, chan);
        g->has[g->n] = has_uid;
        g->off[g->n] = has_uid ? uid->offset : 0;
    }
    g->n++;
}

static void on_done(void *data, int found, int kept)
{
    ((struct got *)data)->found = found;
    ((struct got *)data)->kept = kept;
}

/* The memory store answers before returning: load and give done's verdict. */
static int load(struct sss_store *st, const char *sid, struct got *g)
{
    struct sss_store_load_cb cb = {on_entry, on_done, g};

    g->found = -1;
    st->ops->load(st, sid, strlen(sid), &cb);
    return g->found;
}

static void test_store(void)
{
    struct sss_store *st = sss_store_mem_create(2, 2, 1000, 2);
    struct sss_uid u5 = {1, 5}, u3 = {1, 3};
    struct got g;

    memset(&g, 0, sizeof(g));
    CHECK_EQ_INT(load(st, "s1", &g), 0);
    st->ops->online(st, 0, "s1", 2, "ann", 3, 1, 0, 0);
    st->ops->subscribe(st, "s1", 2, "news", 4, 0, NULL);
    st->ops->subscribe(st, "s1", 2, "news", 4, 1, &u5);
    st->ops->subscribe(st, "s1", 2, "news", 4, 1, &u3); /* late news: the uid stays 5 */
    st->ops->subscribe(st, "s1", 2, "sport", 5, 0, NULL);
    st->ops->subscribe(st, "s1", 2, "third", 5, 0, NULL); /* over max_subs: not kept */
    CHECK_EQ_INT(load(st, "s1", &g), 1);
    CHECK_EQ_INT(g.n, 2);
    for (int i = 0; i < 2; i++)
        if (!strcmp(g.chans[i], "news"))
            CHECK(g.has[i] && g.off[i] == 5);
    st->ops->unsubscribe(st, "s1", 2, "sport", 5);
    memset(&g, 0, sizeof(g));
    load(st, "s1", &g);
    CHECK(g.n == 1 && !strcmp(g.chans[0], "news"));
    /* max_sessions: a third session is not recorded. */
    st->ops->online(st, 1, "s2", 2, "", 0, 1, 0, 0);
    st->ops->online(st, 1, "s3", 2, "", 0, 1, 0, 0);
    CHECK_EQ_INT(load(st, "s3", &g), 0);
    /* Online sessions survive the ttl; offline ones do not. */
    st->ops->tick(st, 5000);
    CHECK_EQ_INT(load(st, "s1", &g), 1);
    st->ops->online(st, 0, "s1", 2, "", 0, -1, 0, 6000);
    st->ops->tick(st, 6500);
    CHECK_EQ_INT(load(st, "s1", &g), 1);
    st->ops->tick(st, 7000);
    CHECK_EQ_INT(load(st, "s1", &g), 0);
    /* A replaced worker's connections go offline with it. */
    st->ops->reset_worker(st, 1, 8000);
    st->ops->tick(st, 9000);
    CHECK_EQ_INT(load(st, "s2", &g), 0);
    st->ops->destroy(st);
}

/* Issue 18: only a connection creates a session; --anon-session-rate bounds
 * new anonymous ones; a full store forgets an anonymous session (idle longest
 * first; a user's new session also an online one) and never a user's. */
static void test_store_limits(void)
{
    struct sss_store *st = sss_store_mem_create(3, 4, 100000, 1);
    struct got g;

    /* A subscribe alone records nothing. */
    st->ops->subscribe(st, "|ghost", 6, "news", 4, 0, NULL);
    CHECK_EQ_INT(load(st, "|ghost", &g), 0);
    CHECK_EQ_INT((int)st->stats.sessions, 0);

    /* Rate 2/s, burst 2: two fresh anonymous ids pass, the third waits for a token. */
    sss_store_mem_set_anon_rate(st, 2, 2);
    st->ops->online(st, 0, "|a1", 3, "", 0, 1, 0, 1000);
    st->ops->online(st, 0, "|a2", 3, "", 0, 1, 0, 1000);
    st->ops->online(st, 0, "|a3", 3, "", 0, 1, 0, 1000);
    CHECK_EQ_INT(load(st, "|a2", &g), 1);
    CHECK_EQ_INT(g.kept, 1);
    CHECK_EQ_INT(load(st, "|a3", &g), 0);
    CHECK_EQ_INT(g.kept, 0);
    CHECK_EQ_INT((int)st->stats.anon_limited, 1);
    st->ops->subscribe(st, "|a3", 3, "news", 4, 0, NULL); /* still nothing */
    CHECK_EQ_INT(load(st, "|a3", &g), 0);
    /* A known session and a user's are never limited; a re-admitted one neither. */
    st->ops->online(st, 0, "|a1", 3, "", 0, 1, 0, 1000);
    st->ops->online(st, 0, "ann|s", 5, "ann", 3, 1, 0, 1000);
    CHECK_EQ_INT(load(st, "ann|s", &g), 1);
    CHECK_EQ_INT((int)st->stats.anon_limited, 1);
    /* 499 ms later a token is not back yet (one takes 500 ms at 2/s). */
    st->ops->online(st, 0, "|a3", 3, "", 0, 1, 0, 1499);
    CHECK_EQ_INT(load(st, "|a3", &g), 0);
    CHECK_EQ_INT((int)st->stats.anon_limited, 2);

    /* Full (3): a1 (online, twice), a2 (online), ann|s. a2 goes idle, then a1. */
    st->ops->online(st, 0, "|a2", 3, "", 0, -1, 0, 2000);
    st->ops->online(st, 0, "|a1", 3, "", 0, -2, 0, 2100);
    CHECK_EQ_INT((int)st->stats.sessions, 3);
    CHECK_EQ_INT((int)st->stats.sessions_anon, 2);
    /* A new anonymous session takes the place of the one idle longest: a2. */
    st->ops->online(st, 0, "|a4", 3, "", 0, 1, 0, 2500);
    CHECK_EQ_INT(load(st, "|a2", &g), 0);
    CHECK_EQ_INT(load(st, "|a1", &g), 1);
    CHECK_EQ_INT(load(st, "|a4", &g), 1);
    CHECK_EQ_INT((int)st->stats.evicted, 1);
    /* A user's: of a1 (idle), then of a4 (online: no anonymous one is idle). */
    st->ops->online(st, 0, "bob|s", 5, "bob", 3, 1, 0, 2600);
    st->ops->online(st, 0, "cy|s", 4, "cy", 2, 1, 0, 2600);
    CHECK_EQ_INT(load(st, "|a1", &g), 0);
    CHECK_EQ_INT(load(st, "|a4", &g), 0);
    CHECK_EQ_INT(load(st, "bob|s", &g), 1);
    CHECK_EQ_INT(load(st, "cy|s", &g), 1);
    CHECK_EQ_INT((int)st->stats.evicted, 3);
    CHECK_EQ_INT((int)st->stats.sessions_anon, 0);
    /* Only users' sessions now: a new one of each kind is refused; theirs stay. */
    st->ops->online(st, 0, "dan|s", 5, "dan", 3, 1, 0, 5000);
    st->ops->online(st, 0, "|a5", 3, "", 0, 1, SSS_STORE_READMIT, 5000);
    CHECK_EQ_INT(load(st, "dan|s", &g), 0);
    CHECK_EQ_INT(load(st, "|a5", &g), 0);
    CHECK_EQ_INT((int)st->stats.refused, 2);
    CHECK_EQ_INT(load(st, "ann|s", &g), 1);
    /* The ttl forgets an idle user's session: room again, and the counts follow. */
    st->ops->online(st, 0, "ann|s", 5, "", 0, -1, 0, 6000);
    st->ops->tick(st, 200000);
    CHECK_EQ_INT((int)st->stats.sessions, 2);
    /* A re-admitted anonymous session passes an empty bucket. */
    sss_store_mem_set_anon_rate(st, 1, 1);
    st->ops->online(st, 0, "|b1", 3, "", 0, 1, 0, 200000);
    st->ops->online(st, 0, "|b1", 3, "", 0, -1, 0, 200000);
    st->ops->online(st, 0, "|b2", 3, "", 0, 1, SSS_STORE_READMIT, 200000);
    CHECK_EQ_INT(load(st, "|b2", &g), 1); /* took idle b1's place */
    CHECK_EQ_INT(load(st, "|b1", &g), 0);
    st->ops->destroy(st);
}

static char users[8][32];
static int nusers_seen;

static void on_user(void *data, const char *user)
{
    (void)data;
    if (nusers_seen < 8)
        snprintf(users[nusers_seen], sizeof(users[0]), "%s", user);
    nusers_seen++;
}

static void test_presence(void)
{
    struct sss_presence *p = sss_presence_create(2);
    size_t nu;

    sss_presence_add(p, 0, "room", 4, "ann", 3, 1);
    sss_presence_add(p, 1, "room", 4, "ann", 3, 1);
    sss_presence_add(p, 1, "room", 4, "", 0, 1);
    sss_presence_add(p, 1, "room", 4, "bob", 3, -1); /* never added: ignored */
    nusers_seen = 0;
    CHECK_EQ_INT(sss_presence_get(p, "room", 4, 10, on_user, NULL, &nu), 3);
    CHECK_EQ_INT(nu, 1);
    CHECK(nusers_seen == 1 && !strcmp(users[0], "ann"));
    sss_presence_reset_worker(p, 1);
    nusers_seen = 0;
    CHECK_EQ_INT(sss_presence_get(p, "room", 4, 10, on_user, NULL, &nu), 1);
    CHECK_EQ_INT(nu, 1);
    sss_presence_add(p, 0, "room", 4, "ann", 3, -1);
    CHECK_EQ_INT(sss_presence_get(p, "room", 4, 10, on_user, NULL, &nu), 0);
    CHECK_EQ_INT(nu, 0);
    sss_presence_add(p, 5, "room", 4, "x", 1, 1); /* no such worker */
    CHECK_EQ_INT(sss_presence_get(p, "room", 4, 10, on_user, NULL, &nu), 0);
    sss_presence_destroy(p);
}

/* A replaced worker takes 400 of 500 sessions offline; the TTL sweep forgets
 * exactly those, whatever their slots. */
static void test_store_many(void)
{
    struct sss_store *st = sss_store_mem_create(1000, 4, 1000, 2);
    struct got g;
    int errors = 0;

    for (int i = 0; i < 500; i++) {
        char sid[16];

        snprintf(sid, sizeof(sid), "m%d", i);
        st->ops->online(st, 1, sid, strlen(sid), "", 0, 1, 0, 0);
        if (i % 5 == 0)
            st->ops->online(st, 0, sid, strlen(sid), "", 0, 1, 0, 0);
        st->ops->subscribe(st, sid, strlen(sid), "news", 4, 0, NULL);
    }
    st->ops->reset_worker(st, 1, 0);
    st->ops->tick(st, 1000);
    for (int i = 0; i < 500; i++) {
        char sid[16];

        snprintf(sid, sizeof(sid), "m%d", i);
        memset(&g, 0, sizeof(g));
        if (load(st, sid, &g) != (i % 5 == 0))
            errors++;
    }
    CHECK_EQ_INT(errors, 0);
    st->ops->destroy(st); /* the 100 left and their subscriptions: freed (ASan) */
}

static int edges_off[300];

static void on_edge(void *data, const char *chan, size_t len, int on)
{
    (void)data;
    (void)len;
    if (!on)
        edges_off[strtol(chan + 1, NULL, 10) % 300]++;
}

/* Worker 1 leaves 300 channels; the 200 only it had are gone, each told once. */
static void test_presence_many(void)
{
    struct sss_presence *p = sss_presence_create(2);
    int errors = 0;
    size_t nu;

    sss_presence_on_edge(p, on_edge, NULL);
    for (int c = 0; c < 300; c++) {
        char chan[16], user[16];

        snprintf(chan, sizeof(chan), "c%d", c);
        for (int u = 0; u <= c % 5; u++) {
            snprintf(user, sizeof(user), "u%d", u);
            sss_presence_add(p, 1, chan, strlen(chan), user, strlen(user), 1);
        }
        if (c % 3 == 0)
            sss_presence_add(p, 0, chan, strlen(chan), "keep", 4, 1);
    }
    nusers_seen = 0;
    CHECK_EQ_INT(sss_presence_get(p, "c4", 2, 2, on_user, NULL, &nu), 5);
    CHECK_EQ_INT(nusers_seen, 2); /* at most max_users names */
    CHECK_EQ_INT(nu, 5);
    sss_presence_reset_worker(p, 1);
    for (int c = 0; c < 300; c++) {
        char chan[16];

        snprintf(chan, sizeof(chan), "c%d", c);
        nusers_seen = 0;
        if (c % 3 == 0) {
            if (sss_presence_get(p, chan, strlen(chan), 10, on_user, NULL, &nu) != 1 ||
                nu != 1 || nusers_seen != 1 || strcmp(users[0], "keep") != 0 || edges_off[c])
                errors++;
        } else if (sss_presence_get(p, chan, strlen(chan), 10, on_user, NULL, &nu) != 0 ||
                   edges_off[c] != 1) {
            errors++;
        }
    }
    CHECK_EQ_INT(errors, 0);
    sss_presence_destroy(p);
}

int main(void)
{
    test_store();
    test_presence();
    test_store_many();
    test_store_limits();
    test_presence_many();
    return sss_test_done();
}
