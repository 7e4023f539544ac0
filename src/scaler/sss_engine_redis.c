/*
 * The Redis engine (see sss_engine.h): any number of hosts share one Redis.
 *
 * Publishing: one EVALSHA per publish (sss_redis_lua.h) appends the message
 * to the channel's stream, whose entry id is the uid, and PUBLISHes a
 * MessagePack envelope on the channel's pub/sub channel. Replies come back
 * in order on the commands connection (a FIFO of what was sent).
 *
 * Delivery: a second connection SUBSCRIBEs to the channels this host has
 * subscribers for (ops->interest) and to the control channel (broadcast,
 * boot). Every envelope it receives becomes a FEED, exactly once and in uid
 * order: a channel feeds only uids above the last one it fed. When a channel
 * becomes live (its SUBSCRIBE confirmed, first time or after a lost
 * connection) it first reads the stream: the newest uid the first time, or
 * everything after the last uid it fed when it comes back, so a host that
 * lost Redis for a while replays what it missed; envelopes that arrive
 * meanwhile are held and fed after. LAST_UID and history questions for a
 * channel that is not live yet wait for it, so that a subscriber is never
 * promised a uid whose successors the host will not receive.
 *
 * Redis away: commands wait in a queue (--redis-queue of them at most, for
 * --redis-wait); publishes past it fail with SSS_EUNAVAIL. Publishes that
 * were sent when the connection broke are sent again, in order, once it is
 * back: each carries this engine's origin and a seq, and the script
 * recognises one it applied already and answers its uid without publishing
 * it twice. Only when Redis does not return within --redis-wait (or the
 * applied entry has left history) does such a publish fail with SSS_EUNKNOWN
 * (it may have been applied). Broadcasts and boots in flight then fail with
 * SSS_EUNKNOWN; reads are sent again.
 */
#include "sss_engine.h"
#include "sss_alloc.h"
#include "sss_cfg.h"
#include "sss_envelope.h"
#include "sss_fault.h"
#include "sss_hostmsg.h"
#include "sss_log.h"
#include "sss_map.h"
#include "sss_redis_conn.h"
#include "sss_redis_lua.h"
#include "sss_time.h"

#include <errno.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <openssl/evp.h>

#define CONTROL_CHANNEL "sss:{!ctl}" /* broadcast and boot records of every host */
#define MAX_HELD 100000              /* envelopes held for one channel during its catch-up */

enum cmd_kind {
    K_SETUP,   /* AUTH, SELECT, SCRIPT LOAD: an error reply drops the connection */
    K_PUBLISH, /* EVALSHA publish */
    K_LAST,    /* a worker's LAST_UID for a channel not live yet... read from the stream */
    K_HISTORY, /* a worker's history */
    K_CATCHUP, /* a channel becoming live */
    K_CONTROL, /* PUBLISH on the control channel */
};

/* One command: its RESP bytes and who waits for its reply. */
struct cmd {
    STAILQ_ENTRY(cmd) link;
    enum cmd_kind kind;
    struct sss_engine_tag tag;
    struct rchan *ch; /* K_CATCHUP */
    int has_after;    /* K_HISTORY */
    struct sss_uid after;
    int64_t deadline; /* monotonic ms: waiting for the connection ends here */
    int sent;         /* K_PUBLISH: sent once already, so perhaps applied */
    char *resp;       /* from redisFormatCommandArgv */
    size_t len;
};

struct cmd_queue {
    STAILQ_HEAD(, cmd) q;
    size_t n;
};

/* An envelope held while its channel catches up. */
struct held {
    STAILQ_ENTRY(held) link;
    struct sss_uid uid;
    int has_origin;
    struct sss_engine_tag origin;
    size_t topic_len, msg_len;
    char data[]; /* topic then msg */
};

/* A question waiting for its channel to become live. */
struct waiter {
    TAILQ_ENTRY(waiter) link;
    enum cmd_kind kind; /* K_LAST or K_HISTORY */
    struct sss_engine_tag tag;
    int has_after;
    struct sss_uid after;
    int64_t deadline;
};

struct rchan {
    char name[SSS_PROTO_CHANNEL_MAX + 1];
    uint32_t len;
    int want;     /* the host has subscribers */
    int inflight; /* SUBSCRIBE/UNSUBSCRIBE sent, not yet confirmed */
    int subscribed; /* Redis confirmed the last SUBSCRIBE (and no UNSUBSCRIBE since) */
    int catching; /* catch-up reads in flight */
    int retry_catchup; /* the last catch-up failed: the tick tries again */
    int live;     /* feeds flow */
    int known;    /* it was live once: what the host has is known (has_last 0: nothing) */
    int has_last; /* last: the newest uid fed to the host (or read when it became live) */
    struct sss_uid last;
    STAILQ_HEAD(, held) held; /* while catching up, oldest first */
    size_t nheld;
    TAILQ_HEAD(, waiter) waiters; /* until live, oldest first */
};

struct redis_engine {
    struct sss_engine base;
    const struct sss_cfg *cfg;
    struct sss_redis_target target;
    struct sss_redis_conn cmd, sub;
    int cmd_ready; /* the commands connection is up and Redis answered its setup */
    int setup_pending; /* setup commands (AUTH, SELECT, SCRIPT LOAD) not answered yet */
    struct cmd_queue unsent;   /* waiting for the commands connection */
    struct cmd_queue inflight; /* sent, reply pending, in order */
    struct sss_map chans;      /* name -> struct rchan (owned) */
    char sha_pub[41], sha_hist[41];
    char origin[200];  /* names this engine instance in the publish script's keys */
    uint64_t pub_seq;  /* seq of the last publish made (the script's idempotency key) */
    char hist_size[16], hist_ttl[24];
    msgpack_sbuffer pack;
    size_t host_len;  /* strlen(cfg->host_id): compared with every envelope's origin */
    size_t nwaiting;  /* questions waiting for a channel to go live, over all channels */
    size_t nretry;    /* channels whose catch-up the tick must try again */
    int64_t err_logged_ms; /* refused commands are logged once a second at most */
    int setup_failed;      /* AUTH or SELECT was refused: reconnect later */
};

static void cmd_conn_ready(struct redis_engine *re);

