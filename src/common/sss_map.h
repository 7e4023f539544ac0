/*
 * A hash map from byte-string keys to pointers: open addressing, linear
 * probing, deletion by backward shift (no tombstones), FNV-1a hashes. The
 * caller owns keys and values; a key must stay valid while it is in the map
 * (usually it lives inside the value). Not thread-safe.
 */
#ifndef SSS_MAP_H
#define SSS_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "sss_err.h"

struct sss_map_slot {
    const char *key; /* NULL: empty */
    uint32_t klen;
    uint32_t hash;
    void *val;
};

struct sss_map {
    struct sss_map_slot *slots; /* owned */
    uint32_t cap;               /* a power of two, or 0 */
    uint32_t len;
};

void sss_map_init(struct sss_map *m);
void sss_map_fini(struct sss_map *m);
uint32_t sss_map_hash(const char *key, size_t len);
void *sss_map_get(const struct sss_map *m, const char *key, size_t len);
/* Insert or replace. Returns 0 or -ENOMEM. */
int sss_map_put(struct sss_map *m, const char *key, size_t len, void *val) SSS_WUR;
/* Remove; returns the value that was there, or NULL. */
void *sss_map_del(struct sss_map *m, const char *key, size_t len);

/* Iterate: for (uint32_t i = 0; i < m->cap; i++) if (m->slots[i].key) ... (no changes meanwhile). */

#endif
