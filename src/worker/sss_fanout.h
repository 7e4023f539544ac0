/*
 * The bus side of a worker: the local channel index, the reading of the
 * host's bus (FEEDs to local subscribers, engine gaps) and the recovery of
 * a lapped worker's channels from history.
 *
 * A FEED is framed once and every subscriber's send queue takes a reference;
 * the index (src/pubsub/sss_sub.h) holds FEEDs for pending subscriptions. A
 * worker that the bus lapped holds each local channel, asks the scaler
 * (through sss_rpc) for its history after the last uid it saw, delivers it
 * and releases the hold; a channel whose history no longer reaches back
 * closes its subscribers with 4008, so that their SYNC reports the gap.
 *
 * Records that are not about one channel (BROADCAST, BOOT) go to the hooks'
 * record callback: they concern connections, which the session owns.
 * No io_uring here: a unit test drives it through an in-memory bus and rings.
 * May include: common, proto, shm, pubsub, rpc, and sss_conn.h (to send).
 */
#ifndef SSS_FANOUT_H
#define SSS_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "sss_hostmsg.h"
#include "sss_bus.h"
#include "sss_proto.h"
#include "sss_sub.h"
#include "sss_wire.h"

struct sss_conn;
struct sss_counters;
struct sss_rpc;

struct sss_fanout_hooks {
    /* The live connection of this worker with this id, or NULL (a FEED's sender). */
    struct sss_conn *(*conn)(void *data, uint64_t conn_id);
    /* Bytes held for conn's pending subscriptions changed by delta (the owner bounds them). */
    void (*held)(struct sss_conn *conn, long delta, void *data);
    /* A bus record for connections rather than a channel (BCAST_RECORD, BOOT_RECORD),
     * its lengths checked (sss_hm_dispatch); rec dies when it returns. */
    void (*record)(void *data, const struct sss_hm_rec *rec);
    void *data;
};

struct sss_fanout {
    struct sss_index index;     /* local channels and their subscribers */
    struct sss_bus_reader rd;
    uint8_t *buf;               /* one bus record (owned) */
    size_t cap;
    int worker_id;              /* FEEDs naming it as origin skip their sender */
    struct sss_rpc *rpc;        /* borrowed: history requests for lap recovery */
    struct sss_counters *ctr;   /* borrowed: laps */
    struct sss_proto_out json;  /* scratch for one FEED */
    struct sss_wire_frames frames; /* the last FEED frame delivered to a msgpack subscriber,
                                    * and its other encodings */
    uint64_t transcoded;        /* FEED frames built in an encoding other than JSON */
    struct sss_fanout_hooks hooks;
    struct sss_hm_dispatcher from_bus; /* the bus records' handlers and counts */
};

/*
 * Read bus as consumer worker_id. Returns 0, -ENOMEM or the reader's error
 * (the caller calls sss_fanout_fini either way).
 */
int sss_fanout_init(struct sss_fanout *f, struct sss_bus *bus, int worker_id, struct sss_rpc *rpc,
                    struct sss_counters *ctr, const struct sss_fanout_hooks *hooks);
void sss_fanout_fini(struct sss_fanout *f);

/* Read up to max bus records and act on each. Returns how many were read (a lap counts one). */
int sss_fanout_poll(struct sss_fanout *f, int max);

/* Whether the bus has a record for us (checked before sleeping). */
int sss_fanout_readable(const struct sss_fanout *f);

/*
 * Hold every local channel and refill it from history after the newest uid
 * this worker saw: after a bus lap, and after a scaler restart with an
 * engine that kept publishing meanwhile (Redis: other hosts).
 */
void sss_fanout_recover(struct sss_fanout *f);

/* Build one FEED frame (shared by every recipient); NULL on ENOMEM or oversized names. */
struct sss_buf *sss_fanout_frame(struct sss_fanout *f, const char *chan, size_t chan_len,
                                 const char *topic, size_t topic_len, const char *msg,
                                 size_t msg_len, const struct sss_uid *uid);

#endif
