/*
 * libsss (include/sss/sss.h): the registry of application handlers and the
 * calls handlers make. The registry is filled in the master (sss_module_init
 * of an --app module) and inherited by every worker at fork; the calls act
 * on the worker they run in (struct sss_app.w, set after the fork).
 *
 * A struct sss_socket is a struct sss_conn. The pending asks and their
 * answers (struct sss_reply) are in sss_app_ask.c.
 */
#include "sss_app.h"
#include "sss_alloc.h"
#include "sss_conn.h"
#include "sss_hostmsg.h"
#include "sss_backend.h"
#include "sss_session.h"
#include "sss_sockname.h"
#include "sss_log.h"
#include "sss_time.h"
#include "sss_wire.h"
#include "sss_worker.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <yajl/yajl_parse.h>

struct handler {
    char topic[SSS_PROTO_TOPIC_MAX + 1];
    void *fn;
    void *data;
};

struct sss_app *sss_app_create(void)
{
    struct sss_app *app = sss_calloc(1, sizeof(*app));

    if (app) {
        sss_map_init(&app->asks);
        sss_map_init(&app->tells);
    }
    return app;
}

static void free_handlers(struct sss_map *m)
{
    sss_map_clear(m, sss_free);
}

void sss_app_destroy(struct sss_app *app)
{
    if (!app)
        return;
    free_handlers(&app->asks);
    free_handlers(&app->tells);
    sss_free(app);
}

int sss_app_load(struct sss_app *app, const char *path)
{
    int (*init)(struct sss_app *);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    int rc;

    if (!h) {
        sss_log_error("app", "cannot load %s: %s", path, dlerror());
        return SSS_EINVAL;
    }
    *(void **)&init = dlsym(h, "sss_module_init");
    if (!init) {
        sss_log_error("app", "%s has no sss_module_init", path);
        return SSS_EINVAL;
    }
    rc = init(app);
    if (rc != 0) {
        sss_log_error("app", "%s: sss_module_init returned %d", path, rc);
        return SSS_EINVAL;
    }
    sss_log_info("app", "loaded %s asks=%u tells=%u", path, app->asks.len, app->tells.len);
    return 0; /* the module stays loaded for the life of the process */
}

static int add_handler(struct sss_map *m, const char *topic, void *fn, void *data)
{
    size_t len = topic ? strlen(topic) : 0;
    struct handler *h;

    if (!len || len > SSS_PROTO_TOPIC_MAX || !fn)
        return SSS_APP_ETOPIC;
    h = sss_map_get(m, topic, len);
    if (!h) {
        h = sss_calloc(1, sizeof(*h));
        if (!h)
            return -ENOMEM;
        memcpy(h->topic, topic, len);
        if (sss_map_put(m, h->topic, len, h) < 0) {
            sss_free(h);
            return -ENOMEM;
        }
    }
    h->fn = fn;
    h->data = data;
    return 0;
}

int sss_on_ask(struct sss_app *app, const char *topic, sss_ask_fn fn, void *data)
{
    return add_handler(&app->asks, topic, *(void **)&fn, data);
}

int sss_on_tell(struct sss_app *app, const char *topic, sss_tell_fn fn, void *data)
{
    return add_handler(&app->tells, topic, *(void **)&fn, data);
}

/* The hooks with one handler each: sss_on_<hook>(app, fn, data) sets app->on_<hook>
 * and app-><hook>_data (a later call replaces the earlier handler). */
#define SSS_APP_HOOK(hook, fn_type)                             \
    int sss_on_##hook(struct sss_app *app, fn_type fn, void *data) \
    {                                                          \
        app->on_##hook = fn;                                   \
        app->hook##_data = data;                               \
        return 0;                                              \
    }

SSS_APP_HOOK(subscribe, sss_subscribe_fn)
SSS_APP_HOOK(socket, sss_socket_fn)
SSS_APP_HOOK(close, sss_socket_fn)
SSS_APP_HOOK(subscribed, sss_subscribed_fn)
SSS_APP_HOOK(session, sss_session_fn)
SSS_APP_HOOK(session_later, sss_session_later_fn)
SSS_APP_HOOK(subscribe_later, sss_subscribe_later_fn)

/* ---- JSON validation of what handlers send ---- */

struct depth {
    int d;
};

static int v_start(void *ctx)
{
    return ++((struct depth *)ctx)->d <= SSS_PROTO_MAX_DEPTH;
}

static int v_end(void *ctx)
{
    ((struct depth *)ctx)->d--;
    return 1;
}

