/*
 * The scaler process: the host's sequencer. It reads every worker's mailbox,
 * asks the engine for uids and history, writes FEEDs into the bus (once per
 * message, for every worker) and answers each worker through its outbox.
 *
 * Its loop: drain the mailboxes (a bounded batch each, for fairness), push
 * what waits in the outboxes, wake the workers it gave something to, and
 * sleep on its eventfd when there is nothing to do (with a timeout: the
 * engine's tick runs once a second, and a worker that died while waking us
 * must not leave us asleep). SIGTERM ends it; the master sends that only
 * after the workers have drained, so no publish is cut short.
 *
 * With --api-listen it also serves the host's HTTP API (src/http/sss_api.h):
 * its sockets are polled with the eventfd and the signalfd when the loop
 * sleeps, and without waiting (poll timeout 0) on every busy turn, so an API
 * request is served promptly either way. An API publish goes through the
 * same scaler_publish as a worker's.
 *
 * A TELL by socket name (POST /api/tell, a worker's sss_tell_socket) goes
 * through scaler_tell: a socket of this host to its worker's mailbox, any
 * other to every host through the engine, where the host it names takes it.
 */
#include "sss_scaler.h"
#include "sss_alloc.h"
#include "sss_api.h"
#include "sss_bus.h"
#include "sss_engine.h"
#include "sss_fault.h"
#include "sss_hostmsg.h"
#include "sss_log.h"
#include "sss_presence.h"
#include "sss_redis_conn.h"
#include "sss_store.h"
#include "sss_ring.h"
#include "sss_sockname.h"
#include "sss_time.h"
#include "sss_wake.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define BATCH 256 /* records taken from one mailbox before looking at the next */

struct sss_scaler {
    const struct sss_cfg *cfg; /* borrowed */
    struct sss_shm *shm;       /* borrowed */
    struct sss_engine *engine; /* owned */
    uint8_t *rec;              /* owned: a mailbox record copied out before it is handled */
    size_t rec_cap;
    struct sss_bus *bus;       /* borrowed: shared memory */
    int nworkers;
    struct sss_hm_outbox *out; /* one per worker (owned array) */
    uint8_t *wake_worker;      /* per worker: something was sent this turn */
    int bus_written;           /* the bus got records this turn */
    int signal_fd;
    int stop;
    struct sss_api *api; /* owned; NULL when --api-listen is empty (or not bound yet) */
    int api_failed;      /* the failure to bind was logged */
    struct sss_api_scaler_stats stats;
    struct sss_presence *presence; /* owned: who is subscribed where, on this host */
    struct sss_store *store;       /* owned: sessions and their subscriptions */
    struct sss_hm_dispatcher from_workers; /* what a worker's record leads to, and refusals */
    size_t host_len;                       /* strlen(cfg->host_id) */
};

/* The dispatcher's data: the scaler and the worker whose mailbox the record came from. */
struct from_worker {
    struct sss_scaler *s;
    int w;
};

/* An API presence request the store answers later. */
struct presence_ask {
    struct sss_scaler *s;
    uint64_t ticket;
};

static void send_to(struct sss_scaler *s, int w, const struct sss_hm_rec *rec)
{
    if (sss_hm_outbox_put(&s->out[w], rec) < 0)
        sss_log_error("scaler", "out of memory answering worker %d: reply lost", w);
    s->wake_worker[w] = 1;
}

/* ---- what the engine tells us (struct sss_engine_sink) ---- */

static void on_published(void *data, const struct sss_engine_tag *tag, int rc, int created,
                         struct sss_uid uid)
{
    struct sss_scaler *s = data;

    if (rc == 0)
        s->stats.publishes++;
    else
        s->stats.publish_errors++;
    if (tag->worker < 0) {
        sss_api_publish_done(s->api, tag->req, rc, &uid);
    } else if (tag->flags & SSS_HM_WANT_REPLY) {
        struct sss_hm_rec rep;

        sss_hm_pack_published(&rep, tag->req, rc, uid);
        rep.h.published.created = created != 0;
        send_to(s, tag->worker, &rep);
    }
}

static void on_last_uid(void *data, const struct sss_engine_tag *tag, int rc, int has,
                        struct sss_uid uid)
{
    struct sss_hm_rec rep;

    sss_hm_pack_last_uid_r(&rep, tag->req, rc == 0 && has, uid);
    send_to(data, tag->worker, &rep);
}

static void on_hist_record(void *data, const struct sss_engine_tag *tag,
                           const struct sss_engine_msg *m)
{
    struct sss_hm_rec rec;

    if (sss_hm_pack_hist_rec(&rec, tag->req, m->uid, m->topic, m->topic_len, m->msg,
                             m->msg_len) < 0) {
        sss_log_error("scaler", "history record too large for worker %d: skipped", tag->worker);
        return;
    }
    send_to(data, tag->worker, &rec);
}

