/*
 * The C client of sss (include/sss/sss_client.h). One connection at a time:
 * non-blocking TCP connect, our own HTTP upgrade (random key, Accept checked),
 * then wslay's client context reading and writing the socket directly (it
 * masks every frame with bytes from getrandom). JSON through src/proto.
 */
#include "sss/sss_client.h"
#include "sss_alloc.h"
#include "sss_json.h"
#include "sss_proto.h"
#include "sss_url.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define HANDSHAKE_MAX 8192
#define REQ_DROPPED "Connection dropped"

enum req_kind { REQ_ASK, REQ_PUBLISH };

struct req {
    struct req *next;
    int64_t id;
    enum req_kind kind;
    sss_client_reply_cb cb;
    void *data;
    char what[SSS_PROTO_TOPIC_MAX + 32]; /* e.g. ask "echo", for "Connection dropped" */
};

struct sub {
    struct sub *next;
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
    char *query; /* owned raw JSON, NULL: null */
    bool sent;   /* SUBSCRIBE or SYNC sent on this connection */
    bool has_uid;
    char last_uid[SSS_PROTO_LASTUID_MAX + 1];
    sss_client_feed_cb on_feed;
    void *data;
    sss_client_reply_cb reply; /* the SUBSCRIBE (or SYNC) answer not given yet */
    void *reply_data;
};

struct sss_client {
    struct sss_client_opts o;
    char *url, *session, *host, *port, *path; /* owned copies */
    enum sss_client_status status;
    int fd;
    /* Upgrade. */
    char key[32]; /* Sec-WebSocket-Key sent */
    char hs_out[2048];
    size_t hs_out_len, hs_out_sent;
    char *hs_in; /* HANDSHAKE_MAX bytes */
    size_t hs_in_len, hs_in_off; /* after the upgrade: leftover frame bytes at off..len */
    bool upgraded;
    wslay_event_context_ptr ws;
    /* Liveness and timers. */
    int64_t deadline;    /* connect/upgrade deadline, or 0 */
    int64_t retry_at;    /* WAITING: when to dial, or 0 */
    int64_t last_rx;     /* last byte received */
    bool hb;             /* BEGIN's prot.hb */
    int64_t hb_timeout;  /* hbInterval + hbThreshold */
    int attempts;        /* failed attempts since the last READY */
    bool ever_ready;     /* BEGIN done once: later connects SYNC */
    /* Set inside wslay callbacks, acted on after them. */
    int close_code;      /* close frame received (0: none) */
    bool eof, booted;
    bool in_recv;    /* inside wslay_event_recv: the context must stay */
    bool close_now;  /* sss_client_close was called from a callback */
    int64_t now;
    /* Protocol. */
    int64_t next_id, sync_id;
    struct sub *subs;
    struct req *reqs;
    struct sss_proto_decoder dec;
    struct sss_proto_msg msg, rec;
    struct sss_proto_out out;
};

/* ---- small helpers ---- */

int64_t sss_client_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_status(struct sss_client *c, enum sss_client_status s)
{
    enum sss_client_status old = c->status;

    if (old == s)
        return;
    c->status = s;
    if (c->o.on_status)
        c->o.on_status(c, s, old, c->o.data);
}

static bool final_status(enum sss_client_status s)
{
    return s == SSS_CLIENT_BOOTED || s == SSS_CLIENT_CLOSED || s == SSS_CLIENT_FAILED;
}

static void report(struct sss_client *c, const char *channel, const char *name, const char *m)
{
    if (c->o.on_error)
        c->o.on_error(c, channel, name, m, c->o.data);
}

static struct sub *find_sub(const struct sss_client *c, const char *channel)
{
    for (struct sub *s = c->subs; s; s = s->next)
        if (!strcmp(s->channel, channel))
            return s;
    return NULL;
}

static struct req *take_req(struct sss_client *c, int64_t id)
{
    for (struct req **p = &c->reqs; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            struct req *r = *p;

            *p = r->next;
            return r;
        }
    return NULL;
}

/* Parse a raw JSON integer id (what we sent); -1 when it is not one. */
static int64_t span_id(struct sss_proto_span sp)
{
    int64_t v = 0;

    if (!sp.ptr || !sp.len || sp.len > 18)
        return -1;
    for (size_t i = 0; i < sp.len; i++) {
        if (sp.ptr[i] < '0' || sp.ptr[i] > '9')
            return -1;
        v = v * 10 + (sp.ptr[i] - '0');
    }
    return v;
}

/*
 * The first top-level member called key of a raw JSON object (a field of a
 * server message), read with sss_json. A string is copied into str (cut to
 * cap - 1 bytes) when str is not NULL; a number that starts with a digit
 * gives its leading digits in num.
 */
struct lookup {
    const char *key;
    bool found;
    enum sss_json_type type;
    char *str;
    size_t cap;
    int64_t num; /* -1: not a number that starts with a digit */
};

static int lookup_member(void *data, const struct sss_json_item *it)
{
    struct lookup *l = data;

    if (l->found || it->key_len != strlen(l->key) || memcmp(it->key, l->key, it->key_len))
        return 0;
    l->found = true;
    l->type = it->type;
    l->num = -1;
    if (it->type == SSS_JSON_STRING && l->str) {
        size_t n = it->str_len < l->cap - 1 ? it->str_len : l->cap - 1;

        memcpy(l->str, it->str, n);
        l->str[n] = '\0';
    } else if (it->type == SSS_JSON_NUMBER && it->raw[0] >= '0' && it->raw[0] <= '9') {
        l->num = 0;
        for (size_t i = 0; i < it->raw_len && it->raw[i] >= '0' && it->raw[i] <= '9' &&
                           l->num < INT64_MAX / 10;
             i++)
            l->num = l->num * 10 + (it->raw[i] - '0');
    }
    return 0;
}

