/*
 * The JSON decoder of PROTOCOL.md (see sss_proto.h for the contract; the
 * encoders and uids are in sss_proto_encode.c).
 *
 * Decoding runs sss_json__parse (the one JSON reader of src/proto: yajl,
 * its strictness rules and yajl's memory from the decoder's region, so the
 * common frame never calls malloc) over the whole frame, and keeps a small
 * state machine in struct dstate over the tokens it hands over, by depth:
 *
 *   depth 0   the top-level object (the reader refuses anything else)
 *   depth 1   top-level members; the key's field decides what a value does
 *   depth 2   elements of "subscriptions" (in_subs), each must be an object
 *   depth 3   members of one subscription (sub_obj)
 *
 * Raw spans are the tokens' offsets in the frame; a container's runs from
 * its OPEN to its CLOSE. Strings we keep are unescaped here, from the raw
 * token, because yajl turns lone surrogate escapes into '?' or CESU bytes
 * and \u0000 into NUL; the strings we do not keep pass as yajl reads them.
 */
#include "sss_proto.h"
#include "sss_json.h"
#include "sss_alloc.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

int sss_proto_decoder_init(struct sss_proto_decoder *d, size_t max_subs)
{
    d->subs = NULL;
    d->max_subs = max_subs;
    d->from_server = false;
    if (max_subs) {
        d->subs = sss_calloc(max_subs, sizeof(*d->subs));
        if (!d->subs)
            return -ENOMEM;
    }
    return 0;
}

void sss_proto_decoder_fini(struct sss_proto_decoder *d)
{
    sss_free(d->subs);
    d->subs = NULL;
    d->max_subs = 0;
}

/* ---- Decoding ---- */

static const char *const error_text[] = {
    [SSS_PROTO_OK] = "ok",
    [SSS_PROTO_E_JSON] = "bad JSON",
    [SSS_PROTO_E_NOT_OBJECT] = "message must be a JSON object",
    [SSS_PROTO_E_DEPTH] = "nesting too deep",
    [SSS_PROTO_E_NO_SYS] = "missing sys",
    [SSS_PROTO_E_SYS] = "unknown sys",
    [SSS_PROTO_E_ID] = "id must be a number or a string",
    [SSS_PROTO_E_CHANNEL_TYPE] = "channel must be a string",
    [SSS_PROTO_E_CHANNEL] = "invalid channel name",
    [SSS_PROTO_E_NO_CHANNEL] = "missing channel",
    [SSS_PROTO_E_TOPIC_TYPE] = "topic must be a string",
    [SSS_PROTO_E_TOPIC_LONG] = "topic too long",
    [SSS_PROTO_E_NO_TOPIC] = "missing topic",
    [SSS_PROTO_E_SESSION_TYPE] = "session must be a string",
    [SSS_PROTO_E_SESSION_LONG] = "session too long",
    [SSS_PROTO_E_LASTUID_TYPE] = "lastUid must be a string or null",
    [SSS_PROTO_E_LASTUID_LONG] = "lastUid too long",
    [SSS_PROTO_E_ESCAPE] = "lone surrogate or NUL escape in string",
    [SSS_PROTO_E_SUBS_TYPE] = "subscriptions must be an array",
    [SSS_PROTO_E_SUB_TYPE] = "subscription must be an object",
    [SSS_PROTO_E_NO_SUBS] = "missing subscriptions",
    [SSS_PROTO_E_TOO_MANY_SUBS] = "too many subscriptions",
    [SSS_PROTO_E_NOMEM] = "out of memory",
    [SSS_PROTO_E_ID_LONG] = "id too long",
};

const char *sss_proto_strerror(enum sss_proto_error e)
{
    if ((unsigned)e < sizeof(error_text) / sizeof(error_text[0]) && error_text[e])
        return error_text[e];
    return "unknown error";
}

bool sss_proto_channel_valid(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > SSS_PROTO_CHANNEL_MAX)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool sss_proto_channel_reserved(const char *name, size_t len)
{
    return len > 0 && name[0] == '_';
}

enum field {
    F_NONE,
    F_SYS,
    F_ID,
    F_CHANNEL,
    F_TOPIC,
    F_SESSION,
    F_MSG,
    F_QUERY,
    F_LAST_UID,
    F_SUBS,
    F_UID,
    F_RESULT,
    F_RECORDS,
    F_PROT,
    F_ERR,
    F_REASON,
};

