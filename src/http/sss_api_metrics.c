/*
 * The host's numbers as text (see sss_api_metrics.h): one table, wmetrics,
 * names each worker counter once with its JSON key, Prometheus name, type
 * and help, so /api/stats and /metrics always list the same numbers.
 */
#include "sss_api_metrics.h"
#include "sss_cfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

void sss_api_worker_snapshot(const struct sss_counters *c, struct sss_api_worker_stats *out)
{
    /* The counters are only ever read here: the casts drop const for C11's
     * atomic_load, whose argument is not const-qualified in older libcs. */
    struct sss_counters *cc = (struct sss_counters *)c;

#define LOAD(f) (int64_t) atomic_load_explicit(&cc->f, memory_order_relaxed)
    out->pid = (int64_t)atomic_load_explicit(&cc->pid, memory_order_relaxed);
    out->conns_open = LOAD(conns_open);
    out->ws_open = LOAD(ws_open);
    out->conns_accepted = LOAD(conns_accepted);
    out->upgrades = LOAD(upgrades);
    out->http_rejects = LOAD(http_rejects);
    out->frames_in = LOAD(frames_in);
    out->frames_out = LOAD(frames_out);
    out->bytes_in = LOAD(bytes_in);
    out->bytes_out = LOAD(bytes_out);
    out->closes_slow = LOAD(closes_slow);
    out->closes_idle = LOAD(closes_idle);
    out->closes_proto = LOAD(closes_proto);
    out->sendq_high = LOAD(sendq_high);
    out->laps = LOAD(laps);
    out->deflated = LOAD(deflated);
    out->tells = LOAD(tells);
    out->tells_gone = LOAD(tells_gone);
    out->decisions_timed_out = LOAD(decisions_timed_out);
    out->decisions_late = LOAD(decisions_late);
    out->asks_pending = LOAD(asks_pending);
    out->asks_timed_out = LOAD(asks_timed_out);
    out->tls_handshakes = LOAD(tls_handshakes);
    out->tls_resumed = LOAD(tls_resumed);
    out->tls_failures = LOAD(tls_failures);
    out->ws_contexts = LOAD(ws_contexts);
    for (int e = 0; e < SSS_SHM_PROXY_EVENTS; e++) {
        out->proxy[e].calls = LOAD(proxy[e].calls);
        for (int r = 0; r < SSS_SHM_PROXY_REASONS; r++)
            out->proxy[e].failures[r] = LOAD(proxy[e].failures[r]);
        out->proxy[e].latency_ms = LOAD(proxy[e].latency_ms);
        out->proxy[e].latency_count = LOAD(proxy[e].latency_count);
    }
#undef LOAD
}

/* The worker numbers: JSON key, metric name, type, help, field. */
static const struct wmetric {
    const char *key;
    const char *name;
    bool counter;
    const char *help;
    size_t off;
} wmetrics[] = {
#define W(key, name, counter, help, field)                                                         \
    {key, name, counter, help, offsetof(struct sss_api_worker_stats, field)}
    W("connections", "sss_connections", false, "Sockets a worker holds, in any state.",
      conns_open),
    W("websockets", "sss_websockets", false, "Upgraded WebSocket connections.", ws_open),
    W("accepted", "sss_connections_accepted_total", true, "Connections accepted.",
      conns_accepted),
    W("upgrades", "sss_upgrades_total", true, "WebSocket upgrades answered 101.", upgrades),
    W("http_rejects", "sss_http_rejects_total", true, "Upgrade requests answered 4xx or 5xx.",
      http_rejects),
    W("frames_in", "sss_messages_in_total", true, "Data messages received from clients.",
      frames_in),
    W("frames_out", "sss_messages_out_total", true, "Data messages queued to clients.",
      frames_out),
    W("bytes_in", "sss_bytes_in_total", true, "Bytes received from clients.", bytes_in),
    W("bytes_out", "sss_bytes_out_total", true, "Bytes sent to clients.", bytes_out),
    W("deflated", "sss_messages_deflated_total", true,
      "Messages compressed for permessage-deflate (once per worker and window, however many "
      "clients get them).",
      deflated),
    W("closes_slow", "sss_closes_slow_total", true, "Connections closed as slow readers (4008).",
      closes_slow),
    W("closes_idle", "sss_closes_idle_total", true, "Connections closed for silence.",
      closes_idle),
    W("closes_proto", "sss_closes_protocol_total", true,
      "Connections closed for a WebSocket protocol error (1002, 1007, 1009).", closes_proto),
    W("send_queue_high", "sss_send_queue_high_bytes", false,
      "Largest send queue of one connection seen, bytes.", sendq_high),
    W("laps", "sss_bus_laps_total", true, "Times the worker was lapped by the bus.", laps),
    W("tells", "sss_tells_total", true,
      "TELLs by socket name (POST /api/tell, sss_tell_socket) sent to their connection.", tells),
    W("tells_gone", "sss_tells_gone_total", true,
      "TELLs by socket name whose connection was gone when they came; dropped.", tells_gone),
    W("decisions_timed_out", "sss_decisions_timed_out_total", true,
      "Session or subscription decisions the application did not answer in time.",
      decisions_timed_out),
    W("decisions_late", "sss_decisions_late_total", true,
      "Decisions answered after nobody waited for them (timed out, client gone).",
      decisions_late),
    W("asks_pending", "sss_asks_pending", false,
      "Asks of clients waiting for their handler's answer (at most --max-pending-asks each).",
      asks_pending),
    W("asks_timed_out", "sss_asks_timed_out_total", true,
      "Asks answered with a Timeout error after --ask-timeout, then forgotten.", asks_timed_out),
    W("tls_handshakes", "sss_tls_handshakes_total", true,
      "TLS handshakes completed on the client port (--tls-cert).", tls_handshakes),
    W("tls_resumed", "sss_tls_resumed_total", true,
      "TLS handshakes that resumed a session from its ticket (--tls-ticket-lifetime), on any "
      "worker: no certificate sent, no signature made.",
      tls_resumed),
    W("tls_failures", "sss_tls_failures_total", true,
      "Connections closed because their TLS input was bad (not TLS, a refused version, a "
      "broken record).",
      tls_failures),
    W("ws_contexts", "sss_ws_contexts", false,
      "wslay contexts held: connections with a frame part-read or wslay's own frame to write "
      "(an idle connection holds none).",
      ws_contexts),
#undef W
};

