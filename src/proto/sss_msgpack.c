/*
 * The MessagePack transcoder of the wire protocol (see sss_msgpack.h for
 * the rules). The check walk is recursive, bounded by SSS_MSGPACK_MAX_DEPTH;
 * the JSON walk by the check; from_json keeps an explicit stack of open
 * containers, bounded by the JSON reader's depth limit.
 * May include: libc, src/common, sss_proto.h, sss_json.h, msgpack-c, OpenSSL (base64).
 */
#include "sss_msgpack.h"
#include "sss_alloc.h"
#include "sss_json.h"
#include "sss_proto.h"

#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sss_msgpack_strerror(enum sss_msgpack_error e)
{
    switch (e) {
    case SSS_MSGPACK_OK:
        return "ok";
    case SSS_MSGPACK_E_MALFORMED:
        return "malformed msgpack";
    case SSS_MSGPACK_E_TRAILING:
        return "bytes after the msgpack message";
    case SSS_MSGPACK_E_NOT_MAP:
        return "message must be a msgpack map";
    case SSS_MSGPACK_E_DEPTH:
        return "nesting too deep";
    case SSS_MSGPACK_E_LENGTH:
        return "msgpack length beyond the frame";
    case SSS_MSGPACK_E_KEY:
        return "msgpack map keys must be strings";
    case SSS_MSGPACK_E_EXT:
        return "msgpack ext values are not accepted";
    case SSS_MSGPACK_E_FLOAT:
        return "NaN and infinity are not accepted";
    case SSS_MSGPACK_E_NOMEM:
        return "out of memory";
    }
    return "malformed msgpack";
}

/* ---- the check: one walk over the bytes, nothing allocated ---- */

struct walk {
    const uint8_t *p;
    size_t len, pos;
    enum sss_msgpack_error err;
};

static int fail(struct walk *w, enum sss_msgpack_error e)
{
    if (w->err == SSS_MSGPACK_OK)
        w->err = e;
    return -1;
}

/* Read an n-byte big-endian number at pos (n <= 8), or fail as truncated. */
static int take(struct walk *w, size_t n, uint64_t *v)
{
    uint64_t x = 0;

    if (w->len - w->pos < n)
        return fail(w, SSS_MSGPACK_E_MALFORMED);
    for (size_t i = 0; i < n; i++)
        x = x << 8 | w->p[w->pos + i];
    w->pos += n;
    *v = x;
    return 0;
}

/* Skip n payload bytes that must be in the frame: a declared length (str, bin),
 * or a fixed-size field (fixed: a short frame is merely truncated). */
static int skip_as(struct walk *w, uint64_t n, bool fixed)
{
    if (n > w->len - w->pos)
        return fail(w, fixed ? SSS_MSGPACK_E_MALFORMED : SSS_MSGPACK_E_LENGTH);
    w->pos += (size_t)n;
    return 0;
}

#define skip(w, n) skip_as((w), (n), false)
#define skip_fixed(w, n) skip_as((w), (n), true)

static int check_value(struct walk *w, unsigned depth, bool key);

/* n values (or n key/value pairs) of a container at depth. */
static int check_items(struct walk *w, uint64_t n, bool map, unsigned depth)
{
    /* Each value takes at least one byte: a count beyond the bytes left is a
     * lie, refused before msgpack-c would allocate room for it. */
    if (depth > SSS_MSGPACK_MAX_DEPTH)
        return fail(w, SSS_MSGPACK_E_DEPTH);
    if (n > (w->len - w->pos) / (map ? 2 : 1))
        return fail(w, SSS_MSGPACK_E_LENGTH);
    for (uint64_t i = 0; i < n; i++) {
        if (map && check_value(w, depth, true) < 0)
            return -1;
        if (check_value(w, depth, false) < 0)
            return -1;
    }
    return 0;
}

