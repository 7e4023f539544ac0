/* Redis Cluster's hash slots, slot map and redirections (see sss_redis_slots.h). */
#include "sss_redis_slots.h"
#include "sss_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint16_t sss_redis_crc16(const char *p, size_t len)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint8_t)p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int sss_redis_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len), *close;

    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;

        close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return sss_redis_crc16(open + 1, (size_t)(close - open - 1)) & (SSS_REDIS_SLOTS - 1);
    }
    return sss_redis_crc16(key, len) & (SSS_REDIS_SLOTS - 1);
}

int sss_redis_slots_parse(const redisReply *r, struct sss_redis_range *out, int cap)
{
    int n = 0;

    if (!r || r->type != REDIS_REPLY_ARRAY)
        return SSS_EPROTO;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i], *m;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            return SSS_EPROTO;
        m = e->element[2];
        if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
            m->element[0]->type != REDIS_REPLY_STRING ||
            m->element[1]->type != REDIS_REPLY_INTEGER)
            return SSS_EPROTO;
        if (n == cap || e->element[0]->integer < 0 ||
            e->element[1]->integer >= SSS_REDIS_SLOTS ||
            e->element[0]->integer > e->element[1]->integer ||
            m->element[0]->len >= sizeof(out[n].host) || m->element[1]->integer <= 0 ||
            m->element[1]->integer > 65535)
            return SSS_EPROTO;
        out[n].start = (int)e->element[0]->integer;
        out[n].end = (int)e->element[1]->integer;
        memcpy(out[n].host, m->element[0]->str, m->element[0]->len);
        out[n].host[m->element[0]->len] = '\0';
        out[n].port = (int)m->element[1]->integer;
        n++;
    }
    return n;
}

int sss_redis_redirect_parse(const char *err, size_t len, int *ask, int *slot, char *host,
                             size_t host_cap, int *port)
{
    char buf[256], *sp, *colon, *end;
    long s, p;

    if (len >= sizeof(buf))
        return 0;
    memcpy(buf, err, len);
    buf[len] = '\0';
    if (strncmp(buf, "MOVED ", 6) == 0)
        *ask = 0, sp = buf + 6;
    else if (strncmp(buf, "ASK ", 4) == 0)
        *ask = 1, sp = buf + 4;
    else
        return 0;
    s = strtol(sp, &end, 10);
    if (end == sp || *end != ' ' || s < 0 || s >= SSS_REDIS_SLOTS)
        return 0;
    sp = end + 1;
    colon = strrchr(sp, ':');
    if (!colon || (size_t)(colon - sp) >= host_cap)
        return 0;
    p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p <= 0 || p > 65535)
        return 0;
    memcpy(host, sp, (size_t)(colon - sp));
    host[colon - sp] = '\0';
    *slot = (int)s;
    *port = (int)p;
    return 1;
}
