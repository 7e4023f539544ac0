/*
 * The shared memory segment of one host.
 *
 * The master creates it (memfd + MAP_SHARED) before forking, so every worker
 * and the scaler inherit the same mapping at the same address. It also
 * creates one eventfd per wake word here, before forking, so that their
 * numbers are valid in every child. Layout, each region starting on a cache
 * line (64 bytes), every offset stored in the header:
 *
 *   offset 0        struct sss_shm_header: magic, layout version, sizes and
 *                   the offset of every region below
 *   counters_off    struct sss_counters[nprocs], one per worker (index 0..n-1),
 *                   each on its own cache lines
 *   bus_off         the bus (sss_bus.h): struct sss_bus, nprocs consumer
 *                   slots (slot i is worker i), then bus_capacity bytes of
 *                   records; written by the scaler, read by every worker
 *   mailbox_off     per worker i, two rings (sss_ring.h) of mailbox_capacity
 *                   bytes each, mailbox_stride bytes apart: at
 *                   mailbox_off + (2i) * stride the ring worker i -> scaler
 *                   (worker produces), at mailbox_off + (2i+1) * stride the
 *                   ring scaler -> worker i (scaler produces)
 *   wake_off        struct sss_wake[nprocs + 1] (sss_wake.h): wake word i for
 *                   worker i, word nprocs for the scaler
 *
 * Rules that keep it safe when a process dies at any instruction:
 * - every field has exactly one writer (the process that owns the slot or
 *   the producing side of a ring; the master resets a dead worker's slots
 *   before its replacement starts), so nobody ever waits on a lock another
 *   process may hold;
 * - readers of counters use relaxed loads: counters are statistics and
 *   limits that may be off by the few connections being accepted in another
 *   worker at the same instant; the bus, rings and wake words say in their
 *   own headers which loads pair with which stores;
 * - offsets, never pointers, in anything that describes the layout.
 */
#ifndef SSS_SHM_H
#define SSS_SHM_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sss_bus.h"
#include "sss_ring.h"
#include "sss_wake.h"

#define SSS_SHM_MAGIC 0x3130534d48535353ULL /* "SSSHMS01" */
#define SSS_SHM_VERSION 11
#define SSS_CACHELINE 64

/*
 * The backend proxy's numbers for one event (src/worker/sss_proxy.c): the
 * events are enum sss_proxy_event (src/common/sss_cfg.h) in its order,
 * the failure reasons enum sss_proxy_fail.
 */
#define SSS_SHM_PROXY_EVENTS 5
#define SSS_SHM_PROXY_REASONS 10

struct sss_proxy_counters {
    atomic_uint_fast64_t calls;                           /* calls made (failed ones included) */
    atomic_uint_fast64_t failures[SSS_SHM_PROXY_REASONS]; /* by reason */
    atomic_uint_fast64_t latency_ms;                      /* sum, call to answer or failure */
    atomic_uint_fast64_t latency_count;                   /* calls in that sum */
};

/* Per-process counters. Only the owning process writes them. */
struct sss_counters {
    alignas(SSS_CACHELINE) atomic_int_fast64_t conns_open; /* sockets held, any state */
    atomic_int_fast64_t ws_open;                           /* upgraded connections */
    atomic_uint_fast64_t conns_accepted;
    atomic_uint_fast64_t upgrades;
    atomic_uint_fast64_t http_rejects; /* 4xx/5xx answers to upgrades */
    atomic_uint_fast64_t frames_in;    /* data messages received */
    atomic_uint_fast64_t frames_out;   /* data messages queued */
    atomic_uint_fast64_t bytes_in;
    atomic_uint_fast64_t bytes_out;
    atomic_uint_fast64_t closes_slow; /* 4008 */
    atomic_uint_fast64_t closes_idle;
    atomic_uint_fast64_t closes_proto; /* 1002/1007/1009 from the WebSocket layer */
    atomic_uint_fast64_t sendq_high;   /* largest send queue seen, bytes */
    atomic_uint_fast64_t laps;         /* times this worker was lapped by the bus */
    atomic_uint_fast64_t tells;        /* TELLs by socket name given to their connection */
    atomic_uint_fast64_t tells_gone;   /* ... whose connection was gone (or had not begun) */
    atomic_uint_fast64_t decisions_timed_out; /* deferred decisions --decision-timeout made */
    atomic_uint_fast64_t decisions_late;      /* answers to decisions nobody waited for */
    atomic_int_fast64_t asks_pending;         /* asks waiting for their handler's answer */
    atomic_uint_fast64_t asks_timed_out;      /* asks --ask-timeout answered (then forgotten) */
    atomic_uint_fast64_t tls_handshakes;      /* TLS handshakes completed (--tls-cert) */
    atomic_uint_fast64_t tls_resumed;         /* ... of them resumed from a ticket */
    atomic_uint_fast64_t tls_failures;        /* connections closed for bad TLS input */
    atomic_uint_fast64_t deflated;            /* messages compressed (permessage-deflate) */
    atomic_int_fast64_t ws_contexts; /* wslay contexts held: connections amid a frame (gauge) */
    struct sss_proxy_counters proxy[SSS_SHM_PROXY_EVENTS];
    atomic_int pid;
    /* Not a statistic: bumped by each process that takes this slot (its
     * connection ids carry it, so a replacement's never equal a dead
     * predecessor's), and kept by sss_shm_reset_counters. */
    atomic_uint incarnation;
};

