/*
 * sss.v1.msgpack messages of sss-bench (see sb_mp.h): msgpack-c's packer
 * writes into a fixed buffer through a callback that refuses to overflow,
 * and msgpack_unpack_next reads a server message (its str objects point into
 * the input, so err.message is lent from the caller's bytes).
 */
#include "sb_mp.h"

#include <string.h>

#include <msgpack.h>

struct mpw {
    char *p;
    size_t len, cap;
    bool overflow;
    msgpack_packer pk; /* writes through mpw_write into this mpw */
};

static int mpw_write(void *data, const char *buf, size_t len)
{
    struct mpw *b = data;

    if (b->overflow || len > b->cap - b->len) {
        b->overflow = true;
        return -1;
    }
    memcpy(b->p + b->len, buf, len);
    b->len += len;
    return 0;
}

static void pack_key(msgpack_packer *pk, const char *key)
{
    size_t n = strlen(key);

    msgpack_pack_str_with_body(pk, key, n);
}

static void pack_str(msgpack_packer *pk, const char *key, const char *s, size_t n)
{
    pack_key(pk, key);
    msgpack_pack_str_with_body(pk, s, n);
}

static void pack_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
    pack_key(pk, key);
    msgpack_pack_uint64(pk, v);
}

/*
 * Start a message into dst (cap bytes): a map of nkeys keys, the first "sys".
 * The caller packs the other nkeys - 1 through b->pk, then returns done(b).
 */
static void start(struct mpw *b, char *dst, size_t cap, size_t nkeys, uint64_t sys)
{
    *b = (struct mpw){.p = dst, .cap = cap};
    msgpack_packer_init(&b->pk, b, mpw_write);
    msgpack_pack_map(&b->pk, nkeys);
    pack_uint(&b->pk, "sys", sys);
}

static size_t done(const struct mpw *b)
{
    return b->overflow ? 0 : b->len;
}

size_t sb_mp_begin(char *dst, size_t cap)
{
    struct mpw b;

    start(&b, dst, cap, 1, 3);
    return done(&b);
}

size_t sb_mp_subscribe(char *dst, size_t cap, const char *channel, size_t clen, uint64_t id)
{
    struct mpw b;

    start(&b, dst, cap, 3, 1);
    pack_uint(&b.pk, "id", id);
    pack_str(&b.pk, "channel", channel, clen);
    return done(&b);
}

size_t sb_mp_publish(char *dst, size_t cap, const char *channel, size_t clen, const char *topic,
                     const char *payload, size_t len, uint64_t id)
{
    struct mpw b;

    start(&b, dst, cap, 5, 13);
    pack_str(&b.pk, "channel", channel, clen);
    pack_str(&b.pk, "topic", topic, strlen(topic));
    pack_str(&b.pk, "msg", payload, len);
    pack_uint(&b.pk, "id", id);
    return done(&b);
}

size_t sb_mp_ask(char *dst, size_t cap, const char *topic, const char *payload, size_t len,
                 uint64_t id)
{
    struct mpw b;

    start(&b, dst, cap, 4, 5);
    pack_uint(&b.pk, "id", id);
    pack_str(&b.pk, "topic", topic, strlen(topic));
    pack_str(&b.pk, "msg", payload, len);
    return done(&b);
}

static bool key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);

    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

static long long as_int(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX)
        return (long long)o->via.u64;
    return -1;
}

int sb_mp_read(const char *buf, size_t len, struct sb_mp_msg *m)
{
    msgpack_unpacked up;
    size_t off = 0;
    int rc = -1;

    memset(m, 0, sizeof(*m));
    m->sys = m->id = -1;
    m->result = -1;
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
        up.data.type != MSGPACK_OBJECT_MAP)
        goto out;
    for (uint32_t i = 0; i < up.data.via.map.size; i++) {
        const msgpack_object *k = &up.data.via.map.ptr[i].key, *v = &up.data.via.map.ptr[i].val;

        if (key_is(k, "sys")) {
            m->sys = as_int(v);
        } else if (key_is(k, "id")) {
            m->id = as_int(v);
        } else if (key_is(k, "result")) {
            if (v->type == MSGPACK_OBJECT_BOOLEAN)
                m->result = v->via.boolean ? 1 : 0;
        } else if (key_is(k, "err")) {
            m->err = true;
            if (v->type != MSGPACK_OBJECT_MAP)
                continue;
            for (uint32_t j = 0; j < v->via.map.size; j++)
                if (key_is(&v->via.map.ptr[j].key, "message") &&
                    v->via.map.ptr[j].val.type == MSGPACK_OBJECT_STR) {
                    m->text = v->via.map.ptr[j].val.via.str.ptr;
                    m->text_len = v->via.map.ptr[j].val.via.str.size;
                }
        }
    }
    rc = 0;
out:
    msgpack_unpacked_destroy(&up);
    return rc;
}

bool sb_mp_is_feed(const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;

    /* fixmap (0x80..0x8f) or map16 (0xde), then fixstr "sys" and the fixint 8 */
    if (len >= 6 && (p[0] & 0xf0) == 0x80)
        return memcmp(p + 1, "\xa3sys\x08", 5) == 0;
    if (len >= 8 && p[0] == 0xde)
        return memcmp(p + 3, "\xa3sys\x08", 5) == 0;
    return false;
}
