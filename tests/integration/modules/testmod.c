/*
 * An application module for the integration tests (tests/integration/test_app.py,
 * test_loop.py): one handler per libsss call, so that each can be driven from a client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sss/sss.h"

static struct sss_reply *kept; /* the "later" ask, answered by the tell "release" */
static int sockets;            /* on-socket minus on-close, in this worker */

static void ask_echo(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                     void *d)
{
    (void)s, (void)d;
    sss_reply_ok(r, msg, len);
}

static void ask_later(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                      void *d)
{
    (void)s, (void)msg, (void)len, (void)d;
    kept = r;
}

static void ask_never(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                      void *d)
{
    (void)s, (void)msg, (void)len, (void)r, (void)d; /* the --ask-timeout answers */
}

static void ask_badjson(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                        void *d)
{
    char why[64];
    int rc = sss_reply_ok(r, "{not json", 9);

    (void)s, (void)msg, (void)len, (void)d;
    snprintf(why, sizeof(why), "sss_reply_ok refused it: %d", rc);
    sss_reply_err(r, "Refused", why);
}

static void ask_history(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                        void *d)
{
    (void)s, (void)msg, (void)len, (void)d;
    sss_reply_history(r, "news", 3);
}

static void ask_count(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                      void *d)
{
    char n[32];

    (void)s, (void)msg, (void)len, (void)d;
    snprintf(n, sizeof(n), "%d", sockets);
    sss_reply_ok(r, n, strlen(n));
}

static void tell_release(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    (void)s, (void)msg, (void)len, (void)d;
    if (kept)
        sss_reply_ok(kept, "\"released\"", 10);
    kept = NULL;
}

static void tell_tellme(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    (void)d;
    sss_tell(s, "told", msg, len);
}

static void tell_pub(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    (void)d;
    sss_publish(sss_socket_app(s), "news", "pub", msg, len);
}

static void tell_spub(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    (void)d;
    sss_socket_publish(s, "news", "spub", msg, len);
}

static void tell_bcast(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    (void)d;
    sss_broadcast(sss_socket_app(s), "bcast", msg, len);
}

static void tell_bootme(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    (void)msg, (void)len, (void)d;
    sss_boot(s, "bye");
}

/* Session parser: ?deny refuses (403), ?user=NAME names the user. */
static void on_session(const struct sss_request *req, struct sss_session_out *out, void *d)
{
    const char *u = strstr(req->target, "user=");

    (void)d;
    if (strstr(req->target, "deny")) {
        out->status = 403;
        out->reason = "denied by the application";
        return;
    }
    if (u) {
        size_t n = strcspn(u + 5, "&");

        if (n < sizeof(out->user)) {
            memcpy(out->user, u + 5, n);
            out->user[n] = '\0';
        }
    }
}

/* On-subscribed hook: tell the socket which channel went live. */
static void on_subscribed(struct sss_socket *s, const char *channel, void *d)
{
    char json[160];

    (void)d;
    snprintf(json, sizeof(json), "\"%s\"", channel);
    sss_tell(s, "subscribed", json, strlen(json));
}

static void tell_bootuser(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    (void)msg, (void)len, (void)d;
    sss_boot_user(sss_socket_app(s), "victim", "by app");
}

static void tell_bootchan(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    (void)msg, (void)len, (void)d;
    sss_boot_channel(sss_socket_app(s), "news", "news closed");
}

static void ask_whoami(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                       void *d)
{
    char json[160];

    (void)msg, (void)len, (void)d;
    snprintf(json, sizeof(json), "\"%s\"", sss_socket_user(s));
    sss_reply_ok(r, json, strlen(json));
}

/* The socket's name (sss_socket_name), as a JSON string (test host ids need no escapes). */
static void ask_myname(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                       void *d)
{
    char name[SSS_SOCKET_NAME_MAX + 1], json[SSS_SOCKET_NAME_MAX + 3];
    int n = sss_socket_name(s, name, sizeof(name));

    (void)msg, (void)len, (void)d;
    /* Its length back, and one byte short of room for the NUL is refused. */
    if (n < 0 || sss_socket_name(s, name, (size_t)n) != -ENOSPC) {
        sss_reply_err(r, "Refused", "sss_socket_name failed");
        return;
    }
    (void)sss_socket_name(s, name, sizeof(name));
    snprintf(json, sizeof(json), "\"%s\"", name);
    sss_reply_ok(r, json, strlen(json));
}

/* msg: a socket name as a JSON string. sss_tell_socket TELLs it "fromapp" {"by": <our name>};
 * the answer is its return code. */