struct dstate {
    struct sss_proto_decoder *d;
    struct sss_proto_msg *m;
    const char *in;
    enum field top;                 /* field of the latest key at depth 1 */
    enum field sub;                 /* field of the latest key in a subscription */
    struct sss_proto_span *open;    /* raw container value awaiting its end */
    size_t open_start;
    unsigned open_depth;            /* depth of the open container's OPEN and CLOSE */
    bool in_subs;                   /* inside the subscriptions array */
    bool sub_obj;                   /* inside one subscription object */
    bool sub_channel;               /* the current subscription had a channel */
    struct sss_proto_sub *cur;      /* current subscription, NULL past the limit */
    struct sss_proto_span discard;  /* target for raw spans we do not keep */
    bool sys_seen;
    int sys;                        /* 1..14, or 0 when sys was not such an integer */
    enum sss_proto_error err;       /* first problem, parsing continues */
};

/* The keys the decoder knows: a message's (depth 1), then a subscription's. */
struct known_key {
    const char *name;
    size_t len;
    enum field field;
};

/* clang-format off */
#define KEY(name, field) {name, sizeof(name) - 1, field}
/* clang-format on */

static const struct known_key top_keys[] = {
    KEY("sys", F_SYS),
    KEY("id", F_ID),
    KEY("channel", F_CHANNEL),
    KEY("topic", F_TOPIC),
    KEY("msg", F_MSG),
    KEY("uid", F_UID),
    KEY("session", F_SESSION),
    KEY("lastUid", F_LAST_UID),
    KEY("subscriptions", F_SUBS),
    KEY("query", F_QUERY),
    KEY("result", F_RESULT),
    KEY("records", F_RECORDS),
    KEY("prot", F_PROT),
    KEY("err", F_ERR),
    KEY("reason", F_REASON),
};

static const struct known_key sub_keys[] = {
    KEY("channel", F_CHANNEL),
    KEY("lastUid", F_LAST_UID),
    KEY("query", F_QUERY),
};

#undef KEY

static enum field lookup(const struct known_key *keys, size_t nkeys, const unsigned char *k,
                         size_t n)
{
    for (size_t i = 0; i < nkeys; i++)
        if (keys[i].len == n && memcmp(keys[i].name, k, n) == 0)
            return keys[i].field;
    return F_NONE;
}

/* Record a problem and keep parsing (so that a later id is still seen). */
static int fail(struct dstate *st, enum sss_proto_error e)
{
    if (st->err == SSS_PROTO_OK)
        st->err = e;
    return 0;
}

/* Unescape the string token ev into dst (cap bytes, NUL included): 0, SSS_ELIMIT or SSS_EPROTO. */
static int take_string(const struct sss_json__event *ev, char *dst, size_t cap, size_t *len)
{
    return sss_json__unescape(ev->item.raw + 1, ev->item.raw_len - 2, dst, cap, len);
}

/* A raw value: a scalar's token now, a container's text at its CLOSE. */
static int take_raw(struct dstate *st, struct sss_proto_span *sp, const struct sss_json__event *ev)
{
    if (ev->kind == SSS_JSON__OPEN) {
        st->open = sp;
        st->open_start = ev->start;
        st->open_depth = ev->depth;
        return 0;
    }
    sp->ptr = ev->item.raw;
    sp->len = ev->item.raw_len;
    return 0;
}

static int parse_sys(const char *s, size_t n)
{
    int v = 0;
    size_t i;

    if (n == 0 || n > 2)
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v >= SSS_PROTO_SUBSCRIBE && v <= SSS_PROTO_ERROR ? v : 0;
}

/* A channel name; 1 when stored (valid or not: a refusal may name it). */
static int take_channel(struct dstate *st, const struct sss_json__event *ev, char *dst, size_t cap,
                        size_t *len)
{
    if (take_string(ev, dst, cap, len) != 0) {
        *len = 0;
        dst[0] = '\0';
        fail(st, SSS_PROTO_E_CHANNEL);
        return 0;
    }
    if (!sss_proto_channel_valid(dst, *len))
        fail(st, SSS_PROTO_E_CHANNEL);
    return 1;
}

