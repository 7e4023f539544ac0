/*
 * A driver of the C client for the tests against tests/clients/scripted_server.py.
 *
 *   cclient_driver run <url> [--opt value ...]
 *       creates a client with those options and reads commands from stdin,
 *       one a line, while it runs the client: connect, close, subscribe <ch>,
 *       subscribe-noreply <ch>, unsubscribe <ch>, ask <topic> <json>,
 *       publish <ch> <topic> <json>, ask-big <topic> <n> (a JSON string of n
 *       bytes), last_uid <ch>, quit. It prints what happens as JSON lines on stdout
 *       (status, error, drop, reconnect, feed, reply, tell, broadcast, boot,
 *       headers, lastuid), each with "t" (ms since start).
 *       Options: --retry-attempts N --retry-interval MS --max-retry-interval MS
 *       --no-reconnect --begin-timeout MS --sync-timeout MS --connect-timeout MS
 *       --max-message-size N --header "Name: value" --tokens a,b,.. (get_headers
 *       adds "Authorization: Bearer <the next one>"; FAIL makes it fail, NONE return 1; the
 *       last one repeats) --token-bytes N (one token of N bytes of 'x')
 *       --ca-file PEM --ca-path DIR --insecure (wss://: tls_ca_file, tls_ca_path,
 *       tls_insecure_skip_verify) --msgpack.
 *   cclient_driver reentry <base-url>
 *       every (callback, call) pair: the call made from inside the callback,
 *       then the client's invariants checked (see reentry()); exit 0 when all
 *       hold. Run under ASan by the asan build's ctest.
 */
#include "sss/sss_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int64_t t0;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    va_list ap;

    printf("{\"t\":%lld,", (long long)(sss_client_now_ms() - t0));
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("}\n");
    fflush(stdout);
}

/* s as a JSON string body (quotes and backslashes escaped; control bytes as \u00XX). */
static const char *js(const char *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 7 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o] = '\0';
    return buf;
}
#define JS(s, n) js((s), (n), (char[4096]){0}, 4096)
#define JZ(s) ((s) ? JS((s), strlen(s)) : "")

/* ---- run: one client driven from stdin ---- */

static char **tokens;
static int ntokens, token_calls;

static int get_headers(struct sss_client *c, struct sss_client_headers *h, void *data)
{
    const char *t;
    char *v;
    int rc;

    (void)c, (void)data;
    if (!ntokens)
        return 0;
    t = tokens[token_calls < ntokens ? token_calls : ntokens - 1];
    token_calls++;
    if (!strcmp(t, "FAIL")) {
        out("\"ev\":\"headers\",\"rc\":-1");
        return -1;
    }
    if (!strcmp(t, "NONE")) {
        out("\"ev\":\"headers\",\"rc\":1");
        return 1;
    }
    v = malloc(strlen(t) + 8);
    snprintf(v, strlen(t) + 8, "Bearer %s", t);
    rc = sss_client_headers_add(h, "Authorization", v);
    free(v);
    out("\"ev\":\"headers\",\"rc\":%d", rc);
    return 0;
}

static void on_status(struct sss_client *c, enum sss_client_status now, enum sss_client_status old,
                      void *data)
{
    (void)c, (void)data;
    out("\"ev\":\"status\",\"now\":\"%s\",\"old\":\"%s\"", sss_client_status_name(now),
        sss_client_status_name(old));
}

static void on_error(struct sss_client *c, const char *channel, const char *name,
                     const char *message, void *data)
{
    (void)data;
    out("\"ev\":\"error\",\"channel\":\"%s\",\"name\":\"%s\",\"message\":\"%s\",\"code\":\"%s\","
        "\"status\":\"%s\"",
        JZ(channel), JZ(name), JZ(message), JZ(sss_client_error_code(c)),
        sss_client_status_name(sss_client_status(c)));
}

static void on_feed(struct sss_client *c, const char *channel, const char *topic, const char *msg,
                    size_t len, const char *uid, void *data)
{
    (void)c, (void)data;
    out("\"ev\":\"feed\",\"channel\":\"%s\",\"topic\":\"%s\",\"uid\":\"%s\",\"msg\":\"%s\"",
        JZ(channel), JZ(topic), JZ(uid), JS(msg, len));
}