int sss_app_json_valid(const char *json, size_t len)
{
    static const yajl_callbacks cb = {.yajl_start_map = v_start,
                                      .yajl_end_map = v_end,
                                      .yajl_start_array = v_start,
                                      .yajl_end_array = v_end};
    struct depth d = {0};
    yajl_handle h;
    int ok;

    if (!json || !len)
        return 0;
    h = yajl_alloc(&cb, NULL, &d);
    if (!h)
        return 0;
    ok = yajl_parse(h, (const unsigned char *)json, len) == yajl_status_ok &&
         yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

/* ---- sockets ---- */

uint64_t sss_socket_id(const struct sss_socket *s)
{
    const struct sss_conn *c = (const struct sss_conn *)s;

    return ((uint64_t)(uint32_t)c->w->id << 48) | c->id;
}

int sss_socket_name(const struct sss_socket *s, char *buf, size_t size)
{
    const struct sss_conn *c = (const struct sss_conn *)s;
    const char *host = c->w->cfg->host_id;
    int rc = sss_sockname_format(buf, size, sss_socket_id(s), c->w->shm->hdr->run_id, host,
                                 strlen(host));

    return rc == SSS_EINVAL ? SSS_APP_ESTATE : rc; /* no host id: not a served socket */
}

struct sss_app *sss_socket_app(const struct sss_socket *s)
{
    return ((const struct sss_conn *)s)->w->app;
}

static int check_topic(const char *topic)
{
    size_t len = topic ? strlen(topic) : 0;

    return len && len <= SSS_PROTO_TOPIC_MAX ? 0 : SSS_APP_ETOPIC;
}

/* The frame of one encoded message in c's encoding; NULL if encoding failed (rc < 0) or ENOMEM. */
struct sss_buf *sss_app__frame_of(const struct sss_conn *c, struct sss_proto_out *out, int rc)
{
    struct sss_buf *b =
        rc < 0 || out->oom ? NULL : sss_wire_frame(c->encoding, out->data, out->len);

    sss_proto_out_fini(out);
    return b;
}

int sss_tell(struct sss_socket *s, const char *topic, const char *json, size_t len)
{
    struct sss_conn *c = (struct sss_conn *)s;
    struct sss_proto_span msg = {json, len};
    struct sss_proto_out out;
    char tmp[1024];
    struct sss_buf *b;

    if (check_topic(topic) < 0)
        return SSS_APP_ETOPIC;
    if (!sss_app_json_valid(json, len))
        return SSS_APP_EJSON;
    if (c->dead || c->closing)
        return SSS_APP_EGONE;
    sss_proto_out_init(&out, tmp, sizeof(tmp));
    b = sss_app__frame_of(c, &out, sss_proto_encode_tell(&out, topic, msg));
    if (!b)
        return -ENOMEM;
    sss_conn_send(c, b);
    return 0;
}

int sss_tell_id(struct sss_app *app, uint64_t socket_id, const char *topic, const char *json,
                size_t len)
{
    struct sss_worker *w = app->w;
    uint64_t cid = socket_id & ((1ULL << 48) - 1);
    struct sss_conn *c;

    if (!w)
        return SSS_APP_ESTATE;
    if ((int)(socket_id >> 48) != w->id)
        return SSS_APP_EGONE; /* another worker's socket: reach it through a channel */
    c = sss_session_conn(&w->session, cid);
    if (!c)
        return SSS_APP_EGONE;
    return sss_tell((struct sss_socket *)c, topic, json, len);
}

int sss_tell_socket(struct sss_app *app, const char *socket_name, const char *topic,
                    const char *json, size_t len)
{
    struct sss_worker *w = app->w;
    const char *host;
    struct sss_sockname n;
    unsigned sw;

    if (!w)
        return SSS_APP_ESTATE;
    if (!socket_name || sss_sockname_parse(socket_name, strlen(socket_name), &n) < 0)
        return SSS_APP_ENAME;
    if (check_topic(topic) < 0)
        return SSS_APP_ETOPIC;
    if (!sss_app_json_valid(json, len))
        return SSS_APP_EJSON;
    host = w->cfg->host_id;
    sw = sss_sockname_worker(n.sid);
    if (n.host_len == strlen(host) && memcmp(n.host, host, n.host_len) == 0) {
        /* This host's socket: known gone, or this worker's own (at once), or the scaler's
         * to hand to its worker, the way POST /api/tell does. */
        if (n.run != w->shm->hdr->run_id ||
            !sss_shm_worker_current(w->shm, sw, sss_sockname_incarnation(n.sid)))
            return SSS_APP_EGONE;
        if (sw == (unsigned)w->id)
            return sss_tell_id(app, n.sid, topic, json, len);
    }
    return sss_backend_tell(&w->rpc, n.sid, n.run, n.host, n.host_len, topic, json, len);
}

static int publish(struct sss_app *app, struct sss_conn *origin, const char *channel,
                   const char *topic, const char *json, size_t len)
{
    if (!app->w)
        return SSS_APP_ESTATE;
    if (!channel || !sss_proto_channel_valid(channel, strlen(channel)))
        return SSS_APP_ECHANNEL;
    if (check_topic(topic) < 0)
        return SSS_APP_ETOPIC;
    if (!sss_app_json_valid(json, len))
        return SSS_APP_EJSON;
    return sss_backend_publish(&app->w->rpc, origin ? origin->id : 0, channel, topic, json, len);
}

int sss_publish(struct sss_app *app, const char *channel, const char *topic, const char *json,
                size_t len)
{
    return publish(app, NULL, channel, topic, json, len);
}

int sss_socket_publish(struct sss_socket *s, const char *channel, const char *topic,
                       const char *json, size_t len)
{
    struct sss_conn *c = (struct sss_conn *)s;

    return publish(c->w->app, c, channel, topic, json, len);
}

int sss_broadcast(struct sss_app *app, const char *topic, const char *json, size_t len)
{
    if (!app->w)
        return SSS_APP_ESTATE;
    if (check_topic(topic) < 0)
        return SSS_APP_ETOPIC;
    if (!sss_app_json_valid(json, len))
        return SSS_APP_EJSON;
    return sss_backend_broadcast(&app->w->rpc, topic, json, len);
}

int sss_boot(struct sss_socket *s, const char *reason)
{
    struct sss_conn *c = (struct sss_conn *)s;
    struct sss_proto_out out;
    char tmp[512];
    struct sss_buf *b;

    if (c->dead || c->closing)
        return SSS_APP_EGONE;
    if (reason && strlen(reason) > SSS_REASON_MAX)
        return SSS_APP_ETOOLONG;
    sss_proto_out_init(&out, tmp, sizeof(tmp));
    b = sss_app__frame_of(c, &out, sss_proto_encode_boot(&out, reason ? reason : ""));
    if (!b)
        return -ENOMEM;
    sss_conn_send(c, b);
    sss_conn_close(c, SSS_WS_CLOSE_BOOTED, reason ? reason : "booted", 0);
    return 0;
}

const char *sss_socket_user(const struct sss_socket *s)
{
    return ((const struct sss_conn *)s)->user;
}

static int boot_all(struct sss_app *app, int kind, const char *name, const char *reason)
{
    size_t nl = name ? strlen(name) : 0, rl = reason ? strlen(reason) : 0;

    if (!app->w)
        return SSS_APP_ESTATE;
    if (!nl || !sss_proto_channel_valid(name, nl))
        return SSS_APP_ECHANNEL;
    if ((kind == SSS_HM_BOOT_USER && nl > SSS_USER_MAX) || rl > SSS_REASON_MAX)
        return SSS_APP_ETOOLONG;
    return sss_backend_boot(&app->w->rpc, kind, name, nl, reason ? reason : "", rl);
}

int sss_boot_user(struct sss_app *app, const char *user, const char *reason)
{
    return boot_all(app, SSS_HM_BOOT_USER, user, reason);
}

int sss_boot_channel(struct sss_app *app, const char *channel, const char *reason)
{
    return boot_all(app, SSS_HM_BOOT_CHANNEL, channel, reason);
}

int sss_app__ask_handler(const struct sss_app *app, const char *topic, sss_ask_fn *fn, void **data)
{
    struct handler *h = app ? sss_map_get(&app->asks, topic, strlen(topic)) : NULL;

    if (!h)
        return 0;
    *(void **)fn = h->fn;
    *data = h->data;
    return 1;
}

int sss_app_tell(struct sss_conn *c, const char *topic, struct sss_proto_span msg)
{
    struct sss_worker *w = c->w;
    struct handler *h = w->app ? sss_map_get(&w->app->tells, topic, strlen(topic)) : NULL;
    sss_tell_fn fn;

    if (!h)
        return 0;
    *(void **)&fn = h->fn;
    fn((struct sss_socket *)c, msg.ptr ? msg.ptr : "null", msg.ptr ? msg.len : 4, h->data);
    return 1;
}

void sss_app_start(struct sss_app *app, struct sss_worker *w)
{
    app->w = w;
    sss_app__asks_start(app);
}

void sss_app_fini(struct sss_worker *w)
{
    sss_app__asks_fini(w->app);
    sss_app__loop_fini(w);
}
