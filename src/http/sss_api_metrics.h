/*
 * Numbers of the host for GET /api/stats (JSON) and GET /metrics (Prometheus
 * text exposition format 0.0.4): each worker's counters, copied from shared
 * memory, and the scaler's own. Pure formatting over snapshots, so the unit
 * tests need no server.
 */
#ifndef SSS_API_METRICS_H
#define SSS_API_METRICS_H

#include <stdint.h>

#include "sss_dynbuf.h"
#include "sss_shm.h"

/* The scaler's own numbers, for /api/stats and /metrics. */
struct sss_api_scaler_stats {
    uint64_t publishes;      /* messages given a uid and put on the bus */
    uint64_t publish_errors; /* refused by the engine or the bus */
    uint64_t broadcasts;
    uint64_t feeds_lost;     /* FEEDs that could not go on the bus (told as a gap instead) */
    uint64_t tells_stale;    /* TELLs by name for a socket of a worker process no longer running */
    const char *engine, *store; /* their names: memory, redis, mongodb */
    int engine_up, store_up;     /* Redis / MongoDB answer (1 for memory) */
    uint64_t store_queued, store_written, store_dropped, store_errors;
    /* The engine's history and channels (struct sss_engine_stats; memory engine only). */
    uint64_t history_bytes, channels, client_channels;
    uint64_t history_trimmed_messages, history_trimmed_bytes, history_trimmed_channels;
    uint64_t channels_refused;
    /* The API's own admission (filled by the API, not the scaler). */
    uint64_t api_evicted;   /* connections without the key closed for a newer one */
    uint64_t api_forbidden; /* requests refused for their Origin (403) or Content-Type (415) */
    uint64_t api_open;      /* connections now that have not shown the key */
    uint64_t sessions, sessions_anon;  /* the store keeps now: all, anonymous */
    uint64_t sessions_anon_limited;    /* new anonymous ones not recorded (--anon-session-rate) */
    uint64_t sessions_evicted;         /* anonymous ones forgotten to make room (--max-sessions) */
    uint64_t sessions_refused;         /* new ones not recorded: full, no anonymous one to forget */
};

/* One worker's counters, copied from shared memory (relaxed loads). */
struct sss_api_worker_stats {
    int64_t pid;
    int64_t conns_open, ws_open, conns_accepted, upgrades, http_rejects;
    int64_t frames_in, frames_out, bytes_in, bytes_out;
    int64_t closes_slow, closes_idle, closes_proto, sendq_high, laps, deflated;
    int64_t tells, tells_gone;
    int64_t decisions_timed_out, decisions_late;
    int64_t asks_pending, asks_timed_out;
    int64_t tls_handshakes, tls_resumed, tls_failures;
    int64_t ws_contexts;
    struct sss_api_proxy_stats { /* the backend proxy, per enum sss_proxy_event */
        int64_t calls, failures[SSS_SHM_PROXY_REASONS], latency_ms, latency_count;
    } proxy[SSS_SHM_PROXY_EVENTS];
};

void sss_api_worker_snapshot(const struct sss_counters *c, struct sss_api_worker_stats *out);

/*
 * Append the Prometheus text exposition (format 0.0.4) of n workers' numbers
 * and the scaler's to out: for each metric "# HELP", "# TYPE" and one sample
 * per worker (label worker="i"); counters end in _total. The backend
 * proxy's are summed over the workers, labelled by event (and reason):
 * sss_proxy_calls_total, sss_proxy_failures_total and
 * sss_proxy_latency_seconds_sum/_count. An allocation failure is left in
 * out->oom.
 */
void sss_api_format_metrics(struct sss_dynbuf *out, const struct sss_api_worker_stats *w,
                            unsigned n, const struct sss_api_scaler_stats *s,
                            uint64_t api_requests);

/*
 * Append the /api/stats JSON: {"workers":[{"worker":0,"pid":..,...},...],
 * "total":{...},"scaler":{...}}. Totals are sums, except send_queue_high
 * (the largest). An allocation failure is left in out->oom.
 */
void sss_api_format_stats(struct sss_dynbuf *out, const struct sss_api_worker_stats *w,
                          unsigned n, const struct sss_api_scaler_stats *s,
                          uint64_t api_requests);

#endif
