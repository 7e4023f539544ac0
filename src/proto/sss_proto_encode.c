/*
 * The encoders of PROTOCOL.md and the uid text form (see sss_proto.h for the
 * contract): every message is appended to a struct sss_proto_out in the
 * field order of the PROTOCOL.md examples, compact. A failed append is
 * sticky in the buffer (sss_dynbuf), so the writers below never check it
 * piece by piece: done() reports it once per message. put_str is the one
 * JSON string writer: escaped as JSON requires, invalid UTF-8 as \ufffd, so
 * the output is valid JSON in valid UTF-8 whatever the caller passed.
 */
#include "sss_proto.h"
#include "sss_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- Uids ---- */

static int parse_u64(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    size_t i;

    if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
        return -1;
    for (i = 0; i < n; i++) {
        unsigned dgt = (unsigned char)s[i] - '0';

        if (dgt > 9 || x > (UINT64_MAX - dgt) / 10)
            return -1;
        x = x * 10 + dgt;
    }
    *v = x;
    return 0;
}

int sss_proto_uid_parse(struct sss_uid *uid, const char *s, size_t len)
{
    const char *dash = memchr(s, '-', len);
    uint64_t e, o;
    size_t el;

    if (!dash)
        return SSS_EINVAL;
    el = (size_t)(dash - s);
    if (parse_u64(s, el, &e) < 0 || parse_u64(dash + 1, len - el - 1, &o) < 0)
        return SSS_EINVAL;
    uid->epoch = e;
    uid->offset = o;
    return 0;
}

/* Decimal digits of v into the end of tmp[20]; returns the first digit. */
static char *u64_digits(uint64_t v, char tmp[20])
{
    char *p = tmp + 20;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

size_t sss_proto_uid_format(const struct sss_uid *uid, char *buf, size_t cap)
{
    char te[20], to[20];
    char *e = u64_digits(uid->epoch, te), *o = u64_digits(uid->offset, to);
    size_t el = (size_t)(te + 20 - e), ol = (size_t)(to + 20 - o);

    if (cap < el + ol + 2) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    memcpy(buf, e, el);
    buf[el] = '-';
    memcpy(buf + el + 1, o, ol);
    buf[el + 1 + ol] = '\0';
    return el + 1 + ol;
}

int sss_proto_uid_cmp(const struct sss_uid *a, const struct sss_uid *b)
{
    if (a->epoch != b->epoch)
        return a->epoch < b->epoch ? -1 : 1;
    if (a->offset != b->offset)
        return a->offset < b->offset ? -1 : 1;
    return 0;
}

/* ---- Output ---- */

static void put(struct sss_proto_out *o, const void *p, size_t n)
{
    (void)sss_dynbuf_append(o, p, n); /* a failure is sticky: done() reports it */
}

#define PUT_LIT(o, s) put((o), (s), sizeof(s) - 1)

static void put_u64(struct sss_proto_out *o, uint64_t v)
{
    char tmp[20];
    char *p = u64_digits(v, tmp);

    put(o, p, (size_t)(tmp + 20 - p));
}

/* s (n bytes) as a JSON string: quoted, escaped, invalid UTF-8 replaced by \ufffd. */
static void put_str_n(struct sss_proto_out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end;
    char *w;

    if (n > (SIZE_MAX - 2) / 6) {
        o->oom = true;
        return;
    }
    if (sss_dynbuf_reserve(o, 6 * n + 2) < 0)
        return;
    end = p + n;
    w = o->data + o->len;
    *w++ = '"';
    while (p < end) {
        unsigned char c = *p;

        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *w++ = (char)c;
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = sss_json__utf8_len(p, end);

            if (l) {
                memcpy(w, p, l);
                w += l;
                p += l;
            } else {
                memcpy(w, "\\ufffd", 6);
                w += 6;
                p++;
            }
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *w++ = (char)c;
            break;
        case '\b':
            *w++ = 'b';
            break;
        case '\f':
            *w++ = 'f';
            break;
        case '\n':
            *w++ = 'n';
            break;
        case '\r':
            *w++ = 'r';
            break;
        case '\t':
            *w++ = 't';
            break;
        default:
            memcpy(w, "u00", 3);
            w[3] = hex[c >> 4];
            w[4] = hex[c & 15];
            w += 5;
            break;
        }
        p++;
    }
    *w++ = '"';
    sss_dynbuf_commit(o, (size_t)(w - (o->data + o->len)));
}

