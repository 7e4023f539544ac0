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
#include <stddef.h>
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
static_assert(sizeof(struct sss_hm_tell) == 24, "fixed layout");

/* ---- The table: one row per record type ---- */

/* Where a variable part's length is in the fixed part: offset and width (2 or 4). */
struct hm_len {
    uint8_t off, size;
};

struct hm_row {
    const char *name; /* NULL: not a record type */
    uint16_t fixed;   /* size of the fixed part */
    uint8_t nparts;   /* variable parts */
    struct hm_len len[SSS_HM_MAX_PARTS]; /* size 0 with one part: that part is the rest */
};

#define LEN(S, f) {offsetof(struct S, f), sizeof(((struct S *)0)->f)}
#define ROW(T, name, S, n, ...) [T] = {name, sizeof(struct S), n, {__VA_ARGS__}}
static const struct hm_row rows[SSS_HM_TYPE_END] = {
    ROW(SSS_HM_PUBLISH, "PUBLISH", sss_hm_publish, 3, LEN(sss_hm_publish, chan_len),
        LEN(sss_hm_publish, topic_len), LEN(sss_hm_publish, msg_len)),
    ROW(SSS_HM_LAST_UID, "LAST_UID", sss_hm_last_uid, 1, LEN(sss_hm_last_uid, chan_len)),
    ROW(SSS_HM_HISTORY, "HISTORY", sss_hm_history, 1, LEN(sss_hm_history, chan_len)),
    ROW(SSS_HM_BROADCAST, "BROADCAST", sss_hm_broadcast, 2, LEN(sss_hm_broadcast, topic_len),
        LEN(sss_hm_broadcast, msg_len)),
    ROW(SSS_HM_HELLO, "HELLO", sss_hm_hello, 0),
    ROW(SSS_HM_PRESENCE, "PRESENCE", sss_hm_presence, 2, LEN(sss_hm_presence, chan_len),
        LEN(sss_hm_presence, user_len)),
    ROW(SSS_HM_SESSION, "SESSION", sss_hm_session, 3, LEN(sss_hm_session, session_len),
        LEN(sss_hm_session, chan_len), LEN(sss_hm_session, user_len)),
    ROW(SSS_HM_SESSION_LOAD, "SESSION_LOAD", sss_hm_session_load, 1,
        LEN(sss_hm_session_load, session_len)),
    ROW(SSS_HM_BOOT, "BOOT", sss_hm_boot, 2, LEN(sss_hm_boot, name_len),
        LEN(sss_hm_boot, reason_len)),
    ROW(SSS_HM_RESYNC, "RESYNC", sss_hm_hello, 0),
    ROW(SSS_HM_TELL, "TELL", sss_hm_tell, 3, LEN(sss_hm_tell, host_len),
        LEN(sss_hm_tell, topic_len), LEN(sss_hm_tell, msg_len)),
    ROW(SSS_HM_PUBLISHED, "PUBLISHED", sss_hm_published, 0),
    ROW(SSS_HM_LAST_UID_R, "LAST_UID_R", sss_hm_last_uid_r, 0),
    ROW(SSS_HM_HIST_REC, "HIST_REC", sss_hm_hist_rec, 2, LEN(sss_hm_hist_rec, topic_len),
        LEN(sss_hm_hist_rec, msg_len)),
    ROW(SSS_HM_HIST_END, "HIST_END", sss_hm_hist_end, 0),
    ROW(SSS_HM_SESSION_ENTRY, "SESSION_ENTRY", sss_hm_session_entry, 1,
        LEN(sss_hm_session_entry, chan_len)),
    ROW(SSS_HM_SESSION_END, "SESSION_END", sss_hm_session_end, 0),
    ROW(SSS_HM_TELL_CONN, "TELL_CONN", sss_hm_tell, 3, LEN(sss_hm_tell, host_len),
        LEN(sss_hm_tell, topic_len), LEN(sss_hm_tell, msg_len)),
    ROW(SSS_HM_FEED, "FEED", sss_hm_feed, 3, LEN(sss_hm_feed, chan_len),
        LEN(sss_hm_feed, topic_len), LEN(sss_hm_feed, msg_len)),
    ROW(SSS_HM_BCAST_RECORD, "BCAST_RECORD", sss_hm_broadcast, 2,
        LEN(sss_hm_broadcast, topic_len), LEN(sss_hm_broadcast, msg_len)),
    ROW(SSS_HM_BOOT_RECORD, "BOOT_RECORD", sss_hm_boot, 2, LEN(sss_hm_boot, name_len),
        LEN(sss_hm_boot, reason_len)),
    [SSS_HM_GAP_RECORD] = {"GAP_RECORD", 0, 1, {{0, 0}}},
    ROW(SSS_HM_TELL_RECORD, "TELL_RECORD", sss_hm_tell, 3, LEN(sss_hm_tell, host_len),
        LEN(sss_hm_tell, topic_len), LEN(sss_hm_tell, msg_len)),
};
#undef ROW
#undef LEN