/* Look key up in obj; false when obj is absent or not a JSON object, or has no such member. */
static bool lookup(struct sss_proto_span obj, struct lookup *l)
{
    l->found = false;
    return obj.ptr &&
           sss_json_each(obj.ptr, obj.len, SSS_JSON_OBJECT, SSS_PROTO_MAX_DEPTH, lookup_member,
                         l) == 0 &&
           l->found;
}

/* Copy the string member key of obj into out; false when absent or not a string. */
static bool get_string(struct sss_proto_span obj, const char *key, char *out, size_t cap)
{
    struct lookup l = {.key = key, .str = out, .cap = cap};

    return lookup(obj, &l) && l.type == SSS_JSON_STRING;
}

/* The member key of obj when it is a number starting with a digit; dflt otherwise. */
static int64_t get_int(struct sss_proto_span obj, const char *key, int64_t dflt)
{
    struct lookup l = {.key = key};

    return lookup(obj, &l) && l.num >= 0 ? l.num : dflt;
}

/* Whether the member key of obj is true. */
static bool get_true(struct sss_proto_span obj, const char *key)
{
    struct lookup l = {.key = key};

    return lookup(obj, &l) && l.type == SSS_JSON_TRUE;
}

/* ---- requests ---- */

static void fail_reqs(struct sss_client *c, const char *name)
{
    struct req *r = c->reqs;

    c->reqs = NULL;
    while (r) {
        struct req *next = r->next;

        if (r->cb)
            r->cb(c, name, r->what, NULL, 0, r->data);
        sss_free(r);
        r = next;
    }
    /* Requests made by the callbacks above were refused: not READY. */
}

/* Answer a subscription's pending reply callback once. */
static void sub_answer(struct sss_client *c, struct sub *s, const char *name, const char *message)
{
    sss_client_reply_cb cb = s->reply;
    char q[SSS_PROTO_LASTUID_MAX + 3];
    int n;

    if (!cb)
        return;
    s->reply = NULL;
    if (name) {
        cb(c, name, message, NULL, 0, s->reply_data);
        return;
    }
    n = s->has_uid ? snprintf(q, sizeof(q), "\"%s\"", s->last_uid) : snprintf(q, sizeof(q), "null");
    cb(c, NULL, NULL, q, (size_t)n, s->reply_data);
}

static struct req *new_req(struct sss_client *c, enum req_kind kind, sss_client_reply_cb cb,
                           void *data, const char *verb, const char *name)
{
    struct req *r = sss_calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->id = c->next_id++;
    r->kind = kind;
    r->cb = cb;
    r->data = data;
    snprintf(r->what, sizeof(r->what), "%s \"%s\"", verb, name);
    return r;
}

/* Queue the frame in c->out (one text message). */
static int send_out(struct sss_client *c)
{
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)c->out.data, c->out.len};

    if (c->out.oom)
        return -ENOMEM;
    if (!c->ws)
        return SSS_CLIENT_ENOTREADY;
    return wslay_event_queue_msg(c->ws, &m) ? -ENOMEM : 0;
}

static struct sss_proto_span id_span(int64_t id, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%lld", (long long)id);

    return (struct sss_proto_span){buf, (size_t)n};
}

static struct sss_proto_span msg_span(const char *msg)
{
    return sss_proto_span_str(msg ? msg : "null");
}

static int send_subscribe(struct sss_client *c, struct sub *s)
{
    char idb[24];
    int rc;

    sss_proto_out_reset(&c->out);
    rc = sss_proto_encode_subscribe(&c->out, s->channel, msg_span(s->query),
                                    id_span(c->next_id++, idb, sizeof(idb)));
    if (!rc)
        rc = send_out(c);
    if (!rc)
        s->sent = true;
    return rc;
}

/* ---- connection ---- */

static void close_socket(struct sss_client *c)
{
    if (c->ws)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->upgraded = false;
    c->eof = false;
    c->close_code = 0;
    c->sync_id = -1;
    c->hs_in_len = c->hs_in_off = 0;
    c->hs_out_len = c->hs_out_sent = 0;
    c->deadline = 0;
}

static int64_t backoff(const struct sss_client *c, int n)
{
    int64_t base = c->o.retry_interval_ms;
    uint32_t r = 0;

    for (int i = 0; i < n && base < c->o.max_retry_interval_ms; i++)
        base *= 2;
    if (base > c->o.max_retry_interval_ms)
        base = c->o.max_retry_interval_ms;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
        r = (uint32_t)rand();
    return base / 2 + (int64_t)((double)(base / 2) * (r / 4294967296.0)); /* equal jitter */
}

