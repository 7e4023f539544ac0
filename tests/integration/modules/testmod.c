/*
 * An application module for the integration tests (tests/integration/test_app.py):
 * one handler per libsss call, so that each can be driven from a client.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

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

int sss_module_init(struct sss_app *app)
{
    return sss_on_ask(app, "echo", ask_echo, NULL) || sss_on_ask(app, "later", ask_later, NULL) ||
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
