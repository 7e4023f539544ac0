/* The broadcast ring (format, ordering and modes in sss_bus.h). */
#include "sss_bus.h"
#include "sss_fault.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define BUS_MAGIC 0x3153554253535353ULL /* "SSSSBUS1" */

static_assert(sizeof(struct sss_bus) == 3 * 64, "constants, published positions, private state");
static_assert(offsetof(struct sss_bus, tail_intent) == 64, "positions on their own line");
static_assert(sizeof(struct sss_bus_slot) == 64, "one line per consumer");
static_assert(sizeof(_Atomic uint64_t) == 8, "data words are plain 64-bit words");
static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_LONG_LOCK_FREE == 2,
              "lock-free (address-free) 64-bit atomics, valid across processes");

static inline uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static inline _Atomic uint64_t *words(struct sss_bus *bus)
{
    return (_Atomic uint64_t *)((char *)bus + bus->data_off);
}

size_t sss_bus_size(size_t capacity, unsigned nconsumers)
{
    if (capacity < SSS_BUS_MIN_CAPACITY || (capacity & (capacity - 1)) != 0 || nconsumers == 0)
        return 0;
    return sizeof(struct sss_bus) + (size_t)nconsumers * sizeof(struct sss_bus_slot) + capacity;
}

struct sss_bus *sss_bus_init(void *mem, size_t capacity, unsigned nconsumers, unsigned flags)
{
    struct sss_bus *bus = mem;
    size_t size = sss_bus_size(capacity, nconsumers);

    if (!size || ((uintptr_t)mem & 63) != 0 || (flags & ~SSS_BUS_WAIT_SLOWEST) != 0)
        return NULL;
    memset(mem, 0, size); /* all-zero words: every slot DEAD, cursors 0 */
    bus->magic = BUS_MAGIC;
    bus->capacity = capacity;
    bus->nconsumers = nconsumers;
    bus->flags = flags;
    bus->slots_off = sizeof(struct sss_bus);
    bus->data_off = bus->slots_off + (uint64_t)nconsumers * sizeof(struct sss_bus_slot);
    atomic_init(&bus->tail_intent, 0);
    atomic_init(&bus->tail, 0);
    bus->next_seq = 0;
    bus->limit = 0; /* forces a scan of the slots on the first append */
    return bus;
}

size_t sss_bus_max_payload(const struct sss_bus *bus)
{
    return bus->capacity / 4 - SSS_BUS_HEADER;
}

struct sss_bus_slot *sss_bus_slot(struct sss_bus *bus, unsigned i)
{
    assert(i < bus->nconsumers);
    return (struct sss_bus_slot *)((char *)bus + bus->slots_off) + i;
}

/*
 * Wait mode: the highest position the producer may write up to without
 * overwriting a byte some live consumer has not read. The seq_cst fence pairs
 * with the seq_cst store of LIVE and load of tail in sss_bus_reader_init: a
 * consumer we see as DEAD here will start at a tail >= ours, so bounding the
 * result by tail + capacity keeps it safe until the next scan.
 */
static uint64_t scan_limit(struct sss_bus *bus, uint64_t tail)
{
    uint64_t limit = tail + bus->capacity;

    atomic_thread_fence(memory_order_seq_cst);
    for (unsigned i = 0; i < bus->nconsumers; i++) {
        struct sss_bus_slot *s = sss_bus_slot(bus, i);
        uint64_t c;

        if (atomic_load_explicit(&s->state, memory_order_seq_cst) != SSS_BUS_SLOT_LIVE)
            continue;
        /* Pairs with the release store of cursor in the consumer: it has
         * finished copying every record before c. */
        c = atomic_load_explicit(&s->cursor, memory_order_acquire);
        if (c + bus->capacity < limit)
            limit = c + bus->capacity;
    }
    return limit;
}

/* Packs bytes into 64-bit words stored with relaxed atomic stores. */
struct packer {
    _Atomic uint64_t *w;
    uint64_t acc;
    unsigned fill;
};

static void pack(struct packer *pk, const void *src, size_t n)
{
    const unsigned char *s = src;

    while (n) {
        if (pk->fill == 0 && n >= 8) {
            uint64_t v;

            memcpy(&v, s, 8);
            atomic_store_explicit(pk->w++, v, memory_order_relaxed);
            s += 8;
            n -= 8;
            continue;
        }
        {
            size_t take = 8 - pk->fill < n ? 8 - pk->fill : n;

            memcpy((unsigned char *)&pk->acc + pk->fill, s, take);
            pk->fill += (unsigned)take;
            s += take;
            n -= take;
            if (pk->fill == 8) {
                atomic_store_explicit(pk->w++, pk->acc, memory_order_relaxed);
                pk->acc = 0;
                pk->fill = 0;
            }
        }
    }
}

static void pack_flush(struct packer *pk)
{
    if (pk->fill) {
        atomic_store_explicit(pk->w++, pk->acc, memory_order_relaxed);
        pk->acc = 0;
        pk->fill = 0;
    }
}