/* The connection is gone (or never came): fail requests, then wait and redial or stop. */
static void dropped(struct sss_client *c, const char *why)
{
    bool was_open = c->status == SSS_CLIENT_READY || c->status == SSS_CLIENT_SYNCING ||
                    c->status == SSS_CLIENT_BEGINNING;

    close_socket(c);
    for (struct sub *s = c->subs; s; s = s->next)
        s->sent = false;
    fail_reqs(c, REQ_DROPPED);
    if (was_open && c->o.on_drop)
        c->o.on_drop(c, c->o.data);
    if (final_status(c->status))
        return;
    if (!was_open)
        c->attempts++;
    if (c->o.no_reconnect || (c->o.retry_attempts > 0 && c->attempts > c->o.retry_attempts)) {
        set_status(c, SSS_CLIENT_FAILED);
        fail_reqs(c, REQ_DROPPED);
        report(c, NULL, "Unable to connect to the server", why);
        return;
    }
    c->retry_at = c->now + backoff(c, c->attempts);
    set_status(c, SSS_CLIENT_WAITING);
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int dial(struct sss_client *c)
{
    struct addrinfo hints = {0}, *ai = NULL;
    unsigned char rnd[16];
    int rc, fd = -1;

    c->retry_at = 0;
    set_status(c, SSS_CLIENT_CONNECTING);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(c->host, c->port, &hints, &ai);
    if (rc) {
        dropped(c, gai_strerror(rc));
        return 0;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)) {
        const char *e = strerror(errno);

        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        dropped(c, e);
        return 0;
    }
    freeaddrinfo(ai);
    c->fd = fd;
    {
        int one = 1;

        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        return -EIO;
    b64(rnd, sizeof(rnd), c->key);
    rc = snprintf(c->hs_out, sizeof(c->hs_out),
                  "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sss.v1.json\r\n\r\n",
                  c->path, c->host, c->port, c->key);
    if (rc < 0 || (size_t)rc >= sizeof(c->hs_out))
        return SSS_CLIENT_EURL;
    c->hs_out_len = (size_t)rc;
    c->hs_out_sent = 0;
    c->hs_in_len = c->hs_in_off = 0;
    c->deadline = c->now + c->o.connect_timeout_ms;
    return 0;
}

/* ---- wslay callbacks ---- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    struct sss_client *c = user;
    ssize_t n;

    (void)flags;
    if (c->hs_in_off < c->hs_in_len) {
        size_t k = c->hs_in_len - c->hs_in_off;

        if (k > len)
            k = len;
        memcpy(buf, c->hs_in + c->hs_in_off, k);
        c->hs_in_off += k;
        return (ssize_t)k;
    }
    n = recv(c->fd, buf, len, MSG_DONTWAIT);
    if (n > 0) {
        c->last_rx = c->now;
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    c->eof = true;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    struct sss_client *c = user;
    ssize_t n;

    (void)flags;
    n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static int ws_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx, (void)user;
    return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

/* ---- dispatch ---- */

static void deliver_feed(struct sss_client *c, const struct sss_proto_msg *m)
{
    struct sub *s;
    sss_client_feed_cb cb;
    void *data;
    char uid[SSS_PROTO_LASTUID_MAX + 1] = "";

    if (!(m->has & SSS_PROTO_HAS_CHANNEL))
        return;
    s = find_sub(c, m->channel);
    if (!s)
        return;
    if (m->uid.ptr && m->uid.len >= 2 && m->uid.len - 2 < sizeof(uid) && m->uid.ptr[0] == '"') {
        struct sss_uid a, b;

        memcpy(uid, m->uid.ptr + 1, m->uid.len - 2);
        uid[m->uid.len - 2] = '\0';
        /* Never twice, never backwards (uids we can read; others are opaque). */
        if (s->has_uid && !sss_proto_uid_parse(&a, uid, strlen(uid)) &&
            !sss_proto_uid_parse(&b, s->last_uid, strlen(s->last_uid)) &&
            sss_proto_uid_cmp(&a, &b) <= 0)
            return;
        memcpy(s->last_uid, uid, sizeof(uid));
        s->has_uid = true;
    }
    cb = s->on_feed ? s->on_feed : c->o.on_feed;
    data = s->on_feed ? s->data : c->o.data;
    if (cb)
        cb(c, m->channel, (m->has & SSS_PROTO_HAS_TOPIC) ? m->topic : "",
           m->msg.ptr ? m->msg.ptr : "null", m->msg.ptr ? m->msg.len : 4, uid, data);
}

static void set_uid_from_span(struct sub *s, struct sss_proto_span sp)
{
    if (sp.ptr && sp.len >= 2 && sp.ptr[0] == '"' && sp.len - 2 <= SSS_PROTO_LASTUID_MAX) {
        memcpy(s->last_uid, sp.ptr + 1, sp.len - 2);
        s->last_uid[sp.len - 2] = '\0';
        s->has_uid = true;
    }
}

static void on_response(struct sss_client *c, const struct sss_proto_msg *m)
{
    struct req *r = take_req(c, span_id(m->id));
    char name[256], message[1024];

    if (!r)
        return;
    if (m->err.ptr) {
        if (!get_string(m->err, "name", name, sizeof(name)))
            snprintf(name, sizeof(name), "Super Scaled Sockets Error");
        if (!get_string(m->err, "message", message, sizeof(message)))
            message[0] = '\0';
        if (r->cb)
            r->cb(c, name, message, NULL, 0, r->data);
    } else if (r->cb) {
        r->cb(c, NULL, NULL, m->msg.ptr ? m->msg.ptr : "null", m->msg.ptr ? m->msg.len : 4,
              r->data);
    }
    sss_free(r);
}

static void on_subscribe_reply(struct sss_client *c, const struct sss_proto_msg *m)
{
    struct sub *s = (m->has & SSS_PROTO_HAS_CHANNEL) ? find_sub(c, m->channel) : NULL;
    bool ok = m->result.ptr && m->result.len == 4 && !memcmp(m->result.ptr, "true", 4);
    char name[256] = "Subscription refused", message[1024] = "";

    if (!s)
        return;
    if (ok && !s->has_uid && (m->has & SSS_PROTO_HAS_LAST_UID)) {
        snprintf(s->last_uid, sizeof(s->last_uid), "%s", m->last_uid);
        s->has_uid = true;
    }
    if (ok) {
        sub_answer(c, s, NULL, NULL);
        return;
    }
    if (m->err.ptr) {
        (void)get_string(m->err, "name", name, sizeof(name));
        (void)get_string(m->err, "message", message, sizeof(message));
    }
    if (s->reply)
        sub_answer(c, s, name, message);
    else
        report(c, s->channel, name, message);
    {
        struct sub **p = &c->subs;

        while (*p != s)
            p = &(*p)->next;
        *p = s->next;
        sss_free(s->query);
        sss_free(s);
    }
}

/* One element of a SYNC reply's records: a FEED, decoded and delivered. */
static int deliver_record(void *data, const struct sss_json_item *it)
{
    struct sss_client *c = data;

    if (it->type != SSS_JSON_OBJECT)
        return SSS_EPROTO; /* records are objects: stop at anything else */
    if (sss_proto_decode(&c->dec, it->raw, it->raw_len, &c->rec) == 0 &&
        c->rec.sys == SSS_PROTO_FEED)
        deliver_feed(c, &c->rec);
    return 0;
}

/* Each element of the raw JSON array records, in order, up to the first flaw. */
static void deliver_records(struct sss_client *c, struct sss_proto_span recs)
{
    int rc = 0;

    if (recs.ptr)
        rc = sss_json_each(recs.ptr, recs.len, SSS_JSON_ARRAY, SSS_PROTO_MAX_DEPTH + 1,
                           deliver_record, c);
    (void)rc; /* a flaw only stops the walk: the records before it were delivered */
}

static void on_sync_reply(struct sss_client *c, const struct sss_proto_msg *m)
{
    if (span_id(m->id) != c->sync_id)
        return;
    c->sync_id = -1;
    deliver_records(c, m->records);
    for (struct sub *s = c->subs, *next; s; s = next) {
        next = s->next;
        if (!s->sent)
            continue; /* subscribed during the SYNC: sent below */
        if (!get_true(m->result, s->channel)) {
            const char *why =
                "the server refused the channel or its history no longer reaches lastUid";

            if (s->reply)
                sub_answer(c, s, "Unable to sync", why);
            else
                report(c, s->channel, "Unable to sync", why);
        } else {
            sub_answer(c, s, NULL, NULL);
        }
    }
    c->attempts = 0;
    set_status(c, SSS_CLIENT_READY);
    for (struct sub *s = c->subs; s; s = s->next)
        if (!s->sent && send_subscribe(c, s))
            report(c, s->channel, "Super Scaled Sockets Error", "could not send SUBSCRIBE");
    if (c->o.on_reconnect)
        c->o.on_reconnect(c, c->o.data);
}

static void on_begin_reply(struct sss_client *c, const struct sss_proto_msg *m)
{
    c->hb = get_true(m->prot, "hb");
    c->hb_timeout = get_int(m->prot, "hbInterval", 30000) + get_int(m->prot, "hbThreshold", 2500);
    if ((m->has & SSS_PROTO_HAS_CHANNEL) && m->channel_len <= SSS_PROTO_CHANNEL_MAX &&
        !find_sub(c, m->channel)) {
        struct sub *s = sss_calloc(1, sizeof(*s));

        if (s) {
            memcpy(s->channel, m->channel, m->channel_len + 1);
            s->sent = true;
            if (m->has & SSS_PROTO_HAS_LAST_UID) {
                snprintf(s->last_uid, sizeof(s->last_uid), "%s", m->last_uid);
                s->has_uid = true;
            }
            s->next = c->subs;
            c->subs = s;
        }
    }
    c->ever_ready = true;
    c->attempts = 0;
    set_status(c, SSS_CLIENT_READY);
    for (struct sub *s = c->subs; s; s = s->next)
        if (!s->sent && send_subscribe(c, s))
            report(c, s->channel, "Super Scaled Sockets Error", "could not send SUBSCRIBE");
}

static void on_frame(struct sss_client *c, const char *buf, size_t len)
{
    struct sss_proto_msg *m = &c->msg;
    char name[256], message[1024];

    if (sss_proto_decode(&c->dec, buf, len, m) != 0)
        return;
    switch (m->sys) {
    case SSS_PROTO_HEARTBEAT: {
        struct wslay_event_msg h = {WSLAY_TEXT_FRAME, (const uint8_t *)"h", 1};

        (void)wslay_event_queue_msg(c->ws, &h);
        break;
    }
    case SSS_PROTO_BEGIN: on_begin_reply(c, m); break;
    case SSS_PROTO_SYNC: on_sync_reply(c, m); break;
    case SSS_PROTO_SUBSCRIBE: on_subscribe_reply(c, m); break;
    case SSS_PROTO_RESPONSE: on_response(c, m); break;
    case SSS_PROTO_FEED: deliver_feed(c, m); break;
    case SSS_PROTO_UPDATESUB: {
        struct sub *s = (m->has & SSS_PROTO_HAS_CHANNEL) ? find_sub(c, m->channel) : NULL;

        if (s)
            set_uid_from_span(s, m->uid);
        break;
    }
    case SSS_PROTO_TELL:
        if (c->o.on_tell)
            c->o.on_tell(c, m->topic, m->msg.ptr ? m->msg.ptr : "null",
                         m->msg.ptr ? m->msg.len : 4, c->o.data);
        break;
    case SSS_PROTO_BROADCAST:
        if (c->o.on_broadcast)
            c->o.on_broadcast(c, m->topic, m->msg.ptr ? m->msg.ptr : "null",
                              m->msg.ptr ? m->msg.len : 4, c->o.data);
        break;
    case SSS_PROTO_BOOT:
        c->booted = true;
        set_status(c, SSS_CLIENT_BOOTED);
        if (c->o.on_boot)
            c->o.on_boot(c, m->reason.ptr ? m->reason.ptr : "null",
                         m->reason.ptr ? m->reason.len : 4, c->o.data);
        break;
    case SSS_PROTO_BOOTCHANNEL:
        if (m->has & SSS_PROTO_HAS_CHANNEL) {
            struct sub **p = &c->subs;

            while (*p && strcmp((*p)->channel, m->channel))
                p = &(*p)->next;
            if (*p) {
                struct sub *s = *p;

                *p = s->next;
                report(c, s->channel, "Removed from channel", "the server removed us");
                sss_free(s->query);
                sss_free(s);
            }
        }
        break;
    case SSS_PROTO_ERROR: {
        struct req *r = m->id.ptr ? take_req(c, span_id(m->id)) : NULL;

        if (!get_string(m->err, "name", name, sizeof(name)))
            snprintf(name, sizeof(name), "Super Scaled Sockets Error");
        if (!get_string(m->err, "message", message, sizeof(message)))
            message[0] = '\0';
        if (r) {
            if (r->cb)
                r->cb(c, name, message, NULL, 0, r->data);
            sss_free(r);
        } else {
            report(c, NULL, name, message);
        }
        break;
    }
    default: break;
    }
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                      void *user)
{
    struct sss_client *c = user;

    if (a->opcode == WSLAY_TEXT_FRAME) {
        on_frame(c, (const char *)a->msg, a->msg_length);
    } else if (a->opcode == WSLAY_CONNECTION_CLOSE) {
        c->close_code = a->status_code ? a->status_code : 1005;
        if (c->close_code == 4001)
            c->booted = true;
    }
    (void)ctx;
}

/* ---- the upgrade ---- */

static int start_ws(struct sss_client *c)
{
    struct wslay_event_callbacks cb = {ws_recv, ws_send, ws_genmask, NULL, NULL, NULL, ws_on_msg};
    char idb[24];
    int rc;

    if (wslay_event_context_client_init(&c->ws, &cb, c))
        return -ENOMEM;
    wslay_event_config_set_max_recv_msg_length(c->ws, 64u << 20);
    c->upgraded = true;
    c->deadline = 0;
    c->last_rx = c->now;
    sss_proto_out_reset(&c->out);
    if (c->ever_ready) {
        struct sss_proto_sub *subs;
        size_t n = 0, i = 0;

        for (struct sub *s = c->subs; s; s = s->next)
            n++;
        subs = sss_calloc(n ? n : 1, sizeof(*subs));
        if (!subs)
            return -ENOMEM;
        for (struct sub *s = c->subs; s; s = s->next, i++) {
            snprintf(subs[i].channel, sizeof(subs[i].channel), "%s", s->channel);
            subs[i].channel_len = (uint8_t)strlen(s->channel);
            subs[i].query = msg_span(s->query);
            subs[i].has_last_uid = s->has_uid;
            if (s->has_uid) {
                snprintf(subs[i].last_uid, sizeof(subs[i].last_uid), "%s", s->last_uid);
                subs[i].last_uid_len = (uint8_t)strlen(s->last_uid);
            }
            s->sent = true;
        }
        c->sync_id = c->next_id++;
        rc = sss_proto_encode_sync(&c->out, id_span(c->sync_id, idb, sizeof(idb)), subs, n);
        sss_free(subs);
        if (!rc && c->session) {
            /* (ext) "session" rides along: replace the closing brace. */
            c->out.len--;
            rc = sss_proto_out_append(&c->out, ",\"session\":", 11);
            if (!rc) {
                struct sss_proto_out tmp;

                /* Reuse the tell encoder's string escaping through a scratch buffer. */
                sss_proto_out_init(&tmp, NULL, 0);
                rc = sss_proto_encode_begin(&tmp, c->session); /* {"sys":3,"session":"..."} */
                if (!rc)
                    rc = sss_proto_out_append(&c->out, tmp.data + 19, tmp.len - 19);
                sss_proto_out_fini(&tmp);
            }
        }
        set_status(c, SSS_CLIENT_SYNCING);
    } else {
        rc = sss_proto_encode_begin(&c->out, c->session);
        set_status(c, SSS_CLIENT_BEGINNING);
    }
    return rc ? rc : send_out(c);
}

static bool header_is(const char *line, const char *name, const char **val)
{
    size_t n = strlen(name);

    if (strncasecmp(line, name, n) || line[n] != ':')
        return false;
    *val = line + n + 1;
    while (**val == ' ' || **val == '\t')
        (*val)++;
    return true;
}

/* Check the 101 answer in hs_in (head complete at head_len). NULL if fine, else why. */
static const char *check_answer(struct sss_client *c, size_t head_len)
{
    char expect[32], accept_in[64] = "";
    unsigned char sha[SHA_DIGEST_LENGTH];
    char keyguid[96];
    bool upgrade = false;
    char *line, *next;

    c->hs_in[head_len - 2] = '\0'; /* ends at the last header's CRLF */
    if (strncmp(c->hs_in, "HTTP/1.1 101", 12))
        return "the server refused the upgrade";
    for (line = c->hs_in; line; line = next) {
        const char *v;

        next = strstr(line, "\r\n");
        if (next) {
            *next = '\0';
            next += 2;
        }

        if (header_is(line, "Sec-WebSocket-Accept", &v))
            snprintf(accept_in, sizeof(accept_in), "%s", v);
        else if (header_is(line, "Upgrade", &v))
            upgrade = !strcasecmp(v, "websocket");
    }
    snprintf(keyguid, sizeof(keyguid), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
    SHA1((const unsigned char *)keyguid, strlen(keyguid), sha);
    b64(sha, sizeof(sha), expect);
    if (!upgrade || strcmp(expect, accept_in))
        return "bad Sec-WebSocket-Accept or Upgrade in the server's answer";
    return NULL;
}

static int do_handshake(struct sss_client *c)
{
    if (c->status == SSS_CLIENT_CONNECTING && c->hs_out_sent == 0) {
        int err = 0;
        socklen_t l = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err) {
            dropped(c, strerror(err));
            return 0;
        }
    }
    while (c->hs_out_sent < c->hs_out_len) {
        ssize_t n = send(c->fd, c->hs_out + c->hs_out_sent, c->hs_out_len - c->hs_out_sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ENOTCONN)
                return 0;
            dropped(c, strerror(errno));
            return 0;
        }
        c->hs_out_sent += (size_t)n;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->hs_in + c->hs_in_len, HANDSHAKE_MAX - 1 - c->hs_in_len,
                         MSG_DONTWAIT);
        char *end;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0) {
            dropped(c, n ? strerror(errno) : "closed during the upgrade");
            return 0;
        }
        c->hs_in_len += (size_t)n;
        c->hs_in[c->hs_in_len] = '\0';
        end = memmem(c->hs_in, c->hs_in_len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - c->hs_in) + 4;
            const char *why = check_answer(c, head);

            if (why) {
                dropped(c, why);
                return 0;
            }
            c->hs_in_off = head; /* frame bytes that came with the answer */
            return start_ws(c);
        }
        if (c->hs_in_len >= HANDSHAKE_MAX - 1) {
            dropped(c, "the server's answer is too long");
            return 0;
        }
    }
}

