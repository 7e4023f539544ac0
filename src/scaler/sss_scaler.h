/*
 * The scaler process of a host (see sss_scaler.c): it sequences every
 * publish through its engine and fans FEEDs out to the workers through the
 * bus. The master forks it beside the workers and restarts it if it dies.
 */
#ifndef SSS_SCALER_H
#define SSS_SCALER_H

#include "sss_cfg.h"
#include "sss_shm.h"

/*
 * Check, before anything starts, what the scaler will need: --redis parses
 * and its host resolves (--engine redis), --mongo is a MongoDB URI (--store
 * mongodb). Returns 0, or SSS_EINVAL after one line on err.
 */
int sss_scaler_check_cfg(const struct sss_cfg *cfg, FILE *err);

/* Run the scaler in the current (child) process until SIGTERM. Returns the exit status. */
int sss_scaler_run(const struct sss_cfg *cfg, struct sss_shm *shm);

#endif