/* A length field's value, read from the record's fixed part (which is known to be whole). */
static size_t read_len(const char *fixed, struct hm_len l)
{
    uint16_t v16;
    uint32_t v32;

    if (l.size == sizeof(v16)) {
        memcpy(&v16, fixed + l.off, sizeof(v16));
        return v16;
    }
    assert(l.size == sizeof(v32));
    memcpy(&v32, fixed + l.off, sizeof(v32));
    return v32;
}

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
    for (int i = 0; i < row->nparts; i++)
        lens[i] = row->len[i].size ? read_len(base, row->len[i]) : len - row->fixed;
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

/* An optional uid of a header (zeroed by rec_parts): NULL leaves its flag 0. */
static void set_uid(uint32_t *has, struct sss_uid *dst, const struct sss_uid *uid)
{
    if (uid) {
        *has = 1;
        *dst = *uid;
    }
}

/*
 * Start a record of the given type with up to three variable parts (those
 * the type does not have are ignored: pass NULL, 0). Each length is checked
 * against the width of its field and written there through the same table
 * row that sss_hm_unpack reads, so the two cannot disagree. Returns 0 or
 * SSS_EINVAL.
 */
static int rec_parts(struct sss_hm_rec *rec, uint32_t type, const char *p0, size_t l0,
                     const char *p1, size_t l1, const char *p2, size_t l2)
{
    const struct hm_row *row = row_of(type);
    const struct sss_hm_span v[SSS_HM_MAX_PARTS] = {{p0, l0}, {p1, l1}, {p2, l2}};

    assert(row);
    memset(rec, 0, sizeof(*rec));
    rec->type = type;
    for (int i = 0; i < row->nparts; i++) {
        struct hm_len l = row->len[i];

        if (l.size == sizeof(uint16_t)) {
            uint16_t n = (uint16_t)v[i].len;

            if (v[i].len > UINT16_MAX)
                return SSS_EINVAL;
            memcpy((char *)&rec->h + l.off, &n, sizeof(n));
        } else if (l.size == sizeof(uint32_t)) {
            uint32_t n = (uint32_t)v[i].len;

            if (v[i].len > UINT32_MAX)
                return SSS_EINVAL;
            memcpy((char *)&rec->h + l.off, &n, sizeof(n));
        } else if (v[i].len > UINT32_MAX) {
            return SSS_EINVAL; /* the rest of the record: a ring record's bound */
        }
        rec->v[i] = v[i];
    }
    return 0;
}

int sss_hm_pack_publish(struct sss_hm_rec *rec, uint64_t req, uint64_t origin_conn,
                        uint32_t flags, const char *chan, size_t chan_len, const char *topic,
                        size_t topic_len, const char *msg, size_t msg_len)
{
    int rc = rec_parts(rec, SSS_HM_PUBLISH, chan, chan_len, topic, topic_len, msg, msg_len);

    rec->h.publish.req = req;
    rec->h.publish.origin_conn = origin_conn;
    rec->h.publish.flags = flags;
    return rc;
}

int sss_hm_pack_last_uid(struct sss_hm_rec *rec, uint64_t req, const char *chan, size_t chan_len)
{
    int rc = rec_parts(rec, SSS_HM_LAST_UID, chan, chan_len, NULL, 0, NULL, 0);

    rec->h.last_uid.req = req;
    return rc;
}

