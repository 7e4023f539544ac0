/*
 * The MongoDB store (--store mongodb --mongo URL; docs/store-mongodb.md).
 *
 * Local state is the memory store's (wrapped, owned): subscriptions and
 * uids of every session this host knows, so that the scaler's calls return
 * at once. Beside it, on the scaler's thread, a small record per session
 * (connections per worker, user, "fresh": first seen on this host) and a
 * list of sessions changed since the last hand-over ("dirty").
 *
 * One thread of our own (the only one that calls mongoc) owns a client of a
 * pool and serves, in this order: questions (a session's record, presence),
 * the first setup (indexes), the host's lease and the sweep of lapsed hosts,
 * and the writes. The two threads share, under one mutex:
 *   - pending: session -> the latest full record to write (struct snap).
 *     A change coalesces into the session's entry; a new session beyond
 *     --store-queue entries is dropped and counted. The thread takes up to
 *     BULK_MAX at a time into one unordered bulk of upserts; on failure they
 *     go back (unless a newer record came meanwhile) and the thread retries
 *     with backoff, so changes made while MongoDB is away are written when it
 *     returns.
 *   - qin / qout: questions asked and answered. The thread signals the
 *     eventfd when it answers; ops->poll_fd is an epoll fd over that eventfd
 *     and a timerfd that ticks while questions wait, so that a question
 *     never waits more than LOAD_WAIT_MS: past it the scaler answers from
 *     local state (a load) or with SSS_EUNAVAIL (presence).
 *   - counters, copied into st->stats by the scaler's thread in poll/tick.
 *
 * A load of a session with another connection on this host answers at once.
 * Otherwise the record in MongoDB decides when it was written by another host
 * (the client was there since) or when this host does not know the session;
 * its subscriptions then replace the local ones. MongoDB away: local answer.
 * A new session's record is handed over only once its load was answered
 * (or FRESH_HOLD_MS passed), so a host never overwrites what it is about to
 * read. Leases: see lease_and_sweep(); a host that finds its own lease gone
 * writes its online sessions again (resync).
 */
#include "sss_store.h"
#include "sss_alloc.h"
#include "sss_cfg.h"
#include "sss_err.h"
#include "sss_log.h"
#include "sss_map.h"
#include "sss_time.h"

#include <mongoc/mongoc.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define LOAD_WAIT_MS 1000   /* a question waits at most this long for MongoDB */
#define BULK_MAX 500        /* records per bulk write */
#define BACKOFF_MIN_MS 100  /* first retry after a failed call */
#define BACKOFF_MAX_MS 2000 /* retries while MongoDB is away */
#define DIRTY_FLUSH 1024    /* hand over at once past this many changed sessions */
#define FRESH_HOLD_MS 5000  /* a new session's record waits this long at most for its load */
#define PURGE_EVERY_MS 60000
#define HOSTS_SWEEP_MAX 64

struct snap_sub {
    char chan[SSS_PROTO_CHANNEL_MAX + 1];
    int has_uid;
    struct sss_uid uid;
};

/* The full record of one session as it should be in MongoDB (gone: deleted). */
struct snap {
    char id[SSS_PROTO_SESSION_KEY_MAX + 1];
    char user[SSS_PROTO_CHANNEL_MAX + 1];
    int online;
    int gone; /* forgotten to make room (--max-sessions): delete this host's record */
    int64_t at_ms; /* wall clock of the change */
    uint32_t nsubs;
    struct snap_sub subs[];
};

/* The scaler thread's view of a session (the memory store keeps its subscriptions). */
struct lsess {
    char id[SSS_PROTO_SESSION_KEY_MAX + 1];
    uint32_t len;
    char user[SSS_PROTO_CHANNEL_MAX + 1];
    struct sss_store_conns conns;
    int fresh; /* first seen with the connection now online: MongoDB may know more */
    int64_t fresh_since;
    int dirty; /* in the dirty list */
    int32_t per_worker[];
};

enum { Q_LOAD, Q_PRESENCE };

struct query {
    STAILQ_ENTRY(query) link;  /* qin / qout (under the mutex) */
    TAILQ_ENTRY(query) wlink;  /* waiting list (scaler thread), until answered */
    int kind;
    int answered; /* scaler thread: the callback ran */
    int64_t deadline;
    char key[SSS_PROTO_SESSION_KEY_MAX + SSS_PROTO_CHANNEL_MAX + 1]; /* session or channel */
    size_t key_len, max_users;
    struct sss_store_load_cb load_cb;
    struct sss_store_presence_cb presence_cb;
    /* The answer, filled by the thread. */
    int rc; /* 0 or SSS_EUNAVAIL */
    int found;
    char host[128];
    struct snap *doc; /* owned */
    int64_t count;
    char **users; /* owned, nusers strings */
    size_t nusers;
};

struct mongo_store {
    struct sss_store base;
    struct sss_store *mem; /* owned */
    char host_id[128];
    char db_name[128];
    int64_t ttl_ms, lease_ms;
    uint32_t max_sessions, queue_max;
    int nworkers;
    /* Scaler thread only. */
    struct sss_map local; /* id -> struct lsess (owned) */
    struct lsess **dirty;
    uint32_t ndirty, dirty_cap;
    TAILQ_HEAD(, query) waiting; /* questions waiting, oldest first */
    int timer_on;
    struct snap_sub *scratch;
    uint32_t nscratch, scratch_cap;
    int efd, tfd, epfd;
    /* The thread and what it shares. */
    mongoc_uri_t *uri;           /* owned */
    mongoc_client_pool_t *pool;  /* owned */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct sss_map pending; /* id -> struct snap (owned) */
    uint64_t inflight;
    STAILQ_HEAD(, query) qin, qout;
    uint64_t written, errors, dropped;
    int connected; /* -1 not tried yet, 0 away, 1 answered the last call */
    int dropping;  /* the queue overflowed since the last successful write */
    int resync;    /* this host's lease was (re)created: write every online session again */
};

/* ------------------------------------------------------------------------ */
/* Shared queue (any thread, under ms->mu). */

static void drop_locked(struct mongo_store *ms, struct snap *sn)
{
    ms->dropped++;
    if (!ms->dropping) {
        ms->dropping = 1;
        sss_log_warn("store", "mongodb: write queue full (--store-queue=%u): dropping session "
                     "records", ms->queue_max);
    }
    sss_free(sn);
}

/* Queue sn (owned) unless a newer record of its session waits (older: sn came back). */
static void enqueue_locked(struct mongo_store *ms, struct snap *sn, int older)
{
    size_t len = strlen(sn->id);
    struct snap *cur = sss_map_get(&ms->pending, sn->id, len);

    if (cur && older) {
        sss_free(sn);
        return;
    }
    if (cur) {
        sss_map_del(&ms->pending, cur->id, len);
        sss_free(cur);
    } else if (ms->pending.len >= ms->queue_max) {
        drop_locked(ms, sn);
        return;
    }
    if (sss_map_put(&ms->pending, sn->id, len, sn) < 0)
        drop_locked(ms, sn);
}

