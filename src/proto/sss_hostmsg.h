/*
 * Records exchanged inside one host through shared memory: worker -> scaler
 * and scaler -> worker through the mailboxes (shm/sss_ring), scaler -> every
 * worker through the bus (shm/sss_bus). The ring's record type is one of
 * enum sss_hm_type; the payload is the fixed struct named with it, followed
 * by its variable parts in the order the struct lists their lengths, with
 * nothing between them and nothing after:
 *
 *     +---------------------+---------+---------+---------+
 *     | fixed struct        | part 0  | part 1  | part 2  |   record size =
 *     | (..._len fields)    |         |         |         |   fixed + lengths
 *     +---------------------+---------+---------+---------+
 *
 * SSS_HM_GAP_RECORD alone has no fixed part: its whole payload is a channel
 * name. HELLO and RESYNC are the fixed part only.
 *
 * Every request a worker sends carries a request id, unique per worker
 * process and increasing; the reply names it. Structs are plain, naturally
 * aligned and fixed in size (checked by static_assert in sss_hostmsg.c):
 * both sides are the same binary, so no byte-order or version games.
 * BCAST_RECORD and BOOT_RECORD also travel to other hosts inside the
 * engine's envelopes; the scaler checks what arrives with sss_hm_unpack
 * before it reaches the bus. TELL_RECORD travels only between scalers
 * (through the engine, never on the bus): each scaler keeps the one whose
 * host is its own and hands it to the worker as TELL_CONN.
 *
 * Senders do not lay records out by hand: a sss_hm_pack_* call fills a
 * struct sss_hm_rec (a copy of the fixed part and spans of the caller's
 * variable parts, nothing copied), which then leaves through
 * sss_hm_outbox_put (a mailbox), sss_hm_rec_iov + sss_bus_appendv (the bus)
 * or sss_hm_write (one flat buffer, e.g. for the engine's host-wide records).
 * Receivers do not read a record by hand either: sss_hm_unpack checks the
 * record's size against its fixed part and its lengths and gives a struct
 * sss_hm_rec whose spans point into the record; sss_hm_dispatch does that
 * and calls the receiver's handler for the type, counting and logging what
 * it refuses. One table in sss_hostmsg.c (type -> fixed size, parts) drives
 * both.
 */
#ifndef SSS_HOSTMSG_H
#define SSS_HOSTMSG_H

#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include "sss_err.h"
#include "sss_proto.h"

enum sss_hm_type {
    /* worker -> scaler */
    SSS_HM_PUBLISH = 1,  /* struct sss_hm_publish; v: channel, topic, msg */
    SSS_HM_LAST_UID,     /* struct sss_hm_last_uid; v: channel */
    SSS_HM_HISTORY,      /* struct sss_hm_history; v: channel */
    SSS_HM_BROADCAST,    /* struct sss_hm_broadcast; v: topic, msg */
    SSS_HM_HELLO,        /* struct sss_hm_hello: a worker (re)started */
    SSS_HM_PRESENCE,     /* struct sss_hm_presence; v: channel, user */
    SSS_HM_SESSION,      /* struct sss_hm_session; v: session, channel, user */
    SSS_HM_SESSION_LOAD, /* struct sss_hm_session_load; v: session */
    SSS_HM_BOOT,         /* struct sss_hm_boot; v: name, reason: put it on the bus */
    SSS_HM_RESYNC,       /* struct sss_hm_hello: forget this worker's presence and sessions;
                          * a full account (PRESENCE and SESSION records) follows */
    SSS_HM_TELL,         /* struct sss_hm_tell; v: host, topic, msg: TELL the socket named
                          * (sid, run, host) wherever it is (sss_tell_socket) */
    /* scaler -> worker */
    SSS_HM_PUBLISHED = 32, /* struct sss_hm_published */
    SSS_HM_LAST_UID_R,     /* struct sss_hm_last_uid_r */
    SSS_HM_HIST_REC,       /* struct sss_hm_hist_rec; v: topic, msg */
    SSS_HM_HIST_END,       /* struct sss_hm_hist_end */
    SSS_HM_SESSION_ENTRY,  /* struct sss_hm_session_entry; v: channel */
    SSS_HM_SESSION_END,    /* struct sss_hm_session_end */
    SSS_HM_TELL_CONN,      /* struct sss_hm_tell; v: host (empty), topic, msg: TELL this
                            * worker's connection sss_sockname_conn(sid), if it still lives */
    /* scaler -> bus -> every worker */
    SSS_HM_FEED = 64,     /* struct sss_hm_feed; v: channel, topic, msg */
    SSS_HM_BCAST_RECORD,  /* struct sss_hm_broadcast; v: topic, msg */
    SSS_HM_BOOT_RECORD,   /* struct sss_hm_boot; v: name, reason */
    SSS_HM_GAP_RECORD,    /* no fixed part; v: the channel name (whole payload): this host
                           * missed messages of it that left history (Redis was away too
                           * long); its subscribers get 4008 */
    SSS_HM_TELL_RECORD,   /* struct sss_hm_tell; v: host, topic, msg: scaler -> engine -> every
                           * scaler (never on the bus); the host named hands it on */
    SSS_HM_TYPE_END /* one past the largest type */
};