/* ---- small helpers ---- */

static void sha1_hex(const char *s, char out[41])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    memset(out, '0', 40);
    out[40] = '\0';
    if (!EVP_Digest(s, strlen(s), d, &n, EVP_sha1(), NULL) || n != 20)
        return;
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void q_init(struct cmd_queue *q)
{
    STAILQ_INIT(&q->q);
    q->n = 0;
}

static void q_push(struct cmd_queue *q, struct cmd *c)
{
    STAILQ_INSERT_TAIL(&q->q, c, link);
    q->n++;
}

static struct cmd *q_pop(struct cmd_queue *q)
{
    struct cmd *c = STAILQ_FIRST(&q->q);

    if (c) {
        STAILQ_REMOVE_HEAD(&q->q, link);
        q->n--;
    }
    return c;
}

/* Append what src holds to dst, in order; src is left empty. */
static void q_move(struct cmd_queue *dst, struct cmd_queue *src)
{
    STAILQ_CONCAT(&dst->q, &src->q);
    dst->n += src->n;
    src->n = 0;
}

static void cmd_free(struct cmd *c)
{
    if (c) {
        redisFreeCommand(c->resp);
        sss_free(c);
    }
}

static int key_of(char *buf, size_t cap, const char *chan, size_t len, const char *suffix)
{
    int n = snprintf(buf, cap, "sss:{%.*s}%s", (int)len, chan, suffix);

    return n > 0 && (size_t)n < cap ? n : -1;
}

/* ---- failing and answering ---- */

static void answer_failure(struct redis_engine *re, struct cmd *c, int rc)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct sss_uid none = {0, 0};

    switch (c->kind) {
    case K_PUBLISH:
        k->published(k->data, &c->tag, rc, 0, none);
        break;
    case K_LAST:
        k->last_uid(k->data, &c->tag, rc, 0, none);
        break;
    case K_HISTORY:
        k->hist_done(k->data, &c->tag, rc, 1, 0, none);
        break;
    default:
        break;
    }
}

/* Queue a command: sent now if the connection is ready, else when it is (or failed at deadline). */
static int send_cmd(struct redis_engine *re, struct cmd *c)
{
    if (!re->cmd_ready) {
        if (c->kind != K_CATCHUP && c->kind != K_SETUP &&
            re->unsent.n >= (size_t)re->cfg->redis_queue) {
            answer_failure(re, c, SSS_EUNAVAIL);
            cmd_free(c);
            return SSS_EFULL;
        }
        q_push(&re->unsent, c);
        return 0;
    }
    if (sss_redis_conn_append(&re->cmd, c->resp, c->len) < 0) {
        answer_failure(re, c, -ENOMEM);
        cmd_free(c);
        return -ENOMEM;
    }
    q_push(&re->inflight, c);
    return 0;
}

static struct cmd *cmd_new(struct redis_engine *re, enum cmd_kind kind, int argc,
                           const char **argv, const size_t *lens)
{
    struct cmd *c = sss_calloc(1, sizeof(*c));
    int n;

    if (!c)
        return NULL;
    n = redisFormatCommandArgv(&c->resp, argc, argv, lens);
    if (n < 0) {
        sss_free(c);
        return NULL;
    }
    c->len = (size_t)n;
    c->kind = kind;
    c->deadline = sss_now_ms() + re->cfg->redis_wait_ms;
    return c;
}

/* EVALSHA the history script for chan. mode: "last", "all" or "after". */
static struct cmd *history_cmd(struct redis_engine *re, enum cmd_kind kind, const char *chan,
                               size_t len, const char *mode, const struct sss_uid *after)
{
    char key[SSS_PROTO_CHANNEL_MAX + 16], ubuf[SSS_PROTO_UID_BUF] = "0-0";
    const char *argv[7];
    size_t lens[7];
    int kl = key_of(key, sizeof(key), chan, len, ":h");

    if (kl < 0)
        return NULL;
    if (after)
        sss_proto_uid_format(after, ubuf, sizeof(ubuf));
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = re->sha_hist, lens[1] = 40;
    argv[2] = "1", lens[2] = 1;
    argv[3] = key, lens[3] = (size_t)kl;
    argv[4] = mode, lens[4] = strlen(mode);
    argv[5] = ubuf, lens[5] = strlen(ubuf);
    argv[6] = re->hist_ttl, lens[6] = strlen(re->hist_ttl);
    return cmd_new(re, kind, 7, argv, lens);
}

/* ---- channels ---- */

static struct rchan *chan_get(struct redis_engine *re, const char *name, size_t len, int create)
{
    struct rchan *ch = sss_map_get(&re->chans, name, len);

    if (ch || !create || len == 0 || len > SSS_PROTO_CHANNEL_MAX)
        return ch;
    ch = sss_map_put_new(&re->chans, sizeof(*ch), offsetof(struct rchan, name), name, len);
    if (ch) {
        ch->len = (uint32_t)len;
        STAILQ_INIT(&ch->held);
        TAILQ_INIT(&ch->waiters);
    }
    return ch;
}

static void held_clear(struct rchan *ch)
{
    struct held *h;

    while ((h = STAILQ_FIRST(&ch->held))) {
        STAILQ_REMOVE_HEAD(&ch->held, link);
        sss_free(h);
    }
    ch->nheld = 0;
}

/* A channel and what it holds, its waiters dropped unanswered (sss_map_clear's free_fn). */
static void chan_free(void *val)
{
    struct rchan *ch = val;
    struct waiter *w;

    held_clear(ch);
    while ((w = TAILQ_FIRST(&ch->waiters))) {
        TAILQ_REMOVE(&ch->waiters, w, link);
        sss_free(w);
    }
    sss_free(ch);
}

/* Forget a channel nobody wants any more, once Redis has nothing pending for it. */
static void chan_maybe_forget(struct redis_engine *re, struct rchan *ch)
{
    if (ch->want || ch->inflight || ch->catching || !TAILQ_EMPTY(&ch->waiters))
        return;
    if (ch->retry_catchup)
        re->nretry--;
    held_clear(ch);
    sss_map_del(&re->chans, ch->name, ch->len);
    sss_free(ch);
}

