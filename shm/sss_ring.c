/* The SPSC ring of variable-size records (format and ordering in sss_ring.h). */
#include "sss_ring.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define RING_MAGIC 0x31474e4952535353ULL /* "SSSRING1" */

static_assert(sizeof(struct sss_ring) == 3 * 64, "constants, consumer line, producer line");
static_assert(offsetof(struct sss_ring, head) == 64, "head on its own line");
static_assert(offsetof(struct sss_ring, tail) == 128, "tail on its own line");

static inline unsigned char *data_of(struct sss_ring *r)
{
    return (unsigned char *)r + sizeof(struct sss_ring);
}

static inline uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

/* A record header; always at an 8-aligned offset of the data, so plain access is fine. */
struct rec {
    uint32_t len;
    uint32_t type;
};

size_t sss_ring_size(size_t capacity)
{
    if (capacity < SSS_RING_MIN_CAPACITY || (capacity & (capacity - 1)) != 0)
        return 0;
    return sizeof(struct sss_ring) + capacity;
}

struct sss_ring *sss_ring_init(void *mem, size_t capacity)
{
    struct sss_ring *r = mem;

    if (!sss_ring_size(capacity) || ((uintptr_t)mem & 63) != 0)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->magic = RING_MAGIC;
    r->capacity = capacity;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return r;
}

size_t sss_ring_max_payload(const struct sss_ring *r)
{
    return r->capacity / 2 - SSS_RING_HEADER;
}

int sss_ring_push2(struct sss_ring *r, uint32_t type, const void *h, size_t hlen, const void *p,
                   size_t plen)
{
    const uint64_t cap = r->capacity;
    uint64_t tail, off, rec, pad, need;
    unsigned char *d = data_of(r);
    struct rec hdr;

    assert(r->magic == RING_MAGIC);
    if (type == SSS_RING_PAD)
        return -EINVAL;
    if (hlen > sss_ring_max_payload(r) || plen > sss_ring_max_payload(r) - hlen)
        return -EMSGSIZE;
    /* Our own position: only this process stores tail. */
    tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    off = tail & (cap - 1);
    rec = align8(SSS_RING_HEADER + hlen + plen);
    pad = cap - off < rec ? cap - off : 0;
    need = pad + rec;
    if (need > cap - (tail - r->cached_head)) {
        /* Pairs with the release stores of head in peek, consume and
         * discard: the consumer is done with every byte before that head. */
        r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (need > cap - (tail - r->cached_head))
            return SSS_RING_EFULL;
    }
    if (pad) {
        hdr.len = (uint32_t)(pad - SSS_RING_HEADER);
        hdr.type = SSS_RING_PAD;
        memcpy(d + off, &hdr, sizeof(hdr));
        off = 0;
    }
    hdr.len = (uint32_t)(hlen + plen);
    hdr.type = type;
    memcpy(d + off, &hdr, sizeof(hdr));
    if (hlen)
        memcpy(d + off + SSS_RING_HEADER, h, hlen);
    if (plen)
        memcpy(d + off + SSS_RING_HEADER + hlen, p, plen);
    /* Pairs with the acquire load of tail in peek (and readable): the record
     * above is complete before the consumer can see the new tail. */
    atomic_store_explicit(&r->tail, tail + need, memory_order_release);
    return 0;
}

int sss_ring_push(struct sss_ring *r, uint32_t type, const void *p, size_t len)
{
    return sss_ring_push2(r, type, p, len, NULL, 0);
}

int sss_ring_peek(struct sss_ring *r, uint32_t *type, const void **p, size_t *len)
{
    const uint64_t cap = r->capacity;
    unsigned char *d = data_of(r);
    struct rec hdr;

    assert(r->magic == RING_MAGIC);
    for (;;) {
        /* Our own position: only the consumer (or the master in its place) stores head. */
        uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed), off;

        if (head == r->cached_tail) {
            /* Pairs with the release store of tail in push2. */
            r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
            if (head == r->cached_tail)
                return 0;
        }
        off = head & (cap - 1);
        memcpy(&hdr, d + off, sizeof(hdr));
        if (hdr.type == SSS_RING_PAD) {
            assert(hdr.len == cap - off - SSS_RING_HEADER);
            /* Pairs with the acquire load of head in push2: the padding is free again. */
            atomic_store_explicit(&r->head, head + (cap - off), memory_order_release);
            continue;
        }
        assert(off + SSS_RING_HEADER + hdr.len <= cap);
        *type = hdr.type;
        *len = hdr.len;
        *p = d + off + SSS_RING_HEADER;
        return 1;
    }
}

void sss_ring_consume(struct sss_ring *r)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    struct rec hdr;

    assert(head != r->cached_tail);
    memcpy(&hdr, data_of(r) + (head & (r->capacity - 1)), sizeof(hdr));
    assert(hdr.type != SSS_RING_PAD);
    /* Pairs with the acquire load of head in push2: we are done reading the
     * record, the producer may overwrite it. */
    atomic_store_explicit(&r->head, head + align8(SSS_RING_HEADER + hdr.len),
                          memory_order_release);
}

int sss_ring_readable(struct sss_ring *r)
{
    /* Pairs with the release store of tail in push2 (peek reloads anyway). */
    return atomic_load_explicit(&r->tail, memory_order_acquire) !=
           atomic_load_explicit(&r->head, memory_order_relaxed);
}

size_t sss_ring_used(struct sss_ring *r)
{
    return (size_t)(atomic_load_explicit(&r->tail, memory_order_relaxed) -
                    atomic_load_explicit(&r->head, memory_order_relaxed));
}

void sss_ring_discard(struct sss_ring *r)
{
    /* Pairs with the release store of tail in push2; our release store of
     * head pairs with the acquire load of head in push2. */
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

    r->cached_tail = tail;
    atomic_store_explicit(&r->head, tail, memory_order_release);
}

void sss_ring_reset(struct sss_ring *r)
{
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
    r->cached_head = 0;
    r->cached_tail = 0;
}