struct sss_shm_header {
    uint64_t magic;
    uint32_t version;
    uint32_t nprocs;
    uint64_t size;
    uint64_t counters_off;     /* offset of struct sss_counters[nprocs] */
    uint64_t bus_off;          /* offset of the bus */
    uint64_t bus_capacity;     /* bytes of bus records */
    uint64_t mailbox_off;      /* offset of the first ring */
    uint64_t mailbox_stride;   /* bytes from one ring to the next */
    uint64_t mailbox_capacity; /* bytes of records per ring */
    uint64_t wake_off;         /* offset of struct sss_wake[nprocs + 1] */
    uint32_t bus_flags;        /* as given to sss_bus_init */
    _Atomic uint32_t scaler_gen; /* the master bumps it before starting a scaler */
    _Atomic uint64_t last_epoch; /* memory engine: the greatest epoch any scaler gave */
    _Atomic uint32_t engine_flags; /* SSS_SHM_ENGINE_*: set by the scaler before it serves */
    uint32_t run_id; /* random, drawn at creation: this run of the host, in socket names
                      * (src/proto/sss_sockname.h); never changes afterwards */
};

/*
 * engine_flags. OUTLIVES: the engine's history and its publishers go on
 * while no scaler runs (other hosts publish through Redis), so after a
 * scaler restart each worker refills its channels from history. Without it
 * (the memory engine) nothing was published meanwhile and the old history
 * is gone with the old scaler. The value is the same for every scaler of a
 * host's life; a worker reads it when it notices a new scaler_gen.
 */
#define SSS_SHM_ENGINE_OUTLIVES 0x1u

#define SSS_SHM_BUS_DEFAULT ((size_t)4 << 20)     /* 4 MiB of bus records */
#define SSS_SHM_MAILBOX_DEFAULT ((size_t)1 << 18) /* 256 KiB per ring */

/* What to create; zero fields take the defaults. */
struct sss_shm_params {
    unsigned nprocs;         /* workers: counters, bus consumers, mailbox pairs */
    size_t bus_capacity;     /* power of two >= 256 (SSS_SHM_BUS_DEFAULT) */
    size_t mailbox_capacity; /* power of two >= 64 (SSS_SHM_MAILBOX_DEFAULT) */
    unsigned bus_flags;      /* 0, or SSS_BUS_WAIT_SLOWEST */
};

struct sss_shm {
    struct sss_shm_header *hdr; /* the mapping */
    size_t size;
    int fd;
};

/*
 * Create the segment described by p: formats the bus and every ring empty and
 * creates one eventfd per wake word. Returns 0, -EINVAL for a capacity that
 * is not a power of two (or too small) or nprocs 0, or -errno. The mapping
 * and the eventfds stay valid in children forked afterwards.
 */
int sss_shm_create_with(struct sss_shm *shm, const struct sss_shm_params *p)
    __attribute__((warn_unused_result));

/* sss_shm_create_with for nprocs workers and the default capacities. */
int sss_shm_create(struct sss_shm *shm, unsigned nprocs) __attribute__((warn_unused_result));

/* Unmap, close the memfd and the eventfds (the master, at exit). */
void sss_shm_destroy(struct sss_shm *shm);

/* The counters slot of process i (0 <= i < nprocs). */
struct sss_counters *sss_shm_counters(struct sss_shm *shm, unsigned i);

/* Zero the slot of a dead process but its incarnation; only the master calls it,
 * before a restart. */
void sss_shm_reset_counters(struct sss_shm *shm, unsigned i);

/* The bus (scaler -> every worker). */
struct sss_bus *sss_shm_bus(struct sss_shm *shm);

/* The mailbox ring worker i -> scaler (worker i produces, the scaler consumes). */
struct sss_ring *sss_shm_ring_to_scaler(struct sss_shm *shm, unsigned i);

/* The mailbox ring scaler -> worker i (the scaler produces, worker i consumes). */
struct sss_ring *sss_shm_ring_to_worker(struct sss_shm *shm, unsigned i);

/* Wake word of worker i (0 <= i < nprocs), or of the scaler (i == nprocs). */
struct sss_wake *sss_shm_wake(struct sss_shm *shm, unsigned i);

/*
 * Master, after worker i died and before its replacement starts: zero its
 * counters, drop what the scaler had queued for it (ring scaler -> worker i,
 * whose consumer was the dead worker; the scaler may keep pushing), mark its
 * bus slot DEAD (so a scaler waiting for the slowest is not blocked) and its
 * wake word awake. The ring worker i -> scaler is left alone: its consumer,
 * the scaler, may be reading it right now, and it holds only complete
 * requests (one cut short by the death lies beyond the tail and is never
 * seen); the scaler, told of the death, drops or serves them.
 */
void sss_shm_reset_worker(struct sss_shm *shm, unsigned i);

/*
 * Whether worker slot i runs a process now (its pid is set: the master
 * zeroes it when the process dies) whose incarnation's 16 low bits are inc:
 * a connection id carrying another incarnation belongs to a process that is
 * gone. Relaxed loads: a process that dies right after the check is found
 * out later (its mailbox is reset). Any process; i may be out of range (0).
 */
int sss_shm_worker_current(struct sss_shm *shm, unsigned i, unsigned inc);

/* Sum of conns_open over every slot (relaxed; for the --max-connections check). */
int64_t sss_shm_total_conns(struct sss_shm *shm);

/* Bump a counter owned by the caller (single writer: no read-modify-write lock needed). */
#define sss_ctr_add(ctr, field, n)                                                                 \
    atomic_store_explicit(&(ctr)->field,                                                           \
                          atomic_load_explicit(&(ctr)->field, memory_order_relaxed) + (n),         \
                          memory_order_relaxed)

#endif