static void on_hist_done(void *data, const struct sss_engine_tag *tag, int rc, int gap,
                         int has_last, struct sss_uid last)
{
    struct sss_hm_rec end;

    sss_hm_pack_hist_end(&end, tag->req, rc, gap, has_last, last);
    send_to(data, tag->worker, &end);
}

/* A message for this host: one FEED on the bus reaches every worker. */
static void on_feed(void *data, const char *chan, size_t chan_len, const struct sss_engine_msg *m,
                    const struct sss_engine_tag *origin)
{
    struct sss_scaler *s = data;
    int from = origin && origin->worker >= 0;
    struct iovec iov[1 + SSS_HM_MAX_PARTS];
    struct sss_hm_rec feed;
    int rc;

    if (sss_hm_pack_feed(&feed, m->uid, from ? origin->worker : -1, from ? origin->conn : 0,
                         from ? origin->flags : 0, chan, chan_len, m->topic, m->topic_len, m->msg,
                         m->msg_len) < 0)
        return;
    /* The record is the feed header, then channel, topic and msg, copied
     * straight from where the engine holds them. */
    rc = sss_bus_appendv(s->bus, SSS_HM_FEED, iov, sss_hm_rec_iov(&feed, iov));
    if (rc < 0) {
        /* Too big for this host's bus (another host allows larger messages),
         * or no room in wait-for-the-slowest mode: the channel's subscribers
         * here miss it, so they are told (4008, and their SYNC says gap). */
        sss_log_error("scaler",
                      "FEED of %.*s not on the bus (%s): its subscribers are told of a gap",
                      (int)chan_len, chan, sss_strerror(rc));
        s->stats.feeds_lost++;
        rc = sss_bus_append(s->bus, SSS_HM_GAP_RECORD, chan, chan_len);
        if (rc < 0)
            sss_log_error("scaler", "gap record of %.*s: %s", (int)chan_len, chan,
                          sss_strerror(rc));
    }
    if (rc == 0)
        s->bus_written = 1;
}

static int scaler_tell(struct sss_scaler *s, const struct sss_hm_rec *rec, int from_engine);

/* A broadcast or boot from any host, or a gap: on our bus as it came, if it is whole.
 * A TELL_RECORD: ours to hand on if it names this host. */
static void on_control(void *data, uint32_t type, const void *p, size_t len)
{
    struct sss_scaler *s = data;
    struct sss_hm_rec rec;
    int rc;

    if (type == SSS_HM_TELL_RECORD) {
        rc = sss_hm_unpack(type, p, len, &rec);
        if (rc < 0)
            sss_log_debug("scaler", "TELL_RECORD refused: %s", sss_strerror(rc));
        else
            (void)scaler_tell(s, &rec, 1);
        return;
    }
    if (type != SSS_HM_BCAST_RECORD && type != SSS_HM_BOOT_RECORD && type != SSS_HM_GAP_RECORD)
        return;
    rc = sss_hm_unpack(type, p, len, &rec);
    if (rc < 0) {
        /* Another host's bytes: a bad peer, not our bug. */
        sss_log_debug("scaler", "host-wide record type=%u (%s) refused: %s", type,
                      sss_hm_type_name(type), sss_strerror(rc));
        return;
    }
    rc = sss_bus_append(s->bus, type, p, len);
    if (rc < 0) {
        sss_log_error("scaler", "bus append (type %u): %s", type, sss_strerror(rc));
        return;
    }
    s->bus_written = 1;
    if (type == SSS_HM_BCAST_RECORD)
        s->stats.broadcasts++;
}

/* The first subscription to a channel on this host, or the last one gone. */
static void on_interest(void *data, const char *chan, size_t len, int on)
{
    struct sss_scaler *s = data;

    if (s->engine->ops->interest)
        s->engine->ops->interest(s->engine, chan, len, on);
}

/* ---- the workers' requests ---- */

static void on_publish(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;
    const struct sss_hm_publish *rq = &rec->h.publish;
    struct sss_engine_tag tag = {.worker = fw->w, .flags = rq->flags, .req = rq->req,
                                 .conn = rq->origin_conn};
    struct sss_engine *e = fw->s->engine;

    e->ops->publish(e, &tag, rec->v[0].p, rec->v[0].len, rec->v[1].p, rec->v[1].len, rec->v[2].p,
                    rec->v[2].len);
    SSS_FAULT_POINT("scaler.publish.handed"); /* given to the engine, perhaps fed already */
}