static void put_str(struct sss_proto_out *o, const char *s)
{
    put_str_n(o, s, strlen(s));
}

static void put_uid(struct sss_proto_out *o, const struct sss_uid *uid)
{
    char buf[SSS_PROTO_UID_BUF + 2];
    size_t n;

    if (!uid) {
        PUT_LIT(o, "null");
        return;
    }
    buf[0] = '"';
    n = sss_proto_uid_format(uid, buf + 1, SSS_PROTO_UID_BUF);
    buf[n + 1] = '"';
    put(o, buf, n + 2);
}

static void put_span(struct sss_proto_out *o, struct sss_proto_span sp)
{
    put(o, sp.ptr, sp.len);
}

/* ,"key":<raw> when the span is present. */
static void put_opt_raw(struct sss_proto_out *o, const char *key_lit, size_t key_len,
                        struct sss_proto_span sp)
{
    if (sp.ptr) {
        put(o, key_lit, key_len);
        put_span(o, sp);
    }
}

#define PUT_OPT_RAW(o, k, sp) put_opt_raw((o), (k), sizeof(k) - 1, (sp))

static void put_fail(struct sss_proto_out *o, const struct sss_proto_fail *f)
{
    PUT_LIT(o, "{\"name\":");
    put_str(o, f->name ? f->name : "");
    PUT_LIT(o, ",\"message\":");
    put_str(o, f->message ? f->message : "");
    PUT_LIT(o, "}");
}

static int done(const struct sss_proto_out *o)
{
    return o->oom ? -ENOMEM : 0;
}

int sss_proto_encode_string(struct sss_proto_out *out, const char *s)
{
    put_str(out, s);
    return done(out);
}

int sss_proto_encode_string_n(struct sss_proto_out *out, const char *s, size_t n)
{
    put_str_n(out, s, n);
    return done(out);
}

/* ---- Messages as field lists ----
 * Most messages are {"sys":N, then fields in order}: each encoder below lists
 * its fields and put_msg writes them, so the key spellings and the rules for
 * absent values live in one place. */

enum field_kind {
    F_END,
    F_STR,      /* a JSON string */
    F_STR_OPT,  /* a JSON string, the field left out when NULL */
    F_RAW,      /* raw JSON, the field left out when absent */
    F_RAW_NULL, /* raw JSON, null when absent */
    F_UID,      /* a uid string, null when NULL */
    F_BOOL,
    F_FAIL,     /* {"name":..,"message":..}, the field left out when NULL */
};

struct field {
    const char *key;
    enum field_kind kind;
    const char *str;
    struct sss_proto_span raw;
    const struct sss_uid *uid;
    const struct sss_proto_fail *fail;
    bool b;
};

#define STR(k, v) {.key = (k), .kind = F_STR, .str = (v)}
#define STR_OPT(k, v) {.key = (k), .kind = F_STR_OPT, .str = (v)}
#define RAW(k, v) {.key = (k), .kind = F_RAW, .raw = (v)}
#define RAW_NULL(k, v) {.key = (k), .kind = F_RAW_NULL, .raw = (v)}
#define UID(k, v) {.key = (k), .kind = F_UID, .uid = (v)}
#define BOOL(k, v) {.key = (k), .kind = F_BOOL, .b = (v)}
#define FAIL(k, v) {.key = (k), .kind = F_FAIL, .fail = (v)}

static void put_key(struct sss_proto_out *o, const char *key)
{
    PUT_LIT(o, ",\"");
    put(o, key, strlen(key));
    PUT_LIT(o, "\":");
}

