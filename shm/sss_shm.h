/*
 * The shared memory segment of one host.
 *
 * The master creates it (memfd + MAP_SHARED) before forking, so every worker
 * and the scaler inherit the same mapping at the same address. Layout:
 *
 *   offset 0      struct sss_shm_header: magic, layout version, sizes
 *   then          struct sss_counters[nprocs], one per process (index 0..n-1
 *                 the workers), each on its own cache lines
 *
 * Rules that keep it safe when a process dies at any instruction:
 * - every field has exactly one writer (the process that owns the slot; the
 *   master resets a dead worker's slot before its replacement starts), so
 *   nobody ever waits on a lock another process may hold;
 * - readers use relaxed loads: counters are statistics and limits that may
 *   be off by the few connections being accepted in another worker at the
 *   same instant;
 * - offsets, never pointers, in anything that describes the layout.
 * The bus and the mailboxes (next issue) will follow the counters.
 */
#ifndef SSS_SHM_H
#define SSS_SHM_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SSS_SHM_MAGIC 0x3130534d48535353ULL /* "SSSHMS01" */
#define SSS_SHM_VERSION 1
#define SSS_CACHELINE 64

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
    atomic_int pid;
};

struct sss_shm_header {
    uint64_t magic;
    uint32_t version;
    uint32_t nprocs;
    uint64_t size;
    uint64_t counters_off; /* offset of struct sss_counters[nprocs] */
};

struct sss_shm {
    struct sss_shm_header *hdr; /* the mapping */
    size_t size;
    int fd;
};

/*
 * Create the segment for nprocs processes. Returns 0 or -errno. The mapping
 * stays valid in children forked afterwards.
 */
int sss_shm_create(struct sss_shm *shm, unsigned nprocs) __attribute__((warn_unused_result));
void sss_shm_destroy(struct sss_shm *shm);

/* The counters slot of process i (0 <= i < nprocs). */
struct sss_counters *sss_shm_counters(struct sss_shm *shm, unsigned i);

/* Zero the slot of a dead process; only the master calls it, before a restart. */
void sss_shm_reset_counters(struct sss_shm *shm, unsigned i);

/* Sum of conns_open over every slot (relaxed; for the --max-connections check). */
int64_t sss_shm_total_conns(struct sss_shm *shm);

/* Bump a counter owned by the caller (single writer: no read-modify-write lock needed). */
#define sss_ctr_add(ctr, field, n)                                                                 \
    atomic_store_explicit(&(ctr)->field,                                                           \
                          atomic_load_explicit(&(ctr)->field, memory_order_relaxed) + (n),         \
                          memory_order_relaxed)

#endif
