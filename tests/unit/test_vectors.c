/*
 * Protocol vectors (tests/vectors/, format in its README.md): every file of
 * client/ and server/ is decoded with sss_proto_decode, then encoded again
 * from the decoded fields alone with the sss_proto_encode_* function for its
 * sys, and the result must be byte-identical to the file. Server messages
 * carry parts the decoder keeps raw (prot, result, records, err, reason,
 * uid); this test takes those apart with yajl, as a client would.
 */
#include "sss_proto.h"
#include "sss_alloc.h"
#include "sss_test.h"
#include "sss_test_file.h"

#include <dirent.h>
#include <stdlib.h>
#include <yajl/yajl_parse.h>

#define VECTORS SSS_SOURCE_DIR "/tests/vectors"
#define MAX_MEMBERS 32

/* ---- A small reader of raw JSON values (test-only) ---- */

/* One member of an object (key set) or element of an array (key empty). */
struct member {
    char key[256];
    struct sss_proto_span value;
    int kind; /* 'n' null, 'b' bool, '#' number, 's' string, '{' object, '[' array */
};

struct walk {
    yajl_handle h;
    const char *in;
    size_t len;
    unsigned depth;
    size_t mark;  /* offset after the latest key, '[' or element at depth 1 */
    size_t start; /* of the open depth-1 container value */
    struct member *m;
    size_t n, max;
    char str[4096]; /* the decoded string, for json_string() */
    bool is_array;
};

static size_t skip(const struct walk *w, size_t p)
{
    while (p < w->len && (strchr(" \t\r\n:,", w->in[p]) != NULL))
        p++;
    return p;
}

static int w_value(struct walk *w, int kind, bool open)
{
    size_t start, end = yajl_get_bytes_consumed(w->h);
    struct member *m;

    if (w->depth != 1) {
        if (w->depth == 0 && kind != '{' && kind != '[')
            w->mark = end;
        return 1;
    }
    if (w->n >= w->max)
        return 0;
    m = &w->m[w->n];
    if (w->is_array)
        m->key[0] = '\0';
    start = skip(w, w->mark);
    m->kind = kind;
    m->value.ptr = w->in + start;
    if (open) {
        w->start = start;
        return 1;
    }
    m->value.len = end - start;
    w->mark = end;
    w->n++;
    return 1;
}

static int w_null(void *ctx)
{
    return w_value(ctx, 'n', false);
}

static int w_bool(void *ctx, int b)
{
    (void)b;
    return w_value(ctx, 'b', false);
}

static int w_number(void *ctx, const char *s, size_t n)
{
    (void)s;
    (void)n;
    return w_value(ctx, '#', false);
}

static int w_string(void *ctx, const unsigned char *s, size_t n)
{
    struct walk *w = ctx;

    if (w->depth == 0 && n < sizeof(w->str)) {
        memcpy(w->str, s, n);
        w->str[n] = '\0';
    }
    return w_value(ctx, 's', false);
}

static int w_start(struct walk *w, int kind)
{
    if (w->depth == 0) {
        w->is_array = kind == '[';
        w->mark = yajl_get_bytes_consumed(w->h);
    } else if (!w_value(w, kind, true)) {
        return 0;
    }
    w->depth++;
    return 1;
}

static int w_start_map(void *ctx)
{
    return w_start(ctx, '{');
}

static int w_start_array(void *ctx)
{
    return w_start(ctx, '[');
}

static int w_key(void *ctx, const unsigned char *k, size_t n)
{
    struct walk *w = ctx;

    if (w->depth == 1) {
        if (w->n >= w->max || n >= sizeof(w->m[0].key))
            return 0;
        memcpy(w->m[w->n].key, k, n);
        w->m[w->n].key[n] = '\0';
        w->mark = yajl_get_bytes_consumed(w->h);
    }
    return 1;
}

static int w_end(void *ctx)
{
    struct walk *w = ctx;
    size_t end = yajl_get_bytes_consumed(w->h);

    w->depth--;
    if (w->depth == 1) {
        w->m[w->n].value.len = end - w->start;
        w->mark = end;
        w->n++;
    }
    return 1;
}