/* A bounded unescaped string field; 1 when stored. */
static int take_bounded(struct dstate *st, const struct sss_json__event *ev, char *dst, size_t cap,
                        size_t *len, enum sss_proto_error too_long)
{
    int r = take_string(ev, dst, cap, len);

    if (r == 0)
        return 1;
    *len = 0;
    dst[0] = '\0';
    fail(st, r == SSS_ELIMIT ? too_long : SSS_PROTO_E_ESCAPE);
    return 0;
}

/* A top-level string member kept whole or not at all (topic, session,
 * lastUid): its bit in m->has says which. */
static int top_string(struct dstate *st, const struct sss_json__event *ev, unsigned bit, char *dst,
                      size_t cap, size_t *len, enum sss_proto_error wrong_type,
                      enum sss_proto_error too_long)
{
    if (ev->item.type != SSS_JSON_STRING)
        return fail(st, wrong_type);
    st->m->has &= ~bit;
    if (take_bounded(st, ev, dst, cap, len, too_long))
        st->m->has |= bit;
    return 0;
}

/* A value of a top-level member. */
static int top_value(struct dstate *st, const struct sss_json__event *ev)
{
    struct sss_proto_msg *m = st->m;
    enum sss_json_type k = ev->item.type;

    switch (st->top) {
    case F_NONE:
        return 0;
    case F_SYS:
        st->sys_seen = true;
        st->sys = k == SSS_JSON_NUMBER ? parse_sys(ev->item.raw, ev->item.raw_len) : 0;
        return 0;
    case F_ID:
        if (k == SSS_JSON_NULL) {
            m->id.ptr = NULL;
            m->id.len = 0;
            return 0;
        }
        if (k != SSS_JSON_NUMBER && k != SSS_JSON_STRING)
            return fail(st, SSS_PROTO_E_ID);
        if (ev->item.raw_len > SSS_PROTO_ID_MAX) {
            /* Not kept: the ERROR cannot echo it, and nothing holds a copy. */
            m->id.ptr = NULL;
            m->id.len = 0;
            return fail(st, SSS_PROTO_E_ID_LONG);
        }
        return take_raw(st, &m->id, ev);
    case F_CHANNEL:
        if (k != SSS_JSON_STRING)
            return fail(st, SSS_PROTO_E_CHANNEL_TYPE);
        m->has &= ~SSS_PROTO_HAS_CHANNEL;
        if (take_channel(st, ev, m->channel, sizeof(m->channel), &m->channel_len))
            m->has |= SSS_PROTO_HAS_CHANNEL;
        return 0;
    case F_TOPIC:
        return top_string(st, ev, SSS_PROTO_HAS_TOPIC, m->topic, sizeof(m->topic), &m->topic_len,
                          SSS_PROTO_E_TOPIC_TYPE, SSS_PROTO_E_TOPIC_LONG);
    case F_SESSION:
        return top_string(st, ev, SSS_PROTO_HAS_SESSION, m->session, sizeof(m->session),
                          &m->session_len, SSS_PROTO_E_SESSION_TYPE, SSS_PROTO_E_SESSION_LONG);
    case F_LAST_UID:
        m->has &= ~(SSS_PROTO_HAS_LAST_UID | SSS_PROTO_HAS_LAST_UID_NULL);
        if (k == SSS_JSON_NULL) {
            m->last_uid[0] = '\0';
            m->last_uid_len = 0;
            m->has |= SSS_PROTO_HAS_LAST_UID_NULL;
            return 0;
        }
        return top_string(st, ev, SSS_PROTO_HAS_LAST_UID, m->last_uid, sizeof(m->last_uid),
                          &m->last_uid_len, SSS_PROTO_E_LASTUID_TYPE, SSS_PROTO_E_LASTUID_LONG);
    case F_SUBS:
        if (k != SSS_JSON_ARRAY)
            return fail(st, SSS_PROTO_E_SUBS_TYPE);
        st->in_subs = true;
        m->nsubs = 0; /* a duplicate array replaces the earlier one */
        m->has |= SSS_PROTO_HAS_SUBS;
        return 0;
    case F_MSG:
        return take_raw(st, &m->msg, ev);
    case F_QUERY:
        return take_raw(st, &m->query, ev);
    case F_UID:
        return take_raw(st, &m->uid, ev);
    case F_RESULT:
        return take_raw(st, &m->result, ev);
    case F_RECORDS:
        return take_raw(st, &m->records, ev);
    case F_PROT:
        return take_raw(st, &m->prot, ev);
    case F_ERR:
        return take_raw(st, &m->err, ev);
    case F_REASON:
        return take_raw(st, &m->reason, ev);
    }
    return 0;
}