/* ---- public ---- */

/* ws://host[:port][/path]: no user info, the port 80 when not given. */
static int parse_url(struct sss_client *c, const char *url)
{
    struct sss_url u;
    char port[12] = "80";

    if (sss_url_parse(url, &u) < 0 || !sss_url_part_is(u.scheme, "ws") || u.user.ptr ||
        !u.host.len)
        return SSS_CLIENT_EURL;
    if (u.port >= 0)
        snprintf(port, sizeof(port), "%d", u.port);
    c->host = sss_strndup(u.host.ptr, u.host.len);
    c->port = sss_strndup(port, strlen(port));
    if (u.path.ptr && u.path.ptr[0] == '/') {
        c->path = sss_strndup(u.path.ptr, u.path.len);
    } else {
        size_t n = u.path.ptr ? u.path.len : 0;

        c->path = sss_malloc(n + 2);
        if (c->path) {
            c->path[0] = '/';
            memcpy(c->path + 1, u.path.ptr ? u.path.ptr : "", n);
            c->path[n + 1] = '\0';
        }
    }
    if (!c->host || !c->port || !c->path)
        return SSS_CLIENT_EURL;
    return 0;
}

struct sss_client *sss_client_create(const struct sss_client_opts *o)
{
    struct sss_client *c;

