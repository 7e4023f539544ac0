/*
 * libFuzzer target for the SPSC ring and the bus (shm/): the input is a
 * sequence of operations - push, two-part push, peek, consume, discard,
 * reset on a ring; append, read, attach and detach on a bus with three
 * readers - each run on the real structure and on a plain C model (a queue of
 * records with the byte positions the formats in sss_ring.h and sss_bus.h
 * define). Every result, record, count of lost records and refusal must
 * agree; any divergence calls abort(), which libFuzzer (or the replayer)
 * reports. Single-threaded: the ordering is the stress tests' business.
 *
 * Input: byte 0 picks the ring capacity (64 << (b % 7)), byte 1 the bus
 * capacity (256 << (b % 5)) and mode (bit 7: wait for the slowest); then each
 * operation is one byte (low 4 bits: which; high 4 bits: an argument) plus up
 * to two bytes of size.
 */
#include "fuzz_check.h"
#include "sss_bus.h"
#include "sss_ring.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXREC 4096 /* > any max payload below */
#define MAXQ 8192   /* records a model keeps */
#define NREADERS 3

static uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

/* Deterministic content of record number id. */
static void fill(unsigned char *buf, size_t len, uint64_t id)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(id * 131 + i * 7 + (id >> 8));
}

static int same(const unsigned char *p, size_t len, uint64_t id)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (unsigned char)(id * 131 + i * 7 + (id >> 8)))
            return 0;
    return 1;
}

struct input {
    const uint8_t *p;
    size_t n;
};

