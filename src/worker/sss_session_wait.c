/*
 * Decisions of the application about subscriptions, and the messages
 * waiting for them (see sss_session.c, whose head tells the flows). The
 * server's rules, then the application's parser (sss_session__subscribe_allowed);
 * when it answers later (sss_on_subscribe_later, or the backend proxy),
 * each SUBSCRIBE, SYNC entry or resumed channel waiting for it is a struct
 * sss_pending on its client's list, the context of a decision
 * (sss_decide.h), and pending_decided goes on where its message stopped.
 * While any is awaited the client's next messages wait in its queue
 * (--max-waiting-messages), copied, and run in order once none is.
 * May include: common, proto, pubsub, rpc, sss_conn, sss_app, sss_decide,
 * sss_proxy, sss_session_int.h.
 */
#include "sss_session_int.h"
#include "sss_alloc.h"
#include "sss_app.h"
#include "sss_cfg.h"
#include "sss_conn.h"
#include "sss_decide.h"
#include "sss_log.h"
#include "sss_proxy.h"
#include "sss_sub.h"
#include "sss_ws.h"

#include <string.h>

/* ---- the server's rules, then the application's ---- */

/* The server's rules, then the application's subscription parser. 1 allows; 0 sets *why. */
static int is_own_user_channel(const struct sss_conn *c, const char *name, size_t len)
{
    size_t ul = strlen(c->user);

    return ul && len == ul + 3 && memcmp(name, "_u_", 3) == 0 && memcmp(name + 3, c->user, ul) == 0;
}

static void pending_decided(struct sss_decision *d, void *data);

/* A decision's context on c's list, awaited (cl->deciding), or NULL (ENOMEM). */
static struct sss_pending *pending_new(struct sss_conn *c, int kind, const char *name,
                                       size_t len)
{
    struct sss_client *cl = c->client;
    struct sss_pending *p = sss_calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->d = sss_decision_create(c->w, SSS_DECISION_SUBSCRIBE, pending_decided, p);
    if (!p->d) {
        sss_free(p);
        return NULL;
    }
    p->conn = c;
    p->kind = (uint8_t)kind;
    memcpy(p->channel, name, len);
    p->channel[len] = '\0';
    LIST_INSERT_HEAD(&cl->pending, p, link);
    cl->deciding++;
    return p;
}

static void pending_unlink(struct sss_client *cl, struct sss_pending *p)
{
    LIST_REMOVE(p, link);
    cl->deciding--;
}

/*
 * Ask the application's later parser about p, once the caller filled it.
 * The answer may come before this returns: p is not to be touched after.
 */
void sss_session__ask_later(struct sss_conn *c, struct sss_pending *p, struct sss_proto_span query)
{
    struct sss_app *app = S(c)->app;

    if (app && app->on_subscribe_later)
        app->on_subscribe_later((struct sss_socket *)c, p->channel, query.ptr ? query.ptr : "",
                                query.ptr ? query.len : 0, p->d, app->subscribe_later_data);
    else if (!sss_proxy_subscribe(c, p->channel, query, p->d))
        (void)sss_decide_subscribe(p->d, 0, "no subscription parser");
}

/*
 * The server's rules, then the application's subscription parser. Returns
 * ASK_ALLOWED; ASK_REFUSED with *why; ASK_PENDING when the application
 * answers later: *pp (of kind) is to be filled, then asked (ask_later),
 * and the answer goes to pending_decided; or ASK_NOMEM.
 */
int sss_session__subscribe_allowed(struct sss_conn *c, const char *name, size_t len,
                                   struct sss_proto_span query, const char **why, int from_sync,
                                   int kind, struct sss_pending **pp)
{
    struct sss_app *app = S(c)->app;

    if (from_sync && is_own_user_channel(c, name, len))
        return ASK_ALLOWED; /* the client's own user channel: always allowed back */
    if (sss_proto_channel_reserved(name, len)) {
        *why = "channels starting with _ belong to the server";
        return ASK_REFUSED;
    }
    /* A module's parser wins; else the backend proxy's subscribe call decides later. */
    if (app && (app->on_subscribe_later ||
                (!app->on_subscribe && sss_proxy_wants(c->w, SSS_PROXY_SUBSCRIBE)))) {
        *pp = pending_new(c, kind, name, len);
        return *pp ? ASK_PENDING : ASK_NOMEM;
    }
    if (app && app->on_subscribe) {
        const char *reason = "refused by the application";

        if (app->on_subscribe((struct sss_socket *)c, name, query.ptr ? query.ptr : "",
                              query.ptr ? query.len : 0, &reason, app->subscribe_data) != 0) {
            *why = reason;
            return ASK_REFUSED;
        }
    }
    return ASK_ALLOWED;
}