    if (!o || !o->url)
        return NULL;
    c = sss_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->o = *o;
    c->fd = -1;
    c->next_id = 1;
    c->sync_id = -1;
    if (c->o.retry_interval_ms <= 0)
        c->o.retry_interval_ms = 1000;
    if (c->o.max_retry_interval_ms <= 0)
        c->o.max_retry_interval_ms = 30000;
    if (c->o.max_retry_interval_ms < c->o.retry_interval_ms)
        c->o.max_retry_interval_ms = c->o.retry_interval_ms;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = 10000;
    sss_proto_out_init(&c->out, NULL, 0);
    c->hs_in = sss_malloc(HANDSHAKE_MAX);
    c->url = sss_strndup(o->url, strlen(o->url));
    c->session = o->session ? sss_strndup(o->session, strlen(o->session)) : NULL;
    if (!c->hs_in || !c->url || (o->session && !c->session) ||
        sss_proto_decoder_init(&c->dec, 1) || parse_url(c, c->url)) {
        sss_client_destroy(c);
        return NULL;
    }
    c->dec.from_server = true;
    c->o.url = c->url;
    c->o.session = c->session;
    return c;
}

void sss_client_destroy(struct sss_client *c)
{
    if (!c)
        return;
    close_socket(c);
    while (c->reqs) {
        struct req *r = c->reqs;

        c->reqs = r->next;
        sss_free(r);
    }
    while (c->subs) {
        struct sub *s = c->subs;

        c->subs = s->next;
        sss_free(s->query);
        sss_free(s);
    }
    sss_proto_decoder_fini(&c->dec);
    sss_proto_out_fini(&c->out);
    sss_free(c->hs_in);
    sss_free(c->url);
    sss_free(c->session);
    sss_free(c->host);
    sss_free(c->port);
    sss_free(c->path);
    sss_free(c);
}