static void ask_tellsock(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                         void *d)
{
    char target[SSS_SOCKET_NAME_MAX + 8], me[SSS_SOCKET_NAME_MAX + 1], json[512];
    int rc;

    (void)d;
    if (len < 2 || len - 2 >= sizeof(target) || msg[0] != '"') {
        sss_reply_err(r, "Refused", "give a socket name as a JSON string");
        return;
    }
    memcpy(target, msg + 1, len - 2);
    target[len - 2] = '\0';
    (void)sss_socket_name(s, me, sizeof(me));
    snprintf(json, sizeof(json), "{\"by\":\"%s\"}", me);
    rc = sss_tell_socket(sss_socket_app(s), target, "fromapp", json, strlen(json));
    snprintf(json, sizeof(json), "%d", rc);
    sss_reply_ok(r, json, strlen(json));
}

static int on_subscribe(struct sss_socket *s, const char *channel, const char *query,
                        size_t query_len, const char **why, void *d)
{
    (void)s, (void)query, (void)query_len, (void)d;
    if (strcmp(channel, "forbidden") == 0) {
        *why = "no entry";
        return 1;
    }
    return 0;
}

static void on_socket(struct sss_socket *s, void *d)
{
    (void)s, (void)d;
    sockets++;
}

static void on_close(struct sss_socket *s, void *d)
{
    (void)s, (void)d;
    sockets--;
}


/* ---- timers and fd watches (test_loop.py); one worker, so module state is the worker's ---- */

/* ASK "after": answered by a timer 50 ms later. */
static void after_fired(void *d)
{
    sss_reply_ok(d, "\"after\"", 7);
}

static void ask_after(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                      void *d)
{
    int rc = sss_timer_after(sss_socket_app(s), 50, after_fired, r, NULL);

    (void)msg, (void)len, (void)d;
    if (rc < 0)
        sss_reply_err(r, "Timer", "sss_timer_after failed");
}

/*
 * ASK "cancel": five timers. "c0" (0 ms) and "c10" (10 ms) are cancelled at
 * once; "x" and "y" (both 0 ms, so usually expiring in the same loop turn)
 * each cancel the other when they fire, so exactly one of them runs; "end"
 * (100 ms) answers with the names of the timers that ran, in order.
 */
struct cancel_ask {
    struct sss_reply *reply;
    struct sss_timer *x, *y;
    char fired[128];
    int cancel_rc[3];
};

struct cancel_timer {
    struct cancel_ask *a;
    const char *name;
};

static struct cancel_timer cancel_timers[5];

static void cancel_fired(void *d)
{
    struct cancel_timer *ct = d;
    struct cancel_ask *a = ct->a;
    size_t n = strlen(a->fired);

    snprintf(a->fired + n, sizeof(a->fired) - n, "%s\"%s\"", n > 1 ? "," : "", ct->name);
    if (strcmp(ct->name, "x") == 0) {
        a->cancel_rc[1] = sss_timer_cancel(a->y);
        a->x = a->y = NULL; /* both dead: x fired, y cancelled */
    } else if (strcmp(ct->name, "y") == 0) {
        a->cancel_rc[1] = sss_timer_cancel(a->x);
        a->x = a->y = NULL;
    } else if (strcmp(ct->name, "end") == 0) {
        char json[256];

        snprintf(json, sizeof(json), "{\"fired\":%s],\"rc\":[%d,%d,%d]}", a->fired,
                 a->cancel_rc[0], a->cancel_rc[1], a->cancel_rc[2]);
        sss_reply_ok(a->reply, json, strlen(json));
        free(a);
    }
}

static void ask_cancel(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                       void *d)
{
    static const char *names[5] = {"c0", "c10", "x", "y", "end"};
    static const int64_t ms[5] = {0, 10, 0, 0, 100};
    struct sss_app *app = sss_socket_app(s);
    struct cancel_ask *a = calloc(1, sizeof(*a));
    struct sss_timer *t[5];
    int rc = 0;

    (void)msg, (void)len, (void)d;
    if (!a) {
        sss_reply_err(r, "Timer", "out of memory");
        return;
    }
    a->reply = r;
    a->fired[0] = '[';
    for (int i = 0; i < 5; i++) {
        cancel_timers[i].a = a;
        cancel_timers[i].name = names[i];
        rc |= sss_timer_after(app, ms[i], cancel_fired, &cancel_timers[i], &t[i]);
    }
    if (rc < 0) {
        sss_reply_err(r, "Timer", "sss_timer_after failed");
        return; /* (the timers that were set still run; this is only a test) */
    }
    a->x = t[2];
    a->y = t[3];
    a->cancel_rc[0] = sss_timer_cancel(t[0]);
    a->cancel_rc[2] = sss_timer_cancel(t[1]);
}

