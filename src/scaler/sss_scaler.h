/*
 * The scaler process of a host (see sss_scaler.c): it sequences every
 * publish through its engine and fans FEEDs out to the workers through the
 * bus. The master forks it beside the workers and restarts it if it dies.
 */
#ifndef SSS_SCALER_H
#define SSS_SCALER_H

#include "sss_cfg.h"
#include "sss_shm.h"

/* Run the scaler in the current (child) process until SIGTERM. Returns the exit status. */
int sss_scaler_run(const struct sss_cfg *cfg, struct sss_shm *shm);

#endif