int sss_client_connect(struct sss_client *c)
{
    if (c->status != SSS_CLIENT_IDLE && c->status != SSS_CLIENT_FAILED)
        return 0;
    c->attempts = 0;
    c->now = sss_client_now_ms();
    return dial(c);
}

void sss_client_close(struct sss_client *c)
{
    if (c->ws) {
        (void)wslay_event_queue_close(c->ws, 4000, NULL, 0);
        if (c->in_recv)
            c->close_now = true; /* the socket goes when wslay returns */
        else
            (void)wslay_event_send(c->ws); /* best effort */
    }
    if (!c->in_recv)
        close_socket(c);
    c->retry_at = 0;
    set_status(c, SSS_CLIENT_CLOSED);
    fail_reqs(c, "Connection closed");
}

enum sss_client_status sss_client_status(const struct sss_client *c)
{
    return c->status;
}

const char *sss_client_status_name(enum sss_client_status s)
{
    static const char *const names[] = {"IDLE",    "CONNECTING", "BEGINNING", "SYNCING", "READY",
                                        "WAITING", "BOOTED",     "CLOSED",    "FAILED"};

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *sss_client_strerror(int code)
{
    switch (code) {
    case SSS_CLIENT_ENOTREADY: return "Connection not ready";
    case SSS_CLIENT_EURL: return "bad url: ws://host[:port][/path] expected";
    case SSS_CLIENT_ECHANNEL: return "Channel name not allowed";
    case SSS_CLIENT_ETOPIC: return "topic empty or too long";
    default: return code < 0 ? strerror(-code) : "success";
    }
}

int sss_client_fd(const struct sss_client *c)
{
    return c->fd;
}

short sss_client_events(const struct sss_client *c)
{
    if (c->fd < 0)
        return 0;
    if (!c->upgraded)
        return c->hs_out_sent < c->hs_out_len ? POLLOUT : POLLIN;
    return (short)(POLLIN | (c->ws && wslay_event_want_write(c->ws) ? POLLOUT : 0));
}

int64_t sss_client_next_timeout_ms(const struct sss_client *c, int64_t now_ms)
{
    int64_t at = 0;

    if (c->status == SSS_CLIENT_WAITING)
        at = c->retry_at;
    else if (c->deadline)
        at = c->deadline;
    else if (c->upgraded && c->hb)
        at = c->last_rx + c->hb_timeout;
    if (!at)
        return -1;
    return at > now_ms ? at - now_ms : 0;
}

int sss_client_process(struct sss_client *c, short revents, int64_t now_ms)
{
    int rc = 0;

    (void)revents;
    c->now = now_ms;
    if (c->status == SSS_CLIENT_WAITING) {
        if (now_ms >= c->retry_at)
            rc = dial(c);
        return rc;
    }
    if (c->fd < 0)
        return 0;
    if (!c->upgraded) {
        if (c->deadline && now_ms >= c->deadline) {
            dropped(c, "timed out connecting");
            return 0;
        }
        rc = do_handshake(c);
        if (rc || !c->upgraded)
            return rc;
    }
    c->in_recv = true;
    rc = wslay_event_recv(c->ws);
    c->in_recv = false;
    if (c->close_now) {
        c->close_now = false;
        (void)wslay_event_send(c->ws); /* best effort: the 4000 close */
        close_socket(c);
        return 0;
    }
    if (rc != 0 || c->eof) {
        (void)wslay_event_send(c->ws);
        if (c->booted)
            set_status(c, SSS_CLIENT_BOOTED);
        dropped(c, "connection lost");
        return 0;
    }
    if (wslay_event_want_write(c->ws))
        (void)wslay_event_send(c->ws);
    if (c->close_code || c->booted) {
        int code = c->close_code;

        (void)wslay_event_send(c->ws);
        if (code == 1000 && !final_status(c->status))
            set_status(c, SSS_CLIENT_CLOSED);
        if (c->booted)
            set_status(c, SSS_CLIENT_BOOTED);
        if (!code && c->booted && wslay_event_get_read_enabled(c->ws))
            return 0; /* wait for the 4001 close */
        c->close_code = 0;
        dropped(c, "closed by the server");
        return 0;
    }
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)) {
        dropped(c, "connection closed");
        return 0;
    }
    if (c->hb && now_ms - c->last_rx > c->hb_timeout && c->status != SSS_CLIENT_CONNECTING) {
        report(c, NULL, "Heartbeat timeout", "the server has been silent too long");
        dropped(c, "heartbeat timeout");
    }
    return 0;
}