static const yajl_callbacks walk_callbacks = {
    .yajl_null = w_null,
    .yajl_boolean = w_bool,
    .yajl_number = w_number,
    .yajl_string = w_string,
    .yajl_start_map = w_start_map,
    .yajl_map_key = w_key,
    .yajl_end_map = w_end,
    .yajl_start_array = w_start_array,
    .yajl_end_array = w_end,
};

/* Parse one raw value; its members/elements land in m. Returns the count or -1. */
static long walk(struct walk *w, struct sss_proto_span v, struct member *m, size_t max)
{
    yajl_status st;

    memset(w, 0, sizeof(*w));
    w->in = v.ptr;
    w->len = v.len;
    w->m = m;
    w->max = max;
    w->h = yajl_alloc(&walk_callbacks, NULL, w);
    if (!w->h)
        return -1;
    st = yajl_parse(w->h, (const unsigned char *)v.ptr, v.len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(w->h);
    yajl_free(w->h);
    return st == yajl_status_ok ? (long)w->n : -1;
}

/* A raw JSON string value, unescaped into dst. */
static bool json_string(struct sss_proto_span v, char *dst, size_t cap)
{
    static struct walk w;
    struct member none[1];

    if (!v.ptr || v.len < 2 || v.ptr[0] != '"' || walk(&w, v, none, 0) < 0)
        return false;
    if (strlen(w.str) >= cap)
        return false;
    memcpy(dst, w.str, strlen(w.str) + 1);
    return true;
}

/* {"name":..,"message":..} */
static bool json_fail(struct sss_proto_span v, char name[256], char message[256])
{
    static struct walk w;
    struct member m[MAX_MEMBERS];
    long n = walk(&w, v, m, MAX_MEMBERS), i;

    if (n != 2)
        return false;
    for (i = 0; i < n; i++) {
        if (strcmp(m[i].key, "name") == 0 && !json_string(m[i].value, name, 256))
            return false;
        if (strcmp(m[i].key, "message") == 0 && !json_string(m[i].value, message, 256))
            return false;
    }
    return true;
}

/* A raw "E-O" uid string. */
static bool json_uid(struct sss_proto_span v, struct sss_uid *uid)
{
    char s[SSS_PROTO_UID_BUF];

    return json_string(v, s, sizeof(s)) && sss_proto_uid_parse(uid, s, strlen(s)) == 0;
}

static bool span_is(struct sss_proto_span sp, const char *s)
{
    return sp.ptr && sp.len == strlen(s) && memcmp(sp.ptr, s, sp.len) == 0;
}

/* ---- Re-encoding ---- */

static int encode_client(const struct sss_proto_msg *m, struct sss_proto_out *out)
{
    switch (m->sys) {
    case SSS_PROTO_HEARTBEAT:
        return sss_proto_encode_heartbeat(out);
    case SSS_PROTO_SUBSCRIBE:
        return sss_proto_encode_subscribe(out, m->channel, m->query, m->id);
    case SSS_PROTO_UNSUBSCRIBE:
        return sss_proto_encode_unsubscribe(out, m->channel, m->id);
    case SSS_PROTO_BEGIN:
        return sss_proto_encode_begin(out, m->has & SSS_PROTO_HAS_SESSION ? m->session : NULL);
    case SSS_PROTO_SYNC:
        return sss_proto_encode_sync(out, m->id, m->subs, m->nsubs);
    case SSS_PROTO_ASK:
        return sss_proto_encode_ask(out, m->topic, m->msg, m->id);
    case SSS_PROTO_TELL:
        return sss_proto_encode_tell(out, m->topic, m->msg);
    case SSS_PROTO_PUBLISH:
        return sss_proto_encode_publish(out, m->channel, m->topic, m->msg, m->id);
    default:
        return -1;
    }
}

static int encode_begin_reply(const struct sss_proto_msg *m, struct sss_proto_out *out)
{
    static struct walk w;
    struct member prot[MAX_MEMBERS];
    struct sss_proto_begin_reply r = {0};
    struct sss_uid uid;
    long n = walk(&w, m->prot, prot, MAX_MEMBERS), i;

    if (n < 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (strcmp(prot[i].key, "hb") == 0)
            r.hb = span_is(prot[i].value, "true");
        else if (strcmp(prot[i].key, "hbInterval") == 0)
            r.hb_interval = (uint32_t)strtoul(prot[i].value.ptr, NULL, 10);
        else if (strcmp(prot[i].key, "hbThreshold") == 0)
            r.hb_threshold = (uint32_t)strtoul(prot[i].value.ptr, NULL, 10);
    }
    if (m->has & SSS_PROTO_HAS_CHANNEL)
        r.channel = m->channel;
    if (m->has & SSS_PROTO_HAS_LAST_UID) {
        if (sss_proto_uid_parse(&uid, m->last_uid, m->last_uid_len) != 0)
            return -1;
        r.last_uid = &uid;
    }
    if (m->has & SSS_PROTO_HAS_SESSION)
        r.session = m->session;
    return sss_proto_encode_begin_reply(out, &r);
}

static int encode_subscribe_reply(const struct sss_proto_msg *m, struct sss_proto_out *out)
{
    char name[256], message[256];
    struct sss_proto_fail f = {name, message};
    struct sss_uid uid;
    bool has_uid = false;

    if (m->has & SSS_PROTO_HAS_LAST_UID) {
        if (sss_proto_uid_parse(&uid, m->last_uid, m->last_uid_len) != 0)
            return -1;
        has_uid = true;
    }
    if (m->err.ptr && !json_fail(m->err, name, message))
        return -1;
    return sss_proto_encode_subscribe_reply(out, m->id, m->channel, span_is(m->result, "true"),
                                            has_uid ? &uid : NULL, m->err.ptr ? &f : NULL);
}

static int encode_response(const struct sss_proto_msg *m, struct sss_proto_out *out)
{
    static struct walk w;
    char name[256], message[256];
    struct sss_proto_fail f = {name, message};
    struct member mm[MAX_MEMBERS];
    struct sss_uid uid;

    if (m->err.ptr)
        return json_fail(m->err, name, message) ? sss_proto_encode_response_err(out, m->id, &f)
                                                 : -1;
    /* {"uid":"E-O"} is what a PUBLISH gets back. */
    if (m->msg.ptr && m->msg.ptr[0] == '{' && walk(&w, m->msg, mm, MAX_MEMBERS) == 1 &&
        strcmp(mm[0].key, "uid") == 0 && json_uid(mm[0].value, &uid))
        return sss_proto_encode_publish_reply(out, m->id, &uid);
    return sss_proto_encode_response(out, m->id, m->msg);
}

static int encode_sync_reply(const struct sss_proto_msg *m, struct sss_proto_out *out)
{
    static struct walk w;
    struct member mm[MAX_MEMBERS];
    struct sss_proto_sync_reply b;
    long n, i;
    int rc = sss_proto_sync_reply_begin(&b, out, m->id);

    n = walk(&w, m->result, mm, MAX_MEMBERS);
    if (n < 0)
        return -1;
    for (i = 0; i < n; i++)
        rc |= sss_proto_sync_reply_result(&b, mm[i].key, span_is(mm[i].value, "true"));
    n = walk(&w, m->records, mm, MAX_MEMBERS);
    if (n < 0)
        return -1;
    for (i = 0; i < n; i++)
        rc |= sss_proto_sync_reply_record(&b, mm[i].value.ptr, mm[i].value.len);
    rc |= sss_proto_sync_reply_end(&b);
    return rc;
}

static int encode_server(const struct sss_proto_msg *m, struct sss_proto_out *out)
{
    char reason[1024], name[256], message[256];
    struct sss_proto_fail f = {name, message};
    struct sss_uid uid;

    switch (m->sys) {
    case SSS_PROTO_HEARTBEAT:
        return sss_proto_encode_heartbeat(out);
    case SSS_PROTO_SUBSCRIBE:
        return encode_subscribe_reply(m, out);
    case SSS_PROTO_UNSUBSCRIBE:
        return sss_proto_encode_unsubscribe_reply(out, m->id, m->channel,
                                                  span_is(m->result, "true"));
    case SSS_PROTO_BEGIN:
        return encode_begin_reply(m, out);
    case SSS_PROTO_SYNC:
        return encode_sync_reply(m, out);
    case SSS_PROTO_TELL:
        return sss_proto_encode_tell(out, m->topic, m->msg);
    case SSS_PROTO_RESPONSE:
        return encode_response(m, out);
    case SSS_PROTO_FEED:
        if (!json_uid(m->uid, &uid))
            return -1;
        return sss_proto_encode_feed(out, m->channel, m->topic, m->msg, &uid);
    case SSS_PROTO_BOOT:
        if (!json_string(m->reason, reason, sizeof(reason)))
            return -1;
        return sss_proto_encode_boot(out, reason);
    case SSS_PROTO_BOOTCHANNEL:
        if (!json_string(m->reason, reason, sizeof(reason)))
            return -1;
        return sss_proto_encode_bootchannel(out, m->channel, reason);
    case SSS_PROTO_BROADCAST:
        return sss_proto_encode_broadcast(out, m->topic, m->msg);
    case SSS_PROTO_UPDATESUB:
        if (!json_uid(m->uid, &uid))
            return -1;
        return sss_proto_encode_updatesub(out, m->channel, &uid);
    case SSS_PROTO_ERROR:
        if (!json_fail(m->err, name, message))
            return -1;
        return sss_proto_encode_error(out, &f, m->id);
    default:
        return -1;
    }
}

/* ---- Running the vectors ---- */

static struct sss_proto_decoder dec;
static struct sss_proto_msg msg;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Check every *.json of VECTORS/side; returns how many ran. */
static int run_dir(const char *side, bool from_server)
{
    char dir[1024], path[2048];
    char *names[256];
    size_t nnames = 0, i;
    struct dirent *de;
    DIR *d;
    int ran = 0;

    snprintf(dir, sizeof(dir), "%s/%s", VECTORS, side);
    d = opendir(dir);
    CHECK(d != NULL);
    if (!d) {
        perror(dir);
        return 0;
    }
    while ((de = readdir(d)) != NULL && nnames < sizeof(names) / sizeof(names[0])) {
        size_t n = strlen(de->d_name);

        if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0)
            names[nnames++] = sss_strndup(de->d_name, n);
    }
    closedir(d);
    qsort(names, nnames, sizeof(names[0]), by_name);

    dec.from_server = from_server;
    for (i = 0; i < nnames; i++) {
        struct sss_proto_out out;
        size_t len = 0;
        char *text;
        int rc;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        text = sss_test_read_file(path, &len);
        CHECK(text != NULL);
        if (!text)
            continue;
        rc = sss_proto_decode(&dec, text, len, &msg);
        CHECK_EQ_INT(rc, 0);
        if (rc) {
            fprintf(stderr, "  %s/%s: %s\n", side, names[i], sss_proto_strerror(msg.error));
        } else {
            sss_proto_out_init(&out, NULL, 0);
            rc = from_server ? encode_server(&msg, &out) : encode_client(&msg, &out);
            CHECK_EQ_INT(rc, 0);
            CHECK(out.len == len && memcmp(out.data, text, len) == 0);
            if (rc || out.len != len || memcmp(out.data, text, len) != 0)
                fprintf(stderr, "  %s/%s:\n  file: %.*s\n   got: %.*s\n", side, names[i],
                        (int)len, text, (int)out.len, out.data ? out.data : "");
            sss_proto_out_fini(&out);
            ran++;
        }
        sss_free(text);
        sss_free(names[i]);
    }
    return ran;
}

int main(void)
{
    int client, server;

    sss_alloc_init();
    if (sss_proto_decoder_init(&dec, 64) != 0)
        return 1;
    client = run_dir("client", false);
    server = run_dir("server", true);
    printf("vectors: %d client, %d server\n", client, server);
    CHECK(client >= 10);
    CHECK(server >= 15);
    sss_proto_decoder_fini(&dec);
    return sss_test_done();
}