static void on_reply(struct sss_client *c, const char *en, const char *em, const char *msg,
                     size_t len, void *data)
{
    (void)c;
    out("\"ev\":\"reply\",\"for\":\"%s\",\"err\":\"%s\",\"message\":\"%s\",\"msg\":\"%s\","
        "\"len\":%zu",
        (char *)data, JZ(en), JZ(em), msg ? JS(msg, len) : "", msg ? len : 0);
    free(data);
}

static void on_tell(struct sss_client *c, const char *topic, const char *msg, size_t len,
                    void *data)
{
    (void)c, (void)data;
    out("\"ev\":\"tell\",\"topic\":\"%s\",\"msg\":\"%s\"", JZ(topic), JS(msg, len));
}

static void on_bcast(struct sss_client *c, const char *topic, const char *msg, size_t len,
                     void *data)
{
    (void)c, (void)data;
    out("\"ev\":\"broadcast\",\"topic\":\"%s\",\"len\":%zu", JZ(topic), len);
    (void)msg;
}

static void on_boot(struct sss_client *c, const char *reason, size_t len, void *data)
{
    (void)c, (void)data;
    out("\"ev\":\"boot\",\"reason\":\"%s\"", JS(reason, len));
}

static void on_drop(struct sss_client *c, void *data)
{
    (void)data;
    out("\"ev\":\"drop\",\"code\":\"%s\"", JZ(sss_client_error_code(c)));
}

static void on_reconnect(struct sss_client *c, void *data)
{
    (void)c, (void)data;
    out("\"ev\":\"reconnect\"");
}

static void command(struct sss_client *c, char *line)
{
    char *cmd = strtok_r(line, " \n", &line), *arg = strtok_r(NULL, " \n", &line);
    char *rest = line && *line ? strtok_r(NULL, "\n", &line) : NULL;
    int rc = 0;

    if (!cmd)
        return;
    if (!strcmp(cmd, "connect"))
        rc = sss_client_connect(c);
    else if (!strcmp(cmd, "close"))
        sss_client_close(c);
    else if (!strcmp(cmd, "subscribe") && arg)
        rc = sss_client_subscribe(c, arg, NULL, NULL, on_reply, strdup(arg));
    else if (!strcmp(cmd, "subscribe-noreply") && arg)
        rc = sss_client_subscribe(c, arg, NULL, NULL, NULL, NULL);
    else if (!strcmp(cmd, "unsubscribe") && arg)
        rc = sss_client_unsubscribe(c, arg);
    else if (!strcmp(cmd, "ask") && arg) {
        char *d = strdup(arg);

        rc = sss_client_ask(c, arg, rest, on_reply, d);
        if (rc)
            free(d);
    } else if (!strcmp(cmd, "ask-big") && arg && rest) {
        size_t n = (size_t)strtoul(rest, NULL, 10);
        char *m = malloc(n + 3), *d = strdup(arg);

        m[0] = '"';
        memset(m + 1, 'x', n);
        m[n + 1] = '"';
        m[n + 2] = '\0';
        rc = sss_client_ask(c, arg, m, on_reply, d);
        if (rc)
            free(d);
        free(m);
    } else if (!strcmp(cmd, "publish") && arg && rest) {
        char *topic = strtok_r(rest, " ", &rest), *d = strdup(arg);

        rc = sss_client_publish(c, arg, topic, rest && *rest ? rest : NULL, on_reply, d);
        if (rc)
            free(d);
    } else if (!strcmp(cmd, "last_uid") && arg) {
        const char *u = sss_client_last_uid(c, arg);

        out("\"ev\":\"lastuid\",\"channel\":\"%s\",\"uid\":\"%s\"", arg, u ? u : "");
    }
    out("\"ev\":\"done\",\"cmd\":\"%s\",\"rc\":%d", cmd, rc);
}

/* The int field of o that option k sets, or NULL when k is not one of those. */
static int *int_option(struct sss_client_opts *o, const char *k)
{
    const struct {
        const char *name;
        int *field;
    } opts[] = {
        {"--retry-attempts", &o->retry_attempts},
        {"--retry-interval", &o->retry_interval_ms},
        {"--max-retry-interval", &o->max_retry_interval_ms},
        {"--begin-timeout", &o->begin_timeout_ms},
        {"--sync-timeout", &o->sync_timeout_ms},
        {"--connect-timeout", &o->connect_timeout_ms},
    };

    for (size_t j = 0; j < sizeof(opts) / sizeof(opts[0]); j++)
        if (!strcmp(k, opts[j].name))
            return opts[j].field;
    return NULL;
}

