/*
 * sss_ring: a single-producer single-consumer ring of variable-size records
 * in shared memory; the mailboxes between a worker and the scaler are two of
 * them, one each way. libc and C11 atomics only (shm/ stands alone).
 *
 * Format. A ring is a struct sss_ring (three cache lines: constants, the
 * consumer's line, the producer's line) followed by `capacity` bytes of data,
 * capacity a power of two >= 64. head and tail are 64-bit byte positions that
 * only grow (they never wrap in practice); a position p lives at data offset
 * p & (capacity - 1). The bytes in [head, tail) are complete records:
 *
 *   u32 len    payload bytes (not counting this header)
 *   u32 type   the caller's tag; 0xffffffff (SSS_RING_PAD) is reserved
 *   payload    len bytes, then zero or more bytes up to the next multiple of 8
 *
 * A record never wraps: when it does not fit before the end of the data, the
 * producer first fills the rest with a padding record (type SSS_RING_PAD,
 * header only, len = bytes to the end minus 8) and writes the record at
 * offset 0. Every record starts 8-byte aligned, so a header always fits.
 *
 * Ordering. The producer writes a record with plain stores and then publishes
 * it by a release store of tail; the consumer's acquire load of tail pairs
 * with it, so it sees the whole record. The consumer reads in place and then
 * gives the space back by a release store of head; the producer's acquire
 * load of head pairs with it, so it never overwrites bytes still being read.
 * Each side caches the other's position in its own line and reloads it only
 * when the cached value says "full" or "empty".
 *
 * Only one process pushes and only one consumes. If either dies at any
 * instruction, the ring stays consistent: a half-written record is beyond
 * tail, a half-read one before head.
 */
#ifndef SSS_RING_H
#define SSS_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Same value as SSS_EFULL in src/common/sss_err.h (shm/ cannot include it). */
#define SSS_RING_EFULL (-1001)
#define SSS_RING_PAD 0xffffffffu /* reserved record type: padding at the wrap */
#define SSS_RING_HEADER 8        /* bytes of record header */
#define SSS_RING_MIN_CAPACITY 64

struct sss_ring {
    /* Written once by sss_ring_init. */
    alignas(64) uint64_t magic;
    uint64_t capacity;
    /* The consumer's line: head (read by the producer) and its cache of tail. */
    alignas(64) _Atomic uint64_t head;
    uint64_t cached_tail;
    /* The producer's line: tail (read by the consumer) and its cache of head. */
    alignas(64) _Atomic uint64_t tail;
    uint64_t cached_head;
    /* The data follows, at offset sizeof(struct sss_ring). */
};

/* Bytes needed for a ring of this capacity (header + data), or 0 if the
 * capacity is not a power of two >= SSS_RING_MIN_CAPACITY. */
size_t sss_ring_size(size_t capacity);

/*
 * Format the ring in mem (64-byte aligned, sss_ring_size(capacity) bytes,
 * caller's storage, typically shared memory) as empty. Returns the ring, or
 * NULL if the capacity is invalid or mem misaligned. Call before either side
 * uses it.
 */
struct sss_ring *sss_ring_init(void *mem, size_t capacity);

/* The largest payload a push accepts: capacity / 2 - 8 (an empty ring always takes it). */
size_t sss_ring_max_payload(const struct sss_ring *r);

/*
 * Producer: copy one record of len bytes into the ring. Never blocks and never
 * overwrites an unread record. Returns 0; SSS_RING_EFULL if there is not room
 * now (nothing written: retry after the consumer has made progress);
 * -EMSGSIZE if len > sss_ring_max_payload(); -EINVAL if type is SSS_RING_PAD.
 * The caller keeps p.
 */
int sss_ring_push(struct sss_ring *r, uint32_t type, const void *p, size_t len)
    __attribute__((warn_unused_result));

/* Producer: as sss_ring_push, with the payload gathered from two parts
 * (a header struct and a body, say) so the caller need not join them. */
int sss_ring_push2(struct sss_ring *r, uint32_t type, const void *h, size_t hlen, const void *p,
                   size_t plen) __attribute__((warn_unused_result));

/*
 * Consumer: look at the next record without copying it. Returns 1 and sets
 * *type, *p (8-byte aligned, points into the ring) and *len; or 0 if the ring
 * is empty. The record stays valid, and is returned again by the next peek,
 * until sss_ring_consume. Never blocks.
 */
int sss_ring_peek(struct sss_ring *r, uint32_t *type, const void **p, size_t *len);

/* Consumer: release the record returned by the last successful peek. */
void sss_ring_consume(struct sss_ring *r);

/* Whether a record may be ready (cheap; for the re-check before sleeping). */
int sss_ring_readable(struct sss_ring *r);

/* Bytes in use (records and padding), as the producer would see them; statistics. */
size_t sss_ring_used(struct sss_ring *r);

/*
 * Drop every complete record (head = tail). Called by the consumer, or by the
 * master in place of a consumer that died; the producer may keep pushing
 * meanwhile. Must not run while the consumer runs.
 */
void sss_ring_discard(struct sss_ring *r);

/* Back to empty at position 0. Only when neither side is running. */
void sss_ring_reset(struct sss_ring *r);

#endif