int sss_hm_pack_history(struct sss_hm_rec *rec, uint64_t req, const struct sss_uid *after,
                        const char *chan, size_t chan_len)
{
    int rc = rec_parts(rec, SSS_HM_HISTORY, chan, chan_len, NULL, 0, NULL, 0);

    rec->h.history.req = req;
    set_uid(&rec->h.history.has_after, &rec->h.history.after, after);
    return rc;
}

int sss_hm_pack_broadcast(struct sss_hm_rec *rec, const char *topic, size_t topic_len,
                          const char *msg, size_t msg_len)
{
    return rec_parts(rec, SSS_HM_BROADCAST, topic, topic_len, msg, msg_len, NULL, 0);
}

int sss_hm_pack_bcast_record(struct sss_hm_rec *rec, const char *topic, size_t topic_len,
                             const char *msg, size_t msg_len)
{
    return rec_parts(rec, SSS_HM_BCAST_RECORD, topic, topic_len, msg, msg_len, NULL, 0);
}

void sss_hm_pack_hello(struct sss_hm_rec *rec, uint64_t pid)
{
    (void)rec_parts(rec, SSS_HM_HELLO, NULL, 0, NULL, 0, NULL, 0);
    rec->h.hello.pid = pid;
}

void sss_hm_pack_resync(struct sss_hm_rec *rec, uint64_t pid)
{
    (void)rec_parts(rec, SSS_HM_RESYNC, NULL, 0, NULL, 0, NULL, 0);
    rec->h.hello.pid = pid;
}

int sss_hm_pack_presence(struct sss_hm_rec *rec, int32_t delta, const char *chan,
                         size_t chan_len, const char *user, size_t user_len)
{
    int rc = rec_parts(rec, SSS_HM_PRESENCE, chan, chan_len, user, user_len, NULL, 0);

    rec->h.presence.delta = delta;
    return rc;
}

int sss_hm_pack_session(struct sss_hm_rec *rec, int op, const char *session, size_t session_len,
                        const char *chan, size_t chan_len, const char *user, size_t user_len,
                        const struct sss_uid *uid)
{
    int rc = rec_parts(rec, SSS_HM_SESSION, session, session_len, chan, chan_len, user, user_len);

    if (op < 0 || op > UINT16_MAX)
        return SSS_EINVAL;
    rec->h.session.op = (uint16_t)op;
    set_uid(&rec->h.session.has_uid, &rec->h.session.uid, uid);
    return rc;
}

int sss_hm_pack_session_load(struct sss_hm_rec *rec, uint64_t req, const char *session,
                             size_t session_len)
{
    int rc = rec_parts(rec, SSS_HM_SESSION_LOAD, session, session_len, NULL, 0, NULL, 0);

    rec->h.session_load.req = req;
    return rc;
}