static unsigned next(struct input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/*
 * The next record to write, drawn from the input: its length (up to 8 bytes
 * past max, so that too long is tried too) and where push2/append2 split it;
 * then, after tail on a ring of cap bytes whose records have a hdr-byte
 * header, its aligned size and the padding that goes before it.
 */
struct draw {
    size_t len, split;
    uint64_t rec, pad;
};

static struct draw draw_record(struct input *in, size_t max, uint64_t tail, uint64_t cap,
                               size_t hdr)
{
    struct draw d;
    uint64_t off = tail & (cap - 1);

    d.len = (next(in) | next(in) << 8) % (max + 9);
    d.split = d.len ? next(in) % d.len : 0;
    d.rec = align8(hdr + d.len);
    d.pad = cap - off < d.rec ? cap - off : 0;
    return d;
}

/* ---- ring and its model ---- */

struct mrec {
    uint64_t id, start, end; /* start: where the record begins (after any padding) */
    uint32_t type;
    size_t len;
};

struct ring_model {
    uint64_t head, tail, cap;
    struct mrec q[MAXQ];
    size_t first, count; /* the queue: q[first .. first + count) mod MAXQ */
};

static void ring_ops(struct sss_ring *r, struct ring_model *m, unsigned op, struct input *in,
                     uint64_t *ids)
{
    unsigned char buf[MAXREC];

    switch (op) {
    case 0:
    case 1: { /* push, push2 */
        size_t max = sss_ring_max_payload(r);
        struct draw d = draw_record(in, max, m->tail, m->cap, 8);
        uint32_t type = next(in) == 255 ? SSS_RING_PAD : (uint32_t)(*ids & 0xffff);
        size_t len = d.len, split = d.split;
        uint64_t pad = d.pad, rec = d.rec;
        int want, rc;

        fill(buf, len, *ids);
        if (type == SSS_RING_PAD)
            want = -EINVAL;
        else if (len > max)
            want = -EMSGSIZE;
        else if (pad + rec > m->cap - (m->tail - m->head) || m->count == MAXQ)
            want = SSS_RING_EFULL;
        else
            want = 0;
        if (want == SSS_RING_EFULL && m->count == MAXQ)
            return; /* the model is full, not the ring: skip */
        rc = op == 0 ? sss_ring_push(r, type, buf, len)
                     : sss_ring_push2(r, type, buf, split, buf + split, len - split);
        require(rc == want);
        if (rc == 0) {
            struct mrec *e = &m->q[(m->first + m->count++) % MAXQ];

            *e = (struct mrec){*ids, m->tail + pad, m->tail + pad + rec, type, len};
            m->tail += pad + rec;
            ++*ids;
        }
        require(sss_ring_used(r) == m->tail - m->head);
        break;
    }
    case 2:
    case 3: { /* peek, peek + consume */
        const void *p;
        uint32_t type;
        size_t len;
        int rc = sss_ring_peek(r, &type, &p, &len);

        require(rc == (m->count > 0));
        require(sss_ring_readable(r) == (m->count > 0));
        if (!rc)
            break;
        {
            struct mrec *e = &m->q[m->first];

            require(type == e->type && len == e->len && same(p, len, e->id));
            require(((uintptr_t)p & 7) == 0);
            m->head = e->start; /* peek skipped any padding */
            if (op == 3) {
                sss_ring_consume(r);
                m->head = e->end;
                m->first = (m->first + 1) % MAXQ;
                m->count--;
            }
        }
        require(sss_ring_used(r) == m->tail - m->head);
        break;
    }
    case 4: /* discard (as the master for a dead consumer) */
        sss_ring_discard(r);
        m->head = m->tail;
        m->first = (m->first + m->count) % MAXQ;
        m->count = 0;
        break;
    default: /* reset */
        sss_ring_reset(r);
        m->head = m->tail = 0;
        m->count = 0;
        break;
    }
}

/* ---- bus and its model ---- */

struct mreader {
    int live;          /* attached through a slot */
    uint64_t cursor;   /* the reader's position, as sss_bus_read keeps it */
    uint64_t published; /* what its slot says */
    size_t next;       /* index in the model's record log of the next record */
    int have_seq, lap_pending;
    uint64_t lost_from, lost, laps;
};

struct bus_model {
    uint64_t tail, cap;
    int wait;
    struct mrec log[MAXQ]; /* every record appended since the start */
    size_t n;
    struct mreader rd[NREADERS];
};

static void bus_attach(struct sss_bus *bus, struct sss_bus_reader *rd, struct bus_model *m, int i)
{
    require(sss_bus_reader_init(rd, bus, i) == 0);
    m->rd[i] = (struct mreader){.live = 1, .cursor = m->tail, .published = m->tail, .next = m->n};
}

static void bus_ops(struct sss_bus *bus, struct sss_bus_reader *rds, struct bus_model *m,
                    unsigned op, unsigned arg, struct input *in)
{
    unsigned char buf[MAXREC];
    size_t max = sss_bus_max_payload(bus);

    switch (op) {
    case 6:
    case 7: { /* append, append2 */
        struct draw d = draw_record(in, max, m->tail, m->cap, 16);
        size_t len = d.len, split = d.split;
        uint64_t pad = d.pad, rec = d.rec, end = m->tail + pad + rec;
        uint64_t limit = m->tail + m->cap;
        int want, rc;

        if (m->n == MAXQ)
            return;
        for (int i = 0; m->wait && i < NREADERS; i++)
            if (m->rd[i].live && m->rd[i].published + m->cap < limit)
                limit = m->rd[i].published + m->cap;
        fill(buf, len, m->n);
        want = len > max ? -EMSGSIZE : end > limit ? SSS_BUS_EFULL : 0;
        rc = op == 6 ? sss_bus_append(bus, (uint32_t)(m->n & 0xffff), buf, len)
                     : sss_bus_append2(bus, (uint32_t)(m->n & 0xffff), buf, split, buf + split,
                                       len - split);
        require(rc == want);
        if (rc == 0) {
            m->log[m->n] = (struct mrec){m->n, m->tail + pad, end, (uint32_t)(m->n & 0xffff), len};
            m->n++;
            m->tail = end;
        }
        break;
    }
    case 8:
    case 9:
    case 10: { /* read on reader arg % 3, with a short buffer now and then */
        int i = (int)(arg % NREADERS);
        struct mreader *mr = &m->rd[i];
        size_t cap = arg >= 12 ? (size_t)next(in) : sizeof(buf);
        uint32_t type;
        size_t len;
        int rc;

        if (!mr->live)
            break;
        rc = sss_bus_read(&rds[i], buf, cap, &type, &len);
        if (mr->cursor == m->tail) {
            require(rc == 0);
        } else if (m->tail - mr->cursor > m->cap) {
            require(rc == SSS_BUS_LAPPED);
            mr->laps++;
            if (mr->have_seq && !mr->lap_pending) { /* lost counts from the first lap */
                mr->lap_pending = 1;
                mr->lost_from = mr->next;
            }
            mr->cursor = mr->published = m->tail;
            mr->next = m->n;
        } else {
            struct mrec *e = &m->log[mr->next];

            require(mr->next < m->n && e->start >= mr->cursor);
            mr->cursor = e->start; /* past any padding */
            if (e->len > cap) {
                require(rc == -EMSGSIZE && len == e->len);
                break;
            }
            require(rc == 1 && type == e->type && len == e->len && same(buf, len, e->id));
            if (mr->lap_pending)
                mr->lost += mr->next - mr->lost_from;
            mr->lap_pending = 0;
            mr->have_seq = 1;
            mr->cursor = mr->published = e->end;
            mr->next++;
        }
        require(rds[i].laps == mr->laps && rds[i].lost == mr->lost);
        require(atomic_load(&sss_bus_slot(bus, (unsigned)i)->cursor) == mr->published);
        break;
    }
    default: { /* detach or re-attach reader arg % 3 */
        int i = (int)(arg % NREADERS);

        if (m->rd[i].live) {
            sss_bus_reader_fini(&rds[i]);
            m->rd[i].live = 0;
        } else {
            bus_attach(bus, &rds[i], m, i);
        }
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ring_model rm;
    static struct bus_model bm;
    struct input in = {data, size};
    size_t rcap = (size_t)64 << (next(&in) % 7);
    unsigned b = next(&in);
    size_t bcap = (size_t)256 << (b % 5);
    unsigned flags = (b & 0x80) ? SSS_BUS_WAIT_SLOWEST : 0;
    void *rmem = aligned_alloc(64, sss_ring_size(rcap));
    void *bmem = aligned_alloc(64, sss_bus_size(bcap, NREADERS));
    struct sss_bus_reader rds[NREADERS];
    struct sss_ring *r;
    struct sss_bus *bus;
    uint64_t ids = 0;

    require(rmem && bmem);
    r = sss_ring_init(rmem, rcap);
    bus = sss_bus_init(bmem, bcap, NREADERS, flags);
    require(r && bus);
    memset(&rm, 0, sizeof(rm));
    memset(&bm, 0, sizeof(bm));
    rm.cap = rcap;
    bm.cap = bcap;
    bm.wait = flags != 0;
    for (int i = 0; i < NREADERS; i++)
        bus_attach(bus, &rds[i], &bm, i);
    while (in.n) {
        unsigned c = next(&in), op = c & 15, arg = c >> 4;

        if (op < 6)
            ring_ops(r, &rm, op, &in, &ids);
        else
            bus_ops(bus, rds, &bm, op, arg, &in);
    }
    free(rmem);
    free(bmem);
    return 0;
}