/* One value at pos, inside depth containers; key: it is a map's key. */
static int check_value(struct walk *w, unsigned depth, bool key)
{
    uint64_t n;
    uint8_t b;

    if (w->pos >= w->len)
        return fail(w, SSS_MSGPACK_E_MALFORMED);
    b = w->p[w->pos++];
    if (key && !((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)))
        return fail(w, b == 0xc1 ? SSS_MSGPACK_E_MALFORMED : SSS_MSGPACK_E_KEY);
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b <= 0x8f)
        return check_items(w, b & 0x0fu, true, depth + 1);
    if (b <= 0x9f)
        return check_items(w, b & 0x0fu, false, depth + 1);
    if (b <= 0xbf)
        return skip(w, b & 0x1fu);
    switch (b) {
    case 0xc4: /* bin 8, 16, 32 */
    case 0xd9: /* str 8, 16, 32 */
        return take(w, 1, &n) < 0 ? -1 : skip(w, n);
    case 0xc5:
    case 0xda:
        return take(w, 2, &n) < 0 ? -1 : skip(w, n);
    case 0xc6:
    case 0xdb:
        return take(w, 4, &n) < 0 ? -1 : skip(w, n);
    case 0xc7: /* ext 8, 16, 32, fixext 1..16 */
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return fail(w, SSS_MSGPACK_E_EXT);
    case 0xca: {
        float f;
        uint32_t u;

        if (take(w, 4, &n) < 0)
            return -1;
        u = (uint32_t)n;
        memcpy(&f, &u, 4);
        return isfinite(f) ? 0 : fail(w, SSS_MSGPACK_E_FLOAT);
    }
    case 0xcb: {
        double d;

        if (take(w, 8, &n) < 0)
            return -1;
        memcpy(&d, &n, 8);
        return isfinite(d) ? 0 : fail(w, SSS_MSGPACK_E_FLOAT);
    }
    case 0xcc: /* uint, int 8..64 */
    case 0xd0:
        return skip_fixed(w, 1);
    case 0xcd:
    case 0xd1:
        return skip_fixed(w, 2);
    case 0xce:
    case 0xd2:
        return skip_fixed(w, 4);
    case 0xcf:
    case 0xd3:
        return skip_fixed(w, 8);
    case 0xdc:
    case 0xde:
        return take(w, 2, &n) < 0 ? -1 : check_items(w, n, b == 0xde, depth + 1);
    case 0xdd:
    case 0xdf:
        return take(w, 4, &n) < 0 ? -1 : check_items(w, n, b == 0xdf, depth + 1);
    default: /* 0xc1: never used */
        return fail(w, SSS_MSGPACK_E_MALFORMED);
    }
}

/* ---- msgpack-c's object tree -> JSON ---- */

#define PUT_LIT(o, s) (void)sss_dynbuf_append((o), (s), sizeof(s) - 1)

/* A double (or a float32's value) in the shortest %g form that reads back the
 * same, always looking like a float. */
static void put_double(struct sss_dynbuf *o, double d, bool f32)
{
    char tmp[40];
    int n = 0;

    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof(tmp) - 2, "%.*g", prec, d);
        if (f32 ? strtof(tmp, NULL) == (float)d : strtod(tmp, NULL) == d)
            break;
    }
    if (n <= 0 || (size_t)n >= sizeof(tmp) - 2)
        return;
    if (!strpbrk(tmp, ".eE")) {
        memcpy(tmp + n, ".0", 2);
        n += 2;
    }
    (void)sss_dynbuf_append(o, tmp, (size_t)n);
}

static void put_base64(struct sss_dynbuf *o, const char *p, uint32_t n)
{
    size_t need = 4 * (((size_t)n + 2) / 3) + 1;
    char *w;
    int k;

    PUT_LIT(o, "\"");
    if (sss_dynbuf_reserve(o, need + 1) < 0)
        return;
    w = o->data + o->len;
    k = EVP_EncodeBlock((unsigned char *)w, (const unsigned char *)p, (int)n);
    sss_dynbuf_commit(o, (size_t)k);
    PUT_LIT(o, "\"");
}

