/*
 * The sss-bench application module: ASK "echo" is answered with its own
 * msg, so `sss-bench ask` measures a full request/response round trip
 * through a worker and an application handler.
 *
 *   build/dev/sss-server --app build/dev/bench/libsss-bench.so \
 *       --allow-client-publish 'bench-*' --max-message-rate 0
 */
#include "sss/sss.h"

static void ask_echo(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                     void *data)
{
    (void)s, (void)data;
    sss_reply_ok(r, msg, len); /* msg is the client's JSON value: valid as it is */
}

int sss_module_init(struct sss_app *app)
{
    return sss_on_ask(app, "echo", ask_echo, NULL);
}
