/*
 * Every call that sss_client.h allows from a callback, made from every
 * callback (a table of pairs), against the scripted server. For each pair a
 * fresh client subscribes to "news", connects, and the test makes the
 * callback run (a frame or a close pushed through /_send and /_close, an ask,
 * a publish, a refused subscribe, a reconnect with SYNC records); the callback
 * makes the call once. Then the invariants: the callback ran, a READY client
 * has a socket, and after destroy every reply callback given to the client
 * ran exactly once (so its data could be freed). ASan watches the memory.
 */
#include "sss/sss_client.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum trig {
    T_STATUS_READY, T_STATUS_SYNCING, T_HEADERS, T_ERROR, T_SUB_OK, T_SUB_REFUSED, T_ASK,
    T_PUBLISH, T_FEED, T_SYNC_FEED, T_TELL, T_BCAST, T_BOOT, T_DROP, T_RECONNECT, T_BOOTCHANNEL,
    T_N
};
static const char *const trig_name[T_N] = {
    "on_status(READY)", "on_status(SYNCING)", "get_headers", "on_error", "subscribe reply",
    "refused subscribe reply", "ask reply", "publish reply", "on_feed", "on_feed in SYNC",
    "on_tell", "on_broadcast", "on_boot", "on_drop", "on_reconnect", "on_error(BOOTCHANNEL)"};

enum call {
    C_CLOSE, C_CLOSE_CONNECT, C_CONNECT, C_SUBSCRIBE, C_UNSUBSCRIBE, C_ASK, C_TELL, C_PUBLISH,
    C_GETTERS, C_N
};
static const char *const call_name[C_N] = {"close",  "close+connect", "connect", "subscribe",
                                           "unsubscribe", "ask", "tell", "publish", "getters"};

struct pair {
    enum trig trig;
    enum call call;
    int fired;
    int issued, answered; /* reply callbacks given, reply callbacks run */
    int over;             /* a reply callback ran twice */
};

static char host[64] = "127.0.0.1";
static int port;

/* POST body to path of the scripted server; its HTTP status or -1. */
static int post(const char *path, const char *body)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    char req[1024], ans[256], ps[12];
    int fd, n, st = -1;

    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai))
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     path, strlen(body), body);
        if (write(fd, req, (size_t)n) == n && (n = (int)read(fd, ans, sizeof(ans) - 1)) > 12) {
            ans[n] = '\0';
            st = (int)strtol(ans + 9, NULL, 10);
        }
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return st;
}

static void counted_reply(struct sss_client *c, const char *en, const char *em, const char *msg,
                          size_t len, void *data);

/*
 * A call that gives the client a reply callback with p: subscribe to arg, or
 * ask "echo" / publish on "news" the message arg. Counted as given before the
 * call, since a reply may run inside it (subscribing again answers the old
 * reply with "Subscription replaced"), and taken back when the call fails.
 */
static void call_with_reply(struct sss_client *c, struct pair *p, enum call call, const char *arg,
                            sss_client_reply_cb reply)
{
    int rc = 0;

    p->issued++;
    switch (call) {
    case C_SUBSCRIBE:
        rc = sss_client_subscribe(c, arg, NULL, NULL, reply, p);
        break;
    case C_ASK:
        rc = sss_client_ask(c, "echo", arg, reply, p);
        break;
    case C_PUBLISH:
        rc = sss_client_publish(c, "news", "say", arg, reply, p);
        break;
    default:
        break;
    }
    if (rc)
        p->issued--;
}

/* The call of the pair, made once from inside the callback. */
static void do_call(struct sss_client *c, struct pair *p)
{
    if (p->fired++)
        return;
    switch (p->call) {
    case C_CLOSE: sss_client_close(c); break;
    case C_CLOSE_CONNECT:
        sss_client_close(c);
        (void)sss_client_connect(c);
        break;
    case C_CONNECT: (void)sss_client_connect(c); break;
    case C_SUBSCRIBE:
        call_with_reply(c, p, C_SUBSCRIBE, "other", counted_reply);
        break;
    case C_UNSUBSCRIBE: (void)sss_client_unsubscribe(c, "news"); break;
    case C_ASK:
        call_with_reply(c, p, C_ASK, "1", counted_reply);
        break;
    case C_TELL: (void)sss_client_tell(c, "t", "2"); break;
    case C_PUBLISH:
        call_with_reply(c, p, C_PUBLISH, "3", counted_reply);
        break;
    case C_GETTERS:
        (void)sss_client_status(c);
        (void)sss_client_fd(c);
        (void)sss_client_events(c);
        (void)sss_client_next_timeout_ms(c, sss_client_now_ms());
        (void)sss_client_last_uid(c, "news");
        (void)sss_client_error_code(c);
        (void)sss_client_error_detail(c);
        break;
    default: break;
    }
}

