/*
 * The strict small-document JSON reader (see sss_json.h for the contract).
 *
 * yajl does the grammar. Inside a callback yajl_get_bytes_consumed() is the
 * offset just past the token that fired it, so a string's raw text ends
 * there and starts at the last quote before it that no backslash escapes
 * (inside a string every quote is escaped); a container starts one byte
 * before the offset of its start callback and ends at that of its end
 * callback. Only numbers need the byte after them to end, so only a number
 * can fire inside yajl_complete_parse, where offsets are not ours: its text
 * comes from the callback instead. The raw text of each string (keys too) is
 * checked here for what yajl accepts but RFC 8259 does not: overlong UTF-8,
 * encoded surrogates and lone surrogate escapes, which yajl turns into '?'
 * or CESU bytes.
 */
#include "sss_json.h"
#include "sss_alloc.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define KEY_BUF 256     /* keys up to this long need no allocation */
#define REGION 12288    /* yajl's memory for one small document (a JWT needs under 8 KiB) */
#define BLOCK_HDR 16    /* each region block is preceded by its size, keeping 16-byte alignment */

struct rstate {
    yajl_handle h;
    const unsigned char *in;
    size_t len;
    enum sss_json_type top;
    unsigned max_depth, depth;
    bool finishing; /* inside yajl_complete_parse */
    sss_json_item_fn fn;
    void *data;
    int rc; /* why we cancelled */
    /* The current member of the top container. */
    char *key; /* keybuf or keyheap */
    size_t key_len;
    size_t open_start; /* where the child container being read starts */
    size_t top_end;    /* just past the top container, 0 until it closed */
    char *keyheap;     /* owned, keycap bytes */
    size_t keycap;
    char keybuf[KEY_BUF];
    size_t region_top; /* bytes of region in use */
    _Alignas(16) unsigned char region[REGION];
};

static int cancel(struct rstate *st, int rc)
{
    st->rc = rc;
    return 0;
}

/* ---- strict strings ---- */

/* Length of the well-formed UTF-8 sequence (RFC 3629) at p, or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
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

/* The four hex digits of a \u escape at p (yajl checked they are hex). */
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