/* Feed one message of ch if it is newer than what the host has. */
static void feed(struct redis_engine *re, struct rchan *ch, const struct sss_engine_msg *m,
                 const struct sss_engine_tag *origin)
{
    if (ch->has_last && sss_proto_uid_cmp(&m->uid, &ch->last) <= 0)
        return; /* the host has it already (a replay and a live envelope crossed) */
    ch->has_last = 1;
    ch->last = m->uid;
    if (ch->want)
        re->base.sink.feed(re->base.sink.data, ch->name, ch->len, m, origin);
}

static void send_sub_cmd(struct redis_engine *re, const char *verb, const char *chan, size_t len)
{
    char key[SSS_PROTO_CHANNEL_MAX + 16];
    const char *argv[2] = {verb, key};
    size_t lens[2] = {strlen(verb), 0};
    char *resp = NULL;
    int kl = key_of(key, sizeof(key), chan, len, ""), n;

    if (kl < 0)
        return;
    lens[1] = (size_t)kl;
    n = redisFormatCommandArgv(&resp, 2, argv, lens);
    if (n > 0 && sss_redis_conn_append(&re->sub, resp, (size_t)n) < 0)
        sss_log_error("redis", "out of memory subscribing to %.*s", (int)len, chan);
    redisFreeCommand(resp);
}

/* Ask the waiting questions of a channel that just became live. */
static void release_waiters(struct redis_engine *re, struct rchan *ch)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct waiter *w;

    while ((w = TAILQ_FIRST(&ch->waiters))) {
        TAILQ_REMOVE(&ch->waiters, w, link);
        if (w->kind == K_LAST) {
            k->last_uid(k->data, &w->tag, 0, ch->has_last, ch->last);
        } else {
            struct cmd *c = history_cmd(re, K_HISTORY, ch->name, ch->len,
                                        w->has_after ? "after" : "all", &w->after);

            if (!c) {
                k->hist_done(k->data, &w->tag, -ENOMEM, 1, 0, (struct sss_uid){0, 0});
            } else {
                c->tag = w->tag;
                c->has_after = w->has_after;
                c->after = w->after;
                (void)send_cmd(re, c);
            }
        }
        sss_free(w);
        re->nwaiting--;
    }
}

/* Redis confirmed our SUBSCRIBE: read the stream before feeding live envelopes. */
static void start_catchup(struct redis_engine *re, struct rchan *ch)
{
    /* First time: only where the channel stands. Coming back: everything
     * after what the host has (all of it if it had seen the channel empty). */
    const char *mode = ch->has_last ? "after" : ch->known ? "all" : "last";
    struct cmd *c = history_cmd(re, K_CATCHUP, ch->name, ch->len, mode,
                                ch->has_last ? &ch->last : NULL);

    if (!c) {
        sss_log_error("redis", "out of memory catching up %s", ch->name);
        return;
    }
    c->ch = ch;
    ch->catching++;
    if (ch->retry_catchup)
        re->nretry--;
    ch->retry_catchup = 0;
    (void)send_cmd(re, c);
}

/* ---- replies on the commands connection ---- */

static int reply_uid(const redisReply *r, struct sss_uid *uid)
{
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
        return SSS_EPROTO;
    return sss_proto_uid_parse(uid, r->str, r->len);
}

/* A history script's answer: {last, oldest, id, topic, msg, ...}. */
struct hist_answer {
    int has_last, has_oldest;
    struct sss_uid last, oldest;
    size_t nrec;
    redisReply **rec; /* 3 per record */
};

static int hist_parse(const redisReply *r, struct hist_answer *a)
{
    memset(a, 0, sizeof(*a));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || (r->elements - 2) % 3)
        return SSS_EPROTO;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return SSS_EPROTO;
    if (r->element[0]->len) {
        if (sss_proto_uid_parse(&a->last, r->element[0]->str, r->element[0]->len) < 0)
            return SSS_EPROTO;
        a->has_last = 1;
    }
    if (r->element[1]->len) {
        if (sss_proto_uid_parse(&a->oldest, r->element[1]->str, r->element[1]->len) < 0)
            return SSS_EPROTO;
        a->has_oldest = 1;
    }
    a->nrec = (r->elements - 2) / 3;
    a->rec = r->element + 2;
    return 0;
}

static int hist_record(const struct hist_answer *a, size_t i, struct sss_engine_msg *m)
{
    redisReply **e = a->rec + 3 * i;

    memset(m, 0, sizeof(*m));
    if (sss_proto_uid_parse(&m->uid, e[0]->str, e[0]->len) < 0)
        return SSS_EPROTO;
    m->topic = e[1]->str;
    m->topic_len = e[1]->len;
    m->msg = e[2]->str;
    m->msg_len = e[2]->len;
    return 0;
}

/*
 * Whether messages after `after` are missing from history, as the memory
 * engine decides it: another epoch, or older than the oldest kept.
 */
static int hist_gap(const struct hist_answer *a, int has_after, const struct sss_uid *after)
{
    uint64_t from, oldest;

    if (!a->has_last)
        return has_after; /* an unknown channel cannot vouch for what followed */
    if (has_after && after->epoch != a->last.epoch)
        return 1;
    from = has_after ? after->offset + 1 : 1;
    oldest = a->has_oldest ? a->oldest.offset : a->last.offset + 1;
    return from < oldest && from <= a->last.offset;
}

static void on_history_reply(struct redis_engine *re, struct cmd *c, const redisReply *r)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct hist_answer a;
    int gap;

    if (hist_parse(r, &a) < 0) {
        sss_log_error("redis", "unexpected history reply (type %d)", r ? r->type : -1);
        k->hist_done(k->data, &c->tag, SSS_EPROTO, 1, 0, (struct sss_uid){0, 0});
        return;
    }
    gap = hist_gap(&a, c->has_after, &c->after);
    if (!gap)
        for (size_t i = 0; i < a.nrec; i++) {
            struct sss_engine_msg m;

            if (hist_record(&a, i, &m) == 0)
                k->hist_record(k->data, &c->tag, &m);
        }
    k->hist_done(k->data, &c->tag, 0, gap, a.has_last, a.last);
}