static void on_last_uid_rq(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;
    struct sss_engine_tag tag = {.worker = fw->w, .req = rec->h.last_uid.req};
    struct sss_engine *e = fw->s->engine;

    e->ops->last_uid(e, &tag, rec->v[0].p, rec->v[0].len);
}

static void on_history(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;
    const struct sss_hm_history *rq = &rec->h.history;
    struct sss_engine_tag tag = {.worker = fw->w, .req = rq->req};
    struct sss_engine *e = fw->s->engine;

    e->ops->history(e, &tag, rec->v[0].p, rec->v[0].len, rq->has_after != 0, rq->after);
}

/* Send a host-wide record to every host through the engine. */
static int scaler_control(struct sss_scaler *s, const struct sss_hm_rec *rec)
{
    size_t len = sss_hm_rec_size(rec);
    char *buf = sss_malloc(len ? len : 1);
    int rc;

    if (!buf)
        return -ENOMEM;
    if (sss_hm_write(rec, buf, len) < 0)
        rc = -EMSGSIZE;
    else
        rc = s->engine->ops->control(s->engine, rec->type, buf, len);
    sss_free(buf);
    if (rc < 0)
        sss_log_error("scaler", "host-wide record (type %u): %s", rec->type, sss_strerror(rc));
    return rc;
}

/* One BROADCAST for every host. */
static int scaler_broadcast(struct sss_scaler *s, const char *topic, size_t topic_len,
                            const char *msg, size_t msg_len)
{
    struct sss_hm_rec rec;

    if (sss_hm_pack_bcast_record(&rec, topic, topic_len, msg, msg_len) < 0)
        return SSS_EINVAL;
    return scaler_control(s, &rec);
}

static void on_broadcast(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;

    (void)scaler_broadcast(fw->s, rec->v[0].p, rec->v[0].len, rec->v[1].p, rec->v[1].len);
}

/*
 * TELL the socket a TELL or TELL_RECORD names (rec: its fixed part; v: host,
 * topic, msg), wherever it is. This host's socket: to its worker's mailbox
 * as TELL_CONN, if that worker process still runs (the socket id carries its
 * incarnation) in this run of the host; the worker finds the connection or
 * counts it gone. Another host's: to every host through the engine as a
 * TELL_RECORD, unless it came from the engine (from_engine: then it is the
 * other host's to take, and we drop it).
 *
 * Returns 0 when it was handed on; SSS_EGONE when the socket is known to be
 * gone (this host's, of another run or of a worker process no longer
 * running; or another host's while the memory engine links no other host);
 * SSS_EINVAL for lengths a record cannot carry; or the engine's error.
 */
static int scaler_tell(struct sss_scaler *s, const struct sss_hm_rec *rec, int from_engine)
{
    const struct sss_hm_tell *t = &rec->h.tell;
    const struct sss_hm_span *host = &rec->v[0], *topic = &rec->v[1], *msg = &rec->v[2];
    unsigned w = sss_sockname_worker(t->sid);
    struct sss_hm_rec out;

    if (host->len != s->host_len || memcmp(host->p, s->cfg->host_id, host->len) != 0) {
        if (from_engine)
            return 0;
        /* An engine of one host alone: a name of any other is nobody's. */
        if (!(s->engine->ops->traits & SSS_ENGINE_HOSTS))
            return SSS_EGONE;
        if (sss_hm_pack_tell_record(&out, t->sid, t->run, host->p, host->len, topic->p,
                                    topic->len, msg->p, msg->len) < 0)
            return SSS_EINVAL;
        return scaler_control(s, &out);
    }
    if (t->run != s->shm->hdr->run_id ||
        !sss_shm_worker_current(s->shm, w, sss_sockname_incarnation(t->sid))) {
        s->stats.tells_stale++;
        return SSS_EGONE;
    }
    if (sss_hm_pack_tell_conn(&out, t->sid, t->run, topic->p, topic->len, msg->p, msg->len) < 0)
        return SSS_EINVAL;
    send_to(s, (int)w, &out);
    return 0;
}

/* A worker's sss_tell_socket: the API's path, with nobody to tell of a gone socket. */
static void on_tell_rq(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;

    (void)scaler_tell(fw->s, rec, 0);
}

/* ---- the HTTP API's calls (src/http/sss_api.h) ---- */

static int api_publish(void *data, uint64_t ticket, const char *buf, size_t chan_len,
                       size_t topic_len, size_t msg_len)
{
    struct sss_scaler *s = data;
    struct sss_engine_tag tag = {.worker = -1, .req = ticket};

    if (chan_len > UINT16_MAX || topic_len > UINT16_MAX || msg_len > UINT32_MAX)
        return SSS_EINVAL;
    s->engine->ops->publish(s->engine, &tag, buf, chan_len, buf + chan_len, topic_len,
                            buf + chan_len + topic_len, msg_len);
    return 0;
}

