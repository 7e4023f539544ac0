/*
 * Internal to the session module (sss_session.c, sss_session_sync.c,
 * sss_session_wait.c): the kinds of request to the scaler, the contexts
 * of the application's decisions and the messages waiting for them, and
 * the helpers the three files share. Nothing outside src/worker/sss_session*.c
 * includes it; the module's contract is sss_session.h.
 * May include: what sss_session.c may (common, proto, shm, pubsub, rpc,
 * sss_fanout, sss_conn, sss_app, sss_proxy).
 */
#ifndef SSS_SESSION_INT_H
#define SSS_SESSION_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sss_conn.h"
#include "sss_fanout.h"
#include "sss_feeds.h"
#include "sss_proto.h"
#include "sss_rpc.h"
#include "sss_session.h"

struct sss_decision;

/* The answer to a client that asked too much at once (send_error). */
extern const char sss_session__busy[];

/* ---- the kinds of request ---- */

/*
 * A request made for one connection: named by id, since it may close
 * before the answer comes, with the client's message id its reply carries.
 * Alone, it asks a named session's recorded subscriptions at BEGIN.
 */
struct conn_req {
    struct sss_rpc_req base; /* first */
    struct sss_session *s;
    uint64_t conn_id;
    char *id; /* the client's raw id (owned), NULL when absent */
    size_t id_len;
};

/* SUBSCRIBE, a resumed session's channel (silent), or BEGIN's _u_<user>: the last uid. */
struct sub_req {
    struct conn_req cr; /* first */
    uint8_t silent; /* a resumed session's channel: no SUBSCRIBE reply, and the
                     * BEGIN reply waits for it (begin_wait) */
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
};

struct sync_entry {
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
    uint8_t ok;         /* result[channel] */
    uint8_t subscribed; /* a pending subscription waits for this entry */
    uint8_t done;
    uint8_t dup; /* the same channel came earlier in this SYNC */
    uint8_t held; /* live before, held while the application decides */
    uint8_t has_after;
    struct sss_uid after;
    struct sss_uid floor; /* where live FEEDs resume */
    struct sss_feeds recs; /* its history records for the reply */
};

struct sync_state {
    uint64_t conn_id;
    char *id; /* the client's raw id (owned), NULL when absent */
    size_t id_len;
    int outstanding;
    int n;
    struct sync_entry e[];
};

/* One entry of a SYNC: the history after its lastUid. */
struct sync_req {
    struct sss_feeds_req fr; /* first; gathers into its entry's recs */
    struct sss_session *s;
    struct sync_state *st; /* shared by the entries; freed by the last one */
    int entry;
    uint8_t counted; /* st->outstanding counts this request */
};

/* A client's PUBLISH: the uid. */
struct pub_req {
    struct conn_req cr;  /* first */
    int64_t deadline_ms; /* after a scaler restart: give up then (0: none) */
    int may_create;      /* holds one of its connection's chans_made (else SSS_HM_NO_CREATE) */
};

/* What waits for a subscription decision of the application. */
enum pending_kind {
    PENDING_SUBSCRIBE, /* a SUBSCRIBE: its reply */
    PENDING_SYNC,      /* a SYNC entry: its result, then its history */
    PENDING_RESUME,    /* a resumed session's channel: the BEGIN reply waits */
};

struct sss_pending {
    struct sss_decision *d; /* the handle (the answerer's) */
    struct sss_conn *conn;  /* borrowed: it drops us when it closes */
    uint8_t kind;           /* enum pending_kind */
    char *id;               /* SUBSCRIBE: the client's raw id (owned) */
    size_t id_len;
    struct sync_state *st;  /* SYNC: counted in st->outstanding */
    int entry;
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
    LIST_ENTRY(sss_pending) link; /* the client's list */
};

/* A client message that came while a decision was awaited (a copy). */
struct sss_waiting {
    STAILQ_ENTRY(sss_waiting) link;
    int opcode;
    size_t len;
    uint8_t data[];
};

/* What subscribe_allowed says. */
enum {
    ASK_NOMEM = -1,
    ASK_REFUSED = 0,
    ASK_ALLOWED = 1,
    ASK_PENDING = 2, /* the application answers later */
};