static void on_catchup_reply(struct redis_engine *re, struct rchan *ch, const redisReply *r)
{
    struct hist_answer a;
    struct held *h;

    ch->catching--;
    if (hist_parse(r, &a) < 0) {
        sss_log_error("redis", "unexpected catch-up reply for %s; retrying", ch->name);
        if (!ch->retry_catchup)
            re->nretry++;
        ch->retry_catchup = 1;
        return;
    }
    if (ch->known && hist_gap(&a, ch->has_last, &ch->last)) {
        /* Lost for good here: the subscribers are told (4008, then their
         * SYNC reports the gap) rather than left with a silent hole. */
        sss_log_warn("redis",
                     "channel %s: messages after %llu-%llu left history before this host "
                     "could replay them; its subscribers here are closed (4008)",
                     ch->name, (unsigned long long)ch->last.epoch,
                     (unsigned long long)ch->last.offset);
        re->base.sink.control(re->base.sink.data, SSS_HM_GAP_RECORD, ch->name, ch->len);
    }
    for (size_t i = 0; i < a.nrec; i++) {
        struct sss_engine_msg m;

        if (hist_record(&a, i, &m) == 0)
            feed(re, ch, &m, NULL);
    }
    if (!ch->has_last && a.has_last) {
        ch->has_last = 1;
        ch->last = a.last;
    }
    /* What arrived live meanwhile, newer ones only. */
    while ((h = STAILQ_FIRST(&ch->held))) {
        struct sss_engine_msg m = {.uid = h->uid,
                                   .topic = h->data,
                                   .topic_len = h->topic_len,
                                   .msg = h->data + h->topic_len,
                                   .msg_len = h->msg_len};

        STAILQ_REMOVE_HEAD(&ch->held, link);
        feed(re, ch, &m, h->has_origin ? &h->origin : NULL);
        sss_free(h);
    }
    ch->nheld = 0;
    if (ch->want && ch->subscribed && !ch->catching) {
        ch->live = 1;
        ch->known = 1;
        release_waiters(re, ch);
    }
    chan_maybe_forget(re, ch);
}

static void on_cmd_reply(struct redis_engine *re, struct cmd *c, const redisReply *r)
{
    struct sss_engine_sink *k = &re->base.sink;
    struct sss_uid uid = {0, 0};

    if (r->type == REDIS_REPLY_ERROR && c->kind != K_SETUP && c->kind != K_CATCHUP) {
        /* Redis refused it (OOM, NOSCRIPT, READONLY...): nothing was done. */
        int64_t now = sss_now_ms();

        if (now - re->err_logged_ms >= 1000) {
            sss_log_error("redis", "Redis refused a command: %.*s", (int)r->len, r->str);
            re->err_logged_ms = now;
        }
        /* SSSGONE: a publish sent again was applied the first time, but its
         * entry is no longer there to tell its uid. */
        answer_failure(re, c, r->len >= 7 && memcmp(r->str, "SSSGONE", 7) == 0 ? SSS_EUNKNOWN
                                                                                : SSS_EUNAVAIL);
        return;
    }
    switch (c->kind) {
    case K_SETUP:
        if (r->type == REDIS_REPLY_ERROR) {
            char why[200];

            snprintf(why, sizeof(why), "%.*s", (int)r->len, r->str);
            re->setup_failed = 1; /* dropped after this batch of replies */
            sss_log_error("redis", "setting up the commands connection: %s", why);
        } else if (--re->setup_pending == 0 && !re->setup_failed) {
            cmd_conn_ready(re);
        }
        break;
    case K_PUBLISH:
        if (reply_uid(r, &uid) < 0)
            k->published(k->data, &c->tag, SSS_EPROTO, 0, uid);
        else
            k->published(k->data, &c->tag, 0, 0, uid);
        break;
    case K_LAST: {
        struct hist_answer a;

        if (hist_parse(r, &a) < 0)
            k->last_uid(k->data, &c->tag, SSS_EPROTO, 0, uid);
        else
            k->last_uid(k->data, &c->tag, 0, a.has_last, a.last);
        break;
    }
    case K_HISTORY:
        on_history_reply(re, c, r);
        break;
    case K_CATCHUP:
        if (r->type == REDIS_REPLY_ERROR)
            sss_log_error("redis", "catch-up failed: %.*s", (int)r->len, r->str);
        on_catchup_reply(re, c->ch, r);
        break;
    case K_CONTROL:
        break;
    }
}

/* ---- envelopes on the subscriptions connection ---- */

/* A message envelope from Redis: feed it, or hold it while its channel catches up. */
static void on_envelope(struct redis_engine *re, const char *p, size_t len)
{
    struct sss_envelope env;
    struct sss_engine_msg m;
    struct sss_engine_tag origin;
    int has_origin;
    struct rchan *ch;

    if (len > re->cfg->max_message_size + 65536 || sss_envelope_decode(p, len, &env) < 0) {
        sss_log_error("redis", "a malformed or oversized envelope (%zu bytes) was dropped", len);
        return;
    }
    memset(&m, 0, sizeof(m));
    m.uid = env.uid;
    m.topic = env.topic;
    m.topic_len = env.topic_len;
    m.msg = env.msg;
    m.msg_len = env.msg_len;
    has_origin = env.worker >= 0 && env.host_len == re->host_len &&
                 memcmp(env.host, re->cfg->host_id, env.host_len) == 0;
    memset(&origin, 0, sizeof(origin));
    origin.worker = has_origin ? env.worker : -1;
    origin.conn = env.conn;
    origin.flags = env.flags;
    ch = chan_get(re, env.chan, env.chan_len, 0);
    if (!ch || !ch->want)
        return; /* an envelope that crossed our UNSUBSCRIBE */
    if (ch->live) {
        feed(re, ch, &m, has_origin ? &origin : NULL);
    } else if (ch->nheld < MAX_HELD) {
        struct held *h = sss_malloc(sizeof(*h) + m.topic_len + m.msg_len);

        if (!h) {
            sss_log_error("redis", "out of memory holding a message of %s", ch->name);
            return;
        }
        h->uid = m.uid;
        h->has_origin = has_origin;
        h->origin = origin;
        h->topic_len = m.topic_len;
        h->msg_len = m.msg_len;
        memcpy(h->data, m.topic, m.topic_len);
        memcpy(h->data + m.topic_len, m.msg, m.msg_len);
        STAILQ_INSERT_TAIL(&ch->held, h, link);
        ch->nheld++;
    }
}

