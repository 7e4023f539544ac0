/*
 * Records exchanged inside one host through shared memory: worker -> scaler
 * and scaler -> worker through the mailboxes (shm/sss_ring), scaler -> every
 * worker through the bus (shm/sss_bus). The ring's record type is one of
 * enum sss_hm_type; the payload is the fixed struct named with it, followed
 * by its variable parts in the order the struct lists their lengths.
 *
 * Every request a worker sends carries a request id, unique per worker
 * process and increasing; the reply names it. Structs are plain, naturally
 * aligned and fixed in size (checked by static_assert in sss_hostmsg.c):
 * both sides are the same binary, so no byte-order or version games.
 */
#ifndef SSS_HOSTMSG_H
#define SSS_HOSTMSG_H

#include <stddef.h>
#include <stdint.h>

#include "sss_proto.h"

enum sss_hm_type {
    /* worker -> scaler */
    SSS_HM_PUBLISH = 1,  /* struct sss_hm_publish + channel + topic + msg */
    SSS_HM_LAST_UID,     /* struct sss_hm_last_uid + channel */
    SSS_HM_HISTORY,      /* struct sss_hm_history + channel */
    SSS_HM_BROADCAST,    /* struct sss_hm_broadcast + topic + msg */
    SSS_HM_HELLO,        /* struct sss_hm_hello: a worker (re)started */
    SSS_HM_PRESENCE,     /* struct sss_hm_presence + channel + user */
    SSS_HM_SESSION,      /* struct sss_hm_session + session + channel + user */
    SSS_HM_SESSION_LOAD, /* struct sss_hm_session_load + session */
    SSS_HM_BOOT,         /* struct sss_hm_boot + name + reason: put it on the bus */
    SSS_HM_RESYNC,       /* struct sss_hm_hello: forget this worker's presence and sessions;
                          * a full account (PRESENCE and SESSION records) follows */
    /* scaler -> worker */
    SSS_HM_PUBLISHED = 32, /* struct sss_hm_published */
    SSS_HM_LAST_UID_R,     /* struct sss_hm_last_uid_r */
    SSS_HM_HIST_REC,       /* struct sss_hm_hist_rec + topic + msg */
    SSS_HM_HIST_END,       /* struct sss_hm_hist_end */
    SSS_HM_SESSION_ENTRY,  /* struct sss_hm_session_entry + channel */
    SSS_HM_SESSION_END,    /* struct sss_hm_session_end */
    /* scaler -> bus -> every worker */
    SSS_HM_FEED = 64,     /* struct sss_hm_feed + channel + topic + msg */
    SSS_HM_BCAST_RECORD,  /* struct sss_hm_broadcast + topic + msg */
    SSS_HM_BOOT_RECORD,   /* struct sss_hm_boot + name + reason */
    SSS_HM_GAP_RECORD,    /* channel name: this host missed messages of it that left
                           * history (Redis was away too long); its subscribers get 4008 */
};

/* Publish flags. */
#define SSS_HM_SKIP_SENDER 0x1u /* the origin connection gets UPDATESUB, not the FEED */
#define SSS_HM_WANT_REPLY 0x2u  /* answer with SSS_HM_PUBLISHED */

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
    int32_t rc; /* 0, or a negative sss code (SSS_ELIMIT: too many channels) */
    uint32_t pad;
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

struct sss_hm_session {
    uint16_t op;
    uint16_t session_len;
    uint16_t chan_len;
    uint16_t user_len;
    uint32_t has_uid;
    uint32_t pad;
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
    uint32_t pad;
};

enum sss_hm_boot_kind {
    SSS_HM_BOOT_USER = 1,    /* every connection of the user: BOOT, then close 4001 */
    SSS_HM_BOOT_CHANNEL = 2, /* every subscriber of the channel: BOOTCHANNEL, unsubscribed */
};

struct sss_hm_boot {
    uint16_t kind;
    uint16_t name_len;
    uint16_t reason_len;
    uint16_t pad;
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

/* Move waiting records into the ring while there is room. Returns how many moved. */
int sss_hm_outbox_flush(struct sss_hm_outbox *o);

/* Drop every waiting record (the consumer died). */
void sss_hm_outbox_clear(struct sss_hm_outbox *o);

#endif
