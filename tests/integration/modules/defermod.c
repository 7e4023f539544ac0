/*
 * An application module for tests/integration/test_defer.py: its session
 * and subscription parsers answer later, when the test says so, so that the
 * test controls the interleaving.
 *
 *   TELL "control"        this socket hears what happens: TELL "asked"
 *                         {"kind":"session"|"sub", ...} for each question,
 *                         "closed" for each socket that went away, and
 *                         "decided" <rc> after each answer it asked for
 *   TELL "decide" "CMD"   answer a kept handle:
 *                           session MATCH accept USER   (USER "-": anonymous)
 *                           session MATCH refuse STATUS REASON...
 *                           sub CHANNEL allow
 *                           sub CHANNEL refuse REASON...
 *                         MATCH is a substring of the request-target; the
 *                         oldest kept handle that fits is answered
 *   ASK "echo"            answered with its msg
 *
 * Answered at once, inside the parser's call: an upgrade whose target has
 * now=USER, a subscription to a channel starting with "now-".
 */
#include <stdio.h>
#include <string.h>

#include "sss/sss.h"

#define KEEP 64

static struct sss_app *the_app;
static uint64_t ctl; /* the control socket's id, 0: none */

static struct {
    struct sss_decision *d;
    char target[256];
} sessions[KEEP];

static struct {
    struct sss_decision *d;
    char channel[160];
} subs[KEEP];

/* Tell the control socket (if any) a JSON value. */
static void to_ctl(const char *topic, const char *json)
{
    if (ctl)
        (void)sss_tell_id(the_app, ctl, topic, json, strlen(json));
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

static void session_later(const struct sss_request *req, struct sss_decision *d, void *data)
{
    const char *now = strstr(req->target, "now=");
    char json[1024];

    (void)data;
    if (now) {
        struct sss_session_out out;
        size_t n = strcspn(now + 4, "&");

        memset(&out, 0, sizeof(out));
        if (n < sizeof(out.user))
            memcpy(out.user, now + 4, n);
        (void)sss_decide_session(d, &out);
        return;
    }
    for (int i = 0; i < KEEP; i++)
        if (!sessions[i].d) {
            sessions[i].d = d;
            copy(sessions[i].target, sizeof(sessions[i].target), req->target);
            break;
        }
    /* The values the tests send need no JSON escaping. */
    snprintf(json, sizeof(json),
             "{\"kind\":\"session\",\"target\":\"%s\",\"remote\":\"%s\",\"origin\":\"%s\","
             "\"user_agent\":\"%s\",\"forwarded_for\":\"%s\"}",
             req->target, req->remote, req->origin, req->user_agent, req->forwarded_for);
    to_ctl("asked", json);
}

/* query as a JSON string's content (quotes and backslashes escaped, cut at 200 bytes). */
static void quote(char *dst, size_t cap, const char *src, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len && i < 200 && o + 3 < cap; i++) {
        if (src[i] == '"' || src[i] == '\\')
            dst[o++] = '\\';
        dst[o++] = src[i];
    }
    dst[o] = '\0';
}

static void subscribe_later(struct sss_socket *s, const char *channel, const char *query,
                            size_t query_len, struct sss_decision *d, void *data)
{
    char json[1024], q[512];

    (void)s, (void)data;
    if (strncmp(channel, "now-", 4) == 0) {
        (void)sss_decide_subscribe(d, 1, NULL);
        return;
    }
    for (int i = 0; i < KEEP; i++)
        if (!subs[i].d) {
            subs[i].d = d;
            copy(subs[i].channel, sizeof(subs[i].channel), channel);
            break;
        }
    quote(q, sizeof(q), query, query_len);
    snprintf(json, sizeof(json), "{\"kind\":\"sub\",\"channel\":\"%s\",\"query\":\"%s\"}",
             channel, q);
    to_ctl("asked", json);
}

/* Run one "decide" command; its return code (or 1: no such handle, 2: bad command). */
static int decide(const char *cmd)
{
    char what[16], key[160], verb[16];
    int n = 0;

    if (sscanf(cmd, "%15s %159s %15s %n", what, key, verb, &n) < 3)
        return 2;
    if (strcmp(what, "session") == 0) {
        for (int i = 0; i < KEEP; i++) {
            struct sss_session_out out;
            struct sss_decision *d = sessions[i].d;

            if (!d || !strstr(sessions[i].target, key))
                continue;
            sessions[i].d = NULL; /* dead after the answer, whatever it returns */
            memset(&out, 0, sizeof(out));
            if (strcmp(verb, "accept") == 0) {
                if (sscanf(cmd + n, "%120s", out.user) == 1 && strcmp(out.user, "-") == 0)
                    out.user[0] = '\0';
            } else {
                int st = 0, m = 0;

                if (sscanf(cmd + n, "%d %n", &st, &m) < 1)
                    return 2;
                out.status = st;
                out.reason = cmd + n + m;
            }
            return sss_decide_session(d, &out);
        }
        return 1;
    }
    if (strcmp(what, "sub") == 0) {
        for (int i = 0; i < KEEP; i++) {
            struct sss_decision *d = subs[i].d;

            if (!d || strcmp(subs[i].channel, key) != 0)
                continue;
            subs[i].d = NULL;
            return sss_decide_subscribe(d, strcmp(verb, "allow") == 0, cmd + n);
        }
        return 1;
    }
    return 2;
}

static void tell_decide(struct sss_socket *s, const char *msg, size_t len, void *data)
{
    char cmd[512], rc[32];

    (void)s, (void)data;
    if (len < 2 || msg[0] != '"' || len - 2 >= sizeof(cmd))
        return;
    memcpy(cmd, msg + 1, len - 2);
    cmd[len - 2] = '\0';
    snprintf(rc, sizeof(rc), "%d", decide(cmd));
    to_ctl("decided", rc);
}

static void tell_control(struct sss_socket *s, const char *msg, size_t len, void *data)
{
    (void)msg, (void)len, (void)data;
    ctl = sss_socket_id(s);
    to_ctl("control", "true");
}

static void ask_echo(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                     void *data)
{
    (void)s, (void)data;
    sss_reply_ok(r, msg, len);
}

static void on_close(struct sss_socket *s, void *data)
{
    char id[32];

    (void)data;
    if (sss_socket_id(s) == ctl) {
        ctl = 0;
        return;
    }
    snprintf(id, sizeof(id), "%llu", (unsigned long long)sss_socket_id(s));
    to_ctl("closed", id);
}

int sss_module_init(struct sss_app *app)
{
    the_app = app;
    return sss_on_session_later(app, session_later, NULL) ||
           sss_on_subscribe_later(app, subscribe_later, NULL) ||
           sss_on_tell(app, "decide", tell_decide, NULL) ||
           sss_on_tell(app, "control", tell_control, NULL) ||
           sss_on_ask(app, "echo", ask_echo, NULL) || sss_on_close(app, on_close, NULL);
}
