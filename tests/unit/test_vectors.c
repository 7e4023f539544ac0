/*
 * Protocol vectors (tests/vectors/, format in its README.md): every file of
 * client/ and server/ is decoded with sss_proto_decode, then encoded again
 * from the decoded fields alone with the sss_proto_encode_* function for its
 * sys, and the result must be byte-identical to the file. Server messages
 * carry parts the decoder keeps raw (prot, result, records, err, reason,
 * uid); this test takes those apart with sss_json_each, the reader the C client uses.
 */
#include "sss_proto.h"
#include "sss_json.h"
#include "sss_alloc.h"
#include "sss_test.h"
#include "sss_test_file.h"

#include <dirent.h>
#include <stdlib.h>

#define VECTORS SSS_SOURCE_DIR "/tests/vectors"
#define MAX_MEMBERS 32

/* ---- Taking raw JSON values apart, with sss_json_each ---- */

/* One member of an object (key set) or element of an array (key empty). */
struct member {
    char key[256];
    struct sss_proto_span value; /* as written, inside the walked text */
    enum sss_json_type type;
};

struct walk {
    struct member *m;
    size_t n, max;
};

static int take_member(void *data, const struct sss_json_item *it)
{
    struct walk *w = data;
    struct member *m;

    if (w->n >= w->max || it->key_len >= sizeof(m->key))
        return SSS_ELIMIT;
    m = &w->m[w->n];
    memcpy(m->key, it->key ? it->key : "", it->key_len);
    m->key[it->key_len] = '\0';
    m->value.ptr = it->raw;
    m->value.len = it->raw_len;
    m->type = it->type;
    w->n++;
    return 0;
}

/* Take one raw object or array apart; its members/elements land in m. The count or -1. */
static long walk(struct sss_proto_span v, struct member *m, size_t max)
{
    struct walk w = {m, 0, max};

    if (!v.ptr || !v.len ||
        sss_json_each(v.ptr, v.len, v.ptr[0] == '[' ? SSS_JSON_ARRAY : SSS_JSON_OBJECT, 64,
                      SSS_JSON_STRICT, take_member, &w) != 0)
        return -1;
    return (long)w.n;
}

struct string_out {
    char *dst;
    size_t cap;
    bool ok;
};

static int take_string(void *data, const struct sss_json_item *it)
{
    struct string_out *o = data;

    o->ok = it->type == SSS_JSON_STRING && it->str_len < o->cap && !memchr(it->str, 0, it->str_len);
    if (o->ok) {
        memcpy(o->dst, it->str, it->str_len);
        o->dst[it->str_len] = '\0';
    }
    return 0;
}

/* A raw JSON string value, unescaped into dst (read as the one element of an array). */
static bool json_string(struct sss_proto_span v, char *dst, size_t cap)
{
    char doc[4096];
    struct string_out o = {dst, cap, false};

    if (!v.ptr || v.len < 2 || v.ptr[0] != '"' || v.len + 2 > sizeof(doc))
        return false;
    doc[0] = '[';
    memcpy(doc + 1, v.ptr, v.len);
    doc[v.len + 1] = ']';
    return sss_json_each(doc, v.len + 2, SSS_JSON_ARRAY, 1, SSS_JSON_STRICT, take_string, &o) ==
               0 &&
           o.ok;
}

/* {"name":..,"message":..} */
static bool json_fail(struct sss_proto_span v, char name[256], char message[256])
{
    struct member m[MAX_MEMBERS];
    long n = walk(v, m, MAX_MEMBERS), i;

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
    struct member prot[MAX_MEMBERS];
    struct sss_proto_begin_reply r = {0};
    struct sss_uid uid;
    long n = walk(m->prot, prot, MAX_MEMBERS), i;

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
    char name[256], message[256];
    struct sss_proto_fail f = {name, message};
    struct member mm[MAX_MEMBERS];
    struct sss_uid uid;

    if (m->err.ptr)
        return json_fail(m->err, name, message) ? sss_proto_encode_response_err(out, m->id, &f)
                                                 : -1;
    /* {"uid":"E-O"} is what a PUBLISH gets back. */
    if (m->msg.ptr && m->msg.ptr[0] == '{' && walk(m->msg, mm, MAX_MEMBERS) == 1 &&
        strcmp(mm[0].key, "uid") == 0 && json_uid(mm[0].value, &uid))
        return sss_proto_encode_publish_reply(out, m->id, &uid);
    return sss_proto_encode_response(out, m->id, m->msg);
}

static int encode_sync_reply(const struct sss_proto_msg *m, struct sss_proto_out *out)
{
    struct member mm[MAX_MEMBERS];
    struct sss_proto_sync_reply b;
    long n, i;
    int rc = sss_proto_sync_reply_begin(&b, out, m->id);

    n = walk(m->result, mm, MAX_MEMBERS);
    if (n < 0)
        return -1;
    for (i = 0; i < n; i++)
        rc |= sss_proto_sync_reply_result(&b, mm[i].key, span_is(mm[i].value, "true"));
    n = walk(m->records, mm, MAX_MEMBERS);
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
