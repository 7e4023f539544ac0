/*
 * The one JSON reader (see sss_json.h for the contract and the rules).
 *
 * sss_json__parse owns the only yajl callback table and yajl_config of the
 * tree, and turns yajl's callbacks into tokens with offsets. Inside a
 * callback yajl_get_bytes_consumed() is the offset just past the token that
 * fired it: a scalar ends there (a string starts at the last quote before
 * it that no backslash escapes: inside a string every quote is escaped), a
 * bracket is the byte before it. Only a number needs the byte after it to
 * end, so only a number can fire inside yajl_complete_parse, where offsets
 * are not ours: it is then the last bytes of the text. The allocator serves
 * yajl from the caller's region (the newest block grows in place, which is
 * what yajl's string-decoding buffer does), then from sss_alloc.
 *
 * sss_json_each sits on top: it hands over the children of the top
 * container and checks the raw text of each string (keys too) for what yajl
 * accepts but RFC 8259 does not.
 */
#include "sss_json.h"
#include "sss_alloc.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* ---- yajl's memory: the caller's region, then sss_alloc ---- */

#define BLOCK_HDR 16 /* each block is preceded by its size, keeping 16-byte alignment */

struct pstate {
    const struct sss_json__parser *p;
    yajl_handle h;
    const char *in;
    size_t len;     /* the text yajl reads: up to the first \v or \f */
    unsigned depth; /* containers open */
    bool finishing; /* inside yajl_complete_parse */
    size_t top_end; /* just past the top container, 0 until it closed */
    int rc;         /* why we cancelled */
    size_t region_top, region_last; /* bytes in use; offset of the newest block + 1, or 0 */
};

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static bool in_region(const struct pstate *st, const void *p)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)st->p->region;

    return st->p->region && a >= b && a < b + st->p->region_cap;
}

static void *y_malloc(void *ctx, size_t n)
{
    struct pstate *st = ctx;
    size_t need = round16(n ? n : 1), cap = st->p->region_cap;

    if (need < n) /* n rounded past SIZE_MAX */
        return NULL;
    if (st->p->region && st->region_top + BLOCK_HDR <= cap &&
        need <= cap - BLOCK_HDR - st->region_top) {
        unsigned char *blk = st->p->region + st->region_top;

        memcpy(blk, &need, sizeof(need));
        st->region_last = st->region_top + BLOCK_HDR;
        st->region_top += BLOCK_HDR + need;
        return blk + BLOCK_HDR;
    }
    return sss_malloc(n);
}

static void y_free(void *ctx, void *p)
{
    struct pstate *st = ctx;

    if (!p)
        return;
    if (!in_region(st, p)) {
        sss_free(p);
        return;
    }
    /* Only the newest block gives its room back; the rest goes when the parse ends. */
    if ((size_t)((unsigned char *)p - st->p->region) == st->region_last) {
        st->region_top = st->region_last - BLOCK_HDR;
        st->region_last = 0;
    }
}

static void *y_realloc(void *ctx, void *p, size_t n)
{
    struct pstate *st = ctx;
    size_t off, old, need;
    void *q;

    if (!p)
        return y_malloc(ctx, n);
    if (!in_region(st, p))
        return sss_realloc(p, n);
    off = (size_t)((unsigned char *)p - st->p->region);
    memcpy(&old, st->p->region + off - BLOCK_HDR, sizeof(old));
    need = round16(n ? n : 1);
    if (off == st->region_last && need >= n && need <= st->p->region_cap - off) {
        memcpy(st->p->region + off - BLOCK_HDR, &need, sizeof(need));
        st->region_top = off + need;
        return p;
    }
    q = y_malloc(ctx, n);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    y_free(ctx, p);
    return q;
}

/* ---- tokens ---- */

static int cancel(struct pstate *st, int rc)
{
    st->rc = rc;
    return 0;
}

/* Hand ev (kind, item.type and the rest set) over, with the depth and raw text of [start, end). */
static int emit(struct pstate *st, struct sss_json__event *ev, size_t start, size_t end)
{
    int rc;

    if (st->depth == 0 && ev->kind != SSS_JSON__CLOSE &&
        (ev->kind != SSS_JSON__OPEN || ev->item.type != st->p->top))
        return cancel(st, SSS_EINVAL); /* the first value is not the container asked for */
    if (start >= end || end > st->len)
        return cancel(st, SSS_EPROTO); /* cannot happen with yajl's grammar */
    ev->depth = st->depth;
    ev->start = start;
    ev->end = end;
    ev->item.raw = st->in + start;
    ev->item.raw_len = end - start;
    rc = st->p->fn(st->p->data, ev);
    return rc < 0 ? cancel(st, rc) : 1;
}

