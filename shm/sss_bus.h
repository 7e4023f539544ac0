/*
 * sss_bus: the host's broadcast ring. One producer (the scaler) appends
 * variable-size records; every consumer (a worker) reads every record at its
 * own cursor. Modelled on Aeron's broadcast buffer (BroadcastTransmitter /
 * BroadcastReceiver). libc and C11 atomics only (shm/ stands alone).
 *
 * Format. A bus is a struct sss_bus (constants; the producer's published
 * positions; the producer's private state), then nconsumers struct
 * sss_bus_slot (one cache line each), then `capacity` bytes of data held as
 * 64-bit words, capacity a power of two. Positions are 64-bit byte counts that
 * only grow; position p lives at data offset p & (capacity - 1). A record:
 *
 *   word 0   u32 len (payload bytes, low half) | u32 type (high half);
 *            type 0xffffffff (SSS_BUS_PAD) is reserved for padding
 *   word 1   u64 seq: 0, 1, 2 ... one per record appended (padding has none)
 *   payload  len bytes, zero-filled up to the next multiple of 8
 *
 * A record never wraps: if it does not fit before the end of the data, the
 * rest is a padding record (word 0 only: its len is the bytes to the end minus
 * 8) and the record goes at offset 0. A record (16 + len, rounded up to 8) may
 * be at most capacity / 4.
 *
 * Ordering (the producer never waits for a consumer). To append, the
 * producer (1) stores tail_intent = the end of what it is about to write, then
 * a release fence; (2) writes padding and the record with relaxed atomic
 * stores; (3) release-stores tail. A consumer at cursor c < tail (acquire load:
 * pairs with (3)) copies the record with relaxed atomic loads into its own
 * buffer, issues an acquire fence and loads tail_intent: if tail_intent - c
 * <= capacity, no byte of the record was overwritten while it copied. If any
 * word it copied came from a newer write, that write follows the fence of (1),
 * so the two fences synchronise and the consumer must see that tail_intent
 * (or a later one) - a seqlock with the tail as its sequence. Otherwise the
 * consumer was lapped: it reports SSS_BUS_LAPPED, jumps to the current tail
 * and counts the records it missed from the seq of the next record it gets.
 * It never returns a torn or stale record.
 *
 * Wait-for-the-slowest mode (SSS_BUS_WAIT_SLOWEST). Consumers always publish
 * their cursor in their slot (release store after copying: pairs with the
 * producer's acquire load). In this mode the producer refuses an append
 * (SSS_BUS_EFULL) that would overwrite a byte before the cursor of a LIVE
 * slot. The master marks a dead worker's slot DEAD (sss_bus_detach) so it
 * never blocks the producer. Attaching while the producer runs is safe: the
 * producer bounds every limit it caches by its tail + capacity, and a
 * seq_cst fence in its scan against a seq_cst store of LIVE and load of tail
 * in sss_bus_reader_init means that a consumer it missed starts at a tail at
 * least as recent as that bound's.
 *
 * Death at any instruction: a half-written record lies beyond tail; a
 * restarted producer continues at tail and overwrites it, and tail_intent
 * never decreases, so nothing half-written is ever validated. The producer
 * takes a record's seq (next_seq++) before it publishes the tail, so a
 * producer that died in between leaves a seq that no record will ever carry:
 * a restarted producer says so (sss_bus_producer_start), its first record is
 * marked SSS_BUS_SEQ_RESTART in the seq word, and a consumer accepts that
 * record's seq jumping ahead without counting anything lost.
 */
#ifndef SSS_BUS_H
#define SSS_BUS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Same value as SSS_EFULL in src/common/sss_err.h (shm/ cannot include it). */
#define SSS_BUS_EFULL (-1001)
/* The consumer was overtaken by the producer and lost records. */
#define SSS_BUS_LAPPED (-1100)

#define SSS_BUS_PAD 0xffffffffu /* reserved record type */
#define SSS_BUS_HEADER 16       /* bytes of record header */
#define SSS_BUS_MIN_CAPACITY 256
#define SSS_BUS_WAIT_SLOWEST 1u /* flag of sss_bus_init */
/* Bit of a record's seq word: the first record of a restarted producer. */
#define SSS_BUS_SEQ_RESTART (1ull << 63)

enum sss_bus_slot_state {
    SSS_BUS_SLOT_DEAD = 0, /* nobody reads through it: the producer ignores it */
    SSS_BUS_SLOT_LIVE = 1,
};

/* One consumer's published state; written only by that consumer (or by the
 * master once it is dead). */
struct sss_bus_slot {
    alignas(64) _Atomic uint64_t cursor; /* position of the next record it reads */
    _Atomic uint32_t state;              /* enum sss_bus_slot_state */
    uint32_t unused;
    _Atomic uint64_t laps; /* statistics: times it was lapped */
    _Atomic uint64_t lost; /* statistics: records it lost to laps */
};

