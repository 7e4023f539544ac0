/*
 * The C client (libsss-client) against the real server: ask, tell, subscribe
 * and publish between two clients, broadcast, a reconnect with SYNC after
 * kill -9 of the worker that held client A, and BOOT. Starts $SSS_SERVER with
 * $SSS_TESTMOD itself; skips (77) without them. With the argument "msgpack",
 * client A (and the heartbeat and boot clients) speak sss.v1.msgpack and B
 * sss.v1.json, so one channel carries both encodings; what A receives is
 * then the JSON form of the MessagePack (compact), not the publisher's text.
 */
#include "sss/sss_client.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define NPUB 25

static int passed, failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static bool mp; /* argv[1] "msgpack" */
static char logpath[32];
static pid_t server = -1;

/* ---- the server's log ---- */

static char *read_log(void)
{
    FILE *f = fopen(logpath, "r");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf) {
        n = (long)fread(buf, 1, (size_t)n, f);
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

/* Number of "conn: upgraded" lines, and the worker id (wN) of the last one. */
static int upgrades(int *last_worker)
{
    char *log = read_log(), *p;
    int n = 0;

    if (!log)
        return 0;
    for (p = log; (p = strstr(p, " debug conn: upgraded")); p++) {
        char *bol = p;

        while (bol > log && bol[-1] != '\n')
            bol--;
        n++;
        {
            char *w = strstr(bol, " w");

            if (w && w < p && last_worker)
                *last_worker = (int)strtol(w + 2, NULL, 10);
        }
    }
    free(log);
    return n;
}

/* The pid of worker id from the master's "worker N started pid=P" (the last one). */
static pid_t worker_pid(int id)
{
    char *log = read_log(), *p, pat[48];
    pid_t pid = -1;

    if (!log)
        return -1;
    snprintf(pat, sizeof(pat), "worker %d started pid=", id);
    for (p = log; (p = strstr(p, pat)); p++)
        pid = (pid_t)strtol(p + strlen(pat), NULL, 10);
    free(log);
    return pid;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Start the server (hb: with fast heartbeats); returns its port or -1. */
static int start_server(const char *bin, const char *mod, bool hb)
{
    int fd;

    snprintf(logpath, sizeof(logpath), "/tmp/sss-cclient-XXXXXX");
    fd = mkstemp(logpath);

    if (fd < 0)
        return -1;
    server = fork();
    if (server == 0) {
        int nul = open("/dev/null", O_RDWR);

        dup2(fd, 2);
        dup2(nul, 1);
        if (hb)
            execl(bin, bin, "--host", "127.0.0.1", "--port", "0", "--workers", "2", "--app", mod,
                  "--log-level", "debug", "--heartbeat-interval", "1s",
                  "--heartbeat-threshold", "1500ms", (char *)NULL);
        else
            execl(bin, bin, "--host", "127.0.0.1", "--port", "0", "--workers", "2",
                  "--allow-client-publish", "*", "--app", mod, "--log-level", "debug",
                  (char *)NULL);
        _exit(127);
    }
    close(fd);
    for (int i = 0; i < 200; i++) {
        char *log = read_log(), *p;
        int port = -1;

        if (log && (p = strstr(log, "listening on 127.0.0.1:")))
            port = (int)strtol(p + strlen("listening on 127.0.0.1:"), NULL, 10);
        free(log);
        if (port > 0) {
            /* Let both workers start. */
            for (int j = 0; j < 100 && (worker_pid(0) < 0 || worker_pid(1) < 0); j++)
                sleep_ms(50);
            return port;
        }
        sleep_ms(50);
    }
    return -1;
}

/* ---- a client and what it saw ---- */

struct seen {
    const char *name;
    int replies;
    char reply[512];
    char err[256];
    int tells;
    char tell_topic[64], tell_msg[256];
    int bcasts;
    char bcast_msg[256];
    int feeds;
    char feed[NPUB + 8][256];
    char feed_uid[64];
    int drops, reconnects, boots, errors;
};

static void on_reply(struct sss_client *c, const char *en, const char *em, const char *msg,
                     size_t len, void *data)
{
    struct seen *s = data;

    (void)c;
    s->replies++;
    if (en) {
        snprintf(s->err, sizeof(s->err), "%s: %s", en, em);
        s->reply[0] = '\0';
    } else {
        s->err[0] = '\0';
        snprintf(s->reply, sizeof(s->reply), "%.*s", (int)len, msg);
    }
}

static void on_feed(struct sss_client *c, const char *channel, const char *topic, const char *msg,
                    size_t len, const char *uid, void *data)
{
    struct seen *s = data;

    (void)c, (void)channel, (void)topic;
    if (s->feeds < (int)(sizeof(s->feed) / sizeof(s->feed[0])))
        snprintf(s->feed[s->feeds], sizeof(s->feed[0]), "%.*s", (int)len, msg);
    s->feeds++;
    snprintf(s->feed_uid, sizeof(s->feed_uid), "%s", uid);
}

static void on_tell(struct sss_client *c, const char *topic, const char *msg, size_t len,
                    void *data)
{
    struct seen *s = data;

    (void)c;
    s->tells++;
    snprintf(s->tell_topic, sizeof(s->tell_topic), "%s", topic);
    snprintf(s->tell_msg, sizeof(s->tell_msg), "%.*s", (int)len, msg);
}

static void on_bcast(struct sss_client *c, const char *topic, const char *msg, size_t len,
                     void *data)
{
    struct seen *s = data;

    (void)c, (void)topic;
    s->bcasts++;
    snprintf(s->bcast_msg, sizeof(s->bcast_msg), "%.*s", (int)len, msg);
}

static void on_boot(struct sss_client *c, const char *reason, size_t len, void *data)
{
    (void)c, (void)reason, (void)len;
    ((struct seen *)data)->boots++;
}

static void on_error(struct sss_client *c, const char *channel, const char *name,
                     const char *message, void *data)
{
    struct seen *s = data;

    (void)c;
    s->errors++;
    fprintf(stderr, "  [%s] error %s %s: %s\n", s->name, channel ? channel : "-", name, message);
}

static void on_drop(struct sss_client *c, void *data)
{
    (void)c;
    ((struct seen *)data)->drops++;
}

static void on_reconnect(struct sss_client *c, void *data)
{
    (void)c;
    ((struct seen *)data)->reconnects++;
}

static struct sss_client *new_client_as(int port, struct seen *s, const char *session,
                                        bool msgpack)
{
    char url[64];
    const struct sss_client_opts o = {
        .url = url,
        .msgpack = msgpack,
        .session = session,
        .retry_interval_ms = 100,
        .max_retry_interval_ms = 1000,
        .data = s,
        .on_feed = on_feed,
        .on_tell = on_tell,
        .on_broadcast = on_bcast,
        .on_boot = on_boot,
        .on_error = on_error,
        .on_drop = on_drop,
        .on_reconnect = on_reconnect,
    };

    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", port);
    return sss_client_create(&o);
}

/* A client in the run's encoding (msgpack when asked). */
static struct sss_client *new_client(int port, struct seen *s, const char *session)
{
    return new_client_as(port, s, session, mp);
}

/* Pump every client until *counter >= want (or timeout). */
static bool until(struct sss_client **cs, int n, const int *counter, int want, int timeout_ms)
{
    int64_t end = sss_client_now_ms() + timeout_ms;

    while (*counter < want && sss_client_now_ms() < end) {
        struct pollfd p[4];
        int64_t now = sss_client_now_ms();
        int t = 20;

        for (int i = 0; i < n; i++) {
            int64_t nt = sss_client_next_timeout_ms(cs[i], now);

            p[i].fd = sss_client_fd(cs[i]);
            p[i].events = sss_client_events(cs[i]);
            p[i].revents = 0;
            if (nt >= 0 && nt < t)
                t = (int)nt;
        }
        (void)poll(p, (nfds_t)n, t);
        for (int i = 0; i < n; i++)
            (void)sss_client_process(cs[i], p[i].revents, sss_client_now_ms());
    }
    return *counter >= want;
}

static void stop_server(void)
{
    int status = 0;

    kill(server, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(server, &status, WNOHANG) == server)
            break;
        if (i == 199) {
            kill(server, SIGKILL);
            waitpid(server, &status, 0);
        }
        sleep_ms(50);
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server exit status %d", status);
    if (failed)
        fprintf(stderr, "server log kept: %s\n", logpath);
    else
        unlink(logpath);
}

/* Heartbeats: answered (no false timeout), and a silent server is left. */
static void heartbeat_phase(const char *bin, const char *mod)
{
    struct seen sc = {.name = "C"};
    struct sss_client *c;
    int port = start_server(bin, mod, true), w = -1, n0;
    pid_t pid;

    CHECK(port > 0, "hb server started");
    if (port <= 0)
        return;
    n0 = upgrades(NULL);
    c = new_client(port, &sc, NULL);
    CHECK(c && sss_client_connect(c) == 0 && sss_client_wait_ready(c, 5000) == 0, "C ready");
    for (int i = 0; i < 100 && upgrades(&w) <= n0; i++)
        sleep_ms(20);
    sss_client_run_for(c, 4000); /* the server sweeps every second */
    CHECK(sss_client_status(c) == SSS_CLIENT_READY && sc.drops == 0 && sc.errors == 0,
          "heartbeats kept C up: %s drops=%d", sss_client_status_name(sss_client_status(c)),
          sc.drops);
    pid = worker_pid(w);
    CHECK(pid > 0, "C's worker pid");
    if (pid > 0) {
        kill(pid, SIGSTOP);
        CHECK(until(&c, 1, &sc.drops, 1, 6000) && sss_client_error_code(c) &&
                  !strcmp(sss_client_error_code(c), SSS_CLIENT_HEARTBEAT_TIMEOUT),
              "heartbeat timeout noticed: %s", sss_client_error_code(c));
        kill(pid, SIGCONT);
        CHECK(until(&c, 1, &sc.reconnects, 1, 10000), "C back after the heartbeat timeout");
    }
    sss_client_destroy(c);
    stop_server();
}

int main(int argc, char **argv)
{
    const char *bin = getenv("SSS_SERVER"), *mod = getenv("SSS_TESTMOD");
    struct seen sa = {.name = "A"}, sb = {.name = "B"};
    struct sss_client *a = NULL, *b = NULL, *both[2];
    int port, wa = -1, wb = -1, n0, rc;
    pid_t victim;

    mp = argc > 1 && !strcmp(argv[1], "msgpack");
    printf("encoding: %s\n", mp ? "sss.v1.msgpack (B: sss.v1.json)" : "sss.v1.json");
    if (!bin || !mod || access(bin, X_OK) || access(mod, R_OK)) {
        printf("SSS_SERVER / SSS_TESTMOD not set: skipped\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    port = start_server(bin, mod, false);
    if (port < 0) {
        fprintf(stderr, "server did not start (log %s)\n", logpath);
        if (server > 0)
            kill(server, SIGKILL);
        return 1;
    }

    /* Connect A and learn its worker. */
    n0 = upgrades(NULL);
    a = new_client(port, &sa, "cc-session-1");
    CHECK(a && sss_client_connect(a) == 0, "create/connect");
    rc = sss_client_wait_ready(a, 5000);
    CHECK(rc == 0, "A ready: %s", sss_client_strerror(rc));
    for (int i = 0; i < 100 && upgrades(&wa) <= n0; i++)
        sleep_ms(20);
    CHECK(wa >= 0, "A's worker found in the log");

    /* ask echo: the exact raw JSON back. */
    rc = sss_client_ask(a, "echo", "{\"a\": [1, 2,3], \"big\":9007199254740993}", on_reply, &sa);
    CHECK(rc == 0, "ask: %s", sss_client_strerror(rc));
    CHECK(until(&a, 1, &sa.replies, 1, 5000), "echo answered");
    CHECK(!strcmp(sa.reply, mp ? "{\"a\":[1,2,3],\"big\":9007199254740993}"
                               : "{\"a\": [1, 2,3], \"big\":9007199254740993}"),
          "echo: %s %s", sa.reply, sa.err);
    rc = sss_client_ask(a, "nosuchtopic", NULL, on_reply, &sa);
    CHECK(until(&a, 1, &sa.replies, 2, 5000) && !strncmp(sa.err, "Super Scaled Sockets Error", 26),
          "unknown topic: %s", sa.err);

    /* tell tellme -> told */
    CHECK(sss_client_tell(a, "tellme", "\"hi there\"") == 0, "tell");
    CHECK(until(&a, 1, &sa.tells, 1, 5000), "told");
    CHECK(!strcmp(sa.tell_topic, "told") && !strcmp(sa.tell_msg, "\"hi there\""), "told %s %s",
          sa.tell_topic, sa.tell_msg);

    /* A subscribes to news. */
    sa.replies = 0;
    rc = sss_client_subscribe(a, "news", NULL, NULL, on_reply, &sa);
    CHECK(rc == 0 && until(&a, 1, &sa.replies, 1, 5000) && !sa.err[0], "subscribe: %s", sa.err);

    /* B on the other worker. */
    for (int tries = 0; tries < 40; tries++) {
        n0 = upgrades(NULL);
        b = new_client_as(port, &sb, NULL, false);
        if (!b || sss_client_connect(b) || sss_client_wait_ready(b, 5000)) {
            sss_client_destroy(b);
            b = NULL;
            break;
        }
        for (int i = 0; i < 100 && upgrades(&wb) <= n0; i++)
            sleep_ms(20);
        if (wb != wa)
            break;
        sss_client_destroy(b);
        b = NULL;
    }
    CHECK(b && wb != wa, "B on another worker than A (w%d)", wa);
    if (!b)
        goto out;
    both[0] = a;
    both[1] = b;

    /* publish from B, FEED at A with the exact raw msg. */
    rc = sss_client_publish(b, "news", "say", "{ \"x\" : 1.50, \"s\":\"\\u00e9\" }", on_reply, &sb);
    CHECK(rc == 0, "publish: %s", sss_client_strerror(rc));
    CHECK(until(both, 2, &sb.replies, 1, 5000) && strstr(sb.reply, "\"uid\""), "publish reply %s %s",
          sb.reply, sb.err);
    CHECK(until(both, 2, &sa.feeds, 1, 5000), "feed at A");
    CHECK(!strcmp(sa.feed[0], mp ? "{\"x\":1.5,\"s\":\"\xc3\xa9\"}"
                                 : "{ \"x\" : 1.50, \"s\":\"\\u00e9\" }"),
          "feed raw: %s", sa.feed[0]);
    CHECK(sss_client_last_uid(a, "news") && !strcmp(sss_client_last_uid(a, "news"), sa.feed_uid),
          "lastUid tracked");

    /* broadcast from B's tell reaches A. */
    CHECK(sss_client_tell(b, "bcast", "\"all\"") == 0, "tell bcast");
    CHECK(until(both, 2, &sa.bcasts, 1, 5000) && !strcmp(sa.bcast_msg, "\"all\""), "broadcast %s",
          sa.bcast_msg);

    /* Kill A's worker; B publishes while A is down (A is not pumped meanwhile). */
    victim = worker_pid(wa);
    CHECK(victim > 0, "pid of w%d", wa);
    if (victim <= 0)
        goto out;
    kill(victim, SIGKILL);
    sb.replies = 0;
    for (int i = 0; i < NPUB; i++) {
        char m[32];

        snprintf(m, sizeof(m), "{\"n\":%d}", i);
        rc = sss_client_publish(b, "news", "seq", m, on_reply, &sb);
        if (rc || !until(&b, 1, &sb.replies, i + 1, 5000) || sb.err[0]) {
            CHECK(0, "publish %d: %s %s", i, sss_client_strerror(rc), sb.err);
            goto out;
        }
    }
    passed++;
    /* A notices, reconnects, SYNCs and gets every one, once, in order. */
    CHECK(until(&a, 1, &sa.reconnects, 1, 15000), "A reconnected (status %s)",
          sss_client_status_name(sss_client_status(a)));
    CHECK(sa.drops == 1, "one drop: %d", sa.drops);
    until(both, 2, &sa.feeds, 1 + NPUB, 3000);
    sleep_ms(300);
    until(both, 2, &sa.feeds, 100, 300); /* anything extra would show up here */
    CHECK(sa.feeds == 1 + NPUB, "feeds after sync: %d, want %d", sa.feeds, 1 + NPUB);
    for (int i = 0; i < NPUB && i + 1 < sa.feeds; i++) {
        char m[32];

        snprintf(m, sizeof(m), "{\"n\":%d}", i);
        if (strcmp(sa.feed[i + 1], m)) {
            CHECK(0, "feed %d is %s, want %s", i, sa.feed[i + 1], m);
            break;
        }
    }
    /* Still live after the SYNC. */
    sb.replies = 0;
    rc = sss_client_publish(b, "news", "seq", "\"after\"", on_reply, &sb);
    CHECK(until(both, 2, &sa.feeds, 2 + NPUB, 5000) && !strcmp(sa.feed[1 + NPUB], "\"after\""),
          "live feed after sync");
    sa.replies = 0;
    rc = sss_client_ask(a, "echo", "7", on_reply, &sa);
    CHECK(rc == 0 && until(&a, 1, &sa.replies, 1, 5000) && !strcmp(sa.reply, "7"),
          "ask after reconnect: %s", sa.reply);

    /* BOOT: final, no reconnect. */
    CHECK(sss_client_tell(a, "bootme", NULL) == 0, "tell bootme");
    CHECK(until(&a, 1, &sa.boots, 1, 5000), "booted");
    sss_client_run_for(a, 500);
    CHECK(sss_client_status(a) == SSS_CLIENT_BOOTED && sss_client_fd(a) < 0,
          "status %s after boot", sss_client_status_name(sss_client_status(a)));
    CHECK(sss_client_ask(a, "echo", "1", on_reply, &sa) == SSS_CLIENT_ENOTREADY, "not ready");

    /* Close B normally. */
    sss_client_close(b);
    CHECK(sss_client_status(b) == SSS_CLIENT_CLOSED, "closed");

out:
    sss_client_destroy(a);
    sss_client_destroy(b);
    stop_server();
    heartbeat_phase(bin, mod);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