/* ---- decisions of the application, and the messages waiting for them ---- */

/* Run the messages that waited, in order, until one waits for a decision again. */
static void drain_waiting(struct sss_conn *c)
{
    struct sss_client *cl = c->client;

    if (cl->draining)
        return; /* we are inside the loop below: it goes on by itself */
    cl->draining = 1;
    while (!cl->deciding && !STAILQ_EMPTY(&cl->waiting)) {
        struct sss_waiting *m = STAILQ_FIRST(&cl->waiting);

        STAILQ_REMOVE_HEAD(&cl->waiting, link);
        cl->nwaiting--;
        sss_session__process_message(c, m->opcode, m->data, m->len);
        sss_free(m);
        if (c->dead)
            return; /* closed under us: the client state is gone */
    }
    cl->draining = 0;
}

/* Keep a message that came while a decision is awaited. 0, or -1: the connection closes. */
int sss_session__wait_message(struct sss_conn *c, int opcode, const uint8_t *data, size_t len)
{
    struct sss_client *cl = c->client;
    struct sss_waiting *m;

    if (cl->nwaiting >= (uint32_t)S(c)->cfg->max_waiting_messages) {
        sss_log_debug("handler", "too many messages waiting conn=%llu",
                      (unsigned long long)c->id);
        sss_conn_close(c, SSS_WS_CLOSE_POLICY, "too many messages waiting for a decision", 0);
        return -1;
    }
    m = sss_malloc(sizeof(*m) + len);
    if (!m) {
        sss_conn_close(c, SSS_WS_CLOSE_INTERNAL, "out of memory", 0);
        return -1;
    }
    m->opcode = opcode;
    m->len = len;
    memcpy(m->data, data, len);
    STAILQ_INSERT_TAIL(&cl->waiting, m, link);
    cl->nwaiting++;
    return 0;
}

/* The application's answer about p (or the timeout's): go on where its message stopped. */
static void pending_decided(struct sss_decision *d, void *data)
{
    struct sss_pending *p = data;
    struct sss_conn *c = p->conn;
    struct sss_client *cl = c->client;
    struct sync_state *st = p->st;

    pending_unlink(cl, p);
    switch (p->kind) {
    case PENDING_SUBSCRIBE:
        if (d->allow)
            sss_session__subscribe_start(c, sss_proto_span_of(p->id, p->id_len), p->channel,
                                         strlen(p->channel));
        else
            sss_session__subscribe_refused(c, sss_proto_span_of(p->id, p->id_len), p->channel,
                                           d->reason);
        break;
    case PENDING_SYNC:
        if (d->allow)
            sss_session__sync_entry_start(c, st, p->entry);
        else
            sss_session__sync_entry_release(c, &st->e[p->entry]);
        if (--st->outstanding == 0)
            sss_session__sync_finish(S(c), st);
        break;
    case PENDING_RESUME:
        if (d->allow)
            sss_session__resume_start(c, p->channel, strlen(p->channel));
        sss_session__begin_step_done(c);
        break;
    default:
        break;
    }
    sss_free(p->id);
    sss_free(p);
    if (!cl->deciding && !c->dead)
        drain_waiting(c);
}

/* The connection is closing: nobody waits for its decisions any more. */
void sss_session__pending_drop_all(struct sss_client *cl)
{
    while (!LIST_EMPTY(&cl->pending)) {
        struct sss_pending *p = LIST_FIRST(&cl->pending);

        pending_unlink(cl, p);
        sss_decision_drop(p->d);
        if (p->kind == PENDING_SYNC && --p->st->outstanding == 0)
            sss_session__sync_free(p->st);
        sss_free(p->id);
        sss_free(p);
    }
    while (!STAILQ_EMPTY(&cl->waiting)) {
        struct sss_waiting *m = STAILQ_FIRST(&cl->waiting);

        STAILQ_REMOVE_HEAD(&cl->waiting, link);
        sss_free(m);
    }
    cl->nwaiting = 0;
}