struct sss_bus {
    /* Written once by sss_bus_init. */
    alignas(64) uint64_t magic;
    uint64_t capacity;
    uint32_t nconsumers;
    uint32_t flags;
    uint64_t slots_off; /* from the start of this struct */
    uint64_t data_off;
    /* The producer's published positions, read by every consumer. */
    alignas(64) _Atomic uint64_t tail_intent;
    _Atomic uint64_t tail;
    /* The producer's private state (here so a restarted producer resumes). */
    alignas(64) uint64_t next_seq;
    uint64_t limit;     /* wait mode: no live cursor is below limit - capacity */
    uint64_t restarted; /* the next record is the first of a restarted producer */
};

/* A consumer's private state (in the consumer's own memory, not shared). */
struct sss_bus_reader {
    struct sss_bus *bus;       /* borrowed: the mapping */
    struct sss_bus_slot *slot; /* borrowed; NULL if reading without a slot */
    uint64_t cursor;
    uint64_t next_seq; /* seq expected next, once have_seq */
    uint64_t laps;     /* times lapped */
    uint64_t lost;     /* records lost to laps (see sss_bus_read) */
    uint64_t records;  /* records returned */
    int have_seq;
};

/* Bytes of shared memory for a bus, or 0 if the capacity is not a power of
 * two >= SSS_BUS_MIN_CAPACITY or nconsumers is 0. */
size_t sss_bus_size(size_t capacity, unsigned nconsumers);

/*
 * Format an empty bus in mem (64-byte aligned, sss_bus_size() bytes, caller's
 * storage). flags: 0 (never wait) or SSS_BUS_WAIT_SLOWEST. Every slot starts
 * DEAD. Returns the bus, or NULL on a bad capacity, count or alignment.
 */
struct sss_bus *sss_bus_init(void *mem, size_t capacity, unsigned nconsumers, unsigned flags);

/* The largest payload an append accepts: capacity / 4 - 16. */
size_t sss_bus_max_payload(const struct sss_bus *bus);

/*
 * Producer only: append one record of len bytes for every consumer; copies
 * the payload (the caller keeps p). Never blocks. Returns 0; -EMSGSIZE if len
 * > sss_bus_max_payload(); -EINVAL if type is SSS_BUS_PAD; in wait mode
 * SSS_BUS_EFULL if a live consumer has not yet read the bytes it would
 * overwrite (nothing written: retry later). In the default mode a slow
 * consumer is overwritten and finds out on its next read.
 */
int sss_bus_append(struct sss_bus *bus, uint32_t type, const void *p, size_t len)
    __attribute__((warn_unused_result));

/*
 * Producer: call once before the first append of a producer process. A bus
 * that already carried records had a producer before, which may have died
 * inside an append after taking a seq: the next record is marked so that
 * consumers accept the seq skipping one (see Death at any instruction).
 */
void sss_bus_producer_start(struct sss_bus *bus);

/* Producer only: as sss_bus_append, the payload gathered from h then p. */
int sss_bus_append2(struct sss_bus *bus, uint32_t type, const void *h, size_t hlen, const void *p,
                    size_t plen) __attribute__((warn_unused_result));

/* Producer only: as sss_bus_append, the payload gathered from n pieces. */
int sss_bus_appendv(struct sss_bus *bus, uint32_t type, const struct iovec *iov, int n)
    __attribute__((warn_unused_result));

/*
 * Consumer: start reading at the current tail (only records appended from now
 * on). consumer_id (0 <= id < nconsumers) names the slot this reader publishes
 * its cursor in and marks it LIVE; -1 reads without a slot (a monitor: the
 * producer never waits for it). Returns 0, or -EINVAL for a bad id.
 */
int sss_bus_reader_init(struct sss_bus_reader *rd, struct sss_bus *bus, int consumer_id)
    __attribute__((warn_unused_result));

/* Consumer: stop reading; marks its slot DEAD. */
void sss_bus_reader_fini(struct sss_bus_reader *rd);

/*
 * Consumer: copy the next record into dst (cap bytes). Returns
 *   1               a record: *type, *len (payload bytes) and dst are set;
 *   0               nothing new;
 *   SSS_BUS_LAPPED  the producer overwrote records this reader had not read:
 *                   they are lost; the reader has moved to the current tail
 *                   (rd->laps counts this; when the next record arrives,
 *                   rd->lost grows by the exact number of records skipped,
 *                   counted from the last record read before the lap, if
 *                   any); dst holds garbage;
 *   -EMSGSIZE       the record is longer than cap: *len is its length, it is
 *                   not consumed (read again with a larger buffer).
 * Never blocks, never returns a torn or stale record.
 */
int sss_bus_read(struct sss_bus_reader *rd, void *dst, size_t cap, uint32_t *type, size_t *len);

/* Whether a record may be ready for this reader (for the re-check before sleeping). */
int sss_bus_readable(const struct sss_bus_reader *rd);

/* Slot i of the bus (statistics, sss-shmdump). */
struct sss_bus_slot *sss_bus_slot(struct sss_bus *bus, unsigned i);

/*
 * Master: mark consumer slot i DEAD, so that in wait mode the producer no
 * longer waits for it. Only for a consumer that is dead (or about to be
 * replaced); its replacement attaches with sss_bus_reader_init.
 */
void sss_bus_detach(struct sss_bus *bus, unsigned i);

#endif