/* [type, record bytes]: a broadcast or boot for this host's bus. */
static void on_control_msg(struct redis_engine *re, const char *p, size_t len)
{
    const char *rec;
    size_t rec_len;
    uint32_t type;

    if (sss_envelope_decode_control(p, len, &type, &rec, &rec_len) == 0)
        re->base.sink.control(re->base.sink.data, type, rec, rec_len);
    else
        sss_log_error("redis", "a malformed control record was dropped");
}

/* The channel name inside a pub/sub channel "sss:{name}". */
static int chan_of(const redisReply *r, const char **name, size_t *len)
{
    if (r->type != REDIS_REPLY_STRING || r->len < 7 || memcmp(r->str, "sss:{", 5) != 0 ||
        r->str[r->len - 1] != '}')
        return -1;
    *name = r->str + 5;
    *len = r->len - 6;
    return 0;
}

static void on_sub_reply(struct redis_engine *re, const redisReply *r)
{
    const redisReply *kind;
    const char *name;
    size_t len;
    struct rchan *ch;

    if (r->type == REDIS_REPLY_ERROR) {
        sss_log_error("redis", "subscriptions connection: %.*s", (int)r->len, r->str);
        re->setup_failed = 2;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return; /* AUTH's +OK */
    kind = r->element[0];
    if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0) {
        const redisReply *c = r->element[1], *p = r->element[2];

        if (p->type != REDIS_REPLY_STRING)
            return;
        if (c->len == sizeof(CONTROL_CHANNEL) - 1 &&
            memcmp(c->str, CONTROL_CHANNEL, c->len) == 0)
            on_control_msg(re, p->str, p->len);
        else
            on_envelope(re, p->str, p->len);
        return;
    }
    if (chan_of(r->element[1], &name, &len) < 0 || len == 0 || name[0] == '!')
        return; /* the control channel's own confirmation */
    ch = chan_get(re, name, len, 0);
    if (!ch)
        return;
    if (ch->inflight)
        ch->inflight--;
    if (ch->inflight)
        return; /* a later SUBSCRIBE/UNSUBSCRIBE decides */
    if (kind->len == 9 && memcmp(kind->str, "subscribe", 9) == 0 && ch->want) {
        ch->subscribed = 1;
        start_catchup(re, ch);
    } else {
        ch->subscribed = 0;
        ch->live = 0;
        chan_maybe_forget(re, ch);
    }
}

/* ---- connections ---- */

/* AUTH [user] password of the target into argv (3 slots): how many arguments. */
static int auth_argv(const struct sss_redis_target *t, const char **argv, size_t *lens)
{
    int n = 0;

    argv[n] = "AUTH", lens[n++] = 4;
    if (t->user[0])
        argv[n] = t->user, lens[n++] = strlen(t->user);
    argv[n] = t->password, lens[n++] = strlen(t->password);
    return n;
}

static void setup_push(struct redis_engine *re, struct cmd *c)
{
    q_push(&re->inflight, c);
    re->setup_pending++;
    if (sss_redis_conn_append(&re->cmd, c->resp, c->len) < 0)
        sss_log_error("redis", "out of memory setting up the commands connection");
}

/*
 * Redis answered the whole setup: the commands that waited go now, in order.
 * Not before: a TLS 1.3 server refuses a client certificate only after the
 * client's handshake is done, and a wrong password only in AUTH's reply, so
 * a connection is not usable until something came back on it.
 */
static void cmd_conn_ready(struct redis_engine *re)
{
    struct cmd *c;

    re->cmd_ready = 1;
    while ((c = q_pop(&re->unsent)))
        (void)send_cmd(re, c);
}

static void setup_cmd_conn(struct redis_engine *re)
{
    const char *argv[3];
    size_t lens[3];
    struct cmd *c;
    char db[16];

    /* The setup goes first, then whatever waited, in order. */
    if (re->target.password[0]) {
        int n = auth_argv(&re->target, argv, lens);

        if ((c = cmd_new(re, K_SETUP, n, argv, lens)))
            setup_push(re, c);
    }
    snprintf(db, sizeof(db), "%d", re->target.db);
    argv[0] = "SELECT", lens[0] = 6;
    argv[1] = db, lens[1] = strlen(db);
    if ((c = cmd_new(re, K_SETUP, 2, argv, lens)))
        setup_push(re, c);
    argv[0] = "SCRIPT", lens[0] = 6;
    argv[1] = "LOAD", lens[1] = 4;
    argv[2] = SSS_REDIS_LUA_PUBLISH, lens[2] = strlen(SSS_REDIS_LUA_PUBLISH);
    if ((c = cmd_new(re, K_SETUP, 3, argv, lens)))
        setup_push(re, c);
    argv[2] = SSS_REDIS_LUA_HISTORY, lens[2] = strlen(SSS_REDIS_LUA_HISTORY);
    if ((c = cmd_new(re, K_SETUP, 3, argv, lens)))
        setup_push(re, c);
    if (!re->setup_pending)
        cmd_conn_ready(re); /* out of memory for all of it: the commands will say */
}

static void setup_sub_conn(struct redis_engine *re)
{
    struct sss_map_iter it;
    struct rchan *ch;
    char *resp = NULL;
    int n;

    if (re->target.password[0]) {
        const char *argv[3];
        size_t lens[3];

        n = redisFormatCommandArgv(&resp, auth_argv(&re->target, argv, lens), argv, lens);
        if (n > 0)
            (void)sss_redis_conn_append(&re->sub, resp, (size_t)n);
        redisFreeCommand(resp);
        resp = NULL;
    }
    n = redisFormatCommand(&resp, "SUBSCRIBE %s", CONTROL_CHANNEL);
    if (n > 0)
        (void)sss_redis_conn_append(&re->sub, resp, (size_t)n);
    redisFreeCommand(resp);
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));)
        if (ch->want) {
            ch->inflight = 1;
            send_sub_cmd(re, "SUBSCRIBE", ch->name, ch->len);
        }
}