#define NWMETRICS (sizeof(wmetrics) / sizeof(wmetrics[0]))

_Static_assert(SSS_SHM_PROXY_EVENTS == SSS_PROXY_EVENTS, "shm counts every proxy event");
_Static_assert(SSS_SHM_PROXY_REASONS == SSS_PROXY_FAIL_COUNT, "shm counts every failure reason");

/* The backend proxy's numbers, summed over the workers, one sample per event (and reason). */
static void format_proxy(struct sss_dynbuf *out, const struct sss_api_worker_stats *w, unsigned n)
{
    struct sss_api_proxy_stats sum[SSS_PROXY_EVENTS];

    memset(sum, 0, sizeof(sum));
    for (unsigned k = 0; k < n; k++) {
        for (int e = 0; e < SSS_PROXY_EVENTS; e++) {
            sum[e].calls += w[k].proxy[e].calls;
            for (int r = 0; r < SSS_PROXY_FAIL_COUNT; r++)
                sum[e].failures[r] += w[k].proxy[e].failures[r];
            sum[e].latency_ms += w[k].proxy[e].latency_ms;
            sum[e].latency_count += w[k].proxy[e].latency_count;
        }
    }
    sss_dynbuf_printf(out, "# HELP sss_proxy_calls_total Calls to the backend (--proxy-url), "
                           "failed ones included.\n# TYPE sss_proxy_calls_total counter\n");
    for (int e = 0; e < SSS_PROXY_EVENTS; e++)
        sss_dynbuf_printf(out, "sss_proxy_calls_total{event=\"%s\"} %lld\n",
                          sss_proxy_event_name(e), (long long)sum[e].calls);
    sss_dynbuf_printf(out, "# HELP sss_proxy_failures_total Backend calls that failed, by "
                           "reason.\n# TYPE sss_proxy_failures_total counter\n");
    for (int e = 0; e < SSS_PROXY_EVENTS; e++)
        for (int r = 0; r < SSS_PROXY_FAIL_COUNT; r++)
            sss_dynbuf_printf(out, "sss_proxy_failures_total{event=\"%s\",reason=\"%s\"} %lld\n",
                              sss_proxy_event_name(e), sss_proxy_fail_name(r),
                              (long long)sum[e].failures[r]);
    sss_dynbuf_printf(out, "# HELP sss_proxy_latency_seconds Time from a backend call to its "
                           "answer or failure.\n# TYPE sss_proxy_latency_seconds summary\n");
    for (int e = 0; e < SSS_PROXY_EVENTS; e++)
        sss_dynbuf_printf(out,
                          "sss_proxy_latency_seconds_sum{event=\"%s\"} %lld.%03lld\n"
                          "sss_proxy_latency_seconds_count{event=\"%s\"} %lld\n",
                          sss_proxy_event_name(e), (long long)(sum[e].latency_ms / 1000),
                          (long long)(sum[e].latency_ms % 1000), sss_proxy_event_name(e),
                          (long long)sum[e].latency_count);
}

static int64_t wvalue(const struct sss_api_worker_stats *w, size_t i)
{
    int64_t v;

    memcpy(&v, (const char *)w + wmetrics[i].off, sizeof(v));
    return v;
}

