/* MessagePack envelopes between hosts (see sss_envelope.h). */
#include "sss_envelope.h"
#include "sss_err.h"

#include <string.h>

void sss_envelope_pack_tail(msgpack_sbuffer *sb, const char *chan, size_t chan_len,
                            const char *topic, size_t topic_len, const char *msg, size_t msg_len,
                            const char *host, size_t host_len, int32_t worker, uint64_t conn,
                            uint32_t flags)
{
    msgpack_packer pk;

    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_uint32(&pk, SSS_ENVELOPE_VERSION);
    msgpack_pack_str_with_body(&pk, chan, chan_len);
    msgpack_pack_str_with_body(&pk, topic, topic_len);
    msgpack_pack_str_with_body(&pk, msg, msg_len);
    msgpack_pack_str_with_body(&pk, host, host_len);
    msgpack_pack_int32(&pk, worker);
    msgpack_pack_uint64(&pk, conn);
    msgpack_pack_uint32(&pk, flags);
}

size_t sss_envelope_head(char *buf, const char *uid, size_t uid_len)
{
    /* Lua: string.char(0x99, 0xd9, #id) .. id */
    if (uid_len > 60)
        uid_len = 60;
    buf[0] = (char)0x99;
    buf[1] = (char)0xd9;
    buf[2] = (char)uid_len;
    memcpy(buf + 3, uid, uid_len);
    return 3 + uid_len;
}

/* A string or binary element; an empty one is "" (msgpack-c may give NULL). */
static int str_of(const msgpack_object *o, const char **p, size_t *len)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        *p = o->via.str.ptr;
        *len = o->via.str.size;
    } else if (o->type == MSGPACK_OBJECT_BIN) {
        *p = o->via.bin.ptr;
        *len = o->via.bin.size;
    } else {
        return -1;
    }
    if (!*len || !*p) {
        *p = "";
        *len = 0;
    }
    return 0;
}

/*
 * Walk the elements of a fixarray of scalars (integers, strings, binaries)
 * that must fill exactly len bytes. msgpack-c allocates a declared array or
 * map size up front (DEPENDENCIES.md 5), so nothing else may reach it.
 */
static int scalars_only(const unsigned char *p, size_t len, uint32_t want_elems)
{
    size_t i = 1;

    if (len < 1 || p[0] != (0x90 | want_elems))
        return -1;
    for (uint32_t n = 0; n < want_elems; n++) {
        unsigned char t;
        size_t body = 0, head = 1;

        if (i >= len)
            return -1;
        t = p[i];
        if (t <= 0x7f || t >= 0xe0)
            body = 0; /* fixint */
        else if (t >= 0xa0 && t <= 0xbf)
            body = t & 0x1f; /* fixstr */
        else if (t == 0xcc || t == 0xd0)
            body = 1;
        else if (t == 0xcd || t == 0xd1)
            body = 2;
        else if (t == 0xce || t == 0xd2)
            body = 4;
        else if (t == 0xcf || t == 0xd3)
            body = 8;
        else if (t == 0xd9 || t == 0xc4 || t == 0xda || t == 0xc5 || t == 0xdb || t == 0xc6) {
            size_t w = (t == 0xd9 || t == 0xc4) ? 1 : (t == 0xda || t == 0xc5) ? 2 : 4;

            if (i + 1 + w > len)
                return -1;
            for (size_t k = 0; k < w; k++)
                body = body << 8 | p[i + 1 + k];
            head += w;
        } else {
            return -1; /* nil, bool, float, array, map, ext: not ours */
        }
        if (body > len || i + head + body > len)
            return -1;
        i += head + body;
    }
    return i == len ? 0 : -1;
}

/* Unpack one fixarray of want_elems scalars that takes all len bytes. */
static int unpack_all(const char *p, size_t len, msgpack_unpacked *up, uint32_t want_elems)
{
    size_t off = 0;

    if (scalars_only((const unsigned char *)p, len, want_elems) < 0)
        return SSS_EPROTO;
    if (msgpack_unpack_next(up, p, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
        up->data.type != MSGPACK_OBJECT_ARRAY || up->data.via.array.size != want_elems)
        return SSS_EPROTO;
    return 0;
}

int sss_envelope_decode(const char *p, size_t len, struct sss_envelope *e)
{
    msgpack_unpacked up;
    const msgpack_object *o;
    const char *uid;
    size_t uid_len;
    int rc = SSS_EPROTO;

    memset(e, 0, sizeof(*e));
    msgpack_unpacked_init(&up);
    if (unpack_all(p, len, &up, 9) < 0)
        goto out;
    o = up.data.via.array.ptr;
    if (str_of(&o[0], &uid, &uid_len) < 0 || sss_proto_uid_parse(&e->uid, uid, uid_len) < 0 ||
        o[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || o[1].via.u64 != SSS_ENVELOPE_VERSION ||
        str_of(&o[2], &e->chan, &e->chan_len) < 0 || str_of(&o[3], &e->topic, &e->topic_len) < 0 ||
        str_of(&o[4], &e->msg, &e->msg_len) < 0 || str_of(&o[5], &e->host, &e->host_len) < 0 ||
        o[7].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        o[8].type != MSGPACK_OBJECT_POSITIVE_INTEGER || o[8].via.u64 > UINT32_MAX)
        goto out;
    if (o[6].type == MSGPACK_OBJECT_POSITIVE_INTEGER && o[6].via.u64 <= INT32_MAX)
        e->worker = (int32_t)o[6].via.u64;
    else if (o[6].type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o[6].via.i64 >= INT32_MIN)
        e->worker = -1;
    else
        goto out;
    if (!sss_proto_channel_valid(e->chan, e->chan_len))
        goto out;
    e->conn = o[7].via.u64;
    e->flags = (uint32_t)o[8].via.u64;
    rc = 0;
out:
    msgpack_unpacked_destroy(&up);
    if (rc < 0)
        memset(e, 0, sizeof(*e));
    return rc;
}

void sss_envelope_pack_control(msgpack_sbuffer *sb, uint32_t type, const void *rec, size_t len)
{
    msgpack_packer pk;

    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint32(&pk, type);
    msgpack_pack_bin_with_body(&pk, rec, len);
}

int sss_envelope_decode_control(const char *p, size_t len, uint32_t *type, const char **rec,
                                size_t *rec_len)
{
    msgpack_unpacked up;
    int rc = SSS_EPROTO;

    msgpack_unpacked_init(&up);
    if (unpack_all(p, len, &up, 2) == 0 &&
        up.data.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
        up.data.via.array.ptr[0].via.u64 <= UINT32_MAX &&
        str_of(&up.data.via.array.ptr[1], rec, rec_len) == 0) {
        *type = (uint32_t)up.data.via.array.ptr[0].via.u64;
        rc = 0;
    }
    msgpack_unpacked_destroy(&up);
    return rc;
}