/* Publish flags. */
#define SSS_HM_SKIP_SENDER 0x1u /* the origin connection gets UPDATESUB, not the FEED */
#define SSS_HM_WANT_REPLY 0x2u  /* answer with SSS_HM_PUBLISHED */
#define SSS_HM_FROM_CLIENT 0x4u /* a client's PUBLISH: a channel it creates is a client's */
#define SSS_HM_NO_CREATE 0x8u   /* its connection may create no more channels */

struct sss_hm_publish {
    uint64_t req;
    uint64_t origin_conn; /* connection id in the origin worker; 0: none */
    uint32_t flags;       /* SSS_HM_* */
    uint16_t chan_len;
    uint16_t topic_len;
    uint32_t msg_len;
    uint32_t pad;
};

struct sss_hm_published {
    uint64_t req;
    int32_t rc;       /* 0, or a negative sss code (SSS_ELIMIT: too many channels) */
    uint32_t created; /* 1: this publish created its channel */
    struct sss_uid uid;
};

struct sss_hm_last_uid {
    uint64_t req;
    uint16_t chan_len;
    uint16_t pad[3];
};

struct sss_hm_last_uid_r {
    uint64_t req;
    uint32_t has; /* 0: the channel is empty */
    uint32_t pad;
    struct sss_uid uid;
};

struct sss_hm_history {
    uint64_t req;
    struct sss_uid after;
    uint32_t has_after; /* 0: the client saw the channel empty */
    uint16_t chan_len;
    uint16_t pad;
};

struct sss_hm_hist_rec {
    uint64_t req;
    struct sss_uid uid;
    uint16_t topic_len;
    uint16_t pad;
    uint32_t msg_len;
};

struct sss_hm_hist_end {
    uint64_t req;
    int32_t rc;
    uint32_t gap; /* messages after `after` are no longer all in history */
    uint32_t has_last;
    uint32_t pad;
    struct sss_uid last;
};

struct sss_hm_broadcast {
    uint16_t topic_len;
    uint16_t pad;
    uint32_t msg_len;
};

struct sss_hm_hello {
    uint64_t pid;
};

/* One subscription more (delta 1) or less (-1) on a channel in a worker. */
struct sss_hm_presence {
    int32_t delta;
    uint16_t chan_len;
    uint16_t user_len; /* 0: an anonymous connection */
};

/* What a session did (the store records it). */
enum sss_hm_session_op {
    SSS_HM_SESSION_ONLINE = 1, /* a connection of it began (user given) */
    SSS_HM_SESSION_OFFLINE,    /* a connection of it went away */
    SSS_HM_SESSION_SUB,        /* subscribed to channel, or reached uid in it */
    SSS_HM_SESSION_UNSUB,      /* unsubscribed from channel */
};

/* sss_hm_session.flags */
#define SSS_HM_SESSION_READMIT 1u /* ONLINE after a scaler restart: a former scaler kept it */

struct sss_hm_session {
    uint16_t op;
    uint16_t session_len;
    uint16_t chan_len;
    uint16_t user_len;
    uint32_t has_uid;
    uint32_t flags; /* SSS_HM_SESSION_*: set by the sender after packing (0 by default) */
    struct sss_uid uid;
};

struct sss_hm_session_load {
    uint64_t req;
    uint16_t session_len;
    uint16_t pad[3];
};

struct sss_hm_session_entry {
    uint64_t req;
    struct sss_uid uid;
    uint32_t has_uid;
    uint16_t chan_len;
    uint16_t pad;
};