static int api_broadcast(void *data, const char *buf, size_t topic_len, size_t msg_len)
{
    return scaler_broadcast(data, buf, topic_len, buf + topic_len, msg_len);
}

static int api_tell(void *data, const struct sss_sockname *name, const char *buf,
                    size_t topic_len, size_t msg_len)
{
    struct sss_hm_rec rec;

    if (sss_hm_pack_tell(&rec, name->sid, name->run, name->host, name->host_len, buf, topic_len,
                         buf + topic_len, msg_len) < 0)
        return SSS_EINVAL;
    return scaler_tell(data, &rec, 0);
}

/* BOOT a user (every connection: BOOT, close 4001) or a channel (BOOTCHANNEL), on every host. */
static int api_boot(void *data, int kind, const char *name, size_t name_len, const char *reason,
                    size_t reason_len)
{
    struct sss_hm_rec rec;

    if (name_len > SSS_PROTO_CHANNEL_MAX || reason_len > 255 ||
        sss_hm_pack_boot_record(&rec, kind, name, name_len, reason, reason_len) < 0)
        return SSS_EINVAL;
    return scaler_control(data, &rec);
}

struct presence_names {
    const char *users[SSS_API_PRESENCE_USERS];
    size_t n;
};

static void presence_name(void *data, const char *user)
{
    struct presence_names *pn = data;

    if (pn->n < SSS_API_PRESENCE_USERS)
        pn->users[pn->n++] = user;
}

static void presence_from_store(void *data, int rc, int64_t count, const char *const *users,
                                size_t nusers)
{
    struct presence_ask *pa = data;

    sss_api_presence_done(pa->s->api, pa->ticket, rc, count, users, nusers);
    sss_free(pa);
}

/* From the store when it knows every host (mongodb), else this host's own table. */
static int api_presence(void *data, uint64_t ticket, const char *chan, size_t len,
                        size_t max_users)
{
    struct sss_scaler *s = data;
    struct presence_names *pn;
    size_t nusers;
    int64_t count;

    if (s->store->ops->presence) {
        struct presence_ask *pa = sss_malloc(sizeof(*pa));
        struct sss_store_presence_cb cb = {presence_from_store, pa};

        if (!pa)
            return -ENOMEM;
        pa->s = s;
        pa->ticket = ticket;
        s->store->ops->presence(s->store, chan, len, max_users, &cb);
        return 0;
    }
    pn = sss_malloc(sizeof(*pn));
    if (!pn)
        return -ENOMEM;
    pn->n = 0;
    if (max_users > SSS_API_PRESENCE_USERS)
        max_users = SSS_API_PRESENCE_USERS;
    count = sss_presence_get(s->presence, chan, len, max_users, presence_name, pn, &nusers);
    sss_api_presence_done(s->api, ticket, 0, count, pn->users, pn->n);
    sss_free(pn);
    return 0;
}

static void api_stats(void *data, struct sss_api_scaler_stats *st)
{
    struct sss_scaler *s = data;

    *st = s->stats;
    st->engine = s->engine->ops->name;
    st->engine_up = s->engine->ops->connected(s->engine);
    st->store = s->store->ops->name;
    st->store_up = s->store->ops->poll ? s->store->stats.connected : 1;
    st->store_queued = s->store->stats.queued;
    st->store_written = s->store->stats.written;
    st->store_dropped = s->store->stats.dropped;
    st->store_errors = s->store->stats.errors;
    st->history_bytes = s->engine->stats.history_bytes;
    st->channels = s->engine->stats.channels;
    st->client_channels = s->engine->stats.client_channels;
    st->history_trimmed_messages = s->engine->stats.trimmed_messages;
    st->history_trimmed_bytes = s->engine->stats.trimmed_bytes;
    st->history_trimmed_channels = s->engine->stats.trimmed_channels;
    st->channels_refused = s->engine->stats.channels_refused;
    st->sessions = s->store->stats.sessions;
    st->sessions_anon = s->store->stats.sessions_anon;
    st->sessions_anon_limited = s->store->stats.anon_limited;
    st->sessions_evicted = s->store->stats.evicted;
    st->sessions_refused = s->store->stats.refused;
}

/*
 * A failed --api-listen is tried again this often: in an upgrade the old
 * scaler holds the address until it exits, and the new one should take it
 * over within a health check's patience.
 */
#define API_RETRY_MS 250

