/*
 * The worker process (sb_loop.c) and the layout of the shared mapping that
 * it and the parent (sb_main.c) use.
 */
#ifndef SB_LOOP_H
#define SB_LOOP_H

#include "sb.h"

/* Bytes of the shared mapping for procs processes and channels channels. */
static inline size_t sb_shared_size(int procs, long channels, long publishers)
{
    size_t members = ((size_t)channels * sizeof(uint32_t) + 63) & ~(size_t)63;

    return sizeof(struct sb_shared) + members + (size_t)procs * sizeof(struct sb_result) +
           (size_t)procs * (size_t)channels * sizeof(uint64_t) +
           (size_t)publishers * sizeof(uint64_t);
}

static inline _Atomic uint32_t *sb_shared_members(struct sb_shared *sh)
{
    return (_Atomic uint32_t *)(void *)(sh + 1);
}

static inline struct sb_result *sb_shared_result(struct sb_shared *sh, int proc)
{
    size_t members = ((size_t)sh->channels * sizeof(uint32_t) + 63) & ~(size_t)63;

    return (struct sb_result *)(void *)((char *)(sh + 1) + members) + proc;
}

static inline uint64_t *sb_shared_published(struct sb_shared *sh, int proc)
{
    return (uint64_t *)(void *)sb_shared_result(sh, sh->procs) + (size_t)proc * (size_t)sh->channels;
}

/* Per publisher: how many of its publishes (by publish number) some subscriber has seen. */
static inline _Atomic uint64_t *sb_shared_seen(struct sb_shared *sh)
{
    return (_Atomic uint64_t *)(void *)sb_shared_published(sh, sh->procs);
}

/* Publishers over all processes (nchan binds each to one channel: at least one per channel). */
static inline long sb_params_publishers(const struct sb_params *pp)
{
    if (pp->workload != SB_FANOUT && pp->workload != SB_CLUSTER)
        return 0;
    if ((pp->proto->caps & SB_CAP_PUB_CHANNEL) && pp->publishers % pp->channels)
        return (pp->publishers / pp->channels + 1) * pp->channels;
    return pp->publishers;
}

/* Run worker id of the run described by pp until its results are in sh. Returns 0 or 1. */
int sb_worker_run(const struct sb_params *pp, struct sb_shared *sh, int id);

#endif