/* An element of "subscriptions". */
static int sub_element(struct dstate *st, const struct sss_json__event *ev)
{
    struct sss_proto_sub *s;

    if (ev->item.type != SSS_JSON_OBJECT)
        return fail(st, SSS_PROTO_E_SUB_TYPE);
    st->sub_obj = true;
    st->sub = F_NONE;
    st->sub_channel = false;
    if (st->m->nsubs >= st->d->max_subs) {
        st->cur = NULL;
        return fail(st, SSS_PROTO_E_TOO_MANY_SUBS);
    }
    s = st->cur = &st->d->subs[st->m->nsubs++];
    s->query.ptr = NULL;
    s->query.len = 0;
    s->has_last_uid = false;
    s->channel_len = 0;
    s->last_uid_len = 0;
    s->channel[0] = '\0';
    s->last_uid[0] = '\0';
    return 0;
}

/* A value of a member of one subscription. */
static int sub_value(struct dstate *st, const struct sss_json__event *ev)
{
    struct sss_proto_sub *s = st->cur;
    enum sss_json_type k = ev->item.type;
    size_t n;

    switch (st->sub) {
    case F_CHANNEL:
        if (k != SSS_JSON_STRING)
            return fail(st, SSS_PROTO_E_CHANNEL_TYPE);
        if (!s)
            return 0;
        st->sub_channel = true;
        if (take_channel(st, ev, s->channel, sizeof(s->channel), &n))
            s->channel_len = (uint8_t)n;
        else
            s->channel_len = 0;
        return 0;
    case F_LAST_UID:
        if (k == SSS_JSON_NULL) {
            if (s) {
                s->has_last_uid = false;
                s->last_uid_len = 0;
                s->last_uid[0] = '\0';
            }
            return 0;
        }
        if (k != SSS_JSON_STRING)
            return fail(st, SSS_PROTO_E_LASTUID_TYPE);
        if (!s)
            return 0;
        s->has_last_uid = take_bounded(st, ev, s->last_uid, sizeof(s->last_uid), &n,
                                       SSS_PROTO_E_LASTUID_LONG) == 1;
        s->last_uid_len = (uint8_t)(s->has_last_uid ? n : 0);
        return 0;
    case F_QUERY:
        return take_raw(st, s ? &s->query : &st->discard, ev);
    default:
        return 0;
    }
}

/* A scalar, or a container at its OPEN. */
static int value(struct dstate *st, const struct sss_json__event *ev)
{
    if (ev->depth == 1)
        return top_value(st, ev);
    if (st->in_subs) {
        if (ev->depth == 2)
            return sub_element(st, ev);
        if (ev->depth == 3 && st->sub_obj)
            return sub_value(st, ev);
    }
    return 0;
}

static void key(struct dstate *st, const struct sss_json__event *ev)
{
    const unsigned char *k = (const unsigned char *)ev->item.key;

    if (ev->depth == 1)
        st->top = lookup(top_keys, sizeof(top_keys) / sizeof(top_keys[0]), k, ev->item.key_len);
    else if (ev->depth == 3 && st->sub_obj)
        st->sub = lookup(sub_keys, sizeof(sub_keys) / sizeof(sub_keys[0]), k, ev->item.key_len);
}

static void close_container(struct dstate *st, const struct sss_json__event *ev)
{
    if (st->open && ev->depth == st->open_depth) {
        st->open->ptr = st->in + st->open_start;
        st->open->len = ev->end - st->open_start;
        st->open = NULL;
    }
    if (ev->depth == 1) {
        st->in_subs = false;
    } else if (ev->depth == 2 && st->in_subs && st->sub_obj) {
        st->sub_obj = false;
        if (st->cur && !st->sub_channel)
            fail(st, SSS_PROTO_E_NO_CHANNEL);
        st->cur = NULL;
    }
}

/* The decoder's handler of sss_json__parse: never stops it (problems are recorded). */
static int on_token(void *data, const struct sss_json__event *ev)
{
    struct dstate *st = data;

    switch (ev->kind) {
    case SSS_JSON__KEY:
        key(st, ev);
        return 0;
    case SSS_JSON__SCALAR:
    case SSS_JSON__OPEN:
        return value(st, ev);
    case SSS_JSON__CLOSE:
        close_container(st, ev);
        return 0;
    }
    return 0;
}