static void set_connected_locked(struct mongo_store *ms, int up, const bson_error_t *err)
{
    if (up && ms->connected != 1)
        sss_log_info("store", "mongodb: connected db=%s host_id=%s", ms->db_name, ms->host_id);
    else if (!up && ms->connected != 0)
        sss_log_warn("store", "mongodb: unreachable, records wait (queue %u): %s", ms->queue_max,
                     err ? err->message : "?");
    ms->connected = up;
}

static void signal_scaler(struct mongo_store *ms)
{
    uint64_t one = 1;

    if (write(ms->efd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already non-zero, the scaler will look. */
    }
}

/* ------------------------------------------------------------------------ */
/* The thread: every mongoc call is made here. */

static void append_now_plus(bson_t *b, const char *key, int64_t wall_ms)
{
    bson_append_date_time(b, key, -1, wall_ms);
}

static void note_result(struct mongo_store *ms, int ok, const bson_error_t *err)
{
    pthread_mutex_lock(&ms->mu);
    if (!ok)
        ms->errors++;
    set_connected_locked(ms, ok, err);
    pthread_mutex_unlock(&ms->mu);
}

static void snap_to_update(const struct mongo_store *ms, const struct snap *sn, bson_t *upd)
{
    bson_t set, subs, sub;
    char key[16], ubuf[SSS_PROTO_UID_BUF];

    bson_append_document_begin(upd, "$set", -1, &set);
    BSON_APPEND_UTF8(&set, "user", sn->user);
    BSON_APPEND_UTF8(&set, "host", ms->host_id);
    BSON_APPEND_BOOL(&set, "online", sn->online);
    bson_append_array_begin(&set, "subs", -1, &subs);
    for (uint32_t i = 0; i < sn->nsubs; i++) {
        const char *k;

        bson_uint32_to_string(i, &k, key, sizeof(key));
        bson_append_document_begin(&subs, k, -1, &sub);
        BSON_APPEND_UTF8(&sub, "chan", sn->subs[i].chan);
        if (sn->subs[i].has_uid) {
            sss_proto_uid_format(&sn->subs[i].uid, ubuf, sizeof(ubuf));
            BSON_APPEND_UTF8(&sub, "uid", ubuf);
        } else {
            BSON_APPEND_NULL(&sub, "uid");
        }
        bson_append_document_end(&subs, &sub);
    }
    bson_append_array_end(&set, &subs);
    append_now_plus(&set, "updated", sn->at_ms);
    bson_append_document_end(upd, &set);
}

/* One unordered bulk of upserts. Returns 1 written, 0 MongoDB away (retry), -1 refused. */
static int write_batch(struct mongo_store *ms, mongoc_collection_t *coll, struct snap **b,
                       uint32_t n)
{
    bson_t opts = BSON_INITIALIZER, uopts = BSON_INITIALIZER, reply;
    mongoc_bulk_operation_t *bulk;
    bson_error_t err;
    bson_iter_t it;
    int ok = 1;

    BSON_APPEND_BOOL(&opts, "ordered", false);
    BSON_APPEND_BOOL(&uopts, "upsert", true);
    bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
    for (uint32_t i = 0; i < n && ok; i++) {
        bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER;

        BSON_APPEND_UTF8(&sel, "_id", b[i]->id);
        if (b[i]->gone) {
            /* Only while it is ours: a host the client moved to keeps its record. */
            BSON_APPEND_UTF8(&sel, "host", ms->host_id);
            ok = mongoc_bulk_operation_remove_one_with_opts(bulk, &sel, NULL, &err);
            bson_destroy(&sel);
            bson_destroy(&upd);
            continue;
        }
        snap_to_update(ms, b[i], &upd);
        ok = mongoc_bulk_operation_update_one_with_opts(bulk, &sel, &upd, &uopts, &err);
        bson_destroy(&sel);
        bson_destroy(&upd);
    }
    if (!ok) {
        /* A record the driver refuses (it cannot be valid later either). */
        sss_log_error("store", "mongodb: bad record: %s", err.message);
        mongoc_bulk_operation_destroy(bulk);
        bson_destroy(&opts);
        bson_destroy(&uopts);
        return -1;
    }
    ok = (int)mongoc_bulk_operation_execute(bulk, &reply, &err);
    if (!ok && bson_iter_init_find(&it, &reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t child;

        /* The server answered and refused some records: retrying cannot help. */
        if (bson_iter_recurse(&it, &child) && bson_iter_next(&child)) {
            note_result(ms, 1, NULL);
            sss_log_error("store", "mongodb: records refused: %s", err.message);
            ok = -1;
        }
    }
    if (ok == 0)
        note_result(ms, 0, &err);
    else if (ok == 1)
        note_result(ms, 1, NULL);
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(&opts);
    bson_destroy(&uopts);
    return ok;
}

/* Take up to BULK_MAX pending records into b (under the mutex). */
static uint32_t take_batch_locked(struct mongo_store *ms, struct snap **b)
{
    struct sss_map_iter it;
    struct snap *sn;
    uint32_t n = 0;

    for (sss_map_iter_init(&it, &ms->pending); n < BULK_MAX && (sn = sss_map_next(&it));) {
        sss_map_del(&ms->pending, sn->id, strlen(sn->id));
        b[n++] = sn;
    }
    ms->inflight = n;
    return n;
}

/* Write one batch; 1 written or refused, 0 MongoDB away (the records wait again). */
static int write_some(struct mongo_store *ms, mongoc_collection_t *coll)
{
    static __thread struct snap *b[BULK_MAX];
    uint32_t n;
    int rc;

    pthread_mutex_lock(&ms->mu);
    n = take_batch_locked(ms, b);
    pthread_mutex_unlock(&ms->mu);
    if (!n)
        return 1;
    rc = write_batch(ms, coll, b, n);
    pthread_mutex_lock(&ms->mu);
    for (uint32_t i = 0; i < n; i++) {
        if (rc == 0) {
            enqueue_locked(ms, b[i], 1);
        } else {
            if (rc > 0)
                ms->written++;
            else
                ms->dropped++;
            sss_free(b[i]);
        }
    }
    ms->inflight = 0;
    if (rc > 0 && ms->dropping && ms->pending.len < ms->queue_max) {
        ms->dropping = 0;
        sss_log_info("store", "mongodb: writes flow again; %llu records dropped in all",
                     (unsigned long long)ms->dropped);
    }
    pthread_mutex_unlock(&ms->mu);
    return rc != 0;
}

static int run_command(mongoc_database_t *db, const bson_t *cmd, bson_error_t *err)
{
    bson_t reply;
    int ok = (int)mongoc_database_write_command_with_opts(db, cmd, NULL, &reply, err);

    bson_destroy(&reply);
    return ok;
}

/*
 * Mark a host's online sessions offline as of now; before_ms > 0: only those
 * written before then (a lapsed host's: what it wrote since is news). *n, if
 * not NULL, gets how many changed. Returns 1, or 0 with *err set.
 */
static int mark_offline(mongoc_collection_t *sessions, const char *host, int64_t before_ms,
                        int64_t now, int64_t *n, bson_error_t *err)
{
    bson_t *sel = BCON_NEW("host", BCON_UTF8(host), "online", BCON_BOOL(true));
    bson_t *upd = BCON_NEW("$set", "{", "online", BCON_BOOL(false), "updated",
                           BCON_DATE_TIME(now), "}");
    bson_t reply;
    bson_iter_t it;
    int ok;

    if (before_ms > 0)
        BCON_APPEND(sel, "updated", "{", "$lt", BCON_DATE_TIME(before_ms), "}");
    ok = (int)mongoc_collection_update_many(sessions, sel, upd, NULL, &reply, err);
    if (n)
        *n = ok && bson_iter_init_find(&it, &reply, "modifiedCount") ? bson_iter_as_int64(&it) : 0;
    bson_destroy(&reply);
    bson_destroy(sel);
    bson_destroy(upd);
    return ok;
}

/* Indexes (idempotent), and this host's sessions a previous run left online. */
static int setup(struct mongo_store *ms, mongoc_client_t *cl)
{
    mongoc_database_t *db = mongoc_client_get_database(cl, ms->db_name);
    mongoc_collection_t *sessions = mongoc_client_get_collection(cl, ms->db_name, "sessions");
    bson_t *cmd;
    static const char *const index_keys[] = {"user", "subs.chan", "host"};
    bson_error_t err;
    int ok = 1;

    /* One index per command: FerretDB 1.24 panics (and drops the connection)
     * on a createIndexes of several indexes that all exist already. */
    for (size_t i = 0; ok && i < sizeof(index_keys) / sizeof(index_keys[0]); i++) {
        char name[32];

        snprintf(name, sizeof(name), "%s_1", index_keys[i]);
        cmd = BCON_NEW("createIndexes", BCON_UTF8("sessions"), "indexes", "[", "{", "key", "{",
                       index_keys[i], BCON_INT32(1), "}", "name", BCON_UTF8(name), "}", "]");
        ok = run_command(db, cmd, &err);
        bson_destroy(cmd);
    }
    if (ok)
        ok = mark_offline(sessions, ms->host_id, 0, sss_wall_ms(), NULL, &err);
    note_result(ms, ok, ok ? NULL : &err);
    if (ok)
        sss_log_debug("store", "mongodb: indexes ready in %s", ms->db_name);
    mongoc_collection_destroy(sessions);
    mongoc_database_destroy(db);
    return ok;
}

/*
 * Refresh this host's lease; hosts whose lease lapsed get their sessions
 * marked offline and their entry removed; now and then, records offline for
 * longer than --session-ttl go. Returns 1, or 0 if MongoDB is away.
 */
static int lease_and_sweep(struct mongo_store *ms, mongoc_client_t *cl, int purge)
{
    mongoc_collection_t *hosts = mongoc_client_get_collection(cl, ms->db_name, "hosts");
    mongoc_collection_t *sessions = mongoc_client_get_collection(cl, ms->db_name, "sessions");
    int64_t now = sss_wall_ms();
    char lapsed[HOSTS_SWEEP_MAX][128];
    int64_t lapsed_until[HOSTS_SWEEP_MAX];
    int nlapsed = 0, ok;
    bson_t *sel, *upd, *opts, reply;
    bson_error_t err;
    bson_iter_t it;

    sel = BCON_NEW("_id", BCON_UTF8(ms->host_id));
    upd = BCON_NEW("$set", "{", "lease_until", BCON_DATE_TIME(now + ms->lease_ms), "pid",
                   BCON_INT32((int32_t)getpid()), "}", "$setOnInsert", "{", "started",
                   BCON_DATE_TIME(now), "}");
    opts = BCON_NEW("upsert", BCON_BOOL(true));
    ok = (int)mongoc_collection_update_one(hosts, sel, upd, opts, &reply, &err);
    if (ok && bson_iter_init_find(&it, &reply, "upsertedCount") && bson_iter_as_int64(&it) > 0) {
        /* No lease of ours was there: this host starts, or another host
         * found it lapsed (MongoDB was away longer than the lease) and set
         * our sessions offline. Either way, the scaler writes its online
         * sessions again. */
        pthread_mutex_lock(&ms->mu);
        ms->resync = 1;
        pthread_mutex_unlock(&ms->mu);
        signal_scaler(ms);
    }
    bson_destroy(&reply);
    bson_destroy(sel);
    bson_destroy(upd);
    bson_destroy(opts);
    if (ok) {
        mongoc_cursor_t *cur;
        const bson_t *doc;

        sel = BCON_NEW("lease_until", "{", "$lt", BCON_DATE_TIME(now), "}", "_id", "{", "$ne",
                       BCON_UTF8(ms->host_id), "}");
        opts = BCON_NEW("limit", BCON_INT64(HOSTS_SWEEP_MAX));
        cur = mongoc_collection_find_with_opts(hosts, sel, opts, NULL);
        while (nlapsed < HOSTS_SWEEP_MAX && mongoc_cursor_next(cur, &doc)) {
            if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
                uint32_t l;
                const char *h = bson_iter_utf8(&it, &l);

                bson_iter_t u;

                if (l < sizeof(lapsed[0]) && bson_iter_init_find(&u, doc, "lease_until") &&
                    BSON_ITER_HOLDS_DATE_TIME(&u)) {
                    memcpy(lapsed[nlapsed], h, l + 1);
                    lapsed_until[nlapsed++] = bson_iter_date_time(&u);
                }
            }
        }
        ok = !mongoc_cursor_error(cur, &err);
        mongoc_cursor_destroy(cur);
        bson_destroy(sel);
        bson_destroy(opts);
    }
    for (int i = 0; ok && i < nlapsed; i++) {
        int64_t n = 0, gone = 0;

        /* Its entry first, and only if still lapsed: a host that refreshed
         * before keeps everything; one that refreshes after re-creates its
         * lease and so writes its online sessions again (resync). */
        sel = BCON_NEW("_id", BCON_UTF8(lapsed[i]), "lease_until", "{", "$lt",
                       BCON_DATE_TIME(now), "}");
        ok = (int)mongoc_collection_delete_one(hosts, sel, NULL, &reply, &err);
        if (ok && bson_iter_init_find(&it, &reply, "deletedCount"))
            gone = bson_iter_as_int64(&it);
        bson_destroy(&reply);
        bson_destroy(sel);
        if (!ok || !gone)
            continue;
        /* Only what it wrote before its lease ran out: what it wrote since is news. */
        ok = mark_offline(sessions, lapsed[i], lapsed_until[i], now, &n, &err);
        if (ok)
            sss_log_info("store", "mongodb: host %s lost its lease: %lld sessions marked offline",
                         lapsed[i], (long long)n);
    }
    if (ok && purge) {
        sel = BCON_NEW("online", BCON_BOOL(false), "updated", "{", "$lt",
                       BCON_DATE_TIME(now - ms->ttl_ms), "}");
        ok = (int)mongoc_collection_delete_many(sessions, sel, NULL, NULL, &err);
        bson_destroy(sel);
    }
    note_result(ms, ok, ok ? NULL : &err);
    mongoc_collection_destroy(hosts);
    mongoc_collection_destroy(sessions);
    return ok;
}

/* Clean exit: this host's sessions go offline and its lease goes. */
static void sign_off(struct mongo_store *ms, mongoc_client_t *cl)
{
    mongoc_collection_t *hosts = mongoc_client_get_collection(cl, ms->db_name, "hosts");
    mongoc_collection_t *sessions = mongoc_client_get_collection(cl, ms->db_name, "sessions");
    bson_t *sel;
    bson_error_t err;
    int ok = mark_offline(sessions, ms->host_id, 0, sss_wall_ms(), NULL, &err);

    if (ok) {
        sel = BCON_NEW("_id", BCON_UTF8(ms->host_id));
        ok = (int)mongoc_collection_delete_one(hosts, sel, NULL, NULL, &err);
        bson_destroy(sel);
    }
    if (!ok)
        sss_log_warn("store", "mongodb: could not sign off: %s", err.message);
    else
        sss_log_info("store", "mongodb: signed off host_id=%s", ms->host_id);
    mongoc_collection_destroy(hosts);
    mongoc_collection_destroy(sessions);
}

static struct snap *doc_to_snap(const bson_t *doc, char *host, size_t host_cap)
{
    bson_iter_t it, subs, sub;
    uint32_t n = 0, l;
    struct snap *sn;

    host[0] = '\0';
    if (bson_iter_init_find(&it, doc, "host") && BSON_ITER_HOLDS_UTF8(&it)) {
        const char *h = bson_iter_utf8(&it, &l);

        if (l < host_cap)
            memcpy(host, h, l + 1);
    }
    if (bson_iter_init_find(&it, doc, "subs") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &subs))
        while (bson_iter_next(&subs))
            n++;
    sn = sss_calloc(1, sizeof(*sn) + n * sizeof(sn->subs[0]));
    if (!sn || !n)
        return sn;
    bson_iter_init_find(&it, doc, "subs");
    bson_iter_recurse(&it, &subs);
    while (bson_iter_next(&subs) && sn->nsubs < n) {
        struct snap_sub *s = &sn->subs[sn->nsubs];
        bson_iter_t f;
        const char *c;

        if (!BSON_ITER_HOLDS_DOCUMENT(&subs) || !bson_iter_recurse(&subs, &sub))
            continue;
        f = sub;
        if (!bson_iter_find(&f, "chan") || !BSON_ITER_HOLDS_UTF8(&f))
            continue;
        c = bson_iter_utf8(&f, &l);
        if (!l || l > SSS_PROTO_CHANNEL_MAX)
            continue;
        memcpy(s->chan, c, l);
        s->chan[l] = '\0';
        f = sub;
        if (bson_iter_find(&f, "uid") && BSON_ITER_HOLDS_UTF8(&f)) {
            c = bson_iter_utf8(&f, &l);
            s->has_uid = sss_proto_uid_parse(&s->uid, c, l) == 0;
        }
        sn->nsubs++;
    }
    return sn;
}