static void put_object(struct sss_dynbuf *o, const msgpack_object *v)
{
    char tmp[24];
    int n;

    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        PUT_LIT(o, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        if (v->via.boolean)
            PUT_LIT(o, "true");
        else
            PUT_LIT(o, "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v->via.u64);
        (void)sss_dynbuf_append(o, tmp, (size_t)n);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v->via.i64);
        (void)sss_dynbuf_append(o, tmp, (size_t)n);
        break;
    case MSGPACK_OBJECT_FLOAT32:
        put_double(o, v->via.f64, true);
        break;
    case MSGPACK_OBJECT_FLOAT64:
        put_double(o, v->via.f64, false);
        break;
    case MSGPACK_OBJECT_STR:
        (void)sss_proto_encode_string_n(o, v->via.str.ptr, v->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        put_base64(o, v->via.bin.ptr, v->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        PUT_LIT(o, "[");
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            if (i)
                PUT_LIT(o, ",");
            put_object(o, &v->via.array.ptr[i]);
        }
        PUT_LIT(o, "]");
        break;
    case MSGPACK_OBJECT_MAP:
        PUT_LIT(o, "{");
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            const msgpack_object_kv *kv = &v->via.map.ptr[i];

            if (i)
                PUT_LIT(o, ",");
            put_object(o, &kv->key); /* a str: the check allows no other key */
            PUT_LIT(o, ":");
            put_object(o, &kv->val);
        }
        PUT_LIT(o, "}");
        break;
    case MSGPACK_OBJECT_EXT: /* refused by the check */
        PUT_LIT(o, "null");
        break;
    }
}

int sss_msgpack_to_json(struct sss_dynbuf *out, const void *buf, size_t len,
                        enum sss_msgpack_error *err)
{
    struct walk w = {buf, len, 0, SSS_MSGPACK_OK};
    msgpack_unpacked up;
    msgpack_unpack_return ur;
    size_t off = 0;

    *err = SSS_MSGPACK_OK;
    if (len == 0 || !((w.p[0] >= 0x80 && w.p[0] <= 0x8f) || w.p[0] == 0xde || w.p[0] == 0xdf)) {
        *err = len && w.p[0] == 0xc1 ? SSS_MSGPACK_E_MALFORMED : SSS_MSGPACK_E_NOT_MAP;
        return SSS_EPROTO;
    }
    if (check_value(&w, 0, false) < 0 || (w.pos != len && fail(&w, SSS_MSGPACK_E_TRAILING))) {
        *err = w.err;
        return w.err == SSS_MSGPACK_E_DEPTH ? SSS_ELIMIT : SSS_EPROTO;
    }
    msgpack_unpacked_init(&up);
    ur = msgpack_unpack_next(&up, buf, len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        /* The check passed, so only memory can be missing (or our bug). */
        msgpack_unpacked_destroy(&up);
        *err = ur == MSGPACK_UNPACK_NOMEM_ERROR ? SSS_MSGPACK_E_NOMEM : SSS_MSGPACK_E_MALFORMED;
        return ur == MSGPACK_UNPACK_NOMEM_ERROR ? -ENOMEM : SSS_EPROTO;
    }
    put_object(out, &up.data);
    msgpack_unpacked_destroy(&up);
    if (out->oom) {
        *err = SSS_MSGPACK_E_NOMEM;
        return -ENOMEM;
    }
    return 0;
}

/* ---- JSON -> MessagePack ---- */

#define HDR_MAX 5 /* a map 32 or array 32 header */

struct open_box {
    size_t at;    /* offset of its HDR_MAX reserved header bytes in out */
    uint32_t n;   /* children so far (pairs in a map) */
    bool map;
};

struct fromj {
    struct sss_dynbuf *out;
    msgpack_packer pk;
    struct open_box stack[SSS_MSGPACK_JSON_DEPTH + 1];
};

static int dyn_write(void *data, const char *buf, size_t len)
{
    return sss_dynbuf_append(data, buf, len);
}

/* A small packer target for one header (at most HDR_MAX bytes). */
struct hdr {
    char b[HDR_MAX];
    size_t n;
};

static int hdr_write(void *data, const char *buf, size_t len)
{
    struct hdr *h = data;

    if (len > HDR_MAX - h->n)
        return -1;
    memcpy(h->b + h->n, buf, len);
    h->n += len;
    return 0;
}

