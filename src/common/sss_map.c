/* Open-addressing hash map of byte-string keys (see sss_map.h). */
#include "sss_map.h"
#include "sss_alloc.h"

#include <errno.h>
#include <string.h>

void sss_map_init(struct sss_map *m)
{
    m->slots = NULL;
    m->cap = m->len = 0;
}

void sss_map_fini(struct sss_map *m)
{
    sss_free(m->slots);
    sss_map_init(m);
}

void sss_map_clear(struct sss_map *m, void (*free_fn)(void *val))
{
    for (uint32_t i = 0; free_fn && i < m->cap; i++)
        if (m->slots[i].key)
            free_fn(m->slots[i].val);
    sss_map_fini(m);
}

uint32_t sss_map_hash(const char *key, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)key[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t find(const struct sss_map *m, const char *key, size_t len, uint32_t h)
{
    uint32_t mask = m->cap - 1, i = h & mask;

    while (m->slots[i].key) {
        if (m->slots[i].hash == h && m->slots[i].klen == len &&
            memcmp(m->slots[i].key, key, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i; /* the empty slot where key would go */
}

void *sss_map_get(const struct sss_map *m, const char *key, size_t len)
{
    uint32_t i;

    if (!m->len)
        return NULL;
    i = find(m, key, len, sss_map_hash(key, len));
    return m->slots[i].key ? m->slots[i].val : NULL;
}

static int grow(struct sss_map *m)
{
    uint32_t ncap = m->cap ? m->cap * 2 : 16;
    struct sss_map_slot *old = m->slots, *n = sss_calloc(ncap, sizeof(*n));
    uint32_t ocap = m->cap;

    if (!n)
        return -ENOMEM;
    m->slots = n;
    m->cap = ncap;
    for (uint32_t i = 0; i < ocap; i++)
        if (old[i].key)
            m->slots[find(m, old[i].key, old[i].klen, old[i].hash)] = old[i];
    sss_free(old);
    return 0;
}

int sss_map_put(struct sss_map *m, const char *key, size_t len, void *val)
{
    uint32_t h = sss_map_hash(key, len), i;

    if ((m->len + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -ENOMEM;
    i = find(m, key, len, h);
    if (!m->slots[i].key)
        m->len++;
    m->slots[i] = (struct sss_map_slot){key, (uint32_t)len, h, val};
    return 0;
}

void *sss_map_put_new(struct sss_map *m, size_t size, size_t key_off, const char *key,
                      size_t len)
{
    char *v = sss_calloc(1, size);

    if (!v)
        return NULL;
    memcpy(v + key_off, key, len);
    if (sss_map_put(m, v + key_off, len, v) < 0) {
        sss_free(v);
        return NULL;
    }
    return v;
}

void *sss_map_del(struct sss_map *m, const char *key, size_t len)
{
    uint32_t mask, i, j;
    void *val;

    if (!m->len)
        return NULL;
    mask = m->cap - 1;
    i = find(m, key, len, sss_map_hash(key, len));
    if (!m->slots[i].key)
        return NULL;
    val = m->slots[i].val;
    /* Backward shift: pull later members of the probe run into the hole. */
    for (j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        uint32_t home = m->slots[j].hash & mask;

        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = NULL;
    m->len--;
    return val;
}

void sss_map_iter_init(struct sss_map_iter *it, struct sss_map *m)
{
    uint32_t e = 0;

    it->m = m;
    it->key = NULL;
    if (!m->len) {
        it->pos = it->end = 0;
        return;
    }
    /* The load factor stays under 3/4, so an empty slot exists. */
    while (m->slots[e].key)
        e++;
    it->end = e;
    it->pos = (e + 1) & (m->cap - 1);
}

void *sss_map_next(struct sss_map_iter *it)
{
    struct sss_map *m = it->m;

    if (!m->len && !it->key)
        return NULL;
    /* Past the entry returned last, unless it was deleted: then its slot
     * may now hold a later member of its probe run, not yet returned. */
    if (it->key && m->slots[it->pos].key == it->key)
        it->pos = (it->pos + 1) & (m->cap - 1);
    it->key = NULL;
    for (; it->pos != it->end; it->pos = (it->pos + 1) & (m->cap - 1))
        if (m->slots[it->pos].key) {
            it->key = m->slots[it->pos].key;
            return m->slots[it->pos].val;
        }
    return NULL;
}