struct sss_hm_session_end {
    uint64_t req;
    uint32_t found;
    uint32_t kept; /* the store records the session (0: refused by a limit) */
};

enum sss_hm_boot_kind {
    SSS_HM_BOOT_USER = 1,    /* every connection of the user: BOOT, then close 4001 */
    SSS_HM_BOOT_CHANNEL = 2, /* each subscriber: BOOTCHANNEL (none offered: BOOT), unsubscribed */
};

struct sss_hm_boot {
    uint16_t kind;
    uint16_t name_len;
    uint16_t reason_len;
    uint16_t pad;
};

/* A TELL for one socket, named as in src/proto/sss_sockname.h. */
struct sss_hm_tell {
    uint64_t sid;       /* the socket id: worker << 48 | connection id */
    uint32_t run;       /* the run word of the socket's host */
    uint16_t host_len;  /* its host id (0 in TELL_CONN: this host) */
    uint16_t topic_len;
    uint32_t msg_len;
    uint32_t pad;
};

struct sss_hm_feed {
    struct sss_uid uid;
    uint64_t origin_conn; /* 0: none */
    int32_t origin_worker; /* -1: none */
    uint32_t flags;
    uint16_t chan_len;
    uint16_t topic_len;
    uint32_t msg_len;
};

/* ---- Packing, unpacking and dispatching records ---- */

/* Bytes borrowed from elsewhere: a record, or a sender's variable part. */
struct sss_hm_span {
    const char *p; /* borrowed; may be NULL when len is 0 */
    size_t len;
};

/* The fixed part of any record type. */
union sss_hm_fixed {
    struct sss_hm_publish publish;
    struct sss_hm_published published;
    struct sss_hm_last_uid last_uid;
    struct sss_hm_last_uid_r last_uid_r;
    struct sss_hm_history history;
    struct sss_hm_hist_rec hist_rec;
    struct sss_hm_hist_end hist_end;
    struct sss_hm_broadcast broadcast;
    struct sss_hm_hello hello;
    struct sss_hm_presence presence;
    struct sss_hm_session session;
    struct sss_hm_session_load session_load;
    struct sss_hm_session_entry session_entry;
    struct sss_hm_session_end session_end;
    struct sss_hm_boot boot;
    struct sss_hm_tell tell;
    struct sss_hm_feed feed;
};

#define SSS_HM_MAX_PARTS 3

/*
 * One record, packed or unpacked: its type, a copy of its fixed part (so a
 * record needs no alignment), and its variable parts in the order enum
 * sss_hm_type lists them ("v:"); parts a type does not have are {NULL, 0}.
 * The spans are borrowed: from the sender's buffers after a pack, from the
 * record after an unpack (valid while the record is).
 */
struct sss_hm_rec {
    uint32_t type;
    union sss_hm_fixed h;
    struct sss_hm_span v[SSS_HM_MAX_PARTS];
};

/* The type's name for log lines ("PUBLISH"), or "?" for an unknown type. Any thread. */
const char *sss_hm_type_name(uint32_t type);

/*
 * Read one record of the given type (p, len: its whole payload, fixed part
 * first) into *rec without copying its variable parts: rec->v[] point into p.
 * Every length field is checked against len before any part is looked at,
 * and the fixed part plus the lengths must be exactly len.
 *
 * Returns 0, SSS_EHM_TYPE (not a record type), SSS_EHM_SHORT (len is less
 * than the type's fixed part) or SSS_EHM_LENGTH (the lengths do not add up
 * to len). After SSS_EHM_LENGTH rec->type and rec->h hold the fixed part
 * (so that a request can still be answered) and every span is empty; after
 * the others nothing in *rec may be used. Pure.
 */
int sss_hm_unpack(uint32_t type, const void *p, size_t len, struct sss_hm_rec *rec) SSS_WUR;

/* Size of a packed record: its fixed part plus its variable parts. */
size_t sss_hm_rec_size(const struct sss_hm_rec *rec);

/*
 * The record as iovecs for sss_bus_appendv (or writev): fills iov[0..n-1]
 * (at most 1 + SSS_HM_MAX_PARTS, empty parts skipped) and returns n. The
 * iovecs borrow rec->h and the parts: rec must outlive their use.
 */
int sss_hm_rec_iov(const struct sss_hm_rec *rec, struct iovec iov[1 + SSS_HM_MAX_PARTS]);