/* refused: Redis rejected the connection's setup, so nothing after it ran. */
static void cmd_conn_lost_how(struct redis_engine *re, const char *why, int refused)
{
    struct cmd_queue resend;
    struct cmd *c;

    q_init(&resend);
    sss_redis_conn_lost(&re->cmd, why, sss_now_ms());
    re->cmd_ready = 0;
    re->setup_pending = 0;
    /* Reads are sent again, and so are publishes: the script answers one it
     * applied already with its uid (see the head comment). A broadcast or a
     * boot may or may not have been applied. */
    while ((c = q_pop(&re->inflight))) {
        if (!refused && c->kind == K_CONTROL) {
            answer_failure(re, c, SSS_EUNKNOWN);
            cmd_free(c);
        } else if (c->kind == K_SETUP) {
            cmd_free(c);
        } else {
            if (c->kind == K_PUBLISH && !refused) {
                c->sent = 1;
                c->deadline = sss_now_ms() + re->cfg->redis_wait_ms;
            }
            q_push(&resend, c);
        }
    }
    q_move(&resend, &re->unsent); /* behind what was sent already: the order stays */
    q_move(&re->unsent, &resend);
}

static void cmd_conn_lost(struct redis_engine *re, const char *why)
{
    cmd_conn_lost_how(re, why, 0);
}

static void sub_conn_lost(struct redis_engine *re, const char *why)
{
    struct sss_map_iter it;
    struct rchan *ch;

    sss_redis_conn_lost(&re->sub, why, sss_now_ms());
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));) {
        ch->inflight = 0;
        ch->subscribed = 0;
        ch->live = 0; /* until resubscribed and caught up */
    }
}

/* ---- the ops ---- */

static void redis_publish(struct sss_engine *e, const struct sss_engine_tag *tag,
                          const char *chan, size_t chan_len, const char *topic, size_t topic_len,
                          const char *msg, size_t msg_len)
{
    struct redis_engine *re = (struct redis_engine *)e;
    char k1[SSS_PROTO_CHANNEL_MAX + 16], k2[SSS_PROTO_CHANNEL_MAX + 16],
        k3[SSS_PROTO_CHANNEL_MAX + 16], k4[SSS_PROTO_CHANNEL_MAX + 16], seq[24];
    const char *argv[14];
    size_t lens[14];
    struct cmd *c;
    int l1 = key_of(k1, sizeof(k1), chan, chan_len, ":h"),
        l2 = key_of(k2, sizeof(k2), chan, chan_len, ":e"),
        l3 = key_of(k3, sizeof(k3), chan, chan_len, ""),
        l4 = key_of(k4, sizeof(k4), chan, chan_len, ":o");

    if (l1 < 0 || l2 < 0 || l3 < 0 || l4 < 0) {
        e->sink.published(e->sink.data, tag, SSS_EINVAL, 0, (struct sss_uid){0, 0});
        return;
    }
    /* The envelope after its uid: version, chan, topic, msg, origin. */
    sss_envelope_pack_tail(&re->pack, chan, chan_len, topic, topic_len, msg, msg_len,
                           re->cfg->host_id, re->host_len, tag->worker, tag->conn, tag->flags);
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = re->sha_pub, lens[1] = 40;
    argv[2] = "4", lens[2] = 1;
    argv[3] = k1, lens[3] = (size_t)l1;
    argv[4] = k2, lens[4] = (size_t)l2;
    argv[5] = k3, lens[5] = (size_t)l3;
    argv[6] = k4, lens[6] = (size_t)l4;
    argv[7] = topic, lens[7] = topic_len;
    argv[8] = msg, lens[8] = msg_len;
    argv[9] = re->hist_size, lens[9] = strlen(re->hist_size);
    argv[10] = re->hist_ttl, lens[10] = strlen(re->hist_ttl);
    argv[11] = re->pack.data, lens[11] = re->pack.size;
    argv[12] = re->origin, lens[12] = strlen(re->origin);
    argv[13] = seq, lens[13] = (size_t)snprintf(seq, sizeof(seq), "%llu",
                                                (unsigned long long)++re->pub_seq);
    c = cmd_new(re, K_PUBLISH, 14, argv, lens);
    if (!c) {
        e->sink.published(e->sink.data, tag, -ENOMEM, 0, (struct sss_uid){0, 0});
        return;
    }
    c->tag = *tag;
    if (!re->cmd_ready && re->cfg->redis_wait_ms == 0) {
        answer_failure(re, c, SSS_EUNAVAIL);
        cmd_free(c);
        return;
    }
    (void)send_cmd(re, c);
}

static void wait_live(struct redis_engine *re, struct rchan *ch, enum cmd_kind kind,
                      const struct sss_engine_tag *tag, int has_after, struct sss_uid after)
{
    struct waiter *w = sss_calloc(1, sizeof(*w));

    if (!w) {
        if (kind == K_LAST)
            re->base.sink.last_uid(re->base.sink.data, tag, -ENOMEM, 0, after);
        else
            re->base.sink.hist_done(re->base.sink.data, tag, -ENOMEM, 1, 0, after);
        return;
    }
    w->kind = kind;
    w->tag = *tag;
    w->has_after = has_after;
    w->after = after;
    w->deadline = sss_now_ms() + re->cfg->redis_wait_ms;
    TAILQ_INSERT_TAIL(&ch->waiters, w, link);
    re->nwaiting++;
}

static void redis_last_uid(struct sss_engine *e, const struct sss_engine_tag *tag,
                           const char *chan, size_t chan_len)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct rchan *ch = chan_get(re, chan, chan_len, 0);
    struct cmd *c;

    if (ch && ch->live) {
        /* Exact: every later message reaches this host's bus after it. */
        e->sink.last_uid(e->sink.data, tag, 0, ch->has_last, ch->last);
        return;
    }
    if (ch && ch->want) {
        wait_live(re, ch, K_LAST, tag, 0, (struct sss_uid){0, 0});
        return;
    }
    /* Nobody here subscribes to it: just read the stream. */
    c = history_cmd(re, K_LAST, chan, chan_len, "last", NULL);
    if (!c) {
        e->sink.last_uid(e->sink.data, tag, -ENOMEM, 0, (struct sss_uid){0, 0});
        return;
    }
    c->tag = *tag;
    (void)send_cmd(re, c);
}