/* A reply; the pair's own trigger when it is that kind of reply. */
static void counted_reply(struct sss_client *c, const char *en, const char *em, const char *msg,
                          size_t len, void *data)
{
    struct pair *p = data;

    (void)c, (void)em, (void)msg, (void)len;
    p->answered++;
    if (p->answered > p->issued)
        p->over++;
    (void)en;
}

static void trig_reply(struct sss_client *c, const char *en, const char *em, const char *msg,
                       size_t len, void *data)
{
    struct pair *p = data;

    counted_reply(c, en, em, msg, len, data);
    if ((p->trig == T_SUB_OK && !en) || (p->trig == T_SUB_REFUSED && en) ||
        p->trig == T_ASK || p->trig == T_PUBLISH)
        do_call(c, p);
}

static void on_status(struct sss_client *c, enum sss_client_status now, enum sss_client_status old,
                      void *data)
{
    struct pair *p = data;

    (void)old;
    if ((p->trig == T_STATUS_READY && now == SSS_CLIENT_READY) ||
        (p->trig == T_STATUS_SYNCING && now == SSS_CLIENT_SYNCING))
        do_call(c, p);
}

static int get_headers(struct sss_client *c, struct sss_client_headers *h, void *data)
{
    struct pair *p = data;

    (void)h;
    if (p->trig == T_HEADERS)
        do_call(c, p);
    return 0;
}

static void on_error(struct sss_client *c, const char *channel, const char *name,
                     const char *message, void *data)
{
    struct pair *p = data;

    (void)name, (void)message;
    if ((p->trig == T_ERROR || p->trig == T_BOOTCHANNEL) && channel)
        do_call(c, p);
}

static void on_feed(struct sss_client *c, const char *channel, const char *topic, const char *msg,
                    size_t len, const char *uid, void *data)
{
    struct pair *p = data;

    (void)channel, (void)topic, (void)msg, (void)len, (void)uid;
    if (p->trig == T_FEED || (p->trig == T_SYNC_FEED && sss_client_status(c) == SSS_CLIENT_SYNCING))
        do_call(c, p);
}

static void on_tell(struct sss_client *c, const char *topic, const char *msg, size_t len,
                    void *data)
{
    (void)topic, (void)msg, (void)len;
    if (((struct pair *)data)->trig == T_TELL)
        do_call(c, data);
}

static void on_bcast(struct sss_client *c, const char *topic, const char *msg, size_t len,
                     void *data)
{
    (void)topic, (void)msg, (void)len;
    if (((struct pair *)data)->trig == T_BCAST)
        do_call(c, data);
}

static void on_boot(struct sss_client *c, const char *reason, size_t len, void *data)
{
    (void)reason, (void)len;
    if (((struct pair *)data)->trig == T_BOOT)
        do_call(c, data);
}

static void on_drop(struct sss_client *c, void *data)
{
    if (((struct pair *)data)->trig == T_DROP)
        do_call(c, data);
}

static void on_reconnect(struct sss_client *c, void *data)
{
    if (((struct pair *)data)->trig == T_RECONNECT)
        do_call(c, data);
}

static bool ready_or_final(struct sss_client *c, void *data)
{
    enum sss_client_status s = sss_client_status(c);

    (void)data;
    return s == SSS_CLIENT_READY || s == SSS_CLIENT_CLOSED || s == SSS_CLIENT_FAILED ||
           s == SSS_CLIENT_BOOTED;
}

static bool fired(struct sss_client *c, void *data)
{
    (void)c;
    return ((struct pair *)data)->fired > 0;
}

static int timeout_ms(int ms)
{
    const char *s = getenv("SSS_TEST_TIMEOUT_SCALE");
    int k = s ? (int)strtol(s, NULL, 10) : 1;

    return ms * (k > 0 ? k : 1);
}

