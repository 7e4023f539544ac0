/*
 * Host messages (formats atop sss_hostmsg.h): the layouts, checked here; the
 * table that says, per record type, how big its fixed part is and where its
 * variable parts' lengths are; packing, unpacking and dispatching by that
 * table; and the mailbox outbox.
 *
 * Unpacking reads nothing of a record but its fixed part until the fixed
 * part is known to be there, and hands out no span until the fixed part and
 * every length add up to exactly the record's size. The length fields are at
 * most 32 bits, so their sum cannot overflow a size_t.
 */
#include "sss_hostmsg.h"
#include "sss_alloc.h"
#include "sss_log.h"
#include "sss_ring.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

static_assert(sizeof(struct sss_hm_publish) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_published) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_history) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_hist_rec) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_hist_end) == 40, "fixed layout");
static_assert(sizeof(struct sss_hm_feed) == 40, "fixed layout");
static_assert(sizeof(struct sss_hm_last_uid) == 16, "fixed layout");
static_assert(sizeof(struct sss_hm_last_uid_r) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_broadcast) == 8, "fixed layout");
static_assert(sizeof(struct sss_hm_hello) == 8, "fixed layout");
static_assert(sizeof(struct sss_hm_presence) == 8, "fixed layout");
static_assert(sizeof(struct sss_hm_session) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_session_load) == 16, "fixed layout");
static_assert(sizeof(struct sss_hm_session_entry) == 32, "fixed layout");
static_assert(sizeof(struct sss_hm_session_end) == 16, "fixed layout");
static_assert(sizeof(struct sss_hm_boot) == 8, "fixed layout");

/* ---- The table: one row per record type ---- */

/* Fill the lengths of a type's variable parts from its fixed part. */
typedef void hm_lens_fn(const union sss_hm_fixed *h, size_t lens[SSS_HM_MAX_PARTS]);

struct hm_row {
    const char *name; /* NULL: not a record type */
    uint16_t fixed;   /* size of the fixed part */
    uint8_t nparts;   /* variable parts */
    hm_lens_fn *lens; /* NULL with one part: that part is the rest of the record */
};

static void lens_publish(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->publish.chan_len, l[1] = h->publish.topic_len, l[2] = h->publish.msg_len;
}

static void lens_last_uid(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->last_uid.chan_len;
}

static void lens_history(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->history.chan_len;
}

static void lens_broadcast(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->broadcast.topic_len, l[1] = h->broadcast.msg_len;
}

static void lens_presence(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->presence.chan_len, l[1] = h->presence.user_len;
}

static void lens_session(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->session.session_len, l[1] = h->session.chan_len, l[2] = h->session.user_len;
}

static void lens_session_load(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->session_load.session_len;
}

static void lens_boot(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->boot.name_len, l[1] = h->boot.reason_len;
}

static void lens_hist_rec(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->hist_rec.topic_len, l[1] = h->hist_rec.msg_len;
}

static void lens_session_entry(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->session_entry.chan_len;
}

static void lens_feed(const union sss_hm_fixed *h, size_t l[])
{
    l[0] = h->feed.chan_len, l[1] = h->feed.topic_len, l[2] = h->feed.msg_len;
}