static void redis_history(struct sss_engine *e, const struct sss_engine_tag *tag,
                          const char *chan, size_t chan_len, int has_after, struct sss_uid after)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct rchan *ch = chan_get(re, chan, chan_len, 0);
    struct cmd *c;

    if (ch && ch->want && !ch->live) {
        wait_live(re, ch, K_HISTORY, tag, has_after, after);
        return;
    }
    c = history_cmd(re, K_HISTORY, chan, chan_len, has_after ? "after" : "all", &after);
    if (!c) {
        e->sink.hist_done(e->sink.data, tag, -ENOMEM, 1, 0, (struct sss_uid){0, 0});
        return;
    }
    c->tag = *tag;
    c->has_after = has_after;
    c->after = after;
    (void)send_cmd(re, c);
}

static void redis_interest(struct sss_engine *e, const char *chan, size_t chan_len, int on)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct rchan *ch = chan_get(re, chan, chan_len, on);

    if (!ch) {
        if (on)
            sss_log_error("redis", "out of memory: this host will not receive %.*s",
                          (int)chan_len, chan);
        return;
    }
    if (ch->want == on)
        return;
    ch->want = on;
    if (!on) {
        ch->live = 0;
        held_clear(ch);
    }
    if (re->sub.state == SSS_REDIS_UP) {
        ch->inflight++;
        send_sub_cmd(re, on ? "SUBSCRIBE" : "UNSUBSCRIBE", chan, chan_len);
    }
    chan_maybe_forget(re, ch);
}

static int redis_control(struct sss_engine *e, uint32_t type, const void *p, size_t len)
{
    struct redis_engine *re = (struct redis_engine *)e;
    const char *argv[3];
    size_t lens[3];
    struct cmd *c;

    sss_envelope_pack_control(&re->pack, type, p, len);
    argv[0] = "PUBLISH", lens[0] = 7;
    argv[1] = CONTROL_CHANNEL, lens[1] = sizeof(CONTROL_CHANNEL) - 1;
    argv[2] = re->pack.data, lens[2] = re->pack.size;
    c = cmd_new(re, K_CONTROL, 3, argv, lens);
    if (!c)
        return -ENOMEM;
    if (!re->cmd_ready && re->unsent.n >= (size_t)re->cfg->redis_queue) {
        cmd_free(c);
        return SSS_EUNAVAIL;
    }
    return send_cmd(re, c);
}

/* Commands and questions that waited too long for Redis fail now. */
static void expire_waiting(struct redis_engine *re, int64_t now)
{
    struct cmd_queue keep;
    struct sss_map_iter it;
    struct rchan *ch;
    struct cmd *c;

    q_init(&keep);
    while ((c = q_pop(&re->unsent))) {
        if (c->kind != K_CATCHUP && now >= c->deadline) {
            answer_failure(re, c, c->sent ? SSS_EUNKNOWN : SSS_EUNAVAIL);
            cmd_free(c);
        } else {
            q_push(&keep, c);
        }
    }
    q_move(&re->unsent, &keep);
    if (!re->nwaiting && !re->nretry)
        return; /* the usual case: no channel to visit */
    /* Nothing below adds or forgets a channel: the sink's callbacks only
     * queue answers for the workers. */
    for (sss_map_iter_init(&it, &re->chans); (ch = sss_map_next(&it));) {
        struct waiter *w, *next;

        if (ch->retry_catchup && ch->want && ch->subscribed && !ch->catching)
            start_catchup(re, ch);
        for (w = TAILQ_FIRST(&ch->waiters); w; w = next) {
            next = TAILQ_NEXT(w, link);
            if (now < w->deadline)
                continue;
            /* The subscriber starts from what this host fed last; a later
             * catch-up replays the rest. A SYNC learns it is incomplete. */
            if (w->kind == K_LAST)
                re->base.sink.last_uid(re->base.sink.data, &w->tag, 0, ch->has_last, ch->last);
            else
                re->base.sink.hist_done(re->base.sink.data, &w->tag, SSS_EUNAVAIL, 1, 0,
                                        ch->last);
            TAILQ_REMOVE(&ch->waiters, w, link);
            sss_free(w);
            re->nwaiting--;
        }
    }
}

static void redis_tick(struct sss_engine *e, int64_t now_wall_ms)
{
    struct redis_engine *re = (struct redis_engine *)e;
    int64_t now = sss_now_ms();
    const char *why;

    (void)now_wall_ms;
    if ((why = sss_redis_conn_overdue(&re->cmd, now)))
        cmd_conn_lost(re, why);
    if ((why = sss_redis_conn_overdue(&re->sub, now)))
        sub_conn_lost(re, why);
    sss_redis_conn_maybe_connect(&re->cmd, now);
    sss_redis_conn_maybe_connect(&re->sub, now);
    expire_waiting(re, now);
}

static int redis_pollfds(struct sss_engine *e, struct pollfd *pfd, int cap)
{
    struct redis_engine *re = (struct redis_engine *)e;
    int n = 0;

    /* Write what this turn queued (pipelined), then wait for the rest. */
    if (re->cmd.state == SSS_REDIS_UP && sss_redis_conn_flush(&re->cmd) < 0)
        cmd_conn_lost(re, "write failed");
    if (re->sub.state == SSS_REDIS_UP && sss_redis_conn_flush(&re->sub) < 0)
        sub_conn_lost(re, "write failed");
    if (n < cap && sss_redis_conn_pollfd(&re->cmd, &pfd[n]))
        n++;
    if (n < cap && sss_redis_conn_pollfd(&re->sub, &pfd[n]))
        n++;
    return n;
}

