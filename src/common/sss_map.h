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
/*
 * A new value keyed by a copy of key kept inside it: allocate `size` zeroed
 * bytes, copy the len bytes of key to key_off in them (room for len + 1 is
 * the caller's to give: the copy stays NUL-terminated) and put the value in
 * the map, which must not have that key yet. Returns the value (owned by the
 * caller, as any value), or NULL on ENOMEM with nothing allocated or put.
 */
void *sss_map_put_new(struct sss_map *m, size_t size, size_t key_off, const char *key,
                      size_t len);
/* Remove; returns the value that was there, or NULL. */
void *sss_map_del(struct sss_map *m, const char *key, size_t len);
/*
 * Empty the map and free its table, as sss_map_fini does, after calling
 * free_fn (unless NULL) once with each value, in no particular order: the
 * usual end of a map that owns its values. free_fn must not touch the map
 * (the value it frees may hold the key). The map is left as sss_map_init
 * leaves it, ready for use again.
 */
void sss_map_clear(struct sss_map *m, void (*free_fn)(void *val));

/*
 * Iteration, the only way to walk a map (nobody outside sss_map.c reads its
 * slots):
 *
 *   struct sss_map_iter it;
 *   struct thing *t;
 *
 *   for (sss_map_iter_init(&it, &m); (t = sss_map_next(&it));)
 *       ...
 *
 * Every value is returned once, in no particular order. Delete-safe: the
 * entry just returned may be removed (sss_map_del, directly or from a
 * callback) before the next call, and no other entry is skipped or returned
 * twice. Nothing else may change the map meanwhile (no put, no other del):
 * a walk that must remove other entries, or add some, collects them first.
 * Values must not be NULL (NULL ends the walk). To free every value when
 * the map goes away, sss_map_clear rather than a walk.
 *
 * How: the walk starts just after an empty slot and goes round once to it.
 * A deletion's backward shift only moves later members of the same probe
 * run into the freed slot or after it, never across an empty slot, so
 * re-examining the current slot when its entry changed sees each of them.
 */
struct sss_map_iter {
    struct sss_map *m;   /* borrowed */
    uint32_t pos, end;   /* the current slot; the empty slot the walk ends at */
    const char *key;     /* the key returned last (NULL before the first) */
};

void sss_map_iter_init(struct sss_map_iter *it, struct sss_map *m);
void *sss_map_next(struct sss_map_iter *it);

#endif