void sss_api_format_metrics(struct sss_dynbuf *out, const struct sss_api_worker_stats *w,
                            unsigned n, const struct sss_api_scaler_stats *s,
                            uint64_t api_requests)
{
    const struct {
        const char *name, *help;
        uint64_t v;
    } sm[] = {
        {"sss_publishes_total", "Messages the scaler sequenced and put on the bus.", s->publishes},
        {"sss_publish_errors_total", "Publishes refused by the engine or the bus.",
         s->publish_errors},
        {"sss_broadcasts_total", "Broadcasts the scaler put on the bus.", s->broadcasts},
        {"sss_feeds_lost_total",
         "FEEDs that did not fit the bus; their subscribers were told of a gap.",
         s->feeds_lost},
        {"sss_tells_stale_total",
         "TELLs by socket name for this host's sockets of worker processes no longer running "
         "(404, or dropped when from another host).",
         s->tells_stale},
        {"sss_api_requests_total", "HTTP API requests answered.", api_requests},
        {"sss_history_trimmed_messages_total",
         "Messages that left history early to keep it under --history-memory.",
         s->history_trimmed_messages},
        {"sss_history_trimmed_bytes_total", "Bytes of those messages.", s->history_trimmed_bytes},
        {"sss_history_trimmed_channels_total",
         "Channels forgotten because --history-memory trimming left them empty.",
         s->history_trimmed_channels},
        {"sss_channels_refused_total",
         "Publishes refused because they would create a channel past a channel limit.",
         s->channels_refused},
        {"sss_api_evicted_total",
         "HTTP API connections without the key closed to make room for a newer one.",
         s->api_evicted},
        {"sss_api_forbidden_total",
         "HTTP API requests refused for their Origin (403) or Content-Type (415).",
         s->api_forbidden},
        {"sss_sessions_anon_limited_total",
         "New anonymous sessions not recorded: over --anon-session-rate.",
         s->sessions_anon_limited},
        {"sss_sessions_evicted_total",
         "Anonymous sessions forgotten to make room for a new one under --max-sessions.",
         s->sessions_evicted},
        {"sss_sessions_refused_total",
         "New sessions not recorded: --max-sessions reached and no anonymous session to forget.",
         s->sessions_refused},
    };
    const struct {
        const char *name, *help;
        uint64_t v;
    } sg[] = {
        {"sss_history_bytes",
         "Bytes of history the memory engine holds (messages and channels; 0 with redis).",
         s->history_bytes},
        {"sss_channels", "Channels the memory engine remembers.", s->channels},
        {"sss_client_channels", "Of which created by clients' PUBLISH.", s->client_channels},
        {"sss_api_open_connections", "HTTP API connections that have not shown the key.",
         s->api_open},
    };

    for (size_t i = 0; i < NWMETRICS; i++) {
        sss_dynbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", wmetrics[i].name, wmetrics[i].help,
                          wmetrics[i].name, wmetrics[i].counter ? "counter" : "gauge");
        for (unsigned k = 0; k < n; k++)
            sss_dynbuf_printf(out, "%s{worker=\"%u\"} %lld\n", wmetrics[i].name, k,
                              (long long)wvalue(&w[k], i));
    }
    format_proxy(out, w, n);
    sss_dynbuf_printf(out, "# HELP sss_workers Worker processes of this host.\n"
                      "# TYPE sss_workers gauge\nsss_workers %u\n",
                      n);
    for (size_t i = 0; i < sizeof(sm) / sizeof(sm[0]); i++)
        sss_dynbuf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", sm[i].name,
                          sm[i].help, sm[i].name, sm[i].name, (unsigned long long)sm[i].v);
    for (size_t i = 0; i < sizeof(sg) / sizeof(sg[0]); i++)
        sss_dynbuf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", sg[i].name,
                          sg[i].help, sg[i].name, sg[i].name, (unsigned long long)sg[i].v);
    sss_dynbuf_printf(out,
                      "# HELP sss_engine_up Whether the engine's service answers (1 for memory).\n"
                      "# TYPE sss_engine_up gauge\nsss_engine_up{engine=\"%s\"} %d\n"
                      "# HELP sss_store_up Whether the store's database answers (1 for memory).\n"
                      "# TYPE sss_store_up gauge\nsss_store_up{store=\"%s\"} %d\n"
                      "# HELP sss_store_queued Store writes waiting to reach the database.\n"
                      "# TYPE sss_store_queued gauge\nsss_store_queued %llu\n"
                      "# HELP sss_store_written_total Store writes the database acknowledged.\n"
                      "# TYPE sss_store_written_total counter\nsss_store_written_total %llu\n"
                      "# HELP sss_store_dropped_total Store writes lost to a full --store-queue.\n"
                      "# TYPE sss_store_dropped_total counter\nsss_store_dropped_total %llu\n"
                      "# HELP sss_store_errors_total Failed database calls of the store.\n"
                      "# TYPE sss_store_errors_total counter\nsss_store_errors_total %llu\n"
                      "# HELP sss_sessions Sessions the store keeps on this host, by kind.\n"
                      "# TYPE sss_sessions gauge\nsss_sessions{kind=\"user\"} %llu\n"
                      "sss_sessions{kind=\"anonymous\"} %llu\n",
                      s->engine ? s->engine : "memory", s->engine_up,
                      s->store ? s->store : "memory", s->store_up,
                      (unsigned long long)s->store_queued, (unsigned long long)s->store_written,
                      (unsigned long long)s->store_dropped, (unsigned long long)s->store_errors,
                      (unsigned long long)(s->sessions - s->sessions_anon),
                      (unsigned long long)s->sessions_anon);
}