#define ROW(T, name, S, n, lens) [T] = {name, (uint16_t)sizeof(struct S), n, lens}
static const struct hm_row rows[SSS_HM_TYPE_END] = {
    ROW(SSS_HM_PUBLISH, "PUBLISH", sss_hm_publish, 3, lens_publish),
    ROW(SSS_HM_LAST_UID, "LAST_UID", sss_hm_last_uid, 1, lens_last_uid),
    ROW(SSS_HM_HISTORY, "HISTORY", sss_hm_history, 1, lens_history),
    ROW(SSS_HM_BROADCAST, "BROADCAST", sss_hm_broadcast, 2, lens_broadcast),
    ROW(SSS_HM_HELLO, "HELLO", sss_hm_hello, 0, NULL),
    ROW(SSS_HM_PRESENCE, "PRESENCE", sss_hm_presence, 2, lens_presence),
    ROW(SSS_HM_SESSION, "SESSION", sss_hm_session, 3, lens_session),
    ROW(SSS_HM_SESSION_LOAD, "SESSION_LOAD", sss_hm_session_load, 1, lens_session_load),
    ROW(SSS_HM_BOOT, "BOOT", sss_hm_boot, 2, lens_boot),
    ROW(SSS_HM_RESYNC, "RESYNC", sss_hm_hello, 0, NULL),
    ROW(SSS_HM_PUBLISHED, "PUBLISHED", sss_hm_published, 0, NULL),
    ROW(SSS_HM_LAST_UID_R, "LAST_UID_R", sss_hm_last_uid_r, 0, NULL),
    ROW(SSS_HM_HIST_REC, "HIST_REC", sss_hm_hist_rec, 2, lens_hist_rec),
    ROW(SSS_HM_HIST_END, "HIST_END", sss_hm_hist_end, 0, NULL),
    ROW(SSS_HM_SESSION_ENTRY, "SESSION_ENTRY", sss_hm_session_entry, 1, lens_session_entry),
    ROW(SSS_HM_SESSION_END, "SESSION_END", sss_hm_session_end, 0, NULL),
    ROW(SSS_HM_FEED, "FEED", sss_hm_feed, 3, lens_feed),
    ROW(SSS_HM_BCAST_RECORD, "BCAST_RECORD", sss_hm_broadcast, 2, lens_broadcast),
    ROW(SSS_HM_BOOT_RECORD, "BOOT_RECORD", sss_hm_boot, 2, lens_boot),
    [SSS_HM_GAP_RECORD] = {"GAP_RECORD", 0, 1, NULL},
};
#undef ROW

static const struct hm_row *row_of(uint32_t type)
{
    return type < SSS_HM_TYPE_END && rows[type].name ? &rows[type] : NULL;
}

const char *sss_hm_type_name(uint32_t type)
{
    const struct hm_row *row = row_of(type);

    return row ? row->name : "?";
}

int sss_hm_unpack(uint32_t type, const void *p, size_t len, struct sss_hm_rec *rec)
{
    const struct hm_row *row = row_of(type);
    const char *base = p;
    size_t lens[SSS_HM_MAX_PARTS] = {0, 0, 0}, off, total;

    if (!row)
        return SSS_EHM_TYPE;
    if (len < row->fixed)
        return SSS_EHM_SHORT;
    memset(rec, 0, sizeof(*rec));
    rec->type = type;
    if (row->fixed)
        memcpy(&rec->h, p, row->fixed);
    if (row->lens)
        row->lens(&rec->h, lens);
    else if (row->nparts)
        lens[0] = len - row->fixed;
    total = row->fixed;
    for (int i = 0; i < row->nparts; i++)
        total += lens[i];
    if (total != len)
        return SSS_EHM_LENGTH;
    off = row->fixed;
    for (int i = 0; i < row->nparts; i++) {
        rec->v[i].p = base ? base + off : NULL;
        rec->v[i].len = lens[i];
        off += lens[i];
    }
    return 0;
}

size_t sss_hm_rec_size(const struct sss_hm_rec *rec)
{
    const struct hm_row *row = row_of(rec->type);
    size_t n = row ? row->fixed : 0;

    for (int i = 0; i < SSS_HM_MAX_PARTS; i++)
        n += rec->v[i].len;
    return n;
}

int sss_hm_rec_iov(const struct sss_hm_rec *rec, struct iovec iov[1 + SSS_HM_MAX_PARTS])
{
    const struct hm_row *row = row_of(rec->type);
    int n = 0;

    if (row && row->fixed)
        iov[n++] = (struct iovec){(void *)&rec->h, row->fixed};
    for (int i = 0; i < SSS_HM_MAX_PARTS; i++)
        if (rec->v[i].len)
            iov[n++] = (struct iovec){(void *)rec->v[i].p, rec->v[i].len};
    return n;
}