static int put_msg(struct sss_proto_out *o, unsigned sys, const struct field *f)
{
    PUT_LIT(o, "{\"sys\":");
    put_u64(o, sys);
    for (; f->kind != F_END; f++) {
        if ((f->kind == F_STR_OPT && !f->str) || (f->kind == F_RAW && !f->raw.ptr) ||
            (f->kind == F_FAIL && !f->fail))
            continue;
        put_key(o, f->key);
        switch (f->kind) {
        case F_STR:
        case F_STR_OPT:
            put_str(o, f->str);
            break;
        case F_RAW:
        case F_RAW_NULL:
            if (f->raw.ptr)
                put_span(o, f->raw);
            else
                PUT_LIT(o, "null");
            break;
        case F_UID:
            put_uid(o, f->uid);
            break;
        case F_BOOL:
            put(o, f->b ? "true" : "false", f->b ? 4 : 5);
            break;
        case F_FAIL:
            put_fail(o, f->fail);
            break;
        case F_END:
            break;
        }
    }
    PUT_LIT(o, "}");
    return done(o);
}

#define ENCODE(out, sys, ...) \
    put_msg((out), (sys), (const struct field[]){__VA_ARGS__, {.kind = F_END}})

int sss_proto_encode_begin_reply(struct sss_proto_out *out, const struct sss_proto_begin_reply *r)
{
    char prot[64] = "{}";
    int n = 2;

    if (r->hb)
        n = snprintf(prot, sizeof(prot), "{\"hb\":true,\"hbInterval\":%" PRIu32
                     ",\"hbThreshold\":%" PRIu32 "}", r->hb_interval, r->hb_threshold);
    if (r->channel)
        return ENCODE(out, 3, RAW("prot", sss_proto_span_of(prot, (size_t)n)),
                      STR("channel", r->channel), UID("lastUid", r->last_uid),
                      STR_OPT("session", r->session));
    return ENCODE(out, 3, RAW("prot", sss_proto_span_of(prot, (size_t)n)),
                  STR_OPT("session", r->session));
}

int sss_proto_encode_subscribe_reply(struct sss_proto_out *out, struct sss_proto_span id,
                                     const char *channel, bool result,
                                     const struct sss_uid *last_uid,
                                     const struct sss_proto_fail *err)
{
    if (result)
        return ENCODE(out, 1, RAW("id", id), STR("channel", channel), BOOL("result", true),
                      UID("lastUid", last_uid));
    return ENCODE(out, 1, RAW("id", id), STR("channel", channel), BOOL("result", false),
                  FAIL("err", err));
}

int sss_proto_encode_unsubscribe_reply(struct sss_proto_out *out, struct sss_proto_span id,
                                       const char *channel, bool result)
{
    return ENCODE(out, 2, RAW("id", id), STR("channel", channel), BOOL("result", result));
}

int sss_proto_encode_response(struct sss_proto_out *out, struct sss_proto_span id,
                              struct sss_proto_span msg)
{
    return ENCODE(out, 7, RAW("id", id), RAW_NULL("msg", msg));
}

int sss_proto_encode_response_err(struct sss_proto_out *out, struct sss_proto_span id,
                                  const struct sss_proto_fail *err)
{
    return ENCODE(out, 7, RAW("id", id), FAIL("err", err));
}

int sss_proto_encode_publish_reply(struct sss_proto_out *out, struct sss_proto_span id,
                                   const struct sss_uid *uid)
{
    PUT_LIT(out, "{\"sys\":7");
    PUT_OPT_RAW(out, ",\"id\":", id);
    PUT_LIT(out, ",\"msg\":{\"uid\":");
    put_uid(out, uid);
    PUT_LIT(out, "}}");
    return done(out);
}

int sss_proto_encode_tell(struct sss_proto_out *out, const char *topic, struct sss_proto_span msg)
{
    return ENCODE(out, 6, STR("topic", topic), RAW("msg", msg));
}

int sss_proto_encode_feed(struct sss_proto_out *out, const char *channel, const char *topic,
                          struct sss_proto_span msg, const struct sss_uid *uid)
{
    return ENCODE(out, 8, STR("channel", channel), STR("topic", topic), RAW("msg", msg),
                  UID("uid", uid));
}

int sss_proto_encode_updatesub(struct sss_proto_out *out, const char *channel,
                               const struct sss_uid *uid)
{
    return ENCODE(out, 12, STR("channel", channel), UID("uid", uid));
}

int sss_proto_encode_broadcast(struct sss_proto_out *out, const char *topic,
                               struct sss_proto_span msg)
{
    return ENCODE(out, 11, STR("topic", topic), RAW("msg", msg));
}

