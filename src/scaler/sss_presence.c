/* Per-channel subscription counts and users of a host (see sss_presence.h). */
#include "sss_presence.h"
#include "sss_alloc.h"
#include "sss_map.h"
#include "sss_proto.h"
#include "sss_wcount.h"

#include <stddef.h>
#include <string.h>

struct puser {
    char name[SSS_PROTO_CHANNEL_MAX + 1];
    uint32_t len;
    int64_t total;
    int32_t per_worker[]; /* nworkers */
};

struct pchan {
    char name[SSS_PROTO_CHANNEL_MAX + 1];
    uint32_t len;
    int64_t total;
    struct sss_map users; /* name -> struct puser (owned) */
    int32_t per_worker[]; /* nworkers */
};

static void chan_free(void *val);

struct sss_presence {
    int nworkers;
    struct sss_map chans; /* name -> struct pchan (owned) */
    void (*edge)(void *data, const char *chan, size_t len, int on);
    void *edge_data;
};

void sss_presence_on_edge(struct sss_presence *p,
                          void (*fn)(void *data, const char *chan, size_t len, int on), void *data)
{
    p->edge = fn;
    p->edge_data = data;
}

/* The host's last subscription to c is gone: tell, then free it. */
static void chan_gone(struct sss_presence *p, struct pchan *c)
{
    sss_map_del(&p->chans, c->name, c->len);
    if (p->edge)
        p->edge(p->edge_data, c->name, c->len, 0);
    chan_free(c);
}

struct sss_presence *sss_presence_create(int nworkers)
{
    struct sss_presence *p = sss_calloc(1, sizeof(*p));

    if (p) {
        p->nworkers = nworkers;
        sss_map_init(&p->chans);
    }
    return p;
}

/* A channel with its users (also sss_map_clear's free_fn). */
static void chan_free(void *val)
{
    struct pchan *c = val;

    sss_map_clear(&c->users, sss_free);
    sss_free(c);
}

void sss_presence_destroy(struct sss_presence *p)
{
    if (!p)
        return;
    sss_map_clear(&p->chans, chan_free);
    sss_free(p);
}

static void user_gone(struct pchan *c, struct puser *u)
{
    sss_map_del(&c->users, u->name, u->len);
    sss_free(u);
}

static void user_add(struct sss_presence *p, struct pchan *c, int w, const char *user,
                     size_t len, int delta)
{
    struct puser *u = sss_map_get(&c->users, user, len);

    if (!u) {
        if (delta <= 0 || len > SSS_PROTO_CHANNEL_MAX)
            return;
        u = sss_map_put_new(&c->users, sizeof(*u) + (size_t)p->nworkers * sizeof(int32_t),
                            offsetof(struct puser, name), user, len);
        if (!u)
            return;
        u->len = (uint32_t)len;
    }
    /* A worker's delta for what it never added is ignored. */
    if (sss_wcount_add(&u->per_worker[w], &u->total, delta) == 0 && u->total <= 0)
        user_gone(c, u);
}

void sss_presence_add(struct sss_presence *p, int w, const char *chan, size_t chan_len,
                      const char *user, size_t user_len, int delta)
{
    struct pchan *c;

    if (w < 0 || w >= p->nworkers || chan_len > SSS_PROTO_CHANNEL_MAX || !chan_len)
        return;
    c = sss_map_get(&p->chans, chan, chan_len);
    if (!c) {
        if (delta <= 0)
            return;
        c = sss_map_put_new(&p->chans, sizeof(*c) + (size_t)p->nworkers * sizeof(int32_t),
                            offsetof(struct pchan, name), chan, chan_len);
        if (!c)
            return;
        c->len = (uint32_t)chan_len;
        sss_map_init(&c->users);
        if (p->edge)
            p->edge(p->edge_data, c->name, c->len, 1);
    }
    if (c->per_worker[w] + delta < 0)
        return;
    if (user_len && delta < 0) {
        /* A removal must match something this worker added for that user. */
        struct puser *u = sss_map_get(&c->users, user, user_len);

        if (!u || u->per_worker[w] + delta < 0)
            return;
    }
    (void)sss_wcount_add(&c->per_worker[w], &c->total, delta); /* checked above */
    if (user_len)
        user_add(p, c, w, user, user_len, delta);
    if (c->total <= 0)
        chan_gone(p, c);
}

void sss_presence_reset_worker(struct sss_presence *p, int w)
{
    struct sss_map_iter ci, ui;
    struct pchan *c;
    struct puser *u;

    if (w < 0 || w >= p->nworkers)
        return;
    /* Each walk deletes only the entry it just returned: chan_gone removes c
     * (its edge callback reaches the engine, never this map). */
    for (sss_map_iter_init(&ci, &p->chans); (c = sss_map_next(&ci));) {
        if (!c->per_worker[w])
            continue;
        for (sss_map_iter_init(&ui, &c->users); (u = sss_map_next(&ui));)
            if (sss_wcount_drop(&u->per_worker[w], &u->total) && u->total <= 0)
                user_gone(c, u);
        (void)sss_wcount_drop(&c->per_worker[w], &c->total);
        if (c->total <= 0)
            chan_gone(p, c);
    }
}

int64_t sss_presence_get(struct sss_presence *p, const char *chan, size_t chan_len,
                         size_t max_users, void (*fn)(void *data, const char *user), void *data,
                         size_t *nusers)
{
    struct pchan *c = sss_map_get(&p->chans, chan, chan_len);
    struct sss_map_iter it;
    struct puser *u;
    size_t n = 0;

    *nusers = 0;
    if (!c)
        return 0;
    for (sss_map_iter_init(&it, &c->users); n < max_users && (u = sss_map_next(&it)); n++)
        fn(data, u->name);
    *nusers = c->users.len;
    return c->total;
}