static int run(int argc, char **argv)
{
    struct sss_client_opts o = {.url = argv[0]};
    const char *headers[8] = {0};
    int nh = 0;
    struct sss_client *c;
    char line[8192];
    size_t have = 0;
    bool eof = false;

    for (int i = 1; i + 1 < argc + 1 && i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        int *field;

        if (!strcmp(k, "--no-reconnect")) {
            o.no_reconnect = true;
            continue;
        }
        if (!strcmp(k, "--insecure")) {
            o.tls_insecure_skip_verify = true;
            continue;
        }
        if (!strcmp(k, "--msgpack")) {
            o.msgpack = true;
            continue;
        }
        i++;
        if ((field = int_option(&o, k)))
            *field = (int)strtol(v, NULL, 10);
        else if (!strcmp(k, "--max-message-size"))
            o.max_message_size = (size_t)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--ca-file"))
            o.tls_ca_file = v;
        else if (!strcmp(k, "--ca-path"))
            o.tls_ca_path = v;
        else if (!strcmp(k, "--header") && nh < 7)
            headers[nh++] = v;
        else if (!strcmp(k, "--tokens")) {
            char *s = strdup(v), *save = NULL;

            for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                tokens = realloc(tokens, sizeof(*tokens) * (size_t)(ntokens + 1));
                tokens[ntokens++] = t;
            }
        } else if (!strcmp(k, "--token-bytes")) {
            size_t n = (size_t)strtoul(v, NULL, 10);
            char *t = malloc(n + 1);

            memset(t, 'x', n);
            t[n] = '\0';
            tokens = realloc(tokens, sizeof(*tokens));
            tokens[0] = t;
            ntokens = 1;
        } else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (nh)
        o.headers = headers;
    if (ntokens)
        o.get_headers = get_headers;
    o.on_status = on_status;
    o.on_error = on_error;
    o.on_feed = on_feed;
    o.on_tell = on_tell;
    o.on_broadcast = on_bcast;
    o.on_boot = on_boot;
    o.on_drop = on_drop;
    o.on_reconnect = on_reconnect;
    c = sss_client_create(&o);
    if (!c) {
        out("\"ev\":\"create_failed\"");
        return 1;
    }
    out("\"ev\":\"created\"");
    for (;;) {
        struct pollfd p[2] = {{eof ? -1 : 0, POLLIN, 0},
                              {sss_client_fd(c), sss_client_events(c), 0}};
        int64_t nt = sss_client_next_timeout_ms(c, sss_client_now_ms());
        char *nl;

        (void)poll(p, 2, nt < 0 || nt > 50 ? 50 : (int)nt);
        (void)sss_client_process(c, p[1].revents, sss_client_now_ms());
        if (!eof && (p[0].revents & (POLLIN | POLLHUP))) {
            ssize_t n = read(0, line + have, sizeof(line) - 1 - have);

            if (n <= 0)
                eof = true;
            else
                have += (size_t)n;
        }
        while ((nl = memchr(line, '\n', have))) {
            size_t k = (size_t)(nl - line) + 1;
            char cmd[8192];

            memcpy(cmd, line, k);
            cmd[k] = '\0';
            memmove(line, line + k, have - k);
            have -= k;
            if (!strncmp(cmd, "quit", 4))
                eof = true;
            else
                command(c, cmd);
        }
        if (eof)
            break;
    }
    sss_client_destroy(c);
    out("\"ev\":\"destroyed\"");
    return 0;
}

/* cclient_reentry.c */
int cclient_reentry(const char *base);

int main(int argc, char **argv)
{
    t0 = sss_client_now_ms();
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3 && !strcmp(argv[1], "run"))
        return run(argc - 2, argv + 2);
    if (argc >= 3 && !strcmp(argv[1], "reentry"))
        return cclient_reentry(argv[2]);
    fprintf(stderr, "usage: cclient_driver run <url> [options] | reentry <base-url>\n");
    return 2;
}