/* One pair: 0 when its invariants held. */
static int run_pair(const char *base, struct pair *p)
{
    char url[512], tag[64], path[96];
    const char *params = "";
    struct sss_client_opts o = {0};
    struct sss_client *c;
    int bad = 0;

    snprintf(tag, sizeof(tag), "re-%d-%d-%d", (int)getpid(), p->trig, p->call);
    if (p->trig == T_ERROR || p->trig == T_SUB_REFUSED)
        params = "?subscribe_result=false";
    else if (p->trig == T_SYNC_FEED)
        params = "?lastUid=1-1&records=%5B%7B%22sys%22%3A8%2C%22channel%22%3A%22news%22%2C%22"
                 "topic%22%3A%22t%22%2C%22msg%22%3A1%2C%22uid%22%3A%221-2%22%7D%5D";
    snprintf(url, sizeof(url), "%s%s/ok%s", base, tag, params);
    o.url = url;
    o.retry_interval_ms = 50;
    o.max_retry_interval_ms = 100;
    o.data = p;
    o.on_status = on_status;
    o.get_headers = get_headers;
    o.on_error = on_error;
    o.on_feed = on_feed;
    o.on_tell = on_tell;
    o.on_broadcast = on_bcast;
    o.on_boot = on_boot;
    o.on_drop = on_drop;
    o.on_reconnect = on_reconnect;
    c = sss_client_create(&o);
    if (!c)
        return 1;
    call_with_reply(c, p, C_SUBSCRIBE, "news", p->trig == T_ERROR ? NULL : trig_reply);
    if (p->trig == T_ERROR) /* without a reply callback: the refusal goes to on_error */
        p->issued--;
    (void)sss_client_connect(c);
    (void)sss_client_wait(c, ready_or_final, p, timeout_ms(5000));
    snprintf(path, sizeof(path), "/_send/%s", tag);
    switch (p->trig) {
    case T_ASK:
        call_with_reply(c, p, C_ASK, "7", trig_reply);
        break;
    case T_PUBLISH:
        call_with_reply(c, p, C_PUBLISH, "8", trig_reply);
        break;
    case T_FEED:
        (void)post(path, "{\"frame\":{\"sys\":8,\"channel\":\"news\",\"topic\":\"t\","
                         "\"msg\":1,\"uid\":\"1-9\"}}");
        break;
    case T_TELL: (void)post(path, "{\"frame\":{\"sys\":6,\"topic\":\"t\",\"msg\":1}}"); break;
    case T_BCAST: (void)post(path, "{\"frame\":{\"sys\":11,\"topic\":\"t\",\"msg\":1}}"); break;
    case T_BOOT:
        (void)post(path, "{\"frame\":{\"sys\":9,\"reason\":\"x\"}}");
        (void)sss_client_wait(c, fired, p, timeout_ms(3000));
        snprintf(path, sizeof(path), "/_close/%s", tag);
        (void)post(path, "{\"code\":4001}");
        break;
    case T_BOOTCHANNEL:
        (void)post(path, "{\"frame\":{\"sys\":10,\"channel\":\"news\",\"reason\":\"x\"}}");
        break;
    case T_DROP:
    case T_RECONNECT:
    case T_STATUS_SYNCING:
    case T_SYNC_FEED:
        snprintf(path, sizeof(path), "/_close/%s", tag);
        (void)post(path, "{\"code\":1001}");
        break;
    default: break;
    }
    (void)sss_client_wait(c, fired, p, timeout_ms(5000));
    if (!p->fired) {
        fprintf(stderr, "  %s / %s: the callback did not run (status %s)\n",
                trig_name[p->trig], call_name[p->call],
                sss_client_status_name(sss_client_status(c)));
        bad = 1;
    }
    /* Settle: let what the call started finish. */
    (void)sss_client_wait(c, ready_or_final, p, timeout_ms(3000));
    (void)sss_client_run_for(c, 100);
    if (sss_client_status(c) == SSS_CLIENT_READY && sss_client_fd(c) < 0) {
        fprintf(stderr, "  %s / %s: READY without a socket\n", trig_name[p->trig],
                call_name[p->call]);
        bad = 1;
    }
    sss_client_destroy(c);
    if (p->answered != p->issued || p->over) {
        fprintf(stderr, "  %s / %s: %d reply callbacks given, %d ran\n", trig_name[p->trig],
                call_name[p->call], p->issued, p->answered);
        bad = 1;
    }
    return bad;
}

int cclient_reentry(const char *base);
int cclient_reentry(const char *base)
{
    const char *colon = strrchr(base, ':');
    int failed = 0, total = 0;

    port = colon ? (int)strtol(colon + 1, NULL, 10) : 0;
    for (int t = 0; t < T_N; t++)
        for (int k = 0; k < C_N; k++) {
            struct pair p = {.trig = (enum trig)t, .call = (enum call)k};
            int bad = run_pair(base, &p);

            printf("{\"callback\":\"%s\",\"call\":\"%s\",\"ok\":%s}\n", trig_name[t], call_name[k],
                   bad ? "false" : "true");
            fflush(stdout);
            failed += bad;
            total++;
        }
    fprintf(stderr, "reentry: %d of %d pairs failed\n", failed, total);
    return failed ? 1 : 0;
}