int sss_client_run_for(struct sss_client *c, int timeout_ms)
{
    int64_t end = sss_client_now_ms() + timeout_ms;

    for (;;) {
        int64_t now = sss_client_now_ms(), t = end - now, nt = sss_client_next_timeout_ms(c, now);
        struct pollfd p = {c->fd, sss_client_events(c), 0};
        int rc;

        if (t <= 0)
            return 0;
        if (nt >= 0 && nt < t)
            t = nt;
        rc = poll(c->fd >= 0 ? &p : NULL, c->fd >= 0 ? 1 : 0, (int)t);
        if (rc < 0 && errno != EINTR)
            return -errno;
        rc = sss_client_process(c, p.revents, sss_client_now_ms());
        if (rc)
            return rc;
        if (final_status(c->status) && c->fd < 0)
            return 0;
    }
}

int sss_client_wait(struct sss_client *c, bool (*done)(struct sss_client *c, void *data),
                    void *data, int timeout_ms)
{
    int64_t end = sss_client_now_ms() + timeout_ms;

    while (!done(c, data)) {
        int64_t left = end - sss_client_now_ms();
        int rc;

        if (left <= 0)
            return -ETIMEDOUT;
        rc = sss_client_run_for(c, left > 20 ? 20 : (int)left);
        if (rc)
            return rc;
    }
    return 0;
}

