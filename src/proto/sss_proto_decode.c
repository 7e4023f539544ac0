/*
 * The JSON decoder of PROTOCOL.md (see sss_proto.h for the contract; the
 * encoders and uids are in sss_proto_encode.c).
 *
 * Decoding drives yajl's callback parser over the whole frame in one call
 * and keeps a small state machine in struct dstate:
 *
 *   depth 0   before the top-level object (anything else: not an object)
 *   depth 1   top-level members; the key's field decides what a value does
 *   depth 2   elements of "subscriptions" (in_subs), each must be an object
 *   depth 3   members of one subscription (sub_obj)
 *
 * Raw spans come from yajl_get_bytes_consumed(): inside a callback it is the
 * offset just past the token that fired it. A value starts after its key,
 * the ':' and whitespace (yajl has checked that grammar already), so
 * value_start() skips from the end of the key; a scalar ends at the
 * consumed offset of its own callback, a container at that of its end
 * callback. Strings we keep are unescaped here, from the raw token, because
 * yajl turns lone surrogate escapes into '?' or CESU bytes and \u0000 into NUL.
 *
 * yajl allocates its handle, lexer and buffers per parse; our allocation
 * hooks serve them from a bump region in the decoder that is emptied after
 * every frame (the newest block can grow in place, which is what yajl's
 * string-decoding buffer does), so the common frame never calls malloc.
 */
#include "sss_proto.h"
#include "sss_alloc.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* ---- yajl allocation hooks: a bump region, heap beyond it ---- */

#define MEM_HDR 16 /* each block is preceded by its size, keeping 16-byte alignment */

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static bool in_mem(const struct sss_proto_decoder *d, const void *p)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)d->mem;

    return a >= b && a < b + sizeof(d->mem);
}

static void *mem_malloc(void *ctx, size_t n)
{
    struct sss_proto_decoder *d = ctx;
    size_t need = round16(n ? n : 1);

    if (need < n) /* n rounded past SIZE_MAX */
        return NULL;
    if (d->mem_top + MEM_HDR <= sizeof(d->mem) && need <= sizeof(d->mem) - MEM_HDR - d->mem_top) {
        unsigned char *blk = d->mem + d->mem_top;

        memcpy(blk, &need, sizeof(need));
        d->mem_last = d->mem_top + MEM_HDR;
        d->mem_top += MEM_HDR + need;
        return blk + MEM_HDR;
    }
    return sss_malloc(n);
}

static void mem_free(void *ctx, void *p)
{
    struct sss_proto_decoder *d = ctx;

    if (!p)
        return;
    if (!in_mem(d, p)) {
        sss_free(p);
        return;
    }
    /* Only the newest block gives its room back; the rest goes at the frame's end. */
    if ((size_t)((unsigned char *)p - d->mem) == d->mem_last) {
        d->mem_top = d->mem_last - MEM_HDR;
        d->mem_last = 0;
    }
}

static void *mem_realloc(void *ctx, void *p, size_t n)
{
    struct sss_proto_decoder *d = ctx;
    size_t off, old, need;
    void *q;

    if (!p)
        return mem_malloc(ctx, n);
    if (!in_mem(d, p))
        return sss_realloc(p, n);
    off = (size_t)((unsigned char *)p - d->mem);
    memcpy(&old, d->mem + off - MEM_HDR, sizeof(old));
    need = round16(n ? n : 1);
    if (off == d->mem_last && need >= n && need <= sizeof(d->mem) - off) {
        memcpy(d->mem + off - MEM_HDR, &need, sizeof(need));
        d->mem_top = off + need;
        return p;
    }
    q = mem_malloc(ctx, n);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    mem_free(ctx, p);
    return q;
}

