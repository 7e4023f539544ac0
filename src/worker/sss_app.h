/*
 * The inside of libsss (include/sss/sss.h): the handler registry and the
 * pending asks of a worker. See sss_app.c.
 */
#ifndef SSS_APP_H
#define SSS_APP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "sss/sss.h"
#include "sss_buf.h"
#include "sss_map.h"
#include "sss_proto.h"

struct sss_worker;
struct sss_conn;
struct sss_ask;

struct sss_app {
    struct sss_map asks;  /* topic -> struct handler (owned) */
    struct sss_map tells; /* topic -> struct handler (owned) */
    sss_subscribe_fn on_subscribe;
    void *subscribe_data;
    sss_socket_fn on_socket, on_close;
    void *socket_data, *close_data;
    sss_subscribed_fn on_subscribed;
    void *subscribed_data;
    sss_session_fn on_session;
    void *session_data;
    sss_session_later_fn on_session_later; /* wins over on_session */
    void *session_later_data;
    sss_subscribe_later_fn on_subscribe_later; /* wins over on_subscribe */
    void *subscribe_later_data;
    struct sss_worker *w; /* the worker this process runs; NULL in the master */
    /* The worker's pending asks (sss_app_ask.c; owned): by handle, and oldest
     * first, which is deadline order (one --ask-timeout for all). */
    struct sss_map asks_by_handle;
    TAILQ_HEAD(sss_ask_list, sss_ask) pending;
    uint64_t ask_next; /* the handle of the next ask: never reused in the process */
};

struct sss_app *sss_app_create(void);
void sss_app_destroy(struct sss_app *app);
/* dlopen an --app module and call its sss_module_init. Returns 0 or SSS_EINVAL (logged). */
int sss_app_load(struct sss_app *app, const char *path);

/* Whether json is exactly one valid JSON value (depth-bounded). */
int sss_app_json_valid(const char *json, size_t len);

/*
 * Dispatch a client's ASK / TELL: 1 if a handler took it, 0 if none, -ENOMEM.
 * The caller checks c->nasks against --max-pending-asks first.
 */
int sss_app_ask(struct sss_conn *c, const char *topic, struct sss_proto_span id,
                struct sss_proto_span msg);
int sss_app_tell(struct sss_conn *c, const char *topic, struct sss_proto_span msg);
/* The worker w starts serving with the module's handlers (after the fork). */
void sss_app_start(struct sss_app *app, struct sss_worker *w);
/* Answer the asks past --ask-timeout, and forget them (oldest first: only those due are seen). */
void sss_app_tick(struct sss_worker *w, int64_t now_ms);
/* c is going away: forget its pending asks (a later answer to one is a no-op). */
void sss_app_conn_closed(struct sss_conn *c);
/* The pending asks of app, empty / all forgotten (sss_app_ask.c). */
void sss_app__asks_start(struct sss_app *app);
void sss_app__asks_fini(struct sss_app *app);
/* The module's handler of ASKs of topic: 1 and *fn, *data; 0 when there is none. */
int sss_app__ask_handler(const struct sss_app *app, const char *topic, sss_ask_fn *fn, void **data);
/* A text frame of what out holds (rc: its encoder's result), and out finished; NULL on error. */
struct sss_buf *sss_app__frame_of(const struct sss_conn *c, struct sss_proto_out *out, int rc);
/* The worker exits: pending asks, timers and watches are freed, nothing is called. */
void sss_app_fini(struct sss_worker *w);
/* Free w's timers and fd watches without calling them (sss_app_loop.c). */
void sss_app__loop_fini(struct sss_worker *w);
/*
 * A pending ask of c with the client's id (copied; at most SSS_PROTO_ID_MAX
 * bytes, as the decoder allows), in the worker's list and under
 * --ask-timeout, for someone else than a module's handler to answer with
 * sss_reply_ok or sss_reply_err (the backend proxy). The result is a handle,
 * not a pointer to memory: it stays safe to answer after the ask timed out
 * or its connection closed (a no-op then). NULL on ENOMEM or when the
 * worker has no struct sss_app.
 */
struct sss_reply *sss_app__reply_new(struct sss_conn *c, struct sss_proto_span id);
/* Completion of sss_reply_history (rc 0: json is the array); a no-op for a forgotten ask. */
void sss_app__history_done(struct sss_reply *r, const char *json, size_t len, int rc);

#endif
