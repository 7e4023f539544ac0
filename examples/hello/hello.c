/*
 * The smallest sss application module (README: "Writing an application").
 *
 *   cc -shared -fPIC -I include -o hello.so examples/hello/hello.c
 *   build/dev/sss-server --app ./hello.so
 *
 * ASK "time": answered now. ASK "slow": answered later, by the TELL "done"
 * from a client of the same worker (each worker is a process with its own
 * `waiting`). TELL "shout": published on the channel "shouts", the only
 * channel clients may subscribe to.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sss/sss.h"

static struct sss_reply *waiting; /* the pending "slow" ask of this worker */

static void ask_time(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                     void *data)
{
    char now[32];

    (void)s, (void)msg, (void)len, (void)data;
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    sss_reply_ok(r, now, strlen(now));
}

static void ask_slow(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                     void *data)
{
    (void)s, (void)msg, (void)len, (void)data;
    if (waiting)
        sss_reply_err(waiting, "Replaced", "another slow ask came in");
    waiting = r; /* kept: --ask-timeout answers it if "done" never comes */
}

static void tell_done(struct sss_socket *s, const char *msg, size_t len, void *data)
{
    (void)s, (void)data;
    if (waiting)
        sss_reply_ok(waiting, msg, len); /* msg is the client's JSON value: valid */
    waiting = NULL;
}

static void tell_shout(struct sss_socket *s, const char *msg, size_t len, void *data)
{
    (void)data;
    sss_publish(sss_socket_app(s), "shouts", "shout", msg, len);
}

static int may_subscribe(struct sss_socket *s, const char *channel, const char *query,
                         size_t query_len, const char **why, void *data)
{
    (void)s, (void)query, (void)query_len, (void)data;
    if (strcmp(channel, "shouts") == 0)
        return 0;
    *why = "only shouts can be joined";
    return 1;
}

int sss_module_init(struct sss_app *app)
{
    return sss_on_ask(app, "time", ask_time, NULL) || sss_on_ask(app, "slow", ask_slow, NULL) ||
           sss_on_tell(app, "done", tell_done, NULL) ||
           sss_on_tell(app, "shout", tell_shout, NULL) ||
           sss_on_subscribe(app, may_subscribe, NULL);
}