/* A token of n bytes that ends at the parser's offset and must read lit (when not NULL). */
static int emit_at(struct pstate *st, struct sss_json__event *ev, size_t n, const char *lit)
{
    size_t end = st->finishing ? st->len : yajl_get_bytes_consumed(st->h);

    if (st->finishing && ev->item.type != SSS_JSON_NUMBER)
        return cancel(st, SSS_EPROTO); /* only a number ends in yajl_complete_parse */
    if (end < n || end > st->len || (lit && memcmp(st->in + end - n, lit, n) != 0))
        return cancel(st, SSS_EPROTO);
    return emit(st, ev, end - n, end);
}

/* Where the string token that just ended starts, or (size_t)-1. */
static size_t string_start(const struct pstate *st, size_t end)
{
    size_t i;

    if (st->finishing || end < 2 || end > st->len || st->in[end - 1] != '"')
        return (size_t)-1;
    for (i = end - 1; i-- > 0;) {
        size_t bs = 0;

        if (st->in[i] != '"')
            continue;
        while (bs < i && st->in[i - 1 - bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return i;
    }
    return (size_t)-1;
}

static int string_token(struct pstate *st, struct sss_json__event *ev)
{
    size_t end = yajl_get_bytes_consumed(st->h), start = string_start(st, end);

    if (start == (size_t)-1)
        return cancel(st, SSS_EPROTO);
    return emit(st, ev, start, end);
}

static int cb_null(void *ctx)
{
    struct sss_json__event ev = {.kind = SSS_JSON__SCALAR, .item.type = SSS_JSON_NULL};

    return emit_at(ctx, &ev, 4, "null");
}

static int cb_boolean(void *ctx, int b)
{
    struct sss_json__event ev = {.kind = SSS_JSON__SCALAR,
                                 .item.type = b ? SSS_JSON_TRUE : SSS_JSON_FALSE};

    return emit_at(ctx, &ev, b ? 4 : 5, b ? "true" : "false");
}

static int cb_number(void *ctx, const char *s, size_t n)
{
    struct sss_json__event ev = {.kind = SSS_JSON__SCALAR, .item.type = SSS_JSON_NUMBER};

    return emit_at(ctx, &ev, n, s); /* raw text: no conversion, no overflow */
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    struct sss_json__event ev = {.kind = SSS_JSON__SCALAR,
                                 .item = {.type = SSS_JSON_STRING,
                                          .str = (const char *)s,
                                          .str_len = n}};

    return string_token(ctx, &ev);
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t n)
{
    struct sss_json__event ev = {.kind = SSS_JSON__KEY,
                                 .item = {.key = (const char *)k,
                                          .key_len = n,
                                          .type = SSS_JSON_STRING,
                                          .str = (const char *)k,
                                          .str_len = n}};

    return string_token(ctx, &ev);
}

static int open_container(struct pstate *st, enum sss_json_type type)
{
    struct sss_json__event ev = {.kind = SSS_JSON__OPEN, .item.type = type};

    if (st->depth >= st->p->max_depth)
        return cancel(st, SSS_ELIMIT);
    if (!emit_at(st, &ev, 1, type == SSS_JSON_OBJECT ? "{" : "["))
        return 0;
    st->depth++;
    return 1;
}

static int close_container(struct pstate *st, enum sss_json_type type)
{
    struct sss_json__event ev = {.kind = SSS_JSON__CLOSE, .item.type = type};

    if (st->depth == 0)
        return cancel(st, SSS_EPROTO);
    if (--st->depth == 0)
        st->top_end = yajl_get_bytes_consumed(st->h);
    return emit_at(st, &ev, 1, type == SSS_JSON_OBJECT ? "}" : "]");
}

static int cb_start_map(void *ctx)
{
    return open_container(ctx, SSS_JSON_OBJECT);
}

static int cb_end_map(void *ctx)
{
    return close_container(ctx, SSS_JSON_OBJECT);
}

static int cb_start_array(void *ctx)
{
    return open_container(ctx, SSS_JSON_ARRAY);
}

static int cb_end_array(void *ctx)
{
    return close_container(ctx, SSS_JSON_ARRAY);
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int sss_json__parse(const struct sss_json__parser *p, const char *buf, size_t len)
{
    yajl_alloc_funcs afs = {y_malloc, y_realloc, y_free, NULL};
    struct pstate st = {.p = p, .in = buf};
    yajl_status ys;
    size_t n;

    afs.ctx = &st;
    /* yajl takes \v and \f for whitespace; JSON does not. Raw control bytes
     * are refused inside strings, so the first such byte ends the valid text:
     * read up to it, so that what comes before is seen in order. */
    for (n = 0; n < len && buf[n] != '\v' && buf[n] != '\f'; n++)
        ;
    st.len = n;
    st.h = yajl_alloc(&callbacks, &afs, &st);
    if (!st.h)
        return -ENOMEM;
    /* Defaults already strict: no comments, UTF-8 checked, no trailing
     * garbage, one value. Say so, in case a yajl build changes them. */
    yajl_config(st.h, yajl_allow_comments, 0);
    yajl_config(st.h, yajl_dont_validate_strings, 0);
    yajl_config(st.h, yajl_allow_trailing_garbage, 0);
    yajl_config(st.h, yajl_allow_multiple_values, 0);
    yajl_config(st.h, yajl_allow_partial_values, 0);
    ys = yajl_parse(st.h, (const unsigned char *)buf, n);
    if (ys == yajl_status_ok) {
        st.finishing = true;
        ys = yajl_complete_parse(st.h);
    }
    yajl_free(st.h);
    if (ys == yajl_status_client_canceled)
        return st.rc;
    if (ys != yajl_status_ok || n < len || st.top_end == 0 || st.top_end > len)
        return SSS_EPROTO;
    /* yajl's check for trailing garbage lets an unterminated string through
     * (its lexer just asks for more input): only whitespace may follow. */
    for (n = st.top_end; n < len; n++)
        if (!is_ws(buf[n]))
            return SSS_EPROTO;
    return 0;
}

/* ---- strings: the RFC 8259 check and the one unescaper ---- */

size_t sss_json__utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    uint32_t cp;
    size_t n, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* The four hex digits of a \u escape at p, or -1. */
static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *out)
{
    uint32_t v = 0;
    int i;

    if (end - p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        unsigned char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Whether a string token (raw, quotes included) is strict JSON inside. */
static bool string_strict(const struct sss_json_item *it)
{
    const unsigned char *p = (const unsigned char *)it->raw + 1;
    const unsigned char *end = (const unsigned char *)it->raw + it->raw_len - 1;

    while (p < end) {
        uint32_t cp, lo;
        size_t n;

        if (*p >= 0x80) {
            n = sss_json__utf8_len(p, end);
            if (n == 0)
                return false;
            p += n;
        } else if (*p != '\\') {
            p++;
        } else if (end - p >= 2 && p[1] != 'u') {
            p += 2;
        } else {
            if (hex4(p + 2, end, &cp) < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
                return false;
            p += 6;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* A high surrogate needs its low half right after it. */
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return false;
                p += 6;
            }
        }
    }
    return true;
}

int sss_json__unescape(const char *p, size_t n, char *dst, size_t cap, size_t *out_len)
{
    const unsigned char *end = (const unsigned char *)p + n;
    size_t i = 0, o = 0;

    while (i < n) {
        const char *bs = memchr(p + i, '\\', n - i);
        size_t run = bs ? (size_t)(bs - (p + i)) : n - i;
        uint32_t cp;
        char e;

        if (run) {
            if (run >= cap - o)
                return SSS_ELIMIT;
            memcpy(dst + o, p + i, run);
            o += run;
            i += run;
            continue;
        }
        if (i + 1 >= n)
            return SSS_EPROTO;
        e = p[i + 1];
        i += 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            cp = (unsigned char)e;
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
            if (hex4((const unsigned char *)p + i, end, &cp) < 0)
                return SSS_EPROTO;
            i += 4;
            if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return SSS_EPROTO;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;

                if (n - i < 6 || p[i] != '\\' || p[i + 1] != 'u' ||
                    hex4((const unsigned char *)p + i + 2, end, &lo) < 0)
                    return SSS_EPROTO;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return SSS_EPROTO;
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            break;
        default:
            return SSS_EPROTO;
        }
        if (cp < 0x80) {
            if (cap - o < 2)
                return SSS_ELIMIT;
            dst[o++] = (char)cp;
        } else if (cp < 0x800) {
            if (cap - o < 3)
                return SSS_ELIMIT;
            dst[o++] = (char)(0xC0 | (cp >> 6));
            dst[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            if (cap - o < 4)
                return SSS_ELIMIT;
            dst[o++] = (char)(0xE0 | (cp >> 12));
            dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            if (cap - o < 5)
                return SSS_ELIMIT;
            dst[o++] = (char)(0xF0 | (cp >> 18));
            dst[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    dst[o] = '\0';
    *out_len = o;
    return 0;
}

/* ---- sss_json_each: the children of the top container ---- */

#define KEY_BUF 256  /* keys up to this long need no allocation */
#define REGION 12288 /* yajl's memory for one small document (a JWT needs under 8 KiB) */

struct rstate {
    const char *in;
    unsigned flags;
    sss_json_item_fn fn;
    void *data;
    /* The current member of the top container. */
    char *key; /* keybuf or keyheap */
    size_t key_len;
    bool key_loose;
    size_t open_start; /* where the child container being read starts */
    char *keyheap;     /* owned, keycap bytes */
    size_t keycap;
    char keybuf[KEY_BUF];
};

/* Whether a string or key is fine for the flags; *loose says it passed only by them. */
static bool string_ok(const struct rstate *st, const struct sss_json_item *it, bool *loose)
{
    *loose = !string_strict(it);
    return !*loose || (st->flags & SSS_JSON_LOOSE_STRINGS);
}

static int child(struct rstate *st, const struct sss_json__event *ev)
{
    struct sss_json_item it = ev->item;

    it.key = NULL;
    it.key_len = 0;
    if (ev->kind == SSS_JSON__CLOSE) {
        it.raw = st->in + st->open_start;
        it.raw_len = ev->end - st->open_start;
    }
    if (st->key) {
        it.key = st->key;
        it.key_len = st->key_len;
        it.loose = it.loose || st->key_loose;
    }
    return st->fn(st->data, &it);
}

static int on_token(void *data, const struct sss_json__event *ev)
{
    struct rstate *st = data;
    bool loose = false;

    if (ev->item.type == SSS_JSON_STRING && ev->kind != SSS_JSON__CLOSE &&
        !string_ok(st, &ev->item, &loose))
        return SSS_EPROTO;
    if (ev->depth != 1)
        return 0;
    switch (ev->kind) {
    case SSS_JSON__KEY:
        if (ev->item.key_len > sizeof(st->keybuf) && ev->item.key_len > st->keycap) {
            char *p = sss_realloc(st->keyheap, ev->item.key_len);

            if (!p)
                return -ENOMEM;
            st->keyheap = p;
            st->keycap = ev->item.key_len;
        }
        st->key = ev->item.key_len <= sizeof(st->keybuf) ? st->keybuf : st->keyheap;
        memcpy(st->key, ev->item.key, ev->item.key_len);
        st->key_len = ev->item.key_len;
        st->key_loose = loose;
        return 0;
    case SSS_JSON__OPEN:
        st->open_start = ev->start;
        return 0;
    case SSS_JSON__SCALAR: {
        struct sss_json__event e = *ev;

        e.item.loose = loose;
        return child(st, &e);
    }
    case SSS_JSON__CLOSE:
        return child(st, ev);
    }
    return 0;
}

int sss_json_each(const char *buf, size_t len, enum sss_json_type top, unsigned max_depth,
                  unsigned flags, sss_json_item_fn fn, void *data)
{
    _Alignas(16) unsigned char region[REGION];
    struct sss_json__parser p = {top, max_depth, on_token, NULL, region, sizeof(region)};
    struct rstate st;
    int rc;

    memset(&st, 0, offsetof(struct rstate, keybuf));
    st.in = buf;
    st.flags = flags;
    st.fn = fn;
    st.data = data;
    p.data = &st;
    rc = sss_json__parse(&p, buf, len);
    sss_free(st.keyheap);
    return rc == SSS_EINVAL || rc == SSS_ELIMIT ? SSS_EPROTO : rc;
}
