/*
 * The inside of libsss (include/sss/sss.h): the handler registry and the
 * pending asks of a worker. See sss_app.c.
 */
#ifndef SSS_APP_H
#define SSS_APP_H

#include <stddef.h>
#include <stdint.h>

#include "sss/sss.h"
#include "sss_map.h"
#include "sss_proto.h"

struct sss_worker;
struct sss_conn;

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
    struct sss_reply *replies; /* a worker's asks waiting for their answer (owned) */
};

/* One ask waiting for its answer (in its worker's list). */
struct sss_reply {
    struct sss_worker *w;
    uint64_t conn_id;
    char *id; /* the client's raw id (owned) */
    size_t id_len;
    int64_t deadline_ms;
    uint8_t answered; /* a RESPONSE went out (maybe the timeout's) */
    uint8_t busy;     /* sss_reply_history completes it */
    struct sss_reply *prev, *next;
};

struct sss_app *sss_app_create(void);
void sss_app_destroy(struct sss_app *app);
/* dlopen an --app module and call its sss_module_init. Returns 0 or SSS_EINVAL (logged). */
int sss_app_load(struct sss_app *app, const char *path);

/* Whether json is exactly one valid JSON value (depth-bounded). */
int sss_app_json_valid(const char *json, size_t len);

/* Dispatch a client's ASK / TELL: 1 if a handler took it, 0 if none, -ENOMEM. */
int sss_app_ask(struct sss_conn *c, const char *topic, struct sss_proto_span id,
                struct sss_proto_span msg);
int sss_app_tell(struct sss_conn *c, const char *topic, struct sss_proto_span msg);
/* The worker w starts serving with the module's handlers (after the fork). */
void sss_app_start(struct sss_app *app, struct sss_worker *w);
/* Answer the asks past --ask-timeout. */
void sss_app_tick(struct sss_worker *w, int64_t now_ms);
/* The worker exits: pending asks, timers and watches are freed, nothing is called. */
void sss_app_fini(struct sss_worker *w);
/* Free w's timers and fd watches without calling them (sss_app_loop.c). */
void sss_app__loop_fini(struct sss_worker *w);
/*
 * A pending ask of c with the client's id (copied), in the worker's list and
 * under --ask-timeout, for someone else than a module's handler to answer
 * with sss_reply_ok or sss_reply_err (the backend proxy). NULL on ENOMEM or
 * when the worker has no struct sss_app.
 */
struct sss_reply *sss_app__reply_new(struct sss_conn *c, struct sss_proto_span id);
/* Completion of sss_reply_history (rc 0: json is the array). */
void sss_app__history_done(struct sss_reply *r, const char *json, size_t len, int rc);

#endif