void sss_api_format_stats(struct sss_dynbuf *out, const struct sss_api_worker_stats *w,
                          unsigned n, const struct sss_api_scaler_stats *s,
                          uint64_t api_requests)
{
    int64_t total[NWMETRICS] = {0};

    sss_dynbuf_append(out, "{\"workers\":[", 12);
    for (unsigned k = 0; k < n; k++) {
        sss_dynbuf_printf(out, "%s{\"worker\":%u,\"pid\":%lld", k ? "," : "", k,
                          (long long)w[k].pid);
        for (size_t i = 0; i < NWMETRICS; i++) {
            int64_t v = wvalue(&w[k], i);

            sss_dynbuf_printf(out, ",\"%s\":%lld", wmetrics[i].key, (long long)v);
            if (wmetrics[i].off == offsetof(struct sss_api_worker_stats, sendq_high))
                total[i] = v > total[i] ? v : total[i];
            else
                total[i] += v;
        }
        sss_dynbuf_append(out, "}", 1);
    }
    sss_dynbuf_append(out, "],\"total\":{", 11);
    for (size_t i = 0; i < NWMETRICS; i++)
        sss_dynbuf_printf(out, "%s\"%s\":%lld", i ? "," : "", wmetrics[i].key,
                          (long long)total[i]);
    sss_dynbuf_printf(out,
                      "},\"scaler\":{\"publishes\":%llu,\"publish_errors\":%llu,"
                      "\"broadcasts\":%llu,\"feeds_lost\":%llu,\"tells_stale\":%llu,"
                      "\"api_requests\":%llu,\"api_evicted\":%llu,\"api_forbidden\":%llu,"
                      "\"api_open\":%llu,"
                      "\"engine\":\"%s\","
                      "\"engine_up\":%s,\"store\":\"%s\",\"store_up\":%s,\"store_queued\":%llu,"
                      "\"store_written\":%llu,\"store_dropped\":%llu,\"store_errors\":%llu,"
                      "\"history_bytes\":%llu,\"channels\":%llu,\"client_channels\":%llu,"
                      "\"history_trimmed_messages\":%llu,\"history_trimmed_bytes\":%llu,"
                      "\"history_trimmed_channels\":%llu,\"channels_refused\":%llu,"
                      "\"sessions\":%llu,\"sessions_anonymous\":%llu,"
                      "\"sessions_anon_limited\":%llu,\"sessions_evicted\":%llu,"
                      "\"sessions_refused\":%llu}}",
                      (unsigned long long)s->publishes, (unsigned long long)s->publish_errors,
                      (unsigned long long)s->broadcasts, (unsigned long long)s->feeds_lost,
                      (unsigned long long)s->tells_stale, (unsigned long long)api_requests,
                      (unsigned long long)s->api_evicted, (unsigned long long)s->api_forbidden,
                      (unsigned long long)s->api_open,
                      s->engine ? s->engine : "memory", s->engine_up ? "true" : "false",
                      s->store ? s->store : "memory", s->store_up ? "true" : "false",
                      (unsigned long long)s->store_queued, (unsigned long long)s->store_written,
                      (unsigned long long)s->store_dropped, (unsigned long long)s->store_errors,
                      (unsigned long long)s->history_bytes, (unsigned long long)s->channels,
                      (unsigned long long)s->client_channels,
                      (unsigned long long)s->history_trimmed_messages,
                      (unsigned long long)s->history_trimmed_bytes,
                      (unsigned long long)s->history_trimmed_channels,
                      (unsigned long long)s->channels_refused,
                      (unsigned long long)s->sessions, (unsigned long long)s->sessions_anon,
                      (unsigned long long)s->sessions_anon_limited,
                      (unsigned long long)s->sessions_evicted,
                      (unsigned long long)s->sessions_refused);
}