/* Whether the inside of a string token (between its quotes) is strict JSON. */
static bool string_strict(const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        uint32_t cp, lo;
        size_t n;

        if (*p >= 0x80) {
            n = utf8_seq(p, end);
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

/* The raw string token that just ended: its start, or false when it is not there. */
static bool string_token(const struct rstate *st, size_t *start, size_t *end)
{
    size_t e = yajl_get_bytes_consumed(st->h), i;

    if (st->finishing || e < 2 || e > st->len || st->in[e - 1] != '"')
        return false;
    for (i = e - 1; i-- > 0;) {
        size_t bs = 0;

        if (st->in[i] != '"')
            continue;
        while (bs < i && st->in[i - 1 - bs] == '\\')
            bs++;
        if (bs % 2 == 0) {
            *start = i;
            *end = e;
            return string_strict(st->in + i + 1, st->in + e - 1);
        }
    }
    return false;
}

/* ---- callbacks ---- */

/* A scalar: handed over when it is a child of the top container. */
static int scalar(struct rstate *st, struct sss_json_item *it)
{
    int rc;

    if (st->depth == 0)
        return cancel(st, SSS_EPROTO); /* a lone scalar is no container */
    if (st->depth > 1)
        return 1;
    if (st->top == SSS_JSON_OBJECT) {
        it->key = st->key;
        it->key_len = st->key_len;
    }
    rc = st->fn(st->data, it);
    return rc < 0 ? cancel(st, rc) : 1;
}

static int cb_null(void *ctx)
{
    struct sss_json_item it = {.type = SSS_JSON_NULL, .raw = "null", .raw_len = 4};

    return scalar(ctx, &it);
}

static int cb_boolean(void *ctx, int b)
{
    struct sss_json_item it = {.type = b ? SSS_JSON_TRUE : SSS_JSON_FALSE,
                               .raw = b ? "true" : "false",
                               .raw_len = b ? 4 : 5};

    return scalar(ctx, &it);
}

static int cb_number(void *ctx, const char *s, size_t n)
{
    struct sss_json_item it = {.type = SSS_JSON_NUMBER, .raw = s, .raw_len = n};

    return scalar(ctx, &it);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    struct rstate *st = ctx;
    struct sss_json_item it = {.type = SSS_JSON_STRING, .str = (const char *)s, .str_len = n};
    size_t start, end;

    if (!string_token(st, &start, &end))
        return cancel(st, SSS_EPROTO);
    it.raw = (const char *)st->in + start;
    it.raw_len = end - start;
    return scalar(st, &it);
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t n)
{
    struct rstate *st = ctx;
    size_t start, end;

    if (!string_token(st, &start, &end))
        return cancel(st, SSS_EPROTO);
    if (st->depth != 1)
        return 1;
    if (n <= sizeof(st->keybuf)) {
        st->key = st->keybuf;
    } else {
        if (n > st->keycap) {
            char *p = sss_realloc(st->keyheap, n);

            if (!p)
                return cancel(st, -ENOMEM);
            st->keyheap = p;
            st->keycap = n;
        }
        st->key = st->keyheap;
    }
    memcpy(st->key, k, n);
    st->key_len = n;
    return 1;
}

static int start(struct rstate *st, enum sss_json_type type)
{
    size_t at = yajl_get_bytes_consumed(st->h);

    if (st->depth == st->max_depth || (st->depth == 0 && type != st->top))
        return cancel(st, SSS_EPROTO);
    if (++st->depth == 2) {
        if (st->finishing || at == 0 || at > st->len)
            return cancel(st, SSS_EPROTO);
        st->open_start = at - 1;
    }
    return 1;
}

static int end(struct rstate *st, enum sss_json_type type)
{
    size_t at = yajl_get_bytes_consumed(st->h);
    struct sss_json_item it = {.type = type};

    if (--st->depth == 0)
        st->top_end = at;
    if (st->depth != 1)
        return 1;
    if (st->finishing || at > st->len || at <= st->open_start)
        return cancel(st, SSS_EPROTO);
    it.raw = (const char *)st->in + st->open_start;
    it.raw_len = at - st->open_start;
    return scalar(st, &it);
}

static int cb_start_map(void *ctx)
{
    return start(ctx, SSS_JSON_OBJECT);
}

static int cb_end_map(void *ctx)
{
    return end(ctx, SSS_JSON_OBJECT);
}

static int cb_start_array(void *ctx)
{
    return start(ctx, SSS_JSON_ARRAY);
}

static int cb_end_array(void *ctx)
{
    return end(ctx, SSS_JSON_ARRAY);
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number, /* raw text: no conversion, no overflow */
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

/*
 * Whether only whitespace follows the top container. yajl's check for
 * trailing garbage lets an unterminated string through (its lexer just asks
 * for more input), so `{}"` would pass.
 */
static bool only_ws(const struct rstate *st)
{
    size_t i;

    if (st->top_end == 0 || st->top_end > st->len)
        return false;
    for (i = st->top_end; i < st->len; i++) {
        unsigned char c = st->in[i];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return false;
    }
    return true;
}

/*
 * ---- yajl's memory: a region in struct rstate, then sss_alloc ----
 *
 * yajl 2.1 writes through a NULL when one of its buffers cannot grow
 * mid-parse, so a small document (a JWT) must never need the heap: its few
 * blocks are bumped off the region and freed all at once when the parse
 * ends. Bigger documents (the C client's SYNC records) go on to the heap.
 */

static bool in_region(const struct rstate *st, const void *p)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)st->region;

    return a >= b && a < b + sizeof(st->region);
}

static void *y_malloc(void *ctx, size_t n)
{
    struct rstate *st = ctx;
    size_t need = (n + 15) & ~(size_t)15;

    if (need >= n && st->region_top + BLOCK_HDR <= sizeof(st->region) &&
        need <= sizeof(st->region) - BLOCK_HDR - st->region_top) {
        unsigned char *blk = st->region + st->region_top;

        memcpy(blk, &n, sizeof(n));
        st->region_top += BLOCK_HDR + need;
        return blk + BLOCK_HDR;
    }
    return sss_malloc(n);
}

static void y_free(void *ctx, void *p)
{
    if (!in_region(ctx, p))
        sss_free(p); /* region blocks go when the parse ends */
}

static void *y_realloc(void *ctx, void *p, size_t n)
{
    size_t old;
    void *q;

    if (!p || !in_region(ctx, p))
        return p ? sss_realloc(p, n) : y_malloc(ctx, n);
    memcpy(&old, (unsigned char *)p - BLOCK_HDR, sizeof(old));
    q = y_malloc(ctx, n);
    if (q)
        memcpy(q, p, old < n ? old : n);
    return q;
}

int sss_json_each(const char *buf, size_t len, enum sss_json_type top, unsigned max_depth,
                  sss_json_item_fn fn, void *data)
{
    yajl_alloc_funcs afs = {y_malloc, y_realloc, y_free, NULL};
    struct rstate st;
    yajl_status ys;
    size_t n;

    memset(&st, 0, offsetof(struct rstate, region));
    afs.ctx = &st;
    st.in = (const unsigned char *)buf;
    st.top = top;
    st.max_depth = max_depth;
    st.fn = fn;
    st.data = data;
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
    ys = yajl_parse(st.h, st.in, n);
    if (ys == yajl_status_ok) {
        st.finishing = true;
        ys = yajl_complete_parse(st.h);
    }
    yajl_free(st.h);
    sss_free(st.keyheap);
    if (ys == yajl_status_client_canceled)
        return st.rc;
    return ys == yajl_status_ok && n == len && only_ws(&st) ? 0 : SSS_EPROTO;
}
