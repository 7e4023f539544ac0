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

static void on_done(void *data, int found)
{
    ((struct got *)data)->found = found;
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
    st->ops->online(st, 0, "s1", 2, "ann", 3, 1, 0);
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
    st->ops->online(st, 1, "s2", 2, "", 0, 1, 0);
    st->ops->online(st, 1, "s3", 2, "", 0, 1, 0);
    CHECK_EQ_INT(load(st, "s3", &g), 0);
    /* Online sessions survive the ttl; offline ones do not. */
    st->ops->tick(st, 5000);
    CHECK_EQ_INT(load(st, "s1", &g), 1);
    st->ops->online(st, 0, "s1", 2, "", 0, -1, 6000);
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
        st->ops->online(st, 1, sid, strlen(sid), "", 0, 1, 0);
        if (i % 5 == 0)
            st->ops->online(st, 0, sid, strlen(sid), "", 0, 1, 0);
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
    test_presence_many();
    return sss_test_done();
}