static void answer_load(struct mongo_store *ms, mongoc_collection_t *coll, struct query *q)
{
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(q->key)), *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    bson_error_t err;

    if (mongoc_cursor_next(cur, &doc)) {
        q->doc = doc_to_snap(doc, q->host, sizeof(q->host));
        q->found = q->doc != NULL;
    }
    if (mongoc_cursor_error(cur, &err)) {
        q->rc = SSS_EUNAVAIL;
        note_result(ms, 0, &err);
    } else {
        note_result(ms, 1, NULL);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
}

static void answer_presence(struct mongo_store *ms, mongoc_collection_t *coll, struct query *q)
{
    bson_t *filter = BCON_NEW("online", BCON_BOOL(true), "subs.chan", BCON_UTF8(q->key));
    bson_t *pipeline;
    mongoc_cursor_t *cur;
    const bson_t *doc;
    bson_error_t err;

    q->count = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &err);
    bson_destroy(filter);
    if (q->count < 0) {
        q->rc = SSS_EUNAVAIL;
        note_result(ms, 0, &err);
        return;
    }
    if (q->max_users) {
        q->users = sss_calloc(q->max_users, sizeof(char *));
        if (!q->users)
            return;
        pipeline = BCON_NEW("pipeline", "[", "{", "$match", "{", "online", BCON_BOOL(true),
                            "subs.chan", BCON_UTF8(q->key), "user", "{", "$ne", BCON_UTF8(""),
                            "}", "}", "}", "{", "$group", "{", "_id", BCON_UTF8("$user"), "}",
                            "}", "{", "$limit", BCON_INT64((int64_t)q->max_users), "}", "]");
        cur = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
        while (q->nusers < q->max_users && mongoc_cursor_next(cur, &doc)) {
            bson_iter_t it;
            uint32_t l;

            if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
                const char *u = bson_iter_utf8(&it, &l);

                if (l && (q->users[q->nusers] = sss_strndup(u, l)))
                    q->nusers++;
            }
        }
        if (mongoc_cursor_error(cur, &err)) {
            q->rc = SSS_EUNAVAIL;
            note_result(ms, 0, &err);
            mongoc_cursor_destroy(cur);
            bson_destroy(pipeline);
            return;
        }
        mongoc_cursor_destroy(cur);
        bson_destroy(pipeline);
    }
    note_result(ms, 1, NULL);
}