int sss_bus_appendv(struct sss_bus *bus, uint32_t type, const struct iovec *iov, int n)
{
    const uint64_t cap = bus->capacity;
    _Atomic uint64_t *w = words(bus);
    uint64_t tail, off, rec, pad, end, intent;
    struct packer pk = {0};
    size_t len = 0;

    assert(bus->magic == BUS_MAGIC);
    if (type == SSS_BUS_PAD)
        return -EINVAL;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len > sss_bus_max_payload(bus) - len)
            return -EMSGSIZE;
        len += iov[i].iov_len;
    }
    /* Our own positions: only the producer stores tail and tail_intent. */
    tail = atomic_load_explicit(&bus->tail, memory_order_relaxed);
    off = tail & (cap - 1);
    rec = align8(SSS_BUS_HEADER + len);
    pad = cap - off < rec ? cap - off : 0;
    end = tail + pad + rec;
    if ((bus->flags & SSS_BUS_WAIT_SLOWEST) && end > bus->limit) {
        bus->limit = scan_limit(bus, tail);
        if (end > bus->limit)
            return SSS_BUS_EFULL;
    }
    /* (1) Announce what we are about to overwrite. Never lower it, even after
     * a restart found a larger intent left by a producer that died mid-write. */
    intent = atomic_load_explicit(&bus->tail_intent, memory_order_relaxed);
    atomic_store_explicit(&bus->tail_intent, end > intent ? end : intent, memory_order_relaxed);
    /* Pairs with the acquire fence in read_record, before its load of
     * tail_intent: a consumer that copied any word written below sees the
     * intent stored above. */
    atomic_thread_fence(memory_order_release);
    /* (2) The padding and the record. */
    if (pad) {
        atomic_store_explicit(&w[off / 8], (uint64_t)SSS_BUS_PAD << 32 | (pad - 8),
                              memory_order_relaxed);
        off = 0;
    }
    atomic_store_explicit(&w[off / 8], (uint64_t)type << 32 | (uint64_t)len,
                          memory_order_relaxed);
    atomic_store_explicit(&w[off / 8 + 1],
                          bus->next_seq | (bus->restarted ? SSS_BUS_SEQ_RESTART : 0),
                          memory_order_relaxed);
    pk.w = &w[off / 8 + 2];
    for (int i = 0; i < n; i++)
        if (iov[i].iov_len)
            pack(&pk, iov[i].iov_base, iov[i].iov_len);
    pack_flush(&pk);
    bus->next_seq++;
    SSS_FAULT_POINT("bus.append.unpublished"); /* seq taken, record not yet published */
    /* (3) Publish. Pairs with the acquire load of tail in sss_bus_read. */
    atomic_store_explicit(&bus->tail, end, memory_order_release);
    bus->restarted = 0;
    return 0;
}

void sss_bus_producer_start(struct sss_bus *bus)
{
    assert(bus->magic == BUS_MAGIC);
    bus->restarted = atomic_load_explicit(&bus->tail_intent, memory_order_relaxed) != 0;
}

int sss_bus_append2(struct sss_bus *bus, uint32_t type, const void *h, size_t hlen, const void *p,
                    size_t plen)
{
    struct iovec iov[2] = {{(void *)h, hlen}, {(void *)p, plen}};

    return sss_bus_appendv(bus, type, iov, 2);
}

int sss_bus_append(struct sss_bus *bus, uint32_t type, const void *p, size_t len)
{
    return sss_bus_appendv(bus, type, &(struct iovec){(void *)p, len}, 1);
}

static void publish_cursor(struct sss_bus_reader *rd)
{
    /* Pairs with the acquire load of cursor in scan_limit: our copies of
     * every record before the cursor are done. */
    if (rd->slot)
        atomic_store_explicit(&rd->slot->cursor, rd->cursor, memory_order_release);
}

int sss_bus_reader_init(struct sss_bus_reader *rd, struct sss_bus *bus, int consumer_id)
{
    assert(bus->magic == BUS_MAGIC);
    if (consumer_id < -1 || (consumer_id >= 0 && (unsigned)consumer_id >= bus->nconsumers))
        return -EINVAL;
    memset(rd, 0, sizeof(*rd));
    rd->bus = bus;
    rd->slot = consumer_id >= 0 ? sss_bus_slot(bus, (unsigned)consumer_id) : NULL;
    rd->cursor = atomic_load_explicit(&bus->tail, memory_order_acquire);
    if (rd->slot) {
        atomic_store_explicit(&rd->slot->cursor, rd->cursor, memory_order_relaxed);
        atomic_store_explicit(&rd->slot->laps, 0, memory_order_relaxed);
        atomic_store_explicit(&rd->slot->lost, 0, memory_order_relaxed);
        /* The seq_cst store and load pair with the seq_cst fence and load of
         * state in scan_limit: either the producer sees us LIVE (with a
         * cursor no later than ours), or we see a tail at least as recent as
         * the one its limit is bounded by. */
        atomic_store_explicit(&rd->slot->state, SSS_BUS_SLOT_LIVE, memory_order_seq_cst);
        rd->cursor = atomic_load_explicit(&bus->tail, memory_order_seq_cst);
        publish_cursor(rd);
    }
    return 0;
}

