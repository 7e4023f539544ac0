/*
 * A worker's local channel index: channel -> the connections of this worker
 * subscribed to it, and connection -> its subscriptions.
 *
 * It enforces the no-gap, no-repeat rules of a subscription (DESIGN.md 8):
 * a subscription starts *pending* (its floor uid unknown); FEEDs that arrive
 * meanwhile are held for it; once the floor is known (the channel's last uid
 * at SUBSCRIBE, or the end of the history sent in a SYNC reply) it gets the
 * held FEEDs with a greater uid, then every later FEED with a greater uid.
 * A whole channel can be held the same way while the worker recovers from a
 * bus lap. Frames are shared: a FEED's frame is built once by the caller and
 * each delivery takes a reference.
 */
#ifndef SSS_SUB_H
#define SSS_SUB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "sss_buf.h"
#include "sss_map.h"
#include "sss_proto.h"

struct sss_conn;

/* A FEED held back (ref on frame). */
struct sss_held {
    STAILQ_ENTRY(sss_held) link;
    struct sss_buf *frame;
    struct sss_uid uid;
};

/* FEEDs held, oldest first (owned). */
STAILQ_HEAD(sss_held_list, sss_held);

struct sss_lchan;

struct sss_sub {
    struct sss_lchan *chan; /* borrowed */
    struct sss_conn *conn;  /* borrowed */
    LIST_ENTRY(sss_sub) link;  /* subscribers of chan */
    struct sss_sub *conn_next; /* subscriptions of conn */
    struct sss_uid floor;      /* deliver only uids above it */
    uint8_t pending;           /* floor unknown: hold */
    struct sss_held_list held;
};

struct sss_lchan {
    char name[SSS_PROTO_CHANNEL_MAX + 1];
    uint32_t name_len;
    LIST_HEAD(, sss_sub) subs; /* never empty: the channel goes with its last subscriber */
    uint32_t nsubs;
    int has_last;              /* a FEED of it was seen since it became local */
    struct sss_uid last;       /* the newest FEED uid seen (lap recovery starts after it) */
    uint8_t recovering;        /* after a bus lap: hold every FEED until history came */
    uint8_t relapped;          /* lapped again while recovering: ask history once more */
    uint64_t recover_req;
    struct sss_held_list held; /* while recovering */
};

/* Delivery: the index calls it to send frame (a new ref) to conn. */
typedef void (*sss_sub_deliver_fn)(struct sss_conn *conn, struct sss_buf *frame, void *data);
/* Bytes held for conn changed by delta (the caller bounds them). */
typedef void (*sss_sub_held_fn)(struct sss_conn *conn, long delta, void *data);

struct sss_index {
    struct sss_map chans; /* name -> struct sss_lchan (owned) */
    sss_sub_deliver_fn deliver;
    sss_sub_held_fn held;
    void *data;
};

void sss_index_init(struct sss_index *ix, sss_sub_deliver_fn deliver, sss_sub_held_fn held,
                    void *data);
void sss_index_fini(struct sss_index *ix);

struct sss_lchan *sss_index_chan(struct sss_index *ix, const char *name, size_t len);

/*
 * Subscribe conn to a channel: a new pending subscription linked at the head
 * of *conn_subs, or the existing one (*created = 0). NULL on ENOMEM.
 */
struct sss_sub *sss_index_subscribe(struct sss_index *ix, struct sss_conn *conn,
                                    struct sss_sub **conn_subs, const char *name, size_t len,
                                    int *created);

/* conn's subscription to a channel, or NULL. */
struct sss_sub *sss_index_find(struct sss_sub *conn_subs, const char *name, size_t len);

/* Remove one subscription (unlinks it from *conn_subs too); frees an emptied channel. */
void sss_index_unsubscribe(struct sss_index *ix, struct sss_sub **conn_subs, struct sss_sub *s);

/* Make a pending subscription live: floor set, held FEEDs above it delivered. */
void sss_index_activate(struct sss_index *ix, struct sss_sub *s, const struct sss_uid *floor);

/*
 * A FEED for channel `c` (may be NULL: nobody here): hold or deliver to each
 * subscriber, except `skip` (the publishing socket of a socket publish, or
 * NULL), whose live subscription only moves its floor. Returns 1 if skip had
 * a live subscription to c (it is owed an UPDATESUB), 0 otherwise.
 */
int sss_index_feed(struct sss_index *ix, struct sss_lchan *c, const struct sss_uid *uid,
                   struct sss_buf *frame, const struct sss_conn *skip);

/* Channel-level hold for lap recovery. */
void sss_index_hold_channel(struct sss_lchan *c, uint64_t req);
/* End a channel hold: deliver what was held (uid above each subscriber's floor and above after). */
void sss_index_release_channel(struct sss_index *ix, struct sss_lchan *c,
                               const struct sss_uid *after);

#endif