/*
 * Copy the whole record into buf (cap bytes). Returns its size, or
 * -EMSGSIZE if it does not fit (buf is then unchanged).
 */
long sss_hm_write(const struct sss_hm_rec *rec, void *buf, size_t cap) SSS_WUR;

/*
 * Pack one record into *rec (which then borrows every pointer given; nothing
 * is copied but the fixed part). Pointers may be NULL when their length is
 * 0. The functions with variable parts return 0, or SSS_EINVAL if a length
 * does not fit its field (rec is then unusable); the others cannot fail.
 * Any thread; no allocation.
 */
/* worker -> scaler */
int sss_hm_pack_publish(struct sss_hm_rec *rec, uint64_t req, uint64_t origin_conn,
                        uint32_t flags, const char *chan, size_t chan_len, const char *topic,
                        size_t topic_len, const char *msg, size_t msg_len) SSS_WUR;
int sss_hm_pack_last_uid(struct sss_hm_rec *rec, uint64_t req, const char *chan,
                         size_t chan_len) SSS_WUR;
/* after: NULL when the client saw the channel empty (has_after 0). */
int sss_hm_pack_history(struct sss_hm_rec *rec, uint64_t req, const struct sss_uid *after,
                        const char *chan, size_t chan_len) SSS_WUR;
int sss_hm_pack_broadcast(struct sss_hm_rec *rec, const char *topic, size_t topic_len,
                          const char *msg, size_t msg_len) SSS_WUR;
void sss_hm_pack_hello(struct sss_hm_rec *rec, uint64_t pid);
void sss_hm_pack_resync(struct sss_hm_rec *rec, uint64_t pid);
int sss_hm_pack_presence(struct sss_hm_rec *rec, int32_t delta, const char *chan,
                         size_t chan_len, const char *user, size_t user_len) SSS_WUR;
/* op: enum sss_hm_session_op; uid: NULL when there is none (has_uid 0). */
int sss_hm_pack_session(struct sss_hm_rec *rec, int op, const char *session, size_t session_len,
                        const char *chan, size_t chan_len, const char *user, size_t user_len,
                        const struct sss_uid *uid) SSS_WUR;
int sss_hm_pack_session_load(struct sss_hm_rec *rec, uint64_t req, const char *session,
                             size_t session_len) SSS_WUR;
/* kind: enum sss_hm_boot_kind. */
int sss_hm_pack_boot(struct sss_hm_rec *rec, int kind, const char *name, size_t name_len,
                     const char *reason, size_t reason_len) SSS_WUR;
int sss_hm_pack_tell(struct sss_hm_rec *rec, uint64_t sid, uint32_t run, const char *host,
                     size_t host_len, const char *topic, size_t topic_len, const char *msg,
                     size_t msg_len) SSS_WUR;
/* scaler -> worker */
int sss_hm_pack_tell_conn(struct sss_hm_rec *rec, uint64_t sid, uint32_t run, const char *topic,
                          size_t topic_len, const char *msg, size_t msg_len) SSS_WUR;
void sss_hm_pack_published(struct sss_hm_rec *rec, uint64_t req, int rc, struct sss_uid uid);
void sss_hm_pack_last_uid_r(struct sss_hm_rec *rec, uint64_t req, int has, struct sss_uid uid);
int sss_hm_pack_hist_rec(struct sss_hm_rec *rec, uint64_t req, struct sss_uid uid,
                         const char *topic, size_t topic_len, const char *msg,
                         size_t msg_len) SSS_WUR;
void sss_hm_pack_hist_end(struct sss_hm_rec *rec, uint64_t req, int rc, int gap, int has_last,
                          struct sss_uid last);
/* uid: NULL when the session has not reached one in the channel (has_uid 0). */
int sss_hm_pack_session_entry(struct sss_hm_rec *rec, uint64_t req, const struct sss_uid *uid,
                              const char *chan, size_t chan_len) SSS_WUR;
void sss_hm_pack_session_end(struct sss_hm_rec *rec, uint64_t req, int found, int kept);
/* scaler -> bus; origin_worker -1 (then origin_conn and flags are 0): no origin. */
int sss_hm_pack_feed(struct sss_hm_rec *rec, struct sss_uid uid, int32_t origin_worker,
                     uint64_t origin_conn, uint32_t flags, const char *chan, size_t chan_len,
                     const char *topic, size_t topic_len, const char *msg,
                     size_t msg_len) SSS_WUR;