/* The pipe of the TELLs "pipe" and "writable", its watch, and the client that asked. */
struct watched_pipe {
    struct sss_app *app;
    uint64_t sid;
    struct sss_watch *watch;
    int fds[2]; /* -1 when closed */
};

/* Open wp's pipe for the client of s: 0, or -1 when it is open already or pipe2 fails. */
static int watched_pipe_open(struct watched_pipe *wp, struct sss_socket *s)
{
    if (wp->fds[0] >= 0 || pipe2(wp->fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    wp->app = sss_socket_app(s);
    wp->sid = sss_socket_id(s);
    return 0;
}

/* Tell wp's client topic with json. */
static void watched_pipe_tell(const struct watched_pipe *wp, const char *topic, const char *json)
{
    sss_tell_id(wp->app, wp->sid, topic, json, strlen(json));
}

/* Close wp's pipe and tell its client topic with json, the test's last word. */
static void watched_pipe_close(struct watched_pipe *wp, const char *topic, const char *json)
{
    close(wp->fds[0]);
    close(wp->fds[1]);
    wp->fds[0] = wp->fds[1] = -1;
    watched_pipe_tell(wp, topic, json);
}

/*
 * TELL "pipe" {n}: a pipe whose read end is watched; a timer writes one byte,
 * and each byte the watch reads is told to the client as "piped" {"n": i};
 * after byte i < n, a 0 ms timer writes the next one. Then the watch and the
 * pipe go away, and "piped" {"done": n, "late": calls after the cancel}.
 */
static struct pipe_state {
    struct watched_pipe wp;
    int want, got, late;
} pipe_st = {.wp.fds = {-1, -1}};

static void pipe_write(void *d)
{
    (void)d;
    if (write(pipe_st.wp.fds[1], "x", 1) != 1)
        fprintf(stderr, "testmod: pipe write: %s\n", strerror(errno));
}

static void pipe_done(void *d)
{
    char json[64];

    (void)d;
    snprintf(json, sizeof(json), "{\"done\":%d,\"late\":%d}", pipe_st.got, pipe_st.late);
    watched_pipe_close(&pipe_st.wp, "piped", json);
}

static void pipe_readable(int fd, unsigned revents, void *d)
{
    char buf[64], json[64];
    ssize_t n;

    (void)d;
    if (!pipe_st.wp.watch) {
        pipe_st.late++; /* called after sss_watch_cancel: a bug */
        return;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n; i++) {
            pipe_st.got++;
            snprintf(json, sizeof(json), "{\"n\":%d,\"revents\":%u}", pipe_st.got, revents);
            watched_pipe_tell(&pipe_st.wp, "piped", json);
        }
    if (pipe_st.got < pipe_st.want) {
        sss_timer_after(pipe_st.wp.app, 0, pipe_write, NULL, NULL);
        return;
    }
    /* Cancel, then write once more: the watch must not run for it. */
    sss_watch_cancel(pipe_st.wp.watch);
    pipe_st.wp.watch = NULL;
    pipe_write(NULL);
    sss_timer_after(pipe_st.wp.app, 50, pipe_done, NULL, NULL);
}

static void tell_pipe(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    char n[16];

    (void)d;
    if (len >= sizeof(n) || watched_pipe_open(&pipe_st.wp, s) < 0)
        return;
    memcpy(n, msg, len); /* msg is not NUL-terminated */
    n[len] = '\0';
    pipe_st.want = (int)strtol(n, NULL, 10);
    pipe_st.got = pipe_st.late = 0;
    if (sss_watch_fd(pipe_st.wp.app, pipe_st.wp.fds[0], SSS_WATCH_READ, pipe_readable, NULL,
                     &pipe_st.wp.watch) < 0 ||
        sss_timer_after(pipe_st.wp.app, 20, pipe_write, NULL, NULL) < 0)
        sss_tell(s, "piped", "\"setup failed\"", 14);
}

/*
 * TELL "writable": a watch for WRITE on a fresh pipe, cancelled from its
 * first call; 50 ms later "writable" {"calls": how many calls it got}.
 */
static struct {
    struct watched_pipe wp;
    int calls;
} wst = {.wp.fds = {-1, -1}};

static void writable_done(void *d)
{
    char json[64];

    (void)d;
    snprintf(json, sizeof(json), "{\"calls\":%d}", wst.calls);
    watched_pipe_close(&wst.wp, "writable", json);
}

static void on_writable(int fd, unsigned revents, void *d)
{
    char json[64];
    int rc;

    (void)fd, (void)d;
    if (++wst.calls > 1)
        return; /* after the cancel: a bug, which writable_done reports */
    rc = sss_watch_cancel(wst.wp.watch);
    wst.wp.watch = NULL;
    snprintf(json, sizeof(json), "{\"revents\":%u,\"cancel\":%d}", revents, rc);
    watched_pipe_tell(&wst.wp, "writable", json);
    sss_timer_after(wst.wp.app, 50, writable_done, NULL, NULL);
}

static void tell_writable(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    struct watched_pipe *wp = &wst.wp;

    (void)msg, (void)len, (void)d;
    if (watched_pipe_open(wp, s) < 0)
        return;
    wst.calls = 0;
    if (sss_watch_fd(wp->app, wp->fds[1], SSS_WATCH_WRITE, on_writable, NULL, &wp->watch) < 0)
        sss_tell(s, "writable", "\"setup failed\"", 14);
}

/*
 * TELL "linger": a timer of an hour and a watch on a pipe nobody writes,
 * both left pending: the worker's exit must free them (no leak under ASan)
 * and call neither.
 */
static void linger_fired(void *d)
{
    (void)d;
    fprintf(stderr, "testmod: BUG: the lingering timer fired\n");
}

static void linger_ready(int fd, unsigned revents, void *d)
{
    (void)fd, (void)d;
    fprintf(stderr, "testmod: BUG: the lingering watch ran revents=%u\n", revents);
}

static void tell_linger(struct sss_socket *s, const char *msg, size_t len, void *d)
{
    static int fds[2] = {-1, -1}; /* left open: the process exit closes them */
    char json[64];
    int rc1, rc2 = -1;

    (void)msg, (void)len, (void)d;
    rc1 = sss_timer_after(sss_socket_app(s), 3600 * 1000, linger_fired, NULL, NULL);
    if (fds[0] < 0 && pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        rc2 = -errno;
    else
        rc2 = sss_watch_fd(sss_socket_app(s), fds[0], SSS_WATCH_READ, linger_ready, NULL, NULL);
    snprintf(json, sizeof(json), "[%d,%d]", rc1, rc2);
    sss_tell(s, "lingering", json, strlen(json));
}

/* In the master (sss_module_init) both calls must refuse with SSS_APP_ESTATE. */
static int loop_refused_in_master(struct sss_app *app)
{
    struct sss_timer *t = (struct sss_timer *)&t;
    struct sss_watch *w = (struct sss_watch *)&w;

    if (sss_timer_after(app, 0, linger_fired, NULL, &t) != SSS_APP_ESTATE || t != NULL ||
        sss_watch_fd(app, 0, SSS_WATCH_READ, linger_ready, NULL, &w) != SSS_APP_ESTATE ||
        w != NULL) {
        fprintf(stderr, "testmod: timers or watches were accepted in the master\n");
        return 1;
    }
    return 0;
}

static int loop_handlers(struct sss_app *app)
{
    return loop_refused_in_master(app) || sss_on_ask(app, "after", ask_after, NULL) ||
           sss_on_ask(app, "cancel", ask_cancel, NULL) ||
           sss_on_tell(app, "pipe", tell_pipe, NULL) ||
           sss_on_tell(app, "writable", tell_writable, NULL) ||
           sss_on_tell(app, "linger", tell_linger, NULL);
}

int sss_module_init(struct sss_app *app)
{
    return loop_handlers(app) || sss_on_ask(app, "echo", ask_echo, NULL) ||
           sss_on_ask(app, "later", ask_later, NULL) ||
           sss_on_ask(app, "never", ask_never, NULL) ||
           sss_on_ask(app, "badjson", ask_badjson, NULL) ||
           sss_on_ask(app, "history", ask_history, NULL) ||
           sss_on_ask(app, "count", ask_count, NULL) ||
           sss_on_tell(app, "release", tell_release, NULL) ||
           sss_on_tell(app, "tellme", tell_tellme, NULL) ||
           sss_on_tell(app, "pub", tell_pub, NULL) || sss_on_tell(app, "spub", tell_spub, NULL) ||
           sss_on_tell(app, "bcast", tell_bcast, NULL) ||
           sss_on_tell(app, "bootme", tell_bootme, NULL) ||
           sss_on_subscribe(app, on_subscribe, NULL) || sss_on_socket(app, on_socket, NULL) ||
           sss_on_close(app, on_close, NULL) || sss_on_session(app, on_session, NULL) ||
           sss_on_subscribed(app, on_subscribed, NULL) ||
           sss_on_tell(app, "bootuser", tell_bootuser, NULL) ||
           sss_on_tell(app, "bootchan", tell_bootchan, NULL) ||
           sss_on_ask(app, "whoami", ask_whoami, NULL) ||
           sss_on_ask(app, "myname", ask_myname, NULL) ||
           sss_on_ask(app, "tellsock", ask_tellsock, NULL);
}