/* Start the API if it is configured and not running; logs a failure once. */
static void api_start(struct sss_scaler *s)
{
    struct sss_api_handlers h = {api_publish,  api_broadcast, api_stats, api_boot,
                                 api_presence, api_tell,      s};
    int err = 0;

    if (s->api || !s->cfg->api_listen[0])
        return;
    s->api = sss_api_create(s->cfg, s->shm, &h, &err);
    if (!s->api && !s->api_failed) {
        sss_log_error("scaler", "cannot serve the HTTP API on %s: %s (retrying every %dms)",
                      s->cfg->api_listen,
                      err == SSS_EINVAL ? "not HOST:PORT or an unknown host" : sss_strerror(err),
                      API_RETRY_MS);
        s->api_failed = 1;
    }
}

struct session_ctx {
    struct sss_scaler *s;
    int w;
    uint64_t req;
};

static void session_entry(void *data, const char *chan, size_t chan_len, int has_uid,
                          const struct sss_uid *uid)
{
    struct session_ctx *sc = data;
    struct sss_hm_rec e;

    if (sss_hm_pack_session_entry(&e, sc->req, has_uid ? uid : NULL, chan, chan_len) < 0)
        return;
    send_to(sc->s, sc->w, &e);
}

/* The store answered a session load: the worker may send its BEGIN reply. */
static void session_done(void *data, int found, int kept)
{
    struct session_ctx *sc = data;
    struct sss_hm_rec end;

    sss_hm_pack_session_end(&end, sc->req, found, kept);
    send_to(sc->s, sc->w, &end);
    sss_free(sc);
}

static void on_presence(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;

    sss_presence_add(fw->s->presence, fw->w, rec->v[0].p, rec->v[0].len, rec->v[1].p,
                     rec->v[1].len, rec->h.presence.delta);
}

static void on_boot_rq(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;

    (void)api_boot(fw->s, rec->h.boot.kind, rec->v[0].p, rec->v[0].len, rec->v[1].p,
                   rec->v[1].len);
}

/* What a session did: v[0] the session, v[1] the channel, v[2] the user. */
static void on_session(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;
    const struct sss_hm_session *sq = &rec->h.session;
    const struct sss_hm_span *sid = &rec->v[0], *chan = &rec->v[1], *user = &rec->v[2];
    struct sss_store *st = fw->s->store;

    if (sq->op == SSS_HM_SESSION_ONLINE || sq->op == SSS_HM_SESSION_OFFLINE)
        st->ops->online(st, fw->w, sid->p, sid->len, user->p, user->len,
                        sq->op == SSS_HM_SESSION_ONLINE ? 1 : -1,
                        sq->flags & SSS_HM_SESSION_READMIT ? SSS_STORE_READMIT : 0u,
                        sss_now_ms());
    else if (sq->op == SSS_HM_SESSION_SUB)
        st->ops->subscribe(st, sid->p, sid->len, chan->p, chan->len, (int)sq->has_uid, &sq->uid);
    else if (sq->op == SSS_HM_SESSION_UNSUB)
        st->ops->unsubscribe(st, sid->p, sid->len, chan->p, chan->len);
}

static void on_session_load(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;
    struct sss_scaler *s = fw->s;
    struct session_ctx *sc = sss_malloc(sizeof(*sc));
    struct sss_store_load_cb cb;

    if (!sc) {
        struct sss_hm_rec end;

        sss_hm_pack_session_end(&end, rec->h.session_load.req, 0, 0);
        send_to(s, fw->w, &end);
        return;
    }
    *sc = (struct session_ctx){s, fw->w, rec->h.session_load.req};
    cb = (struct sss_store_load_cb){session_entry, session_done, sc};
    s->store->ops->load(s->store, rec->v[0].p, rec->v[0].len, &cb);
}

/* The worker survived a scaler restart; its full account follows. */
static void on_resync(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;

    (void)rec;
    sss_presence_reset_worker(fw->s->presence, fw->w);
    fw->s->store->ops->reset_worker(fw->s->store, fw->w, sss_now_ms());
    sss_log_info("scaler", "worker %d is giving its subscriptions again", fw->w);
}

/* A new worker process: what waited for its predecessor is void, and the
 * subscriptions it had are gone. */
static void on_hello(void *data, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;

    (void)rec;
    sss_hm_outbox_clear(&fw->s->out[fw->w]);
    sss_presence_reset_worker(fw->s->presence, fw->w);
    fw->s->store->ops->reset_worker(fw->s->store, fw->w, sss_now_ms());
    sss_log_debug("scaler", "worker %d said hello", fw->w);
}

/*
 * A request whose fixed part came whole but whose lengths lie still gets its
 * answer (an error), so that the worker does not wait for it forever.
 */