/* Answer every question of the list (taken from qin) and hand them back. */
/* cl NULL: no pool yet (its hosts do not resolve): every question fails as unavailable. */
static void answer_all(struct mongo_store *ms, mongoc_client_t *cl, struct query *list)
{
    mongoc_collection_t *coll =
        cl ? mongoc_client_get_collection(cl, ms->db_name, "sessions") : NULL;

    while (list) {
        struct query *q = list;
        int stop;

        list = STAILQ_NEXT(q, link);
        pthread_mutex_lock(&ms->mu);
        stop = ms->stop;
        pthread_mutex_unlock(&ms->mu);
        if (stop || !coll)
            q->rc = SSS_EUNAVAIL;
        else if (q->kind == Q_LOAD)
            answer_load(ms, coll, q);
        else
            answer_presence(ms, coll, q);
        pthread_mutex_lock(&ms->mu);
        STAILQ_INSERT_TAIL(&ms->qout, q, link);
        pthread_mutex_unlock(&ms->mu);
        signal_scaler(ms);
    }
    if (coll)
        mongoc_collection_destroy(coll);
}

static void wait_until_locked(struct mongo_store *ms, int64_t until_mono)
{
    int64_t wait = until_mono - sss_now_ms();
    struct timespec ts;

    if (wait <= 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += wait / 1000;
    ts.tv_nsec += (wait % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&ms->cv, &ms->mu, &ts);
}

static int64_t backoff_next(int64_t *backoff)
{
    *backoff = *backoff ? *backoff * 2 : BACKOFF_MIN_MS;
    if (*backoff > BACKOFF_MAX_MS)
        *backoff = BACKOFF_MAX_MS;
    return sss_now_ms() + *backoff;
}

/*
 * Make the client pool, again with backoff while it fails: a mongodb+srv://
 * URI is resolved (SRV and TXT records) right here, and DNS may not answer
 * yet. Questions asked meanwhile fail as unavailable. Returns 0, or -1 when
 * the store stops first. Called with the lock held; returns with it held.
 */
static int pool_wait_locked(struct mongo_store *ms)
{
    int64_t backoff = 0;

    while (!ms->pool && !ms->stop) {
        struct query *list = STAILQ_FIRST(&ms->qin);
        mongoc_client_pool_t *pool;
        bson_error_t err;

        STAILQ_INIT(&ms->qin);
        pthread_mutex_unlock(&ms->mu);
        if (list)
            answer_all(ms, NULL, list);
        memset(&err, 0, sizeof(err));
        pool = mongoc_client_pool_new_with_error(ms->uri, &err);
        if (pool)
            mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
        pthread_mutex_lock(&ms->mu);
        ms->pool = pool;
        if (!pool) {
            set_connected_locked(ms, 0, &err);
            wait_until_locked(ms, backoff_next(&backoff));
        }
    }
    return ms->pool ? 0 : -1;
}

static void *thread_main(void *arg)
{
    struct mongo_store *ms = arg;
    mongoc_client_t *cl;
    mongoc_collection_t *sessions;
    int64_t next_setup = 0, next_lease = 0, next_write = 0, next_purge = 0, backoff = 0;
    int ready = 0, up;

    pthread_mutex_lock(&ms->mu);
    if (pool_wait_locked(ms) < 0) {
        pthread_mutex_unlock(&ms->mu);
        return NULL;
    }
    pthread_mutex_unlock(&ms->mu);
    cl = mongoc_client_pool_pop(ms->pool);
    sessions = mongoc_client_get_collection(cl, ms->db_name, "sessions");
    pthread_mutex_lock(&ms->mu);
    while (!ms->stop) {
        int64_t now = sss_now_ms(), until;

        if (!STAILQ_EMPTY(&ms->qin)) {
            struct query *list = STAILQ_FIRST(&ms->qin);

            STAILQ_INIT(&ms->qin);
            pthread_mutex_unlock(&ms->mu);
            answer_all(ms, cl, list);
            pthread_mutex_lock(&ms->mu);
            continue;
        }
        if (!ready && now >= next_setup) {
            pthread_mutex_unlock(&ms->mu);
            ready = setup(ms, cl);
            if (!ready)
                next_setup = backoff_next(&backoff);
            pthread_mutex_lock(&ms->mu);
            continue;
        }
        if (ready && now >= next_lease) {
            int purge = now >= next_purge;

            pthread_mutex_unlock(&ms->mu);
            up = lease_and_sweep(ms, cl, purge);
            if (up) {
                backoff = 0;
                next_lease = sss_now_ms() + ms->lease_ms / 3;
                if (purge)
                    next_purge = sss_now_ms() + PURGE_EVERY_MS;
            } else {
                next_lease = backoff_next(&backoff);
                next_write = next_lease;
            }
            pthread_mutex_lock(&ms->mu);
            continue;
        }
        if (ready && ms->pending.len && now >= next_write) {
            pthread_mutex_unlock(&ms->mu);
            if (write_some(ms, sessions)) {
                backoff = 0;
            } else {
                next_write = backoff_next(&backoff);
                next_lease = next_write < next_lease ? next_write : next_lease;
            }
            signal_scaler(ms); /* the counters moved */
            pthread_mutex_lock(&ms->mu);
            continue;
        }
        until = ready ? next_lease : next_setup;
        if (ready && ms->pending.len && next_write < until)
            until = next_write;
        wait_until_locked(ms, until);
    }
    /* Clean exit, bounded: only if MongoDB answered lately, one try each. */
    up = ms->connected == 1 && ready;
    pthread_mutex_unlock(&ms->mu);
    if (up) {
        for (int i = 0; i < 100; i++) {
            uint64_t left;

            pthread_mutex_lock(&ms->mu);
            left = ms->pending.len;
            pthread_mutex_unlock(&ms->mu);
            if (!left || !write_some(ms, sessions))
                break;
        }
        sign_off(ms, cl);
    }
    mongoc_collection_destroy(sessions);
    mongoc_client_pool_push(ms->pool, cl);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The scaler's thread. */

static void scratch_entry(void *data, const char *chan, size_t chan_len, int has_uid,
                          const struct sss_uid *uid)
{
    struct mongo_store *ms = data;
    struct snap_sub *s;

    if (chan_len > SSS_PROTO_CHANNEL_MAX)
        return;
    if (ms->nscratch == ms->scratch_cap) {
        uint32_t cap = ms->scratch_cap ? ms->scratch_cap * 2 : 16;
        struct snap_sub *n = sss_realloc(ms->scratch, cap * sizeof(*n));

        if (!n)
            return;
        ms->scratch = n;
        ms->scratch_cap = cap;
    }
    s = &ms->scratch[ms->nscratch++];
    memcpy(s->chan, chan, chan_len);
    s->chan[chan_len] = '\0';
    s->has_uid = has_uid;
    if (has_uid)
        s->uid = *uid;
}

static void scratch_done(void *data, int found, int kept)
{
    (void)data;
    (void)found;
    (void)kept;
}

/* The memory store's subscriptions of the session into ms->scratch. */
static void load_scratch(struct mongo_store *ms, const char *id, size_t len)
{
    struct sss_store_load_cb cb = {scratch_entry, scratch_done, ms};

    ms->nscratch = 0;
    ms->mem->ops->load(ms->mem, id, len, &cb);
}

static void mark_dirty(struct mongo_store *ms, struct lsess *ls);

/* Hand every changed session's full record to the thread. */
static void flush_dirty(struct mongo_store *ms)
{
    int any = 0;

    uint32_t keep = 0;
    int64_t now = sss_now_ms();

    for (uint32_t i = 0; i < ms->ndirty; i++) {
        struct lsess *ls = ms->dirty[i];
        struct snap *sn;

        /* Its load has not been answered: writing now would overwrite the
         * record that load is about to read (bounded, should no load come). */
        if (ls->fresh && now - ls->fresh_since < FRESH_HOLD_MS) {
            ms->dirty[keep++] = ls;
            continue;
        }
        ls->dirty = 0;
        load_scratch(ms, ls->id, ls->len);
        sn = sss_malloc(sizeof(*sn) + ms->nscratch * sizeof(sn->subs[0]));
        pthread_mutex_lock(&ms->mu);
        if (!sn) {
            ms->dropped++;
            pthread_mutex_unlock(&ms->mu);
            continue;
        }
        memcpy(sn->id, ls->id, ls->len + 1);
        memcpy(sn->user, ls->user, sizeof(sn->user));
        sn->online = ls->conns.online > 0;
        sn->gone = 0;
        sn->at_ms = sss_wall_ms();
        sn->nsubs = ms->nscratch;
        if (ms->nscratch)
            memcpy(sn->subs, ms->scratch, ms->nscratch * sizeof(sn->subs[0]));
        enqueue_locked(ms, sn, 0);
        pthread_mutex_unlock(&ms->mu);
        any = 1;
    }
    ms->ndirty = keep;
    if (any) {
        pthread_mutex_lock(&ms->mu);
        pthread_cond_signal(&ms->cv);
        pthread_mutex_unlock(&ms->mu);
    }
}

static void mark_dirty(struct mongo_store *ms, struct lsess *ls)
{
    if (ls->dirty)
        return;
    if (ms->ndirty == ms->dirty_cap) {
        uint32_t cap = ms->dirty_cap ? ms->dirty_cap * 2 : 64;
        struct lsess **n = sss_realloc(ms->dirty, cap * sizeof(*n));

        if (!n) {
            pthread_mutex_lock(&ms->mu);
            ms->dropped++;
            pthread_mutex_unlock(&ms->mu);
            return;
        }
        ms->dirty = n;
        ms->dirty_cap = cap;
    }
    ls->dirty = 1;
    ms->dirty[ms->ndirty++] = ls;
    signal_scaler(ms); /* the scaler's next turn calls poll, which hands it over */
    if (ms->ndirty >= DIRTY_FLUSH)
        flush_dirty(ms);
}

static struct lsess *lget(struct mongo_store *ms, const char *id, size_t len, int create,
                          int *created)
{
    struct lsess *ls = sss_map_get(&ms->local, id, len);

    if (created)
        *created = 0;
    if (ls || !create || !len || len > SSS_PROTO_SESSION_KEY_MAX || ms->local.len >= ms->max_sessions)
        return ls;
    ls = sss_calloc(1, sizeof(*ls) + (size_t)ms->nworkers * sizeof(int32_t));
    if (!ls)
        return NULL;
    memcpy(ls->id, id, len);
    ls->len = (uint32_t)len;
    if (sss_map_put(&ms->local, ls->id, len, ls) < 0) {
        sss_free(ls);
        return NULL;
    }
    if (created)
        *created = 1;
    return ls;
}

/* The memory store's session counters are the store's. */
static void copy_mem_stats(struct mongo_store *ms)
{
    const struct sss_store_stats *m = &ms->mem->stats;

    ms->base.stats.sessions = m->sessions;
    ms->base.stats.sessions_anon = m->sessions_anon;
    ms->base.stats.anon_limited = m->anon_limited;
    ms->base.stats.evicted = m->evicted;
    ms->base.stats.refused = m->refused;
}

/*
 * The memory store forgot a session to make room: so does this host (its
 * local record, a pending hand-over) and MongoDB (the record, if this host
 * wrote it last). Runs inside mem's online: touches only local and dirty.
 */
static void on_mem_evict(void *data, const char *id, size_t len)
{
    struct mongo_store *ms = data;
    struct lsess *ls = sss_map_del(&ms->local, id, len);
    struct snap *sn;

    if (!ls)
        return;
    if (ls->dirty)
        for (uint32_t i = 0; i < ms->ndirty; i++)
            if (ms->dirty[i] == ls) {
                ms->dirty[i] = ms->dirty[--ms->ndirty];
                break;
            }
    sn = sss_calloc(1, sizeof(*sn));
    pthread_mutex_lock(&ms->mu);
    if (sn) {
        memcpy(sn->id, ls->id, ls->len + 1);
        sn->gone = 1;
        sn->at_ms = sss_wall_ms();
        enqueue_locked(ms, sn, 0);
        pthread_cond_signal(&ms->cv);
    } else {
        ms->dropped++;
    }
    pthread_mutex_unlock(&ms->mu);
    sss_free(ls);
}

static void ms_online(struct sss_store *st, int w, const char *id, size_t len, const char *user,
                      size_t user_len, int delta, unsigned flags, int64_t now)
{
    struct mongo_store *ms = (struct mongo_store *)st;
    int created, was;
    struct lsess *ls;

    ms->mem->ops->online(ms->mem, w, id, len, user, user_len, delta, flags, now);
    copy_mem_stats(ms);
    /* A session the memory store refused (limits) is not this host's either. */
    ls = lget(ms, id, len, delta > 0 && sss_store_mem_has(ms->mem, id, len), &created);
    if (!ls || w < 0 || w >= ms->nworkers)
        return;
    was = ls->conns.online > 0;
    if (sss_store_conns_add(&ls->conns, &ls->per_worker[w], delta, now) < 0)
        return;
    if (created) {
        ls->fresh = 1;
        ls->fresh_since = sss_now_ms();
    }
    if (user_len && user_len <= SSS_PROTO_CHANNEL_MAX &&
        (strlen(ls->user) != user_len || memcmp(ls->user, user, user_len) != 0)) {
        memcpy(ls->user, user, user_len);
        ls->user[user_len] = '\0';
        was = -1; /* write it */
    }
    if (was != (ls->conns.online > 0))
        mark_dirty(ms, ls);
}

static void ms_reset_worker(struct sss_store *st, int w, int64_t now)
{
    struct mongo_store *ms = (struct mongo_store *)st;
    struct sss_map_iter it;
    struct lsess *ls;

    ms->mem->ops->reset_worker(ms->mem, w, now);
    if (w < 0 || w >= ms->nworkers)
        return;
    /* mark_dirty may hand records over (flush_dirty): that changes pending,
     * never local. */
    for (sss_map_iter_init(&it, &ms->local); (ls = sss_map_next(&it));)
        if (sss_store_conns_drop(&ls->conns, &ls->per_worker[w], now) && !ls->conns.online)
            mark_dirty(ms, ls);
}

static void ms_subscribe(struct sss_store *st, const char *id, size_t len, const char *chan,
                         size_t chan_len, int has_uid, const struct sss_uid *uid)
{
    struct mongo_store *ms = (struct mongo_store *)st;
    struct lsess *ls;

    ms->mem->ops->subscribe(ms->mem, id, len, chan, chan_len, has_uid, uid);
    ls = lget(ms, id, len, 1, NULL);
    if (ls)
        mark_dirty(ms, ls);
}

static void ms_unsubscribe(struct sss_store *st, const char *id, size_t len, const char *chan,
                           size_t chan_len)
{
    struct mongo_store *ms = (struct mongo_store *)st;
    struct lsess *ls;

    ms->mem->ops->unsubscribe(ms->mem, id, len, chan, chan_len);
    ls = lget(ms, id, len, 0, NULL);
    if (ls)
        mark_dirty(ms, ls);
}

/* Answer a load from local state; the session is known here unless it was fresh. */
static void answer_local(struct mongo_store *ms, struct lsess *ls, const char *id, size_t len,
                         const struct sss_store_load_cb *cb)
{
    int found = ls && !ls->fresh, kept = ls && sss_store_mem_has(ms->mem, id, len);

    load_scratch(ms, id, len);
    for (uint32_t i = 0; i < ms->nscratch; i++)
        cb->entry(cb->data, ms->scratch[i].chan, strlen(ms->scratch[i].chan),
                  ms->scratch[i].has_uid, &ms->scratch[i].uid);
    if (ms->nscratch)
        found = 1;
    if (ls)
        ls->fresh = 0;
    cb->done(cb->data, found, kept);
}

/*
 * Hand a question to the store's thread: on the waiting list (the scaler's,
 * for the deadline) and on qin (the thread's), and keep the timer ticking
 * while questions wait.
 */
static void ask_thread(struct mongo_store *ms, struct query *q)
{
    q->deadline = sss_now_ms() + LOAD_WAIT_MS;
    TAILQ_INSERT_TAIL(&ms->waiting, q, wlink);
    pthread_mutex_lock(&ms->mu);
    STAILQ_INSERT_TAIL(&ms->qin, q, link);
    pthread_cond_signal(&ms->cv);
    pthread_mutex_unlock(&ms->mu);
    if (!ms->timer_on) {
        struct itimerspec its = {{0, 100 * 1000000}, {0, 100 * 1000000}};

        if (timerfd_settime(ms->tfd, 0, &its, NULL) == 0)
            ms->timer_on = 1;
    }
}

static void ms_load(struct sss_store *st, const char *id, size_t len,
                    const struct sss_store_load_cb *cb)
{
    struct mongo_store *ms = (struct mongo_store *)st;
    struct lsess *ls = lget(ms, id, len, 0, NULL);
    struct query *q;
    int connected;

    pthread_mutex_lock(&ms->mu);
    connected = ms->connected;
    pthread_mutex_unlock(&ms->mu);
    /* Another connection of it is here now: this host has the latest. */
    if ((ls && !ls->fresh && ls->conns.online > 1) || connected == 0 || !len ||
        len > SSS_PROTO_SESSION_KEY_MAX) {
        answer_local(ms, ls, id, len, cb);
        return;
    }
    q = sss_calloc(1, sizeof(*q));
    if (!q) {
        answer_local(ms, ls, id, len, cb);
        return;
    }
    q->kind = Q_LOAD;
    memcpy(q->key, id, len);
    q->key_len = len;
    q->load_cb = *cb;
    ask_thread(ms, q);
}

static void ms_presence(struct sss_store *st, const char *chan, size_t len, size_t max_users,
                        const struct sss_store_presence_cb *cb)
{
    struct mongo_store *ms = (struct mongo_store *)st;
    struct query *q;
    int connected;

    pthread_mutex_lock(&ms->mu);
    connected = ms->connected;
    pthread_mutex_unlock(&ms->mu);
    if (connected == 0 || !len || len > SSS_PROTO_CHANNEL_MAX ||
        !(q = sss_calloc(1, sizeof(*q)))) {
        cb->done(cb->data, connected == 0 ? SSS_EUNAVAIL : len ? -ENOMEM : SSS_EINVAL, 0, NULL,
                 0);
        return;
    }
    q->kind = Q_PRESENCE;
    memcpy(q->key, chan, len);
    q->key_len = len;
    q->max_users = max_users > 1000 ? 1000 : max_users;
    q->presence_cb = *cb;
    ask_thread(ms, q);
}

static void query_free(struct query *q)
{
    for (size_t i = 0; i < q->nusers; i++)
        sss_free(q->users[i]);
    sss_free(q->users);
    sss_free(q->doc);
    sss_free(q);
}

static void unwait(struct mongo_store *ms, struct query *q)
{
    TAILQ_REMOVE(&ms->waiting, q, wlink);
    q->answered = 1;
}

/* Run q's callback: with its answer, or (timed_out) without one. */
static void answer(struct mongo_store *ms, struct query *q, int timed_out)
{
    struct lsess *ls;

    unwait(ms, q);
    if (q->kind == Q_PRESENCE) {
        int rc = timed_out ? SSS_EUNAVAIL : q->rc;

        q->presence_cb.done(q->presence_cb.data, rc, rc < 0 ? 0 : q->count,
                            (const char *const *)q->users, rc < 0 ? 0 : q->nusers);
        return;
    }
    ls = lget(ms, q->key, q->key_len, 0, NULL);
    if (!timed_out && q->rc == 0 && q->found && q->doc &&
        (!ls || ls->fresh || strcmp(q->host, ms->host_id) != 0)) {
        /* The record is newer than what this host has: it replaces it. */
        if (!ls) {
            for (uint32_t i = 0; i < q->doc->nsubs; i++)
                q->load_cb.entry(q->load_cb.data, q->doc->subs[i].chan,
                                 strlen(q->doc->subs[i].chan), q->doc->subs[i].has_uid,
                                 &q->doc->subs[i].uid);
            /* Not kept here (refused by a limit): its client resumes, once. */
            q->load_cb.done(q->load_cb.data, 1, 0);
            return;
        }
        load_scratch(ms, q->key, q->key_len);
        for (uint32_t i = 0; i < ms->nscratch; i++)
            ms->mem->ops->unsubscribe(ms->mem, q->key, q->key_len, ms->scratch[i].chan,
                                      strlen(ms->scratch[i].chan));
        for (uint32_t i = 0; i < q->doc->nsubs; i++)
            ms->mem->ops->subscribe(ms->mem, q->key, q->key_len, q->doc->subs[i].chan,
                                    strlen(q->doc->subs[i].chan), q->doc->subs[i].has_uid,
                                    &q->doc->subs[i].uid);
        ls->fresh = 0;
        mark_dirty(ms, ls);
        sss_log_debug("store", "mongodb: session restored from host=%s subs=%u", q->host,
                      q->doc->nsubs);
    }
    answer_local(ms, ls, q->key, q->key_len, &q->load_cb);
}

static void ms_poll(struct sss_store *st)
{
    struct mongo_store *ms = (struct mongo_store *)st;
    struct query *list;
    uint64_t v;
    int64_t now;
    int resync;

    if (read(ms->efd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing signalled. */
    }
    if (read(ms->tfd, &v, sizeof(v)) < 0) {
        /* EAGAIN: the timer did not fire yet. */
    }
    pthread_mutex_lock(&ms->mu);
    list = STAILQ_FIRST(&ms->qout);
    STAILQ_INIT(&ms->qout);
    resync = ms->resync;
    ms->resync = 0;
    st->stats.queued = ms->pending.len + ms->inflight;
    st->stats.written = ms->written;
    st->stats.dropped = ms->dropped;
    st->stats.errors = ms->errors;
    st->stats.connected = ms->connected == 1;
    pthread_mutex_unlock(&ms->mu);
    while (list) {
        struct query *q = list;

        list = STAILQ_NEXT(q, link);
        if (!q->answered)
            answer(ms, q, 0);
        query_free(q);
    }
    if (resync) {
        struct sss_map_iter it;
        struct lsess *ls;
        uint32_t n = 0;

        for (sss_map_iter_init(&it, &ms->local); (ls = sss_map_next(&it));)
            if (ls->conns.online > 0) {
                mark_dirty(ms, ls);
                n++;
            }
        if (n)
            sss_log_info("store", "mongodb: lease taken again: writing %u online sessions", n);
    }
    now = sss_now_ms();
    for (struct query *q; (q = TAILQ_FIRST(&ms->waiting)) && q->deadline <= now;) {
        sss_log_debug("store", "mongodb: no answer in %d ms, answering from this host",
                      LOAD_WAIT_MS);
        answer(ms, q, 1); /* freed when the thread hands it back */
    }
    if (TAILQ_EMPTY(&ms->waiting) && ms->timer_on) {
        struct itimerspec off = {{0, 0}, {0, 0}};

        if (timerfd_settime(ms->tfd, 0, &off, NULL) == 0)
            ms->timer_on = 0;
    }
    flush_dirty(ms);
}

static int ms_poll_fd(struct sss_store *st)
{
    return ((struct mongo_store *)st)->epfd;
}

static void ms_tick(struct sss_store *st, int64_t now)
{
    struct mongo_store *ms = (struct mongo_store *)st;
    struct sss_map_iter it;
    struct lsess *ls;

    ms_poll(st); /* also hands over what changed, so nothing dirty is forgotten below */
    ms->mem->ops->tick(ms->mem, now);
    copy_mem_stats(ms);
    for (sss_map_iter_init(&it, &ms->local); (ls = sss_map_next(&it));)
        if (!ls->conns.online && !ls->dirty && now - ls->conns.offline_since >= ms->ttl_ms) {
            sss_map_del(&ms->local, ls->id, ls->len);
            sss_free(ls);
        }
}

static void free_queries(struct query *q)
{
    while (q) {
        struct query *n = STAILQ_NEXT(q, link);

        query_free(q);
        q = n;
    }
}

static void ms_destroy(struct sss_store *st)
{
    struct mongo_store *ms = (struct mongo_store *)st;

    if (ms->thread_started) {
        flush_dirty(ms);
        pthread_mutex_lock(&ms->mu);
        ms->stop = 1;
        pthread_cond_signal(&ms->cv);
        pthread_mutex_unlock(&ms->mu);
        pthread_join(ms->thread, NULL);
    }
    /* Waiting questions are in qin or qout: dropped without their callbacks. */
    free_queries(STAILQ_FIRST(&ms->qin));
    free_queries(STAILQ_FIRST(&ms->qout));
    sss_map_clear(&ms->pending, sss_free);
    sss_map_clear(&ms->local, sss_free);
    sss_free(ms->dirty);
    sss_free(ms->scratch);
    if (ms->mem)
        ms->mem->ops->destroy(ms->mem);
    if (ms->pool)
        mongoc_client_pool_destroy(ms->pool);
    if (ms->uri)
        mongoc_uri_destroy(ms->uri);
    mongoc_cleanup();
    pthread_cond_destroy(&ms->cv);
    pthread_mutex_destroy(&ms->mu);
    if (ms->epfd >= 0)
        close(ms->epfd);
    if (ms->efd >= 0)
        close(ms->efd);
    if (ms->tfd >= 0)
        close(ms->tfd);
    sss_free(ms);
}

static const struct sss_store_ops mongo_ops = {
    .name = "mongodb",
    .online = ms_online,
    .reset_worker = ms_reset_worker,
    .subscribe = ms_subscribe,
    .unsubscribe = ms_unsubscribe,
    .load = ms_load,
    .presence = ms_presence,
    .tick = ms_tick,
    .poll_fd = ms_poll_fd,
    .poll = ms_poll,
    .destroy = ms_destroy,
};

/* mongoc's own lines (the pool's monitor retries, ...) go to our log at debug. */
static void mongo_log(mongoc_log_level_t level, const char *domain, const char *message,
                      void *data)
{
    (void)data;
    sss_log_debug("store", "mongoc %s %s: %s", mongoc_log_level_str(level), domain, message);
}

int sss_store_mongo_url_valid(const char *url, char *why, size_t cap)
{
    mongoc_uri_t *uri;
    bson_error_t berr;

    mongoc_log_set_handler(NULL, NULL); /* the caller says what is wrong, once */
    memset(&berr, 0, sizeof(berr));
    uri = mongoc_uri_new_with_error(url, &berr);
    mongoc_uri_destroy(uri);
    /* mongoc's message names the part it refused, not the password. */
    sss_log_redact(berr.message, strnlen(berr.message, sizeof(berr.message)), why, cap);
    return uri != NULL;
}

struct sss_store *sss_store_mongo_create(const struct sss_cfg *cfg, int nworkers, int *err)
{
    struct mongo_store *ms = sss_calloc(1, sizeof(*ms));
    struct epoll_event ev = {.events = EPOLLIN};
    bson_error_t berr;
    const char *db;

    *err = -ENOMEM;
    if (!ms)
        return NULL;
    ms->base.ops = &mongo_ops;
    ms->efd = ms->tfd = ms->epfd = -1;
    ms->connected = -1;
    TAILQ_INIT(&ms->waiting);
    STAILQ_INIT(&ms->qin);
    STAILQ_INIT(&ms->qout);
    pthread_mutex_init(&ms->mu, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&ms->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    sss_map_init(&ms->local);
    sss_map_init(&ms->pending);
    mongoc_log_set_handler(mongo_log, NULL);
    mongoc_init();
    snprintf(ms->host_id, sizeof(ms->host_id), "%s", cfg->host_id);
    ms->ttl_ms = cfg->session_ttl_ms;
    ms->lease_ms = cfg->host_lease_ms;
    ms->max_sessions = (uint32_t)cfg->max_sessions;
    ms->queue_max = (uint32_t)cfg->store_queue;
    ms->nworkers = nworkers;
    ms->mem = sss_store_mem_create((uint32_t)cfg->max_sessions, (uint32_t)cfg->max_subscriptions,
                                   cfg->session_ttl_ms, nworkers);
    if (!ms->mem)
        goto fail;
    sss_store_mem_set_anon_rate(ms->mem, (uint32_t)cfg->anon_session_rate,
                                (uint32_t)cfg->anon_session_burst);
    sss_store_mem_on_evict(ms->mem, on_mem_evict, ms);
    ms->uri = mongoc_uri_new_with_error(cfg->mongo_url, &berr);
    if (!ms->uri) {
        sss_log_error("store", "mongodb: bad --mongo '%s': %s", cfg->mongo_url, berr.message);
        *err = SSS_EINVAL;
        goto fail;
    }
    /* Fail fast while MongoDB is away (the pool's default waits 30 s per call). */
    if (!mongoc_uri_has_option(ms->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(ms->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 1000);
    if (!mongoc_uri_has_option(ms->uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(ms->uri, MONGOC_URI_CONNECTTIMEOUTMS, 1000);
    if (!mongoc_uri_has_option(ms->uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(ms->uri, MONGOC_URI_SOCKETTIMEOUTMS, 5000);
    if (!mongoc_uri_has_option(ms->uri, MONGOC_URI_APPNAME))
        mongoc_uri_set_appname(ms->uri, "sss");
    db = mongoc_uri_get_database(ms->uri);
    snprintf(ms->db_name, sizeof(ms->db_name), "%s", db && db[0] ? db : "sss");
    /* The pool is made by the thread (pool_wait_locked): with mongodb+srv://
     * making it resolves names, which must not block or fail the start. */
    ms->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ms->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    ms->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ms->efd < 0 || ms->tfd < 0 || ms->epfd < 0)
        goto fail_errno;
    ev.data.fd = ms->efd;
    if (epoll_ctl(ms->epfd, EPOLL_CTL_ADD, ms->efd, &ev) < 0)
        goto fail_errno;
    ev.data.fd = ms->tfd;
    if (epoll_ctl(ms->epfd, EPOLL_CTL_ADD, ms->tfd, &ev) < 0)
        goto fail_errno;
    if ((errno = pthread_create(&ms->thread, NULL, thread_main, ms)) != 0)
        goto fail_errno;
    ms->thread_started = 1;
    sss_log_info("store", "mongodb: db=%s host_id=%s queue=%u lease_ms=%lld", ms->db_name,
                 ms->host_id, ms->queue_max, (long long)ms->lease_ms);
    *err = 0;
    return &ms->base;
fail_errno:
    *err = -errno;
fail:
    ms_destroy(&ms->base);
    return NULL;
}

void sss_store_mongo_forget_shm(void)
{
    char name[32];

    snprintf(name, sizeof(name), "/mongoc-%d", (int)getpid());
    (void)shm_unlink(name); /* ENOENT when this libmongoc made none: nothing to do */
}