long sss_hm_write(const struct sss_hm_rec *rec, void *buf, size_t cap)
{
    struct iovec iov[1 + SSS_HM_MAX_PARTS];
    size_t size = sss_hm_rec_size(rec), off = 0;
    int n = sss_hm_rec_iov(rec, iov);

    if (size > cap || size > LONG_MAX)
        return -EMSGSIZE;
    for (int i = 0; i < n; i++) {
        memcpy((char *)buf + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return (long)size;
}

/* ---- Packing ---- */

static void rec_start(struct sss_hm_rec *rec, uint32_t type)
{
    memset(rec, 0, sizeof(*rec));
    rec->type = type;
}

static void rec_part(struct sss_hm_rec *rec, int i, const char *p, size_t len)
{
    rec->v[i] = (struct sss_hm_span){p, len};
}

int sss_hm_pack_publish(struct sss_hm_rec *rec, uint64_t req, uint64_t origin_conn,
                        uint32_t flags, const char *chan, size_t chan_len, const char *topic,
                        size_t topic_len, const char *msg, size_t msg_len)
{
    struct sss_hm_publish *h = &rec->h.publish;

    if (chan_len > UINT16_MAX || topic_len > UINT16_MAX || msg_len > UINT32_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_PUBLISH);
    h->req = req;
    h->origin_conn = origin_conn;
    h->flags = flags;
    h->chan_len = (uint16_t)chan_len;
    h->topic_len = (uint16_t)topic_len;
    h->msg_len = (uint32_t)msg_len;
    rec_part(rec, 0, chan, chan_len);
    rec_part(rec, 1, topic, topic_len);
    rec_part(rec, 2, msg, msg_len);
    return 0;
}

int sss_hm_pack_last_uid(struct sss_hm_rec *rec, uint64_t req, const char *chan, size_t chan_len)
{
    if (chan_len > UINT16_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_LAST_UID);
    rec->h.last_uid.req = req;
    rec->h.last_uid.chan_len = (uint16_t)chan_len;
    rec_part(rec, 0, chan, chan_len);
    return 0;
}

int sss_hm_pack_history(struct sss_hm_rec *rec, uint64_t req, const struct sss_uid *after,
                        const char *chan, size_t chan_len)
{
    if (chan_len > UINT16_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_HISTORY);
    rec->h.history.req = req;
    if (after) {
        rec->h.history.has_after = 1;
        rec->h.history.after = *after;
    }
    rec->h.history.chan_len = (uint16_t)chan_len;
    rec_part(rec, 0, chan, chan_len);
    return 0;
}

static int pack_broadcast(struct sss_hm_rec *rec, uint32_t type, const char *topic,
                          size_t topic_len, const char *msg, size_t msg_len)
{
    if (topic_len > UINT16_MAX || msg_len > UINT32_MAX)
        return SSS_EINVAL;
    rec_start(rec, type);
    rec->h.broadcast.topic_len = (uint16_t)topic_len;
    rec->h.broadcast.msg_len = (uint32_t)msg_len;
    rec_part(rec, 0, topic, topic_len);
    rec_part(rec, 1, msg, msg_len);
    return 0;
}

int sss_hm_pack_broadcast(struct sss_hm_rec *rec, const char *topic, size_t topic_len,
                          const char *msg, size_t msg_len)
{
    return pack_broadcast(rec, SSS_HM_BROADCAST, topic, topic_len, msg, msg_len);
}

int sss_hm_pack_bcast_record(struct sss_hm_rec *rec, const char *topic, size_t topic_len,
                             const char *msg, size_t msg_len)
{
    return pack_broadcast(rec, SSS_HM_BCAST_RECORD, topic, topic_len, msg, msg_len);
}

void sss_hm_pack_hello(struct sss_hm_rec *rec, uint64_t pid)
{
    rec_start(rec, SSS_HM_HELLO);
    rec->h.hello.pid = pid;
}

void sss_hm_pack_resync(struct sss_hm_rec *rec, uint64_t pid)
{
    rec_start(rec, SSS_HM_RESYNC);
    rec->h.hello.pid = pid;
}

int sss_hm_pack_presence(struct sss_hm_rec *rec, int32_t delta, const char *chan,
                         size_t chan_len, const char *user, size_t user_len)
{
    if (chan_len > UINT16_MAX || user_len > UINT16_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_PRESENCE);
    rec->h.presence.delta = delta;
    rec->h.presence.chan_len = (uint16_t)chan_len;
    rec->h.presence.user_len = (uint16_t)user_len;
    rec_part(rec, 0, chan, chan_len);
    rec_part(rec, 1, user, user_len);
    return 0;
}

int sss_hm_pack_session(struct sss_hm_rec *rec, int op, const char *session, size_t session_len,
                        const char *chan, size_t chan_len, const char *user, size_t user_len,
                        const struct sss_uid *uid)
{
    struct sss_hm_session *h = &rec->h.session;

    if (op < 0 || op > UINT16_MAX || session_len > UINT16_MAX || chan_len > UINT16_MAX ||
        user_len > UINT16_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_SESSION);
    h->op = (uint16_t)op;
    h->session_len = (uint16_t)session_len;
    h->chan_len = (uint16_t)chan_len;
    h->user_len = (uint16_t)user_len;
    if (uid) {
        h->has_uid = 1;
        h->uid = *uid;
    }
    rec_part(rec, 0, session, session_len);
    rec_part(rec, 1, chan, chan_len);
    rec_part(rec, 2, user, user_len);
    return 0;
}

int sss_hm_pack_session_load(struct sss_hm_rec *rec, uint64_t req, const char *session,
                             size_t session_len)
{
    if (session_len > UINT16_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_SESSION_LOAD);
    rec->h.session_load.req = req;
    rec->h.session_load.session_len = (uint16_t)session_len;
    rec_part(rec, 0, session, session_len);
    return 0;
}

static int pack_boot(struct sss_hm_rec *rec, uint32_t type, int kind, const char *name,
                     size_t name_len, const char *reason, size_t reason_len)
{
    if (kind < 0 || kind > UINT16_MAX || name_len > UINT16_MAX || reason_len > UINT16_MAX)
        return SSS_EINVAL;
    rec_start(rec, type);
    rec->h.boot.kind = (uint16_t)kind;
    rec->h.boot.name_len = (uint16_t)name_len;
    rec->h.boot.reason_len = (uint16_t)reason_len;
    rec_part(rec, 0, name, name_len);
    rec_part(rec, 1, reason, reason_len);
    return 0;
}

int sss_hm_pack_boot(struct sss_hm_rec *rec, int kind, const char *name, size_t name_len,
                     const char *reason, size_t reason_len)
{
    return pack_boot(rec, SSS_HM_BOOT, kind, name, name_len, reason, reason_len);
}

int sss_hm_pack_boot_record(struct sss_hm_rec *rec, int kind, const char *name, size_t name_len,
                            const char *reason, size_t reason_len)
{
    return pack_boot(rec, SSS_HM_BOOT_RECORD, kind, name, name_len, reason, reason_len);
}

void sss_hm_pack_published(struct sss_hm_rec *rec, uint64_t req, int rc, struct sss_uid uid)
{
    rec_start(rec, SSS_HM_PUBLISHED);
    rec->h.published.req = req;
    rec->h.published.rc = rc;
    rec->h.published.uid = uid;
}

void sss_hm_pack_last_uid_r(struct sss_hm_rec *rec, uint64_t req, int has, struct sss_uid uid)
{
    rec_start(rec, SSS_HM_LAST_UID_R);
    rec->h.last_uid_r.req = req;
    rec->h.last_uid_r.has = has != 0;
    rec->h.last_uid_r.uid = uid;
}

int sss_hm_pack_hist_rec(struct sss_hm_rec *rec, uint64_t req, struct sss_uid uid,
                         const char *topic, size_t topic_len, const char *msg, size_t msg_len)
{
    if (topic_len > UINT16_MAX || msg_len > UINT32_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_HIST_REC);
    rec->h.hist_rec.req = req;
    rec->h.hist_rec.uid = uid;
    rec->h.hist_rec.topic_len = (uint16_t)topic_len;
    rec->h.hist_rec.msg_len = (uint32_t)msg_len;
    rec_part(rec, 0, topic, topic_len);
    rec_part(rec, 1, msg, msg_len);
    return 0;
}

void sss_hm_pack_hist_end(struct sss_hm_rec *rec, uint64_t req, int rc, int gap, int has_last,
                          struct sss_uid last)
{
    rec_start(rec, SSS_HM_HIST_END);
    rec->h.hist_end.req = req;
    rec->h.hist_end.rc = rc;
    rec->h.hist_end.gap = (uint32_t)gap;
    rec->h.hist_end.has_last = (uint32_t)has_last;
    rec->h.hist_end.last = last;
}

int sss_hm_pack_session_entry(struct sss_hm_rec *rec, uint64_t req, const struct sss_uid *uid,
                              const char *chan, size_t chan_len)
{
    if (chan_len > UINT16_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_SESSION_ENTRY);
    rec->h.session_entry.req = req;
    if (uid) {
        rec->h.session_entry.has_uid = 1;
        rec->h.session_entry.uid = *uid;
    }
    rec->h.session_entry.chan_len = (uint16_t)chan_len;
    rec_part(rec, 0, chan, chan_len);
    return 0;
}

void sss_hm_pack_session_end(struct sss_hm_rec *rec, uint64_t req, int found)
{
    rec_start(rec, SSS_HM_SESSION_END);
    rec->h.session_end.req = req;
    rec->h.session_end.found = (uint32_t)found;
}

int sss_hm_pack_feed(struct sss_hm_rec *rec, struct sss_uid uid, int32_t origin_worker,
                     uint64_t origin_conn, uint32_t flags, const char *chan, size_t chan_len,
                     const char *topic, size_t topic_len, const char *msg, size_t msg_len)
{
    struct sss_hm_feed *h = &rec->h.feed;

    if (chan_len > UINT16_MAX || topic_len > UINT16_MAX || msg_len > UINT32_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_FEED);
    h->uid = uid;
    h->origin_worker = origin_worker;
    h->origin_conn = origin_conn;
    h->flags = flags;
    h->chan_len = (uint16_t)chan_len;
    h->topic_len = (uint16_t)topic_len;
    h->msg_len = (uint32_t)msg_len;
    rec_part(rec, 0, chan, chan_len);
    rec_part(rec, 1, topic, topic_len);
    rec_part(rec, 2, msg, msg_len);
    return 0;
}

int sss_hm_pack_gap_record(struct sss_hm_rec *rec, const char *chan, size_t chan_len)
{
    if (chan_len > UINT32_MAX)
        return SSS_EINVAL;
    rec_start(rec, SSS_HM_GAP_RECORD);
    rec_part(rec, 0, chan, chan_len);
    return 0;
}

/* ---- Dispatching ---- */

int sss_hm_dispatch(struct sss_hm_dispatcher *d, void *data, uint32_t type, const void *p,
                    size_t len)
{
    struct sss_hm_rec rec;
    int rc = type < SSS_HM_TYPE_END && d->on[type] ? sss_hm_unpack(type, p, len, &rec)
                                                     : SSS_EHM_TYPE;

    if (rc == 0) {
        d->handled++;
        d->on[type](data, &rec);
        return 0;
    }
    d->refused++;
    /* Both ends are this binary: a refusal is a bug, but must not flood the log. */
    if (d->refused <= 10 || d->refused % 1024 == 0)
        sss_log_error(d->who, "refused host message type=%u (%s) len=%zu: %s refused=%llu", type,
                      sss_hm_type_name(type), len, sss_strerror(rc),
                      (unsigned long long)d->refused);
    if (d->on_refused) {
        if (rc == SSS_EHM_TYPE)
            memset(&rec, 0, sizeof(rec));
        d->on_refused(data, type, rc, &rec);
    }
    return rc;
}

/* ---- Outbox ---- */

struct sss_hm_pending {
    struct sss_hm_pending *next;
    uint32_t type;
    uint32_t len;
    char data[];
};

void sss_hm_outbox_init(struct sss_hm_outbox *o, struct sss_ring *ring)
{
    o->ring = ring;
    o->head = NULL;
    o->tailp = &o->head;
    o->pending_bytes = 0;
}

int sss_hm_outbox_send(struct sss_hm_outbox *o, uint32_t type, const void *h, size_t hlen,
                       const void *p1, size_t len1, const void *p2, size_t len2)
{
    struct sss_hm_pending *pd;

    if (!o->head) {
        if (!len2 && sss_ring_push2(o->ring, type, h, hlen, p1, len1) == 0)
            return 1;
        if (len2) {
            /* Three parts: join the variable ones (rare: publish requests). */
            char *tmp = sss_malloc(len1 + len2);
            int rc;

            if (!tmp)
                return -ENOMEM;
            if (len1)
                memcpy(tmp, p1, len1);
            memcpy(tmp + len1, p2, len2);
            rc = sss_ring_push2(o->ring, type, h, hlen, tmp, len1 + len2);
            sss_free(tmp);
            if (rc == 0)
                return 1;
        }
    }
    pd = sss_malloc(sizeof(*pd) + hlen + len1 + len2);
    if (!pd)
        return -ENOMEM;
    pd->next = NULL;
    pd->type = type;
    pd->len = (uint32_t)(hlen + len1 + len2);
    memcpy(pd->data, h, hlen);
    if (len1)
        memcpy(pd->data + hlen, p1, len1);
    if (len2)
        memcpy(pd->data + hlen + len1, p2, len2);
    *o->tailp = pd;
    o->tailp = &pd->next;
    o->pending_bytes += pd->len;
    return 0;
}

int sss_hm_outbox_put(struct sss_hm_outbox *o, const struct sss_hm_rec *rec)
{
    const struct hm_row *row = row_of(rec->type);
    const struct sss_hm_span *v = rec->v;
    size_t jlen = v[0].len + v[1].len + v[2].len, off = 0;
    char small[512], *joined;
    int rc;

    assert(row);
    if (!v[2].len)
        return sss_hm_outbox_send(o, rec->type, &rec->h, row->fixed, v[0].p, v[0].len, v[1].p,
                                  v[1].len);
    /* Three parts: the ring takes a fixed part and one more, so join them once. */
    joined = jlen <= sizeof(small) ? small : sss_malloc(jlen);
    if (!joined)
        return -ENOMEM;
    for (int i = 0; i < SSS_HM_MAX_PARTS; i++) {
        if (v[i].len)
            memcpy(joined + off, v[i].p, v[i].len);
        off += v[i].len;
    }
    rc = sss_hm_outbox_send(o, rec->type, &rec->h, row->fixed, joined, jlen, NULL, 0);
    if (joined != small)
        sss_free(joined);
    return rc;
}

int sss_hm_outbox_flush(struct sss_hm_outbox *o)
{
    int n = 0;

    while (o->head && sss_ring_push(o->ring, o->head->type, o->head->data, o->head->len) == 0) {
        struct sss_hm_pending *pd = o->head;

        o->head = pd->next;
        if (!o->head)
            o->tailp = &o->head;
        o->pending_bytes -= pd->len;
        sss_free(pd);
        n++;
    }
    return n;
}

void sss_hm_outbox_clear(struct sss_hm_outbox *o)
{
    while (o->head) {
        struct sss_hm_pending *pd = o->head;

        o->head = pd->next;
        sss_free(pd);
    }
    o->tailp = &o->head;
    o->pending_bytes = 0;
}