/* ---- sss_session.c: small helpers ---- */

static inline struct sss_session *S(const struct sss_conn *c)
{
    return c->client->s;
}

static inline struct sss_index *index_of(struct sss_session *s)
{
    return &s->fanout->index;
}

/* Send the JSON in s->json as one text frame to c. */
void sss_session__send_json(struct sss_session *s, struct sss_conn *c);
void sss_session__send_error(struct sss_conn *c, const char *message, struct sss_proto_span id);
/* The live connection a request was made for, or NULL. */
struct sss_conn *sss_session__live_conn(struct sss_session *s, uint64_t id);
char *sss_session__dup_span(struct sss_proto_span sp, size_t *len);
/* A request of `size` bytes put in the table, or NULL (ENOMEM). */
void *sss_session__req_new(struct sss_session *s, size_t size, const struct sss_rpc_ops *ops);
void sss_session__req_done(struct sss_session *s, void *r);
/* A subscription leaves (forget: the client left the channel), or was created. */
void sss_session__unsubscribe(struct sss_conn *c, struct sss_sub *sub, int forget);
void sss_session__subscribed(struct sss_conn *c, const char *chan, size_t len);
/* An adopted connection's session is online in this process (sss_session_handover.c). */
void sss_session__note_online(struct sss_conn *c);
/* The application's on-subscribed hook, once a subscription is live. */
void sss_session__subscribed_hook(struct sss_conn *c, const char *channel);

/* ---- sss_session.c: what a decision or a SYNC goes on with ---- */

void sss_session__begin(struct sss_conn *c, int silent, const struct sss_proto_msg *m);
/* One answer the BEGIN reply waited for came; the last one sends it. */
void sss_session__begin_step_done(struct sss_conn *c);
void sss_session__subscribe_refused(struct sss_conn *c, struct sss_proto_span id,
                                    const char *channel, const char *why);
/* An allowed SUBSCRIBE: index it at once (pending) and ask the scaler for the last uid. */
void sss_session__subscribe_start(struct sss_conn *c, struct sss_proto_span id,
                                  const char *channel, size_t len);
/* A resumed channel the rules allow: subscribed again, live from its last uid on. */
void sss_session__resume_start(struct sss_conn *c, const char *chan, size_t len);
/* One client message, when no decision is awaited. */
void sss_session__process_message(struct sss_conn *c, int opcode, const uint8_t *data,
                                  size_t len);

/* ---- sss_session_sync.c: SYNC ---- */

void sss_session__on_sync(struct sss_conn *c, const struct sss_proto_msg *m);
/* Every entry answered: send the reply, then let live FEEDs through. */
void sss_session__sync_finish(struct sss_session *s, struct sync_state *st);
void sss_session__sync_free(struct sync_state *st);
/* An allowed SYNC entry: indexed at once (held), and its history asked for. */
void sss_session__sync_entry_start(struct sss_conn *c, struct sync_state *st, int i);
/* A refused entry that was held: live again from where it was. */
void sss_session__sync_entry_release(struct sss_conn *c, struct sync_entry *e);

/* ---- sss_session_wait.c: decisions, and the messages waiting for them ---- */

/*
 * The server's rules, then the application's subscription parser: ASK_*
 * (ASK_PENDING: *pp, of kind, is to be filled, then asked with ask_later).
 */
int sss_session__subscribe_allowed(struct sss_conn *c, const char *name, size_t len,
                                   struct sss_proto_span query, const char **why, int from_sync,
                                   int kind, struct sss_pending **pp);
/* Ask the application's later parser about p; p is not to be touched after. */
void sss_session__ask_later(struct sss_conn *c, struct sss_pending *p,
                            struct sss_proto_span query);
/* Keep a message that came while a decision is awaited. 0, or -1: the connection closes. */
int sss_session__wait_message(struct sss_conn *c, int opcode, const uint8_t *data, size_t len);
/* The connection is closing: nobody waits for its decisions any more. */
void sss_session__pending_drop_all(struct sss_client *cl);

#endif