static bool ready_or_final(struct sss_client *c, void *data)
{
    (void)data;
    return c->status == SSS_CLIENT_READY || final_status(c->status);
}

int sss_client_wait_ready(struct sss_client *c, int timeout_ms)
{
    int rc = sss_client_wait(c, ready_or_final, NULL, timeout_ms);

    if (rc)
        return rc;
    return c->status == SSS_CLIENT_READY ? 0 : SSS_CLIENT_ENOTREADY;
}

int sss_client_subscribe(struct sss_client *c, const char *channel, const char *query,
                         sss_client_feed_cb on_feed, sss_client_reply_cb reply, void *data)
{
    struct sub *s;

    if (!channel || !sss_proto_channel_valid(channel, strlen(channel)) ||
        sss_proto_channel_reserved(channel, strlen(channel)))
        return SSS_CLIENT_ECHANNEL;
    if (final_status(c->status))
        return SSS_CLIENT_ENOTREADY;
    s = find_sub(c, channel);
    if (!s) {
        s = sss_calloc(1, sizeof(*s));
        if (!s)
            return -ENOMEM;
        snprintf(s->channel, sizeof(s->channel), "%s", channel);
        s->next = c->subs;
        c->subs = s;
    }
    sss_free(s->query);
    s->query = query ? sss_strndup(query, strlen(query)) : NULL;
    s->on_feed = on_feed;
    s->data = data;
    if (query && !s->query)
        return -ENOMEM;
    s->reply = reply;
    s->reply_data = data;
    /* Not READY: the SUBSCRIBE (or SYNC) of the next connect carries it. */
    return c->status == SSS_CLIENT_READY ? send_subscribe(c, s) : 0;
}

int sss_client_unsubscribe(struct sss_client *c, const char *channel)
{
    struct sub **p = &c->subs;
    int rc = 0;

    while (*p && strcmp((*p)->channel, channel))
        p = &(*p)->next;
    if (!*p)
        return SSS_CLIENT_ECHANNEL;
    if (c->status == SSS_CLIENT_READY) {
        sss_proto_out_reset(&c->out);
        rc = sss_proto_encode_unsubscribe(&c->out, channel, (struct sss_proto_span){NULL, 0});
        if (!rc)
            rc = send_out(c);
    }
    {
        struct sub *s = *p;

        *p = s->next;
        sss_free(s->query);
        sss_free(s);
    }
    return rc;
}

static int topic_ok(const char *topic)
{
    return topic && topic[0] && strlen(topic) <= SSS_PROTO_TOPIC_MAX;
}

static int request(struct sss_client *c, enum req_kind kind, const char *channel,
                   const char *topic, const char *msg, sss_client_reply_cb cb, void *data)
{
    struct req *r;
    char idb[24];
    int rc;

    if (!topic_ok(topic))
        return SSS_CLIENT_ETOPIC;
    if (channel && (!sss_proto_channel_valid(channel, strlen(channel)) ||
                    sss_proto_channel_reserved(channel, strlen(channel))))
        return SSS_CLIENT_ECHANNEL;
    if (c->status != SSS_CLIENT_READY)
        return SSS_CLIENT_ENOTREADY;
    r = new_req(c, kind, cb, data, kind == REQ_ASK ? "ask" : "publish", topic);
    if (!r)
        return -ENOMEM;
    sss_proto_out_reset(&c->out);
    if (kind == REQ_ASK)
        rc = sss_proto_encode_ask(&c->out, topic, msg_span(msg), id_span(r->id, idb, sizeof(idb)));
    else
        rc = sss_proto_encode_publish(&c->out, channel, topic, msg_span(msg),
                                      id_span(r->id, idb, sizeof(idb)));
    if (!rc)
        rc = send_out(c);
    if (rc) {
        sss_free(r);
        return rc;
    }
    r->next = c->reqs;
    c->reqs = r;
    return 0;
}

int sss_client_ask(struct sss_client *c, const char *topic, const char *msg,
                   sss_client_reply_cb cb, void *data)
{
    return request(c, REQ_ASK, NULL, topic, msg, cb, data);
}

int sss_client_publish(struct sss_client *c, const char *channel, const char *topic,
                       const char *msg, sss_client_reply_cb cb, void *data)
{
    return request(c, REQ_PUBLISH, channel ? channel : "", topic, msg, cb, data);
}

int sss_client_tell(struct sss_client *c, const char *topic, const char *msg)
{
    int rc;

    if (!topic_ok(topic))
        return SSS_CLIENT_ETOPIC;
    if (c->status != SSS_CLIENT_READY)
        return SSS_CLIENT_ENOTREADY;
    sss_proto_out_reset(&c->out);
    rc = sss_proto_encode_tell(&c->out, topic, msg_span(msg));
    return rc ? rc : send_out(c);
}

const char *sss_client_last_uid(const struct sss_client *c, const char *channel)
{
    const struct sub *s = find_sub(c, channel);

    return s && s->has_uid ? s->last_uid : NULL;
}