void sss_bus_reader_fini(struct sss_bus_reader *rd)
{
    if (rd->slot)
        atomic_store_explicit(&rd->slot->state, SSS_BUS_SLOT_DEAD, memory_order_release);
    rd->slot = NULL;
}

void sss_bus_detach(struct sss_bus *bus, unsigned i)
{
    atomic_store_explicit(&sss_bus_slot(bus, i)->state, SSS_BUS_SLOT_DEAD, memory_order_release);
}

static int lapped(struct sss_bus_reader *rd)
{
    rd->laps++;
    rd->have_seq = rd->have_seq ? 2 : 0; /* 2: a lap is pending, the next seq settles rd->lost */
    /* Pairs with the release store of tail in append: every record before
     * the new cursor is complete. The tail only grows, so this is past our
     * old cursor: we never see a record twice. */
    rd->cursor = atomic_load_explicit(&rd->bus->tail, memory_order_acquire);
    if (rd->slot)
        atomic_store_explicit(&rd->slot->laps, rd->laps, memory_order_relaxed);
    publish_cursor(rd);
    return SSS_BUS_LAPPED;
}

/* Whether the bytes from position c on may have been overwritten by now. */
static inline int overrun(struct sss_bus *bus, uint64_t c)
{
    /* Pairs with the release fence after the store of tail_intent in append. */
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&bus->tail_intent, memory_order_relaxed) - c > bus->capacity;
}

int sss_bus_read(struct sss_bus_reader *rd, void *dst, size_t cap, uint32_t *type, size_t *len)
{
    struct sss_bus *bus = rd->bus;
    const uint64_t capacity = bus->capacity;
    _Atomic uint64_t *w = words(bus);

    for (;;) {
        /* Pairs with the release store of tail in append. */
        uint64_t tail = atomic_load_explicit(&bus->tail, memory_order_acquire);
        uint64_t c = rd->cursor, off = c & (capacity - 1), h, seq, n, i;
        uint32_t rlen, rtype;
        unsigned char *d = dst;
        int restart;

        if (tail == c)
            return 0;
        if (tail - c > capacity)
            return lapped(rd);
        h = atomic_load_explicit(&w[off / 8], memory_order_relaxed);
        rlen = (uint32_t)h;
        rtype = (uint32_t)(h >> 32);
        if (rtype == SSS_BUS_PAD) {
            if (overrun(bus, c))
                return lapped(rd);
            /* Intact, hence written by append: padding always runs to the end. */
            assert(rlen == capacity - off - 8);
            rd->cursor = c + (capacity - off);
            continue;
        }
        if (off + align8(SSS_BUS_HEADER + (uint64_t)rlen) > capacity ||
            rlen > sss_bus_max_payload(bus)) {
            /* Only a word from an overwrite can look like this. */
            if (overrun(bus, c))
                return lapped(rd);
            assert(!"bus: malformed record that was not overwritten");
            return lapped(rd);
        }
        if (rlen > cap) {
            if (overrun(bus, c))
                return lapped(rd);
            *len = rlen;
            return -EMSGSIZE;
        }
        seq = atomic_load_explicit(&w[off / 8 + 1], memory_order_relaxed);
        restart = (seq & SSS_BUS_SEQ_RESTART) != 0;
        seq &= ~SSS_BUS_SEQ_RESTART;
        (void)restart; /* read by an assert only */
        n = rlen / 8;
        for (i = 0; i < n; i++) {
            uint64_t v = atomic_load_explicit(&w[off / 8 + 2 + i], memory_order_relaxed);

            memcpy(d + 8 * i, &v, 8);
        }
        if (rlen % 8) {
            uint64_t v = atomic_load_explicit(&w[off / 8 + 2 + n], memory_order_relaxed);

            memcpy(d + 8 * n, &v, rlen % 8);
        }
        /* The copy is good only if nothing overwrote it meanwhile (seqlock check). */
        if (overrun(bus, c))
            return lapped(rd);
        rd->cursor = c + align8(SSS_BUS_HEADER + (uint64_t)rlen);
        if (rd->have_seq == 2) {
            assert(seq > rd->next_seq);
            rd->lost += seq - rd->next_seq;
            if (rd->slot)
                atomic_store_explicit(&rd->slot->lost, rd->lost, memory_order_relaxed);
        } else {
            /* A restarted producer may skip the seq its predecessor took
             * and never published: no record carried it, nothing is lost. */
            assert(!rd->have_seq || seq == rd->next_seq || (restart && seq > rd->next_seq));
        }
        rd->have_seq = 1;
        rd->next_seq = seq + 1;
        rd->records++;
        publish_cursor(rd);
        *type = rtype;
        *len = rlen;
        return 1;
    }
}

int sss_bus_readable(const struct sss_bus_reader *rd)
{
    return atomic_load_explicit(&rd->bus->tail, memory_order_acquire) != rd->cursor;
}