int sss_proto_decoder_init(struct sss_proto_decoder *d, size_t max_subs)
{
    d->subs = NULL;
    d->max_subs = max_subs;
    d->from_server = false;
    d->mem_top = 0;
    d->mem_last = 0;
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

enum kind { K_NULL, K_BOOL, K_NUMBER, K_STRING, K_MAP, K_ARRAY };

struct dstate {
    struct sss_proto_decoder *d;
    struct sss_proto_msg *m;
    yajl_handle h;
    const char *in;
    size_t len;
    unsigned depth;
    enum field top;                 /* field of the latest key at depth 1 */
    enum field sub;                 /* field of the latest key in a subscription */
    size_t key_end;                 /* offset just past the latest key */
    struct sss_proto_span *open;    /* raw container value awaiting its end */
    size_t open_start;
    unsigned open_depth;            /* depth the open container's end returns to */
    bool in_subs;                   /* inside the subscriptions array */
    bool sub_obj;                   /* inside one subscription object */
    bool sub_channel;               /* the current subscription had a channel */
    struct sss_proto_sub *cur;      /* current subscription, NULL past the limit */
    struct sss_proto_span discard;  /* target for raw spans we do not keep */
    bool sys_seen;
    int sys;                        /* 1..14, or 0 when sys was not such an integer */
    struct sss_proto_member *members; /* sss_proto_members: the keys looked for */
    size_t nmembers;
    struct sss_proto_member *member;  /* the one the latest top-level key named */
    bool finishing;                 /* inside yajl_complete_parse: offsets are not ours */
    size_t top_end;                 /* just past the top-level object, 0 until it closed */
    enum sss_proto_error err;       /* first problem, parsing continues */
    enum sss_proto_error fatal;     /* the reason we cancelled the parser */
};

static enum field lookup_top(const unsigned char *k, size_t n)
{
    switch (n) {
    case 2:
        return memcmp(k, "id", 2) == 0 ? F_ID : F_NONE;
    case 3:
        if (memcmp(k, "sys", 3) == 0)
            return F_SYS;
        if (memcmp(k, "msg", 3) == 0)
            return F_MSG;
        if (memcmp(k, "uid", 3) == 0)
            return F_UID;
        if (memcmp(k, "err", 3) == 0)
            return F_ERR;
        return F_NONE;
    case 4:
        return memcmp(k, "prot", 4) == 0 ? F_PROT : F_NONE;
    case 5:
        if (memcmp(k, "topic", 5) == 0)
            return F_TOPIC;
        if (memcmp(k, "query", 5) == 0)
            return F_QUERY;
        return F_NONE;
    case 6:
        if (memcmp(k, "result", 6) == 0)
            return F_RESULT;
        if (memcmp(k, "reason", 6) == 0)
            return F_REASON;
        return F_NONE;
    case 7:
        if (memcmp(k, "channel", 7) == 0)
            return F_CHANNEL;
        if (memcmp(k, "session", 7) == 0)
            return F_SESSION;
        if (memcmp(k, "lastUid", 7) == 0)
            return F_LAST_UID;
        if (memcmp(k, "records", 7) == 0)
            return F_RECORDS;
        return F_NONE;
    case 13:
        return memcmp(k, "subscriptions", 13) == 0 ? F_SUBS : F_NONE;
    default:
        return F_NONE;
    }
}

static enum field lookup_sub(const unsigned char *k, size_t n)
{
    if (n == 7 && memcmp(k, "channel", 7) == 0)
        return F_CHANNEL;
    if (n == 7 && memcmp(k, "lastUid", 7) == 0)
        return F_LAST_UID;
    if (n == 5 && memcmp(k, "query", 5) == 0)
        return F_QUERY;
    return F_NONE;
}

static struct sss_proto_member *lookup_member(const struct dstate *st, const unsigned char *k,
                                              size_t n)
{
    for (size_t i = 0; i < st->nmembers; i++)
        if (strlen(st->members[i].key) == n && memcmp(st->members[i].key, k, n) == 0)
            return &st->members[i];
    return NULL;
}

/* Record a problem and keep parsing (so that a later id is still seen). */
static int fail(struct dstate *st, enum sss_proto_error e)
{
    if (st->err == SSS_PROTO_OK)
        st->err = e;
    return 1;
}

/* Stop the parser: bad JSON, not an object, or too deep. */
static int cancel(struct dstate *st, enum sss_proto_error e)
{
    if (st->fatal == SSS_PROTO_OK)
        st->fatal = e;
    return 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Offset of the value that follows the latest key: skip whitespace, ':' and whitespace. */
static size_t value_start(const struct dstate *st)
{
    size_t p = st->key_end;

    while (p < st->len && is_ws(st->in[p]))
        p++;
    if (p < st->len && st->in[p] == ':')
        p++;
    while (p < st->len && is_ws(st->in[p]))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static long hex4(const char *p)
{
    long v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        int h = hexval(p[i]);

        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

enum unesc { UNESC_OK, UNESC_LONG, UNESC_BAD };

/*
 * Unescape the content of a JSON string token (p, n: between the quotes,
 * already checked by yajl's lexer) into dst (cap bytes, NUL included).
 */
static enum unesc unescape(const char *p, size_t n, char *dst, size_t cap, size_t *out_len)
{
    size_t i = 0, o = 0;

    while (i < n) {
        const char *bs = memchr(p + i, '\\', n - i);
        size_t run = bs ? (size_t)(bs - (p + i)) : n - i;
        long cp;
        char e;

        if (run) {
            if (run >= cap - o)
                return UNESC_LONG;
            memcpy(dst + o, p + i, run);
            o += run;
            i += run;
            continue;
        }
        if (i + 1 >= n)
            return UNESC_BAD;
        e = p[i + 1];
        i += 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            cp = e;
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            if (n - i < 4 || (cp = hex4(p + i)) < 0)
                return UNESC_BAD;
            i += 4;
            if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return UNESC_BAD;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo;

                if (n - i < 6 || p[i] != '\\' || p[i + 1] != 'u')
                    return UNESC_BAD;
                lo = hex4(p + i + 2);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return UNESC_BAD;
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            break;
        default:
            return UNESC_BAD;
        }
        if (cp < 0x80) {
            if (cap - o < 2)
                return UNESC_LONG;
            dst[o++] = (char)cp;
        } else if (cp < 0x800) {
            if (cap - o < 3)
                return UNESC_LONG;
            dst[o++] = (char)(0xC0 | (cp >> 6));
            dst[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            if (cap - o < 4)
                return UNESC_LONG;
            dst[o++] = (char)(0xE0 | (cp >> 12));
            dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            if (cap - o < 5)
                return UNESC_LONG;
            dst[o++] = (char)(0xF0 | (cp >> 18));
            dst[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    dst[o] = '\0';
    *out_len = o;
    return UNESC_OK;
}

/*
 * Unescape the string value whose token starts at start and ends at the
 * parser's current offset. Returns UNESC_* or -1 when the token is not where
 * it should be (cannot happen with yajl's grammar; treated as bad JSON).
 */
static int take_string(const struct dstate *st, size_t start, char *dst, size_t cap, size_t *len)
{
    size_t end = yajl_get_bytes_consumed(st->h);

    if (end > st->len || start + 2 > end || st->in[start] != '"' || st->in[end - 1] != '"')
        return -1;
    return (int)unescape(st->in + start + 1, end - start - 2, dst, cap, len);
}

/* A raw value: a scalar ends here, a container when its end callback returns to depth. */
static int take_raw(struct dstate *st, struct sss_proto_span *sp, enum kind k, size_t start)
{
    size_t end;

    if (k == K_MAP || k == K_ARRAY) {
        st->open = sp;
        st->open_start = start;
        st->open_depth = st->depth;
        return 1;
    }
    end = yajl_get_bytes_consumed(st->h);
    if (end > st->len || start >= end)
        return cancel(st, SSS_PROTO_E_JSON);
    sp->ptr = st->in + start;
    sp->len = end - start;
    return 1;
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

static int take_channel(struct dstate *st, size_t start, char *dst, size_t cap, size_t *len)
{
    int r = take_string(st, start, dst, cap, len);

    if (r < 0)
        return cancel(st, SSS_PROTO_E_JSON);
    if (r != UNESC_OK) {
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
static int take_bounded(struct dstate *st, size_t start, char *dst, size_t cap, size_t *len,
                        enum sss_proto_error too_long)
{
    int r = take_string(st, start, dst, cap, len);

    if (r < 0)
        return cancel(st, SSS_PROTO_E_JSON);
    if (r == UNESC_OK)
        return 1;
    *len = 0;
    dst[0] = '\0';
    fail(st, r == UNESC_LONG ? too_long : SSS_PROTO_E_ESCAPE);
    return 0;
}

/* A value of a top-level member. */
static int top_value(struct dstate *st, enum kind k, const char *num, size_t num_len)
{
    struct sss_proto_msg *m = st->m;
    size_t start = value_start(st);

    switch (st->top) {
    case F_NONE:
        return 1;
    case F_SYS:
        st->sys_seen = true;
        st->sys = k == K_NUMBER ? parse_sys(num, num_len) : 0;
        return 1;
    case F_ID:
        if (k == K_NULL) {
            m->id.ptr = NULL;
            m->id.len = 0;
            return 1;
        }
        if (k == K_NUMBER || k == K_STRING)
            return take_raw(st, &m->id, k, start);
        return fail(st, SSS_PROTO_E_ID);
    case F_CHANNEL:
        if (k != K_STRING)
            return fail(st, SSS_PROTO_E_CHANNEL_TYPE);
        m->has &= ~SSS_PROTO_HAS_CHANNEL;
        if (take_channel(st, start, m->channel, sizeof(m->channel), &m->channel_len))
            m->has |= SSS_PROTO_HAS_CHANNEL;
        return st->fatal ? 0 : 1;
    case F_TOPIC:
        if (k != K_STRING)
            return fail(st, SSS_PROTO_E_TOPIC_TYPE);
        m->has &= ~SSS_PROTO_HAS_TOPIC;
        if (take_bounded(st, start, m->topic, sizeof(m->topic), &m->topic_len,
                         SSS_PROTO_E_TOPIC_LONG))
            m->has |= SSS_PROTO_HAS_TOPIC;
        return st->fatal ? 0 : 1;
    case F_SESSION:
        if (k != K_STRING)
            return fail(st, SSS_PROTO_E_SESSION_TYPE);
        m->has &= ~SSS_PROTO_HAS_SESSION;
        if (take_bounded(st, start, m->session, sizeof(m->session), &m->session_len,
                         SSS_PROTO_E_SESSION_LONG))
            m->has |= SSS_PROTO_HAS_SESSION;
        return st->fatal ? 0 : 1;
    case F_LAST_UID:
        m->has &= ~(SSS_PROTO_HAS_LAST_UID | SSS_PROTO_HAS_LAST_UID_NULL);
        if (k == K_NULL) {
            m->last_uid[0] = '\0';
            m->last_uid_len = 0;
            m->has |= SSS_PROTO_HAS_LAST_UID_NULL;
            return 1;
        }
        if (k != K_STRING)
            return fail(st, SSS_PROTO_E_LASTUID_TYPE);
        if (take_bounded(st, start, m->last_uid, sizeof(m->last_uid), &m->last_uid_len,
                         SSS_PROTO_E_LASTUID_LONG))
            m->has |= SSS_PROTO_HAS_LAST_UID;
        return st->fatal ? 0 : 1;
    case F_SUBS:
        if (k != K_ARRAY)
            return fail(st, SSS_PROTO_E_SUBS_TYPE);
        st->in_subs = true;
        m->nsubs = 0; /* a duplicate array replaces the earlier one */
        m->has |= SSS_PROTO_HAS_SUBS;
        return 1;
    case F_MSG:
        return take_raw(st, &m->msg, k, start);
    case F_QUERY:
        return take_raw(st, &m->query, k, start);
    case F_UID:
        return take_raw(st, &m->uid, k, start);
    case F_RESULT:
        return take_raw(st, &m->result, k, start);
    case F_RECORDS:
        return take_raw(st, &m->records, k, start);
    case F_PROT:
        return take_raw(st, &m->prot, k, start);
    case F_ERR:
        return take_raw(st, &m->err, k, start);
    case F_REASON:
        return take_raw(st, &m->reason, k, start);
    }
    return 1;
}

/* An element of "subscriptions". */
static int sub_element(struct dstate *st, enum kind k)
{
    struct sss_proto_sub *s;

    if (k != K_MAP)
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
    return 1;
}

/* A value of a member of one subscription. */
static int sub_value(struct dstate *st, enum kind k)
{
    struct sss_proto_sub *s = st->cur;
    size_t start = value_start(st), n;

    switch (st->sub) {
    case F_CHANNEL:
        if (k != K_STRING)
            return fail(st, SSS_PROTO_E_CHANNEL_TYPE);
        if (!s)
            return 1;
        st->sub_channel = true;
        if (take_channel(st, start, s->channel, sizeof(s->channel), &n))
            s->channel_len = (uint8_t)n;
        else
            s->channel_len = 0;
        return st->fatal ? 0 : 1;
    case F_LAST_UID:
        if (k == K_NULL) {
            if (s) {
                s->has_last_uid = false;
                s->last_uid_len = 0;
                s->last_uid[0] = '\0';
            }
            return 1;
        }
        if (k != K_STRING)
            return fail(st, SSS_PROTO_E_LASTUID_TYPE);
        if (!s)
            return 1;
        s->has_last_uid = take_bounded(st, start, s->last_uid, sizeof(s->last_uid), &n,
                                       SSS_PROTO_E_LASTUID_LONG) == 1;
        s->last_uid_len = (uint8_t)(s->has_last_uid ? n : 0);
        return st->fatal ? 0 : 1;
    case F_QUERY:
        return take_raw(st, s ? &s->query : &st->discard, k, start);
    default:
        return 1;
    }
}

static int value(struct dstate *st, enum kind k, const char *num, size_t num_len)
{
    if (st->finishing)
        return cancel(st, st->depth ? SSS_PROTO_E_JSON : SSS_PROTO_E_NOT_OBJECT);
    if (st->depth == 0)
        return k == K_MAP ? 1 : cancel(st, SSS_PROTO_E_NOT_OBJECT);
    if (st->depth == 1 && st->members) {
        if (!st->member)
            return 1;
        st->member->count++;
        return take_raw(st, &st->member->value, k, value_start(st));
    }
    if (st->depth == 1)
        return top_value(st, k, num, num_len);
    if (st->in_subs) {
        if (st->depth == 2)
            return sub_element(st, k);
        if (st->depth == 3 && st->sub_obj)
            return sub_value(st, k);
    }
    return 1;
}

static int cb_null(void *ctx)
{
    return value(ctx, K_NULL, NULL, 0);
}

static int cb_boolean(void *ctx, int b)
{
    (void)b;
    return value(ctx, K_BOOL, NULL, 0);
}

static int cb_number(void *ctx, const char *s, size_t n)
{
    return value(ctx, K_NUMBER, s, n);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    (void)s;
    (void)n;
    return value(ctx, K_STRING, NULL, 0);
}

static int start_container(struct dstate *st, enum kind k)
{
    if (st->depth >= SSS_PROTO_MAX_DEPTH)
        return cancel(st, SSS_PROTO_E_DEPTH);
    if (!value(st, k, NULL, 0))
        return 0;
    st->depth++;
    return 1;
}

static int cb_start_map(void *ctx)
{
    return start_container(ctx, K_MAP);
}

static int cb_start_array(void *ctx)
{
    return start_container(ctx, K_ARRAY);
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t n)
{
    struct dstate *st = ctx;

    if (st->finishing)
        return cancel(st, SSS_PROTO_E_JSON);
    st->key_end = yajl_get_bytes_consumed(st->h);
    if (st->depth == 1 && st->members)
        st->member = lookup_member(st, k, n);
    else if (st->depth == 1)
        st->top = lookup_top(k, n);
    else if (st->depth == 3 && st->sub_obj)
        st->sub = lookup_sub(k, n);
    return 1;
}

static int end_container(struct dstate *st)
{
    if (st->finishing || st->depth == 0)
        return cancel(st, SSS_PROTO_E_JSON);
    if (--st->depth == 0)
        st->top_end = yajl_get_bytes_consumed(st->h);
    if (st->open && st->depth == st->open_depth) {
        size_t end = yajl_get_bytes_consumed(st->h);

        if (end > st->len || st->open_start >= end)
            return cancel(st, SSS_PROTO_E_JSON);
        st->open->ptr = st->in + st->open_start;
        st->open->len = end - st->open_start;
        st->open = NULL;
    }
    if (st->depth == 1) {
        st->in_subs = false;
    } else if (st->depth == 2 && st->in_subs && st->sub_obj) {
        st->sub_obj = false;
        if (st->cur && !st->sub_channel)
            fail(st, SSS_PROTO_E_NO_CHANNEL);
        st->cur = NULL;
    }
    return 1;
}

static int cb_end(void *ctx)
{
    return end_container(ctx);
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number, /* raw text: no conversion, no overflow */
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

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

/* Whether only whitespace follows the top-level object (and it did close). */
static bool only_ws_after(const struct dstate *st)
{
    if (st->top_end == 0 || st->top_end > st->len)
        return false;
    for (size_t i = st->top_end; i < st->len; i++)
        if (!is_ws(st->in[i]))
            return false;
    return true;
}

/*
 * Run yajl over st->in (st->d, st->in and st->len set) with our allocation
 * hooks and strict settings. Returns 0 with the parser's verdict in *ys, or
 * -ENOMEM when yajl could not even start.
 */
static int run_parser(struct dstate *st, yajl_status *ys)
{
    struct sss_proto_decoder *d = st->d;
    yajl_alloc_funcs afs = {mem_malloc, mem_realloc, mem_free, d};

    d->mem_top = 0;
    d->mem_last = 0;
    st->h = yajl_alloc(&callbacks, &afs, st);
    if (!st->h)
        return -ENOMEM;
    /* Defaults already strict: no comments, UTF-8 checked, no trailing
     * garbage, one value. Say so, in case a yajl build changes them. */
    yajl_config(st->h, yajl_allow_comments, 0);
    yajl_config(st->h, yajl_dont_validate_strings, 0);
    yajl_config(st->h, yajl_allow_trailing_garbage, 0);
    yajl_config(st->h, yajl_allow_multiple_values, 0);
    yajl_config(st->h, yajl_allow_partial_values, 0);

    *ys = yajl_parse(st->h, (const unsigned char *)st->in, st->len);
    if (*ys == yajl_status_ok) {
        st->finishing = true;
        *ys = yajl_complete_parse(st->h);
    }
    yajl_free(st->h);
    d->mem_top = 0;
    d->mem_last = 0;
    /* yajl's own check for trailing garbage lets an unterminated string
     * through (its lexer just asks for more input): only whitespace may
     * follow the object. */
    if (*ys == yajl_status_ok && !only_ws_after(st))
        *ys = yajl_status_error;
    return 0;
}

/* yajl takes \v and \f for whitespace; JSON does not. Raw control bytes are
 * invalid inside strings, so any such byte is outside one. */
static bool has_vt_ff(const char *buf, size_t len)
{
    return memchr(buf, '\v', len) || memchr(buf, '\f', len);
}

/* sss_proto_decode, or with implied_sys (not 0) sss_proto_decode_as. */
static int decode(struct sss_proto_decoder *d, const char *buf, size_t len, int implied_sys,
                  struct sss_proto_msg *msg)
{
    struct dstate st;
    yajl_status ys;

    memset(msg, 0, offsetof(struct sss_proto_msg, channel));
    msg->channel[0] = msg->topic[0] = msg->session[0] = msg->last_uid[0] = '\0';
    msg->subs = d->subs;
    if (!implied_sys && len == 1 && buf[0] == 'h') {
        msg->sys = SSS_PROTO_HEARTBEAT;
        return 0;
    }
    if (has_vt_ff(buf, len)) {
        msg->error = SSS_PROTO_E_JSON;
        return SSS_EPROTO;
    }

    memset(&st, 0, sizeof(st));
    st.d = d;
    st.m = msg;
    st.in = buf;
    st.len = len;
    /* As if "sys":implied_sys came first: a later sys still wins. */
    st.sys_seen = implied_sys != 0;
    st.sys = implied_sys;
    if (run_parser(&st, &ys) < 0) {
        msg->error = SSS_PROTO_E_NOMEM;
        return -ENOMEM;
    }

    if (st.sys_seen && st.sys)
        msg->sys = st.sys;
    if (ys == yajl_status_client_canceled && st.fatal)
        msg->error = st.fatal;
    else if (ys != yajl_status_ok)
        msg->error = SSS_PROTO_E_JSON;
    else
        msg->error = check_fields(&st);

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

int sss_proto_members(struct sss_proto_decoder *d, const char *buf, size_t len,
                      struct sss_proto_member *members, size_t n)
{
    struct sss_proto_msg unused; /* the callbacks never touch it in this mode */
    struct dstate st;
    yajl_status ys;

    for (size_t i = 0; i < n; i++) {
        members[i].value.ptr = NULL;
        members[i].value.len = 0;
        members[i].count = 0;
    }
    if (has_vt_ff(buf, len))
        return SSS_EPROTO;
    memset(&st, 0, sizeof(st));
    st.d = d;
    st.m = &unused;
    st.in = buf;
    st.len = len;
    st.members = members;
    st.nmembers = n;
    if (run_parser(&st, &ys) < 0)
        return -ENOMEM;
    if (ys == yajl_status_ok)
        return 0;
    return ys == yajl_status_client_canceled && st.fatal == SSS_PROTO_E_DEPTH ? SSS_ELIMIT
                                                                              : SSS_EPROTO;
}

int sss_proto_span_string(struct sss_proto_span sp, char *dst, size_t cap, size_t *len)
{
    enum unesc r;

    if (!sp.ptr || sp.len < 2 || sp.ptr[0] != '"' || sp.ptr[sp.len - 1] != '"' || cap == 0)
        return SSS_EINVAL;
    r = unescape(sp.ptr + 1, sp.len - 2, dst, cap, len);
    if (r == UNESC_OK)
        return 0;
    dst[0] = '\0';
    *len = 0;
    return r == UNESC_LONG ? SSS_ELIMIT : SSS_EPROTO;
}
