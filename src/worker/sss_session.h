/*
 * The client protocol of a worker (PROTOCOL.md over sss.v1.json): each
 * connection's session from BEGIN on, and what its messages ask for:
 * SUBSCRIBE and UNSUBSCRIBE, SYNC, PUBLISH, ASK and TELL (handed to the
 * application through sss_app), the heartbeat and the message-rate limit.
 * It also serves the bus records that concern connections rather than
 * channels (BROADCAST, BOOT), and it notices a new
 * scaler: it gives it the worker's account again (RESYNC, presence,
 * sessions) and has every pending request asked again (sss_rpc_replay).
 *
 * Its requests to the scaler live in the rpc table (src/rpc), one small
 * struct per kind; the channels and their FEEDs live in the fan-out
 * (sss_fanout), whose index this module subscribes connections in. Each
 * connection's protocol state is a struct sss_client, made when the
 * connection is upgraded and freed when it closes.
 *
 * No io_uring here: a unit test drives it with connections that are never
 * given to a ring, an in-memory bus and in-memory mailboxes.
 * May include: common, proto, shm, pubsub, rpc, sss_fanout, sss_conn, sss_app.
 */
#ifndef SSS_SESSION_H
#define SSS_SESSION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "sss_map.h"
#include "sss_proto.h"

struct sss_app;
struct sss_buf;
struct sss_cfg;
struct sss_conn;
struct sss_counters;
struct sss_fanout;
struct sss_fanout_hooks;
struct sss_rpc;
struct sss_session;
struct sss_sub;
struct sss_waiting;
struct sss_pending;

/* One connection's protocol state (c->client). */
struct sss_client {
    struct sss_conn *conn;    /* borrowed: the connection it belongs to */
    struct sss_session *s;    /* borrowed */
    uint8_t begun;            /* BEGIN or SYNC came */
    uint8_t begin_silent;     /* the BEGIN reply is not sent (a SYNC came first) */
    uint8_t has_user_last;
    uint8_t draining;         /* running its waiting messages */
    uint8_t session_unkept;   /* the store did not record its session (a limit): the BEGIN
                               * reply names none, and the store hears no more of it */
    uint32_t begin_wait;      /* BEGIN reply waits for this many answers (scaler, decisions) */
    struct sss_uid user_last; /* last uid of _u_<user> for the BEGIN reply */
    struct sss_sub *subs;     /* its subscriptions (sss_sub.h) */
    uint32_t nsubs;
    long held_bytes;          /* FEEDs held for its pending subscriptions */
    int64_t rate_window_ms;
    uint32_t rate_count;
    int64_t last_hb_ms;
    /* Channels its PUBLISHes created, plus those in flight that may create one
     * (--max-client-channels-per-conn): a publish past it may not create. */
    uint32_t chans_made;
    /* Subscription decisions the application answers later (sss_decide.h):
     * while any is awaited the client's next messages wait, in order. */
    uint32_t deciding;              /* decisions awaited */
    LIST_HEAD(, sss_pending) pending;   /* their contexts (owned) */
    STAILQ_HEAD(, sss_waiting) waiting; /* messages waiting (owned copies), oldest first */
    uint32_t nwaiting;
    LIST_ENTRY(sss_client) link; /* the session's list */
};

struct sss_session {
    const struct sss_cfg *cfg;          /* borrowed */
    struct sss_app *app;                /* borrowed; NULL without a module */
    struct sss_rpc *rpc;                /* borrowed: requests to the scaler */
    struct sss_fanout *fanout;          /* borrowed: the channel index */
    struct sss_counters *ctr;           /* borrowed; NULL: not counted */
    const _Atomic uint32_t *scaler_gen; /* borrowed: bumped by the master for a new scaler */
    const _Atomic uint32_t *engine_flags; /* borrowed: SSS_SHM_ENGINE_*, set by the scaler */
    uint32_t gen_seen;                  /* the generation our requests went to */
    const int64_t *now_ms;              /* borrowed: the loop's clock */
    struct sss_map conns_by_id;         /* connection id -> struct sss_conn */
    uint64_t conn_id_base;              /* this process's incarnation << 32 */
    uint32_t next_conn_id;              /* low half of the last id given */
    LIST_HEAD(, sss_client) clients;    /* every upgraded connection */
    struct sss_proto_decoder dec;
    struct sss_proto_out json;          /* scratch for encoding one message */
    struct sss_buf *hb_frame;           /* the shared heartbeat frame "h" */
};

/*
 * Set up the session over borrowed parts (none is owned). It takes the
 * worker slot's next incarnation from ctr (sss_counters.incarnation), which
 * its connection ids carry in bits 32..47: a FEED naming a dead
 * predecessor's connection never matches one of this process's.
 * engine_flags (the shm header's) says whether a new scaler means refilling
 * the channels from history (SSS_SHM_ENGINE_OUTLIVES). Returns 0 or
 * -ENOMEM; call sss_session_fini either way. Sends nothing.
 */
int sss_session_init(struct sss_session *s, const struct sss_cfg *cfg, struct sss_app *app,
                     struct sss_rpc *rpc, struct sss_fanout *fanout, struct sss_counters *ctr,
                     const _Atomic uint32_t *scaler_gen, const _Atomic uint32_t *engine_flags,
                     const int64_t *now_ms);
void sss_session_fini(struct sss_session *s);

/*
 * The connection handler of the protocol (sss_conn.h), its data the session:
 * open, message, tick and closed below; poll, readable; flush and periodic
 * of the rpc table (sss_rpc_flush, sss_rpc_expire).
 */
extern const struct sss_conn_handler sss_session_handler;

/* The hooks the fan-out calls back into the session with (for sss_fanout_init). */
void sss_session_fanout_hooks(struct sss_session *s, struct sss_fanout_hooks *h);

/*
 * A connection finished its upgrade: give it an id and its protocol state.
 * Returns 0 or -ENOMEM (the caller closes it).
 */
int sss_session_open(struct sss_session *s, struct sss_conn *c);
/* A connection is going away (before it is freed): unsubscribe, tell on_close, forget it. */
void sss_session_closed(struct sss_conn *c);

/* One complete message from a client (opcode: WSLAY_TEXT_FRAME or WSLAY_BINARY_FRAME). */
void sss_session_message(struct sss_conn *c, int opcode, const uint8_t *msg, size_t len);

/* Periodic per-connection duty (heartbeat), from the worker's sweep. */
void sss_session_tick(struct sss_conn *c, int64_t now_ms);

/*
 * Read the bus and the mailbox (each a bounded batch), after noticing a new
 * scaler. Returns the records handled.
 */
int sss_session_poll(struct sss_session *s);

/* Whether the bus or the mailbox has something (checked before sleeping). */
int sss_session_readable(struct sss_session *s);

/*
 * An upgrade (sss_session_handover.c). Export: c's protocol state into out
 * (a record of src/upgrade/sss_upgrade.h): 1, 0 when it cannot go yet (an
 * answer or a decision is on its way, a subscription is held), -1 (no
 * memory, or over the record's size). Adopt: c, opened in this process,
 * takes up the state of u: BEGIN, and each channel held while its history
 * after the uid the old process delivered comes. 0, or -1: close c.
 */
struct sss_dynbuf;
struct sss_upgrade_conn;
int sss_session_export(struct sss_conn *c, struct sss_dynbuf *out);
int sss_session_adopt(struct sss_conn *c, const struct sss_upgrade_conn *u);

/* The live connection with this id, or NULL. */
struct sss_conn *sss_session_conn(struct sss_session *s, uint64_t conn_id);

#endif