int sss_proto_encode_boot(struct sss_proto_out *out, const char *reason)
{
    return ENCODE(out, 9, STR("reason", reason));
}

int sss_proto_encode_bootchannel(struct sss_proto_out *out, const char *channel,
                                 const char *reason)
{
    return ENCODE(out, 10, STR("channel", channel), STR("reason", reason));
}

int sss_proto_encode_error(struct sss_proto_out *out, const struct sss_proto_fail *err,
                           struct sss_proto_span id)
{
    return ENCODE(out, 14, FAIL("err", err), RAW("id", id));
}

int sss_proto_encode_heartbeat(struct sss_proto_out *out)
{
    PUT_LIT(out, "h");
    return done(out);
}

int sss_proto_sync_reply_begin(struct sss_proto_sync_reply *b, struct sss_proto_out *out,
                               struct sss_proto_span id)
{
    b->out = out;
    b->nresults = 0;
    b->nrecords = 0;
    PUT_LIT(out, "{\"sys\":4");
    PUT_OPT_RAW(out, ",\"id\":", id);
    PUT_LIT(out, ",\"result\":{");
    return done(out);
}

int sss_proto_sync_reply_result(struct sss_proto_sync_reply *b, const char *channel, bool ok)
{
    if (b->nrecords)
        return SSS_EINVAL;
    if (b->nresults++)
        PUT_LIT(b->out, ",");
    put_str(b->out, channel);
    if (ok)
        PUT_LIT(b->out, ":true");
    else
        PUT_LIT(b->out, ":false");
    return done(b->out);
}

int sss_proto_sync_reply_record(struct sss_proto_sync_reply *b, const char *feed, size_t len)
{
    if (b->nrecords++)
        PUT_LIT(b->out, ",");
    else
        PUT_LIT(b->out, "},\"records\":[");
    put(b->out, feed, len);
    return done(b->out);
}

int sss_proto_sync_reply_end(struct sss_proto_sync_reply *b)
{
    if (!b->nrecords)
        PUT_LIT(b->out, "},\"records\":[");
    PUT_LIT(b->out, "]}");
    return done(b->out);
}

int sss_proto_encode_subscribe(struct sss_proto_out *out, const char *channel,
                               struct sss_proto_span query, struct sss_proto_span id)
{
    return ENCODE(out, 1, STR("channel", channel), RAW("query", query), RAW("id", id));
}

int sss_proto_encode_unsubscribe(struct sss_proto_out *out, const char *channel,
                                 struct sss_proto_span id)
{
    return ENCODE(out, 2, STR("channel", channel), RAW("id", id));
}

int sss_proto_encode_begin(struct sss_proto_out *out, const char *session)
{
    return ENCODE(out, 3, STR_OPT("session", session));
}

int sss_proto_encode_sync(struct sss_proto_out *out, struct sss_proto_span id,
                          const struct sss_proto_sub *subs, size_t n)
{
    size_t i;

    PUT_LIT(out, "{\"sys\":4");
    PUT_OPT_RAW(out, ",\"id\":", id);
    PUT_LIT(out, ",\"subscriptions\":[");
    for (i = 0; i < n; i++) {
        if (i)
            PUT_LIT(out, ",");
        PUT_LIT(out, "{\"channel\":");
        put_str(out, subs[i].channel);
        PUT_LIT(out, ",\"lastUid\":");
        if (subs[i].has_last_uid)
            put_str(out, subs[i].last_uid);
        else
            PUT_LIT(out, "null");
        PUT_OPT_RAW(out, ",\"query\":", subs[i].query);
        PUT_LIT(out, "}");
    }
    PUT_LIT(out, "]}");
    return done(out);
}

int sss_proto_encode_ask(struct sss_proto_out *out, const char *topic, struct sss_proto_span msg,
                         struct sss_proto_span id)
{
    return ENCODE(out, 5, STR("topic", topic), RAW("msg", msg), RAW("id", id));
}

int sss_proto_encode_publish(struct sss_proto_out *out, const char *channel, const char *topic,
                             struct sss_proto_span msg, struct sss_proto_span id)
{
    return ENCODE(out, 13, STR("channel", channel), STR("topic", topic), RAW("msg", msg),
                  RAW("id", id));
}