static void on_refused(void *data, uint32_t type, int rc, const struct sss_hm_rec *rec)
{
    const struct from_worker *fw = data;
    struct sss_engine_tag tag = {.worker = fw->w};

    if (rc != SSS_EHM_LENGTH)
        return;
    if (type == SSS_HM_LAST_UID) {
        tag.req = rec->h.last_uid.req;
        on_last_uid(fw->s, &tag, SSS_EPROTO, 0, (struct sss_uid){0, 0});
    } else if (type == SSS_HM_HISTORY) {
        tag.req = rec->h.history.req;
        on_hist_done(fw->s, &tag, SSS_EPROTO, 1, 0, (struct sss_uid){0, 0});
    }
}

static const struct sss_hm_dispatcher from_workers = {
    .who = "scaler",
    .on = {[SSS_HM_PUBLISH] = on_publish,
           [SSS_HM_LAST_UID] = on_last_uid_rq,
           [SSS_HM_HISTORY] = on_history,
           [SSS_HM_BROADCAST] = on_broadcast,
           [SSS_HM_PRESENCE] = on_presence,
           [SSS_HM_BOOT] = on_boot_rq,
           [SSS_HM_TELL] = on_tell_rq,
           [SSS_HM_SESSION] = on_session,
           [SSS_HM_SESSION_LOAD] = on_session_load,
           [SSS_HM_RESYNC] = on_resync,
           [SSS_HM_HELLO] = on_hello},
    .on_refused = on_refused,
};

/* One record from worker w; p/len is the whole payload (fixed part first). */
static void handle(struct sss_scaler *s, int w, uint32_t type, const void *p, size_t len)
{
    struct from_worker fw = {s, w};

    (void)sss_hm_dispatch(&s->from_workers, &fw, type, p, len);
}

static int drain_mailboxes(struct sss_scaler *s)
{
    int n = 0;

    for (int w = 0; w < s->nworkers; w++) {
        struct sss_ring *r = sss_shm_ring_to_scaler(s->shm, (unsigned)w);
        const void *p;
        uint32_t type;
        size_t len;

        /* Hand-off at most once: a record is copied out and consumed before
         * it is acted on, so a scaler that dies while handling it (a publish
         * already given to the engine) leaves nothing for its successor to
         * act on again. Its worker tells the client that publish "may or
         * may not have been published"; a duplicate is never delivered. */
        for (int i = 0; i < BATCH && sss_ring_peek(r, &type, &p, &len) == 1; i++) {
            if (len > s->rec_cap) { /* cannot be: a ring record is smaller than the ring */
                sss_log_error("scaler", "record of %zu bytes from worker %d: dropped", len, w);
                sss_ring_consume(r);
                continue;
            }
            memcpy(s->rec, p, len);
            sss_ring_consume(r);
            handle(s, w, type, s->rec, len);
            n++;
        }
    }
    return n;
}

static void flush_and_wake(struct sss_scaler *s)
{
    for (int w = 0; w < s->nworkers; w++) {
        if (s->out[w].head && sss_hm_outbox_flush(&s->out[w]) > 0)
            s->wake_worker[w] = 1;
        if (s->wake_worker[w] || s->bus_written)
            (void)sss_wake_notify(sss_shm_wake(s->shm, (unsigned)w));
        s->wake_worker[w] = 0;
    }
    s->bus_written = 0;
}

static int anything_readable(struct sss_scaler *s)
{
    for (int w = 0; w < s->nworkers; w++)
        if (sss_ring_readable(sss_shm_ring_to_scaler(s->shm, (unsigned)w)))
            return 1;
    return 0;
}

static int pending_out(struct sss_scaler *s)
{
    for (int w = 0; w < s->nworkers; w++)
        if (s->out[w].head)
            return 1;
    return 0;
}

/*
 * Serve the engine's, the store's and the API's sockets. sleeping: also wait
 * (up to timeout_ms) for a worker's wake-up or a signal; otherwise the loop
 * is busy with the mailboxes and only looks (timeout 0), so that neither
 * Redis nor an API request waits for a quiet moment.
 */