static void drain_cmd_replies(struct redis_engine *re)
{
    redisReply *r;
    int rc;

    while ((rc = sss_redis_conn_reply(&re->cmd, &r)) == 1) {
        struct cmd *c = STAILQ_FIRST(&re->inflight.q);

        if (c && c->kind == K_PUBLISH && SSS_FAULT_HIT("redis.publish.reply-lost")) {
            /* The test's fault: the connection breaks just before this
             * publish's reply could be read (it was applied). */
            freeReplyObject(r);
            cmd_conn_lost(re, "fault injected: publish reply lost");
            return;
        }
        c = q_pop(&re->inflight);
        if (!c) {
            sss_log_error("redis", "a reply nobody asked for");
            freeReplyObject(r);
            cmd_conn_lost(re, "out of step with Redis");
            return;
        }
        on_cmd_reply(re, c, r);
        freeReplyObject(r);
        cmd_free(c);
        if (re->setup_failed) {
            re->setup_failed = 0;
            cmd_conn_lost_how(re, "Redis refused the connection's setup (password? database?)", 1);
            return;
        }
    }
    if (rc < 0)
        cmd_conn_lost(re, "unreadable reply");
}

static void drain_sub_replies(struct redis_engine *re)
{
    redisReply *r;
    int rc;

    while ((rc = sss_redis_conn_reply(&re->sub, &r)) == 1) {
        on_sub_reply(re, r);
        freeReplyObject(r);
        if (re->setup_failed == 2) {
            re->setup_failed = 0;
            sub_conn_lost(re, "Redis refused the subscriptions connection (password?)");
            return;
        }
    }
    if (rc < 0)
        sub_conn_lost(re, "unreadable reply");
}

static void redis_handle(struct sss_engine *e, const struct pollfd *pfd, int n)
{
    struct redis_engine *re = (struct redis_engine *)e;

    for (int i = 0; i < n; i++) {
        int is_cmd = pfd[i].fd == re->cmd.fd;
        struct sss_redis_conn *c = is_cmd ? &re->cmd : &re->sub;
        int rc;

        if (!pfd[i].revents || (!is_cmd && pfd[i].fd != re->sub.fd))
            continue;
        rc = sss_redis_conn_handle(c, pfd[i].revents);
        if (rc == 1) {
            if (is_cmd)
                setup_cmd_conn(re);
            else
                setup_sub_conn(re);
        } else if (rc < 0) {
            if (is_cmd)
                cmd_conn_lost(re, sss_strerror(rc));
            else
                sub_conn_lost(re, sss_strerror(rc));
            continue;
        }
        if (is_cmd)
            drain_cmd_replies(re);
        else
            drain_sub_replies(re);
    }
}

static int redis_connected(struct sss_engine *e)
{
    struct redis_engine *re = (struct redis_engine *)e;

    return re->cmd_ready && re->sub.state == SSS_REDIS_UP;
}

static void redis_destroy(struct sss_engine *e)
{
    struct redis_engine *re = (struct redis_engine *)e;
    struct cmd *c;

    while ((c = q_pop(&re->unsent)))
        cmd_free(c);
    while ((c = q_pop(&re->inflight)))
        cmd_free(c);
    sss_map_clear(&re->chans, chan_free);
    sss_redis_conn_fini(&re->cmd);
    sss_redis_conn_fini(&re->sub);
    sss_redis_target_fini(&re->target);
    msgpack_sbuffer_destroy(&re->pack);
    sss_free(re);
}

static const struct sss_engine_ops redis_ops = {
    .name = "redis",
    .publish = redis_publish,
    .last_uid = redis_last_uid,
    .history = redis_history,
    .interest = redis_interest,
    .control = redis_control,
    .tick = redis_tick,
    .pollfds = redis_pollfds,
    .handle = redis_handle,
    .connected = redis_connected,
    .destroy = redis_destroy,
};

struct sss_engine *sss_engine_redis_create(const struct sss_cfg *cfg,
                                           const struct sss_engine_limits *limits,
                                           const struct sss_engine_sink *sink, int *err)
{
    struct redis_engine *re = sss_calloc(1, sizeof(*re));
    char why[400];

    *err = 0;
    if (!re) {
        *err = -ENOMEM;
        return NULL;
    }
    q_init(&re->unsent);
    q_init(&re->inflight);
    if (sss_redis_target_parse(cfg->redis_url, &re->target) < 0) {
        sss_log_error("redis", "--redis %s: not redis[s]://[[user]:password@]host:port/db, or "
                               "the host does not resolve",
                      cfg->redis_url);
        sss_free(re);
        *err = SSS_EINVAL;
        return NULL;
    }
    if (sss_redis_target_tls(&re->target, cfg->redis_ca_file, cfg->redis_cert_file,
                             cfg->redis_key_file, why, sizeof(why)) < 0) {
        sss_log_error("redis", "%s", why);
        sss_free(re);
        *err = SSS_EINVAL;
        return NULL;
    }
    re->target.connect_timeout_ms = cfg->redis_connect_timeout_ms;
    re->base.ops = &redis_ops;
    re->base.sink = *sink;
    re->cfg = cfg;
    re->host_len = strlen(cfg->host_id);
    snprintf(re->origin, sizeof(re->origin), "%s/%d/%lld", cfg->host_id, (int)getpid(),
             (long long)sss_wall_ms());
    sss_map_init(&re->chans);
    msgpack_sbuffer_init(&re->pack);
    sha1_hex(SSS_REDIS_LUA_PUBLISH, re->sha_pub);
    sha1_hex(SSS_REDIS_LUA_HISTORY, re->sha_hist);
    snprintf(re->hist_size, sizeof(re->hist_size), "%u", limits->history_size);
    snprintf(re->hist_ttl, sizeof(re->hist_ttl), "%lld", (long long)limits->history_ttl_ms);
    sss_redis_conn_init(&re->cmd, "commands", &re->target);
    sss_redis_conn_init(&re->sub, "subscriptions", &re->target);
    sss_redis_conn_maybe_connect(&re->cmd, sss_now_ms());
    sss_redis_conn_maybe_connect(&re->sub, sss_now_ms());
    sss_log_info("redis", "engine on %s%s db %d%s%s (history %u messages, ttl %lld ms)",
                 re->target.tls ? "rediss://" : "", re->target.where, re->target.db,
                 re->target.user[0] ? " as " : "", re->target.user, limits->history_size,
                 (long long)limits->history_ttl_ms);
    return &re->base;
}