static int pack_boot(struct sss_hm_rec *rec, uint32_t type, int kind, const char *name,
                     size_t name_len, const char *reason, size_t reason_len)
{
    int rc = rec_parts(rec, type, name, name_len, reason, reason_len, NULL, 0);

    if (kind < 0 || kind > UINT16_MAX)
        return SSS_EINVAL;
    rec->h.boot.kind = (uint16_t)kind;
    return rc;
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

static int pack_tell(struct sss_hm_rec *rec, uint32_t type, uint64_t sid, uint32_t run,
                     const char *host, size_t host_len, const char *topic, size_t topic_len,
                     const char *msg, size_t msg_len)
{
    int rc = rec_parts(rec, type, host, host_len, topic, topic_len, msg, msg_len);

    rec->h.tell.sid = sid;
    rec->h.tell.run = run;
    return rc;
}

int sss_hm_pack_tell(struct sss_hm_rec *rec, uint64_t sid, uint32_t run, const char *host,
                     size_t host_len, const char *topic, size_t topic_len, const char *msg,
                     size_t msg_len)
{
    return pack_tell(rec, SSS_HM_TELL, sid, run, host, host_len, topic, topic_len, msg, msg_len);
}

int sss_hm_pack_tell_conn(struct sss_hm_rec *rec, uint64_t sid, uint32_t run, const char *topic,
                          size_t topic_len, const char *msg, size_t msg_len)
{
    return pack_tell(rec, SSS_HM_TELL_CONN, sid, run, NULL, 0, topic, topic_len, msg, msg_len);
}

int sss_hm_pack_tell_record(struct sss_hm_rec *rec, uint64_t sid, uint32_t run, const char *host,
                            size_t host_len, const char *topic, size_t topic_len,
                            const char *msg, size_t msg_len)
{
    return pack_tell(rec, SSS_HM_TELL_RECORD, sid, run, host, host_len, topic, topic_len, msg,
                     msg_len);
}

void sss_hm_pack_published(struct sss_hm_rec *rec, uint64_t req, int rc, struct sss_uid uid)
{
    (void)rec_parts(rec, SSS_HM_PUBLISHED, NULL, 0, NULL, 0, NULL, 0);
    rec->h.published.req = req;
    rec->h.published.rc = rc;
    rec->h.published.uid = uid;
}

void sss_hm_pack_last_uid_r(struct sss_hm_rec *rec, uint64_t req, int has, struct sss_uid uid)
{
    (void)rec_parts(rec, SSS_HM_LAST_UID_R, NULL, 0, NULL, 0, NULL, 0);
    rec->h.last_uid_r.req = req;
    rec->h.last_uid_r.has = has != 0;
    rec->h.last_uid_r.uid = uid;
}

int sss_hm_pack_hist_rec(struct sss_hm_rec *rec, uint64_t req, struct sss_uid uid,
                         const char *topic, size_t topic_len, const char *msg, size_t msg_len)
{
    int rc = rec_parts(rec, SSS_HM_HIST_REC, topic, topic_len, msg, msg_len, NULL, 0);

    rec->h.hist_rec.req = req;
    rec->h.hist_rec.uid = uid;
    return rc;
}

void sss_hm_pack_hist_end(struct sss_hm_rec *rec, uint64_t req, int rc, int gap, int has_last,
                          struct sss_uid last)
{
    (void)rec_parts(rec, SSS_HM_HIST_END, NULL, 0, NULL, 0, NULL, 0);
    rec->h.hist_end.req = req;
    rec->h.hist_end.rc = rc;
    rec->h.hist_end.gap = (uint32_t)gap;
    rec->h.hist_end.has_last = (uint32_t)has_last;
    rec->h.hist_end.last = last;
}

int sss_hm_pack_session_entry(struct sss_hm_rec *rec, uint64_t req, const struct sss_uid *uid,
                              const char *chan, size_t chan_len)
{
    int rc = rec_parts(rec, SSS_HM_SESSION_ENTRY, chan, chan_len, NULL, 0, NULL, 0);

    rec->h.session_entry.req = req;
    set_uid(&rec->h.session_entry.has_uid, &rec->h.session_entry.uid, uid);
    return rc;
}

void sss_hm_pack_session_end(struct sss_hm_rec *rec, uint64_t req, int found, int kept)
{
    (void)rec_parts(rec, SSS_HM_SESSION_END, NULL, 0, NULL, 0, NULL, 0);
    rec->h.session_end.req = req;
    rec->h.session_end.found = (uint32_t)found;
    rec->h.session_end.kept = (uint32_t)kept;
}

int sss_hm_pack_feed(struct sss_hm_rec *rec, struct sss_uid uid, int32_t origin_worker,
                     uint64_t origin_conn, uint32_t flags, const char *chan, size_t chan_len,
                     const char *topic, size_t topic_len, const char *msg, size_t msg_len)
{
    int rc = rec_parts(rec, SSS_HM_FEED, chan, chan_len, topic, topic_len, msg, msg_len);

    rec->h.feed.uid = uid;
    rec->h.feed.origin_worker = origin_worker;
    rec->h.feed.origin_conn = origin_conn;
    rec->h.feed.flags = flags;
    return rc;
}

int sss_hm_pack_gap_record(struct sss_hm_rec *rec, const char *chan, size_t chan_len)
{
    return rec_parts(rec, SSS_HM_GAP_RECORD, chan, chan_len, NULL, 0, NULL, 0);
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