static void poll_io(struct sss_scaler *s, int timeout_ms, int sleeping)
{
    struct sss_wake *wk = sss_shm_wake(s->shm, (unsigned)s->nworkers);
    struct pollfd pfd[3 + SSS_ENGINE_MAX_POLLFDS + SSS_API_MAX_POLLFDS];
    int n = 0, eng = 0, neng = 0, api = 0, napi = 0, store = -1, sfd;
    uint64_t count;

    if (sleeping) {
        pfd[n++] = (struct pollfd){sss_wake_fd(wk), POLLIN, 0};
        pfd[n++] = (struct pollfd){s->signal_fd, POLLIN, 0};
    }
    if (s->store->ops->poll_fd && (sfd = s->store->ops->poll_fd(s->store)) >= 0) {
        store = n;
        pfd[n++] = (struct pollfd){sfd, POLLIN, 0};
    }
    eng = n;
    if (s->engine->ops->pollfds)
        neng = s->engine->ops->pollfds(s->engine, pfd + n, SSS_ENGINE_MAX_POLLFDS);
    n += neng;
    api = n;
    if (s->api)
        napi = sss_api_pollfds(s->api, pfd + n, SSS_API_MAX_POLLFDS);
    n += napi;
    if (sleeping) {
        sss_wake_prepare_sleep(wk);
        if (anything_readable(s)) {
            sss_wake_cancel_sleep(wk);
            return;
        }
    }
    if (n && poll(pfd, (nfds_t)n, sleeping ? timeout_ms : 0) > 0) {
        if (sleeping) {
            if ((pfd[0].revents & POLLIN) && read(pfd[0].fd, &count, sizeof(count)) < 0) {
                /* Spurious: the next turn looks again anyway. */
            }
            if (pfd[1].revents & POLLIN) {
                struct signalfd_siginfo si;

                if (read(s->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
                    (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT))
                    s->stop = 1;
            }
        }
        if (store >= 0 && pfd[store].revents)
            s->store->ops->poll(s->store);
        if (neng)
            s->engine->ops->handle(s->engine, pfd + eng, neng);
        if (napi)
            sss_api_handle(s->api, pfd + api, napi);
    }
    if (sleeping)
        sss_wake_cancel_sleep(wk);
}

int sss_scaler_check_cfg(const struct sss_cfg *cfg, FILE *err)
{
    struct sss_redis_target t;
    char shown[sizeof(cfg->redis_url) + sizeof(cfg->mongo_url)]; /* the URL, password hidden */
    char why[400];
    int rc;

    if (strcmp(cfg->engine, "redis") == 0 && cfg->redis_cluster[0]) {
        if (sss_engine_redis_check_seeds(cfg->redis_cluster, cfg->redis_cluster_max_nodes, &t, why,
                                         sizeof(why)) < 0) {
            fprintf(err, "sss-server: %s\n", why);
            return SSS_EINVAL;
        }
    } else if (strcmp(cfg->engine, "redis") == 0 &&
               sss_redis_target_parse(cfg->redis_url, &t) < 0) {
        sss_log_redact(cfg->redis_url, strlen(cfg->redis_url), shown, sizeof(shown));
        fprintf(err,
                "sss-server: --redis %s: not redis[s]://[[user]:password@]host:port[/db], or the "
                "host does not resolve\n",
                shown);
        return SSS_EINVAL;
    }
    if (strcmp(cfg->engine, "redis") == 0) {
        /* The TLS files are read now, so that a bad one stops the start. */
        rc = sss_redis_target_tls(&t, cfg->redis_ca_file, cfg->redis_cert_file,
                                  cfg->redis_key_file, why, sizeof(why));
        sss_redis_target_fini(&t);
        if (rc < 0) {
            fprintf(err, "sss-server: %s\n", why);
            return SSS_EINVAL;
        }
    }
    /* Checked whatever --store says, as --redis is: a typo is found before it matters. */
    if (!sss_store_mongo_url_valid(cfg->mongo_url, why, sizeof(why))) {
        sss_log_redact(cfg->mongo_url, strlen(cfg->mongo_url), shown, sizeof(shown));
        fprintf(err, "sss-server: --mongo %s: not a MongoDB URI: %s\n", shown, why);
        return SSS_EINVAL;
    }
    return 0;
}

/* The engine and store the flags name. */
static int make_backends(struct sss_scaler *s, const struct sss_engine_limits *lim)
{
    const struct sss_cfg *cfg = s->cfg;
    struct sss_engine_sink sink = {s,           on_published, on_last_uid, on_hist_record,
                                   on_hist_done, on_feed,     on_control};
    int err = 0;

    if (strcmp(cfg->engine, "redis") == 0)
        s->engine = sss_engine_redis_create(cfg, lim, &sink, &err);
    else
        s->engine = sss_engine_mem_create(lim, &sink, sss_wall_ms(), &s->shm->hdr->last_epoch);
    if (!s->engine) {
        sss_log_error("scaler", "cannot start the %s engine: %s", cfg->engine,
                      sss_strerror(err ? err : -ENOMEM));
        return -1;
    }
    /* Tell the workers what a restart of ours means for their channels (sss_shm.h). */
    atomic_store_explicit(&s->shm->hdr->engine_flags,
                          s->engine->ops->traits & SSS_ENGINE_OUTLIVES ? SSS_SHM_ENGINE_OUTLIVES
                                                                       : 0,
                          memory_order_release);
    s->store = strcmp(cfg->store, "mongodb") == 0
                   ? sss_store_mongo_create(cfg, s->nworkers, &err)
                   : sss_store_mem_create((uint32_t)cfg->max_sessions,
                                          (uint32_t)cfg->max_subscriptions, cfg->session_ttl_ms,
                                          s->nworkers);
    if (!s->store) {
        sss_log_error("scaler", "cannot start the %s store: %s", cfg->store,
                      sss_strerror(err ? err : -ENOMEM));
        return -1;
    }
    if (strcmp(cfg->store, "mongodb") != 0)
        sss_store_mem_set_anon_rate(s->store, (uint32_t)cfg->anon_session_rate,
                                    (uint32_t)cfg->anon_session_burst);
    return 0;
}

int sss_scaler_run(const struct sss_cfg *cfg, struct sss_shm *shm)
{
    struct sss_engine_limits lim = {
        .history_size = (uint32_t)cfg->history_size,
        .history_ttl_ms = cfg->history_ttl_ms,
        .max_channels = (uint32_t)cfg->max_channels,
        .max_client_channels = (uint32_t)cfg->max_client_channels,
        .history_memory = cfg->history_memory,
    };
    struct sss_scaler s;
    int64_t next_tick, next_api_try;
    sigset_t set;
    int rc = 1;

    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    s.shm = shm;
    s.nworkers = cfg->workers;
    s.bus = sss_shm_bus(shm);
    sss_bus_producer_start(s.bus);
    s.signal_fd = -1;
    s.from_workers = from_workers;
    s.host_len = strlen(cfg->host_id);
    sss_log_setup((enum sss_log_level)cfg->log_level, "scaler");
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    s.signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
    s.presence = sss_presence_create(s.nworkers);
    s.out = sss_calloc((size_t)s.nworkers, sizeof(*s.out));
    s.wake_worker = sss_calloc((size_t)s.nworkers, 1);
    s.rec_cap = shm->hdr->mailbox_capacity;
    s.rec = sss_malloc(s.rec_cap);
    if (s.signal_fd < 0 || !s.out || !s.wake_worker || !s.presence || !s.rec) {
        sss_log_error("scaler", "setup failed: %s", strerror(errno ? errno : ENOMEM));
        goto out;
    }
    if (make_backends(&s, &lim) < 0)
        goto out;
    sss_presence_on_edge(s.presence, on_interest, &s);
    for (int w = 0; w < s.nworkers; w++)
        sss_hm_outbox_init(&s.out[w], sss_shm_ring_to_worker(shm, (unsigned)w));
    sss_log_info("scaler",
                 "started pid=%d host=%s engine=%s store=%s history_size=%d history_ttl_ms=%lld "
                 "history_memory=%zu",
                 (int)getpid(), cfg->host_id, s.engine->ops->name, s.store->ops->name,
                 cfg->history_size, (long long)cfg->history_ttl_ms, cfg->history_memory);
    api_start(&s);
    next_tick = sss_now_ms() + 1000;
    next_api_try = sss_now_ms() + API_RETRY_MS;
    while (!s.stop) {
        int n = drain_mailboxes(&s);
        int64_t now;

        flush_and_wake(&s);
        now = sss_now_ms();
        if (now >= next_tick) {
            /* A network engine retries and times out publishes on its
             * tick: 10 a second. The memory engine's sweep runs once. */
            s.engine->ops->tick(s.engine, sss_wall_ms());
            s.store->ops->tick(s.store, sss_now_ms());
            next_tick = now + (s.engine->ops->pollfds ? 100 : 1000);
        }
        if (s.api)
            sss_api_tick(s.api, now);
        else if (cfg->api_listen[0] && now >= next_api_try) {
            api_start(&s);
            next_api_try = now + API_RETRY_MS;
        }
        if (n == 0) {
            /* With replies waiting for room, look again soon: the worker
             * wakes us only when it has something to send. Sockets (API,
             * Redis, the store's answers) wake the poll themselves. */
            int64_t until_tick =
                (!s.api && cfg->api_listen[0] && next_api_try < next_tick ? next_api_try
                                                                         : next_tick) -
                sss_now_ms();

            poll_io(&s, pending_out(&s) ? 5 : until_tick < 0 ? 0 : (int)until_tick, 1);
        } else {
            poll_io(&s, 0, 0);
        }
    }
    sss_log_info("scaler", "exiting");
    rc = 0;
out:
    if (s.engine)
        s.engine->ops->destroy(s.engine); /* before the API: it may answer its publishes */
    s.engine = NULL;
    sss_api_destroy(s.api);
    if (s.out)
        for (int w = 0; w < s.nworkers; w++)
            sss_hm_outbox_clear(&s.out[w]);
    sss_free(s.out);
    sss_free(s.wake_worker);
    sss_free(s.rec);
    sss_presence_destroy(s.presence);
    if (s.store)
        s.store->ops->destroy(s.store);
    if (s.signal_fd >= 0)
        close(s.signal_fd);
    return rc;
}