int sss_hm_pack_bcast_record(struct sss_hm_rec *rec, const char *topic, size_t topic_len,
                             const char *msg, size_t msg_len) SSS_WUR;
int sss_hm_pack_boot_record(struct sss_hm_rec *rec, int kind, const char *name, size_t name_len,
                            const char *reason, size_t reason_len) SSS_WUR;
int sss_hm_pack_gap_record(struct sss_hm_rec *rec, const char *chan, size_t chan_len) SSS_WUR;
/* scaler -> engine -> every scaler */
int sss_hm_pack_tell_record(struct sss_hm_rec *rec, uint64_t sid, uint32_t run, const char *host,
                            size_t host_len, const char *topic, size_t topic_len,
                            const char *msg, size_t msg_len) SSS_WUR;

/* A receiver's handler for one record type; rec and its spans die when it returns. */
typedef void sss_hm_handler_fn(void *data, const struct sss_hm_rec *rec);

/*
 * A receiver's table: one handler per record type it takes (designated
 * initializers: .on = {[SSS_HM_PUBLISH] = on_publish, ...}); NULL entries
 * are types it does not expect. Owned by the receiver; sss_hm_dispatch
 * updates the counters, so one table per receiving process.
 */
struct sss_hm_dispatcher {
    const char *who; /* the log line's module, e.g. "scaler" */
    sss_hm_handler_fn *on[SSS_HM_TYPE_END];
    /* Optional: called for a refused record after it was counted and
     * logged, e.g. to answer a request whose lengths lie so that the asker
     * does not wait forever. rc is the refusal; rec is as sss_hm_unpack
     * left it (its fixed part usable only when rc is SSS_EHM_LENGTH). */
    void (*on_refused)(void *data, uint32_t type, int rc, const struct sss_hm_rec *rec);
    uint64_t handled;
    uint64_t refused; /* malformed or unexpected records, never handed to a handler */
};

/*
 * Unpack one record (type, p, len as the ring or bus gave it) and call the
 * table's handler for its type with data. A record the table does not take
 * (SSS_EHM_TYPE), or that sss_hm_unpack refuses, is counted in d->refused,
 * logged at error level (the first few, then one in 1024: both sides are
 * our own binary, so this is a bug, but a loop must not fill the disk) and
 * passed to d->on_refused; it is never read out of bounds.
 *
 * Returns 0 if a handler ran, else the refusal code (as sss_hm_unpack, or
 * SSS_EHM_TYPE). Does not block; runs in the receiver's thread.
 */
int sss_hm_dispatch(struct sss_hm_dispatcher *d, void *data, uint32_t type, const void *p,
                    size_t len);

/* ---- Outbox: a mailbox ring with an overflow list, so a full ring never loses a record ---- */

struct sss_ring;
struct sss_hm_pending;

struct sss_hm_outbox {
    struct sss_ring *ring;          /* borrowed: shared memory */
    struct sss_hm_pending *head;    /* records waiting for room, oldest first (owned) */
    struct sss_hm_pending **tailp;
    size_t pending_bytes;
};

void sss_hm_outbox_init(struct sss_hm_outbox *o, struct sss_ring *ring);

/*
 * Send one record (fixed part h, then up to two variable parts). It goes into
 * the ring at once when nothing waits before it and there is room; otherwise
 * it is copied to the overflow list, to leave by sss_hm_outbox_flush in
 * order. Returns 1 if the record reached the ring, 0 if it waits, -ENOMEM.
 */
int sss_hm_outbox_send(struct sss_hm_outbox *o, uint32_t type, const void *h, size_t hlen,
                       const void *p1, size_t len1, const void *p2, size_t len2) SSS_WUR;

/*
 * sss_hm_outbox_send for a packed record: the same return values. The
 * record's parts are copied (into the ring or the overflow list), so rec
 * may go when it returns.
 */
int sss_hm_outbox_put(struct sss_hm_outbox *o, const struct sss_hm_rec *rec) SSS_WUR;

/* Move waiting records into the ring while there is room. Returns how many moved. */
int sss_hm_outbox_flush(struct sss_hm_outbox *o);

/* Drop every waiting record (the consumer died). */
void sss_hm_outbox_clear(struct sss_hm_outbox *o);

#endif