static void pack_number(struct fromj *j, const char *s, size_t n)
{
    char tmp[64], *buf = tmp, *end;
    bool integer = !memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n);

    if (n >= sizeof(tmp)) {
        buf = sss_malloc(n + 1);
        if (!buf) {
            j->out->oom = true;
            return;
        }
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    if (integer && buf[0] == '-') {
        long long v = strtoll(buf, &end, 10);

        if (errno == 0) {
            (void)msgpack_pack_int64(&j->pk, v);
            goto out;
        }
    } else if (integer) {
        unsigned long long v = strtoull(buf, &end, 10);

        if (errno == 0) {
            (void)msgpack_pack_uint64(&j->pk, v);
            goto out;
        }
    }
    (void)msgpack_pack_double(&j->pk, strtod(buf, &end));
out:
    if (buf != tmp)
        sss_free(buf);
}

/* The box the token at depth belongs to counts it (keys count a map's pairs). */
static void count_in_parent(struct fromj *j, unsigned depth, enum sss_json__kind kind)
{
    struct open_box *b;

    if (depth == 0)
        return;
    b = &j->stack[depth - 1];
    if (b->map ? kind == SSS_JSON__KEY : 1)
        b->n++;
}

static int close_box(struct fromj *j, const struct open_box *b)
{
    struct hdr h = {.n = 0};
    msgpack_packer hp;
    char *base;

    msgpack_packer_init(&hp, &h, hdr_write);
    if ((b->map ? msgpack_pack_map(&hp, b->n) : msgpack_pack_array(&hp, b->n)) < 0)
        return SSS_EPROTO;
    /* Headers were reserved at their largest: shift the body back by what was not used. */
    base = j->out->data + b->at;
    memcpy(base, h.b, h.n);
    if (h.n < HDR_MAX) {
        memmove(base + h.n, base + HDR_MAX, j->out->len - b->at - HDR_MAX);
        j->out->len -= HDR_MAX - h.n;
        j->out->data[j->out->len] = '\0';
    }
    return 0;
}

static int on_token(void *data, const struct sss_json__event *ev)
{
    struct fromj *j = data;
    const struct sss_json_item *it = &ev->item;
    static const char zeros[HDR_MAX];

    if (j->out->oom)
        return -ENOMEM;
    if (ev->depth > SSS_MSGPACK_JSON_DEPTH)
        return SSS_ELIMIT;
    switch (ev->kind) {
    case SSS_JSON__OPEN:
        count_in_parent(j, ev->depth, ev->kind);
        j->stack[ev->depth].at = j->out->len;
        j->stack[ev->depth].n = 0;
        j->stack[ev->depth].map = it->type == SSS_JSON_OBJECT;
        (void)sss_dynbuf_append(j->out, zeros, HDR_MAX);
        break;
    case SSS_JSON__CLOSE:
        if (!j->out->oom && close_box(j, &j->stack[ev->depth]) < 0)
            return SSS_EPROTO;
        break;
    case SSS_JSON__KEY:
        count_in_parent(j, ev->depth, ev->kind);
        (void)msgpack_pack_str_with_body(&j->pk, it->key, it->key_len);
        break;
    case SSS_JSON__SCALAR:
        count_in_parent(j, ev->depth, ev->kind);
        switch (it->type) {
        case SSS_JSON_NULL:
            (void)msgpack_pack_nil(&j->pk);
            break;
        case SSS_JSON_TRUE:
            (void)msgpack_pack_true(&j->pk);
            break;
        case SSS_JSON_FALSE:
            (void)msgpack_pack_false(&j->pk);
            break;
        case SSS_JSON_NUMBER:
            pack_number(j, it->raw, it->raw_len);
            break;
        default:
            (void)msgpack_pack_str_with_body(&j->pk, it->str, it->str_len);
            break;
        }
        break;
    }
    return j->out->oom ? -ENOMEM : 0;
}

int sss_msgpack_from_json(struct sss_dynbuf *out, const char *json, size_t len)
{
    _Alignas(16) unsigned char region[12288];
    struct fromj fj, *j = &fj;
    struct sss_json__parser p = {
        .top = SSS_JSON_OBJECT,
        .max_depth = SSS_MSGPACK_JSON_DEPTH,
        .fn = on_token,
        .region = region,
        .region_cap = sizeof(region),
    };
    int rc;

    j->out = out;
    msgpack_packer_init(&j->pk, out, dyn_write);
    p.data = j;
    rc = sss_json__parse(&p, json, len);
    if (rc == 0 && out->oom)
        rc = -ENOMEM;
    return rc == SSS_EINVAL ? SSS_EPROTO : rc;
}