/* The problem with a frame that parsed, if any: sys, then required fields. */
static enum sss_proto_error check_fields(const struct dstate *st)
{
    unsigned has = st->m->has;

    if (st->err)
        return st->err;
    if (!st->sys_seen)
        return SSS_PROTO_E_NO_SYS;
    if (!st->sys)
        return SSS_PROTO_E_SYS;
    if (st->d->from_server)
        return SSS_PROTO_OK;
    switch (st->sys) {
    case SSS_PROTO_SUBSCRIBE:
    case SSS_PROTO_UNSUBSCRIBE:
        return has & SSS_PROTO_HAS_CHANNEL ? SSS_PROTO_OK : SSS_PROTO_E_NO_CHANNEL;
    case SSS_PROTO_SYNC:
        return has & SSS_PROTO_HAS_SUBS ? SSS_PROTO_OK : SSS_PROTO_E_NO_SUBS;
    case SSS_PROTO_ASK:
    case SSS_PROTO_TELL:
        return has & SSS_PROTO_HAS_TOPIC ? SSS_PROTO_OK : SSS_PROTO_E_NO_TOPIC;
    case SSS_PROTO_PUBLISH:
        if (!(has & SSS_PROTO_HAS_CHANNEL))
            return SSS_PROTO_E_NO_CHANNEL;
        return has & SSS_PROTO_HAS_TOPIC ? SSS_PROTO_OK : SSS_PROTO_E_NO_TOPIC;
    default:
        return SSS_PROTO_OK;
    }
}

/* sss_proto_decode, or with implied_sys (not 0) sss_proto_decode_as. */
static int decode(struct sss_proto_decoder *d, const char *buf, size_t len, int implied_sys,
                  struct sss_proto_msg *msg)
{
    struct sss_json__parser p = {SSS_JSON_OBJECT, SSS_PROTO_MAX_DEPTH, on_token, NULL,
                                 d->mem,          sizeof(d->mem)};
    struct dstate st;
    int rc;

    memset(msg, 0, offsetof(struct sss_proto_msg, channel));
    msg->channel[0] = msg->topic[0] = msg->session[0] = msg->last_uid[0] = '\0';
    msg->subs = d->subs;
    if (!implied_sys && len == 1 && buf[0] == 'h') {
        msg->sys = SSS_PROTO_HEARTBEAT;
        return 0;
    }

    memset(&st, 0, sizeof(st));
    st.d = d;
    st.m = msg;
    st.in = buf;
    /* As if "sys":implied_sys came first: a later sys still wins. */
    st.sys_seen = implied_sys != 0;
    st.sys = implied_sys;
    p.data = &st;
    rc = sss_json__parse(&p, buf, len);

    if (st.sys_seen && st.sys)
        msg->sys = st.sys;
    switch (rc) {
    case 0:
        msg->error = check_fields(&st);
        break;
    case SSS_EINVAL:
        msg->error = SSS_PROTO_E_NOT_OBJECT;
        break;
    case SSS_ELIMIT:
        msg->error = SSS_PROTO_E_DEPTH;
        break;
    case -ENOMEM:
        msg->error = SSS_PROTO_E_NOMEM;
        break;
    default:
        msg->error = SSS_PROTO_E_JSON;
        break;
    }

    switch (msg->error) {
    case SSS_PROTO_OK:
        return 0;
    case SSS_PROTO_E_DEPTH:
    case SSS_PROTO_E_TOO_MANY_SUBS:
        return SSS_ELIMIT;
    case SSS_PROTO_E_NOMEM:
        return -ENOMEM;
    default:
        return SSS_EPROTO;
    }
}

int sss_proto_decode(struct sss_proto_decoder *d, const char *buf, size_t len,
                     struct sss_proto_msg *msg)
{
    return decode(d, buf, len, 0, msg);
}

int sss_proto_decode_as(struct sss_proto_decoder *d, const char *buf, size_t len, int sys,
                        struct sss_proto_msg *msg)
{
    assert(sys >= SSS_PROTO_SUBSCRIBE && sys <= SSS_PROTO_ERROR);
    return decode(d, buf, len, sys, msg);
}
