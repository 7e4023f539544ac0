/*
 * The daemon's configuration: every flag of sss-server, its SSS_* environment
 * twin, its default and its help text live in one table in sss_cfg.c, so that
 * --help, the README's table and the parser cannot disagree.
 *
 * Precedence: built-in default < environment variable < command-line flag.
 * Secrets (--jwt-secret, --api-key, a password in --redis or --mongo) may
 * instead come from a file (--jwt-secret-file, ...) or the environment: on
 * the command line they are readable by every local user in
 * /proc/PID/cmdline, so the parser warns and blanks them there.
 * Durations accept a unit suffix (ms, s, m; a plain number is milliseconds),
 * sizes accept k, m, g (powers of 1024; a plain number is bytes).
 */
#ifndef SSS_CFG_H
#define SSS_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sss_err.h"

#define SSS_CFG_MAX_ORIGINS 32
#define SSS_API_CONNS 64 /* HTTP API connections at once (sss_api.h: SSS_API_MAX_CONNS) */

struct sss_cfg {
    char host[64];                /* listen address (IPv4 or IPv6 literal) */
    int port;                     /* listen port */
    int workers;                  /* worker processes; 0 = one per core */
    char path[256];               /* WebSocket path */
    int echo;                     /* echo every message back unchanged */
    long max_connections;         /* whole host; 0 = follow the open-file limit */
    int64_t handshake_timeout_ms; /* to finish the upgrade request */
    size_t max_handshake_size;    /* bytes of request line + headers */
    char allowed_origins[1024];   /* comma-separated; empty = any origin */
    size_t max_message_size;      /* bytes of one (reassembled) message */
    int deflate;                  /* accept permessage-deflate (RFC 7692) */
    size_t deflate_min_size;      /* messages shorter than this go uncompressed */
    int deflate_level;            /* zlib level of outgoing messages, 1..9 */
    size_t max_send_queue;        /* bytes queued for one connection */
    int64_t slow_grace_ms;        /* past max_send_queue, a client may take nothing this long */
    int64_t idle_timeout_ms;      /* silent connection closed after it; 0 = never */
    int64_t ping_interval_ms;     /* server ping after this much silence; 0 = never */
    int64_t drain_timeout_ms;     /* SIGTERM: time allowed for a graceful drain */
    int64_t upgrade_timeout_ms;   /* SIGUSR2: time allowed to hand connections over */
    int log_level;                /* enum sss_log_level */
    int backlog;                  /* listen(2) backlog */
    int ring_entries;             /* io_uring submission queue size per worker */
    int io_buffers;               /* provided receive buffers per worker */
    size_t io_buffer_size;        /* bytes per provided receive buffer */
    /* The protocol (PROTOCOL.md) and the scaler. */
    int history_size;             /* messages kept per channel */
    int64_t history_ttl_ms;       /* age at which a message leaves history; 0 = never */
    int max_channels;             /* channels the app and API create (memory engine) */
    size_t history_memory;        /* bytes of the host's history (memory engine) */
    int max_client_channels;      /* channels clients' PUBLISH create (memory engine) */
    int max_client_channels_per_conn; /* of which one connection may create */
    int max_subscriptions;        /* per connection */
    int64_t heartbeat_interval_ms; /* the `h` frame; 0 = no heartbeat */
    int64_t heartbeat_threshold_ms;
    char allow_client_publish[256]; /* glob of channels clients may PUBLISH to; empty = none */
    int max_message_rate;         /* messages per second per connection; 0 = unlimited */
    size_t bus_size;              /* bytes of the host's broadcast ring */
    size_t mailbox_size;          /* bytes of each worker<->scaler ring */
    /* The HTTP API, served by the scaler (src/http/sss_api.h). */
    char api_listen[128];         /* HOST:PORT; empty = no API */
    char api_key[256];            /* bearer key; empty = the API is open */
    char api_allowed_origins[1024]; /* comma-separated; empty = no Origin accepted */
    int api_open_connections;     /* connections that have not shown the key, at once */
    int api_max_per_address;      /* of them from one client address */
    char app[512];                /* --app module path; empty = none */
    char tls_cert[512];           /* PEM certificate chain of the client port; empty = no TLS */
    char tls_key[512];            /* PEM private key of tls_cert */
    int64_t tls_ticket_lifetime_ms; /* session tickets: resumable this long; 0 = none */
    char static_dir[512];         /* serve plain GETs from this folder; empty = none */
    size_t static_max_file;       /* larger files are not served (404) */
    int static_dotfiles;          /* serve paths with a segment starting with '.' */
    char static_csp[1024];        /* Content-Security-Policy of static answers; empty = none */
    int64_t session_ttl_ms;       /* a session with no connection is forgotten after it */
    int max_sessions;             /* sessions the store keeps */
    int anon_session_rate;        /* new anonymous sessions recorded per second (0: no limit) */
    int anon_session_burst;       /* ... at once, before the rate applies */
    char jwt_secret[256];         /* HS256 key: clients must bring a valid token; empty = accept all */
    char jwt_issuer[256];         /* a token's "iss" must be this; empty = any */
    char jwt_audience[256];       /* a token's "aud" must be or hold this; empty = any */
    int64_t jwt_leeway_ms;        /* clock skew allowed around exp and nbf (whole seconds count) */
    int jwt_require_exp;          /* a token without exp is refused */
    char jwt_cookie[64];          /* cookie the token may come in; empty = none */
    int allow_any_origin;         /* --jwt-cookie without --allowed-origins is allowed */
    int64_t ask_timeout_ms;       /* an ask not answered in time gets a Timeout error */
    int max_pending_asks;         /* asks of one connection waiting for an answer */
    int64_t decision_timeout_ms;  /* a deferred session/subscription decision, then refused */
    int max_waiting_messages;     /* client messages held while a subscription is decided */
    /* Many hosts (src/scaler: the Redis engine, the MongoDB store). */
    char engine[16];              /* "memory" or "redis" */
    char redis_url[512];          /* redis[s]://[[user]:password@]host:port/db */
    char redis_cluster[1024];     /* seeds of a Redis Cluster, host:port[,...] ("": --redis) */
    char redis_ca_file[512];      /* rediss://: CAs that sign Redis's certificate ("": system's) */
    char redis_cert_file[512];    /* rediss://: this host's certificate, for servers that ask */
    char redis_key_file[512];     /* and its private key */
    int64_t redis_wait_ms;        /* a publish waits this long for Redis to come back */
    int64_t redis_connect_timeout_ms; /* a connect and TLS handshake to Redis, then retried */
    int redis_queue;              /* publishes that may wait for Redis at once */
    int redis_min_replicas;       /* a publish is acknowledged once this many replicas have it */
    int redis_cluster_max_nodes;  /* --redis-cluster: nodes connected to at most (<= 250) */
    char store[16];               /* "memory" or "mongodb" */
    char mongo_url[2048];         /* any URI libmongoc accepts (mongodb://, mongodb+srv://) */
    int store_queue;              /* store writes kept while MongoDB is away */
    int64_t host_lease_ms;        /* a host's lease in the store; its sessions go offline after it */
    char host_id[128];            /* names the host in envelopes, leases and logs */
    /* The backend proxy (PROXY.md; src/worker/sss_proxy.c). */
    char proxy_url[512];          /* http://host:port[/prefix]; empty = no proxy */
    char proxy_events[128];       /* comma-separated enum sss_proxy_event names */
    int64_t proxy_timeout_ms;     /* a call's answer must come within it */
    int proxy_connections;        /* keep-alive connections to the backend per worker */
    int proxy_queue;              /* calls that may wait per worker (see --proxy-queue) */

    /* Derived by sss_cfg_finish, not flags. */
    int origin_count;
    const char *origins[SSS_CFG_MAX_ORIGINS + 1]; /* into origins_buf, NULL-terminated */
    char origins_buf[1024];
    long fd_limit; /* open files one process may hold (RLIMIT_NOFILE after raising it) */
    int static_fd; /* --static opened by the master (O_PATH directory), or -1 */
    unsigned proxy_mask;   /* 1u << enum sss_proxy_event of each --proxy-events name; 0: no proxy */
    char proxy_host[256];  /* --proxy-url's host (no brackets) */
    int proxy_port;        /* its port (80 when absent) */
    char proxy_prefix[256]; /* its path, "" or "/hooks" */
};

/*
 * The backend proxy's events (PROXY.md): the names of --proxy-events, of the
 * calls (POST {prefix}/{name}) and of the event label in /metrics, in this
 * order.
 */
enum sss_proxy_event {
    SSS_PROXY_CONNECT,
    SSS_PROXY_SUBSCRIBE,
    SSS_PROXY_ASK,
    SSS_PROXY_TELL,
    SSS_PROXY_CLOSE,
    SSS_PROXY_EVENTS
};

/*
 * Why a proxy call failed, for /metrics (the reason label) and logs. The
 * first eight are sss_httpc's enum sss_httpc_fail in its order; the others
 * are the proxy's own judgement of an HTTP answer.
 */
enum sss_proxy_fail {
    SSS_PROXY_FAIL_REFUSED,   /* connection refused */
    SSS_PROXY_FAIL_CONNECT,   /* any other connect error */
    SSS_PROXY_FAIL_TIMEOUT,   /* no whole answer within --proxy-timeout */
    SSS_PROXY_FAIL_CLOSED,    /* the backend closed mid-answer */
    SSS_PROXY_FAIL_TOO_LARGE, /* an answer body over --max-message-size */
    SSS_PROXY_FAIL_BAD_HTTP,  /* not HTTP/1.x */
    SSS_PROXY_FAIL_QUEUE,     /* --proxy-queue calls already waited */
    SSS_PROXY_FAIL_NOMEM,     /* out of memory */
    SSS_PROXY_FAIL_STATUS,    /* a status other than 2xx */
    SSS_PROXY_FAIL_BODY,      /* a body that is not a JSON object, or fields of the wrong type */
    SSS_PROXY_FAIL_COUNT
};

/* "connect", "subscribe", ... ; "?" out of range. */
const char *sss_proxy_event_name(int ev);
/* "refused", "connect", "timeout", "closed", "too_large", "bad_http", "queue_full",
 * "nomem", "status", "bad_body"; "?" out of range. */
const char *sss_proxy_fail_name(int fail);

/* Fill cfg with the built-in defaults. */
void sss_cfg_defaults(struct sss_cfg *cfg);

/*
 * Apply SSS_* environment variables (envp, NULL-terminated "K=V" strings),
 * then the command line. A *-file flag (--jwt-secret-file, --api-key-file,
 * --redis-url-file, --mongo-url-file) reads its twin's value from a file
 * (one line, a final newline dropped); giving both is an error. A secret
 * given on the command line gets a warning on err, and its bytes in argv
 * are overwritten with '*' so that /proc/PID/cmdline (of this process and
 * of every child forked later) no longer shows it. On error writes one line
 * to err and returns SSS_EINVAL. Returns 1 when --help or --version was
 * printed to out (the caller exits 0), 0 otherwise.
 */
int sss_cfg_parse(struct sss_cfg *cfg, int argc, char **argv, char **envp, FILE *out,
                  FILE *err) SSS_WUR;

/* The shortest --jwt-secret accepted (RFC 7518 3.2: a key of at least the hash's size). */
#define SSS_CFG_JWT_SECRET_MIN 32
/* The largest --jwt-leeway accepted. */
#define SSS_CFG_JWT_LEEWAY_MAX_MS (10 * 60 * 1000)
#define SSS_CFG_TICKET_MAX_MS (7LL * 24 * 3600 * 1000) /* TLS 1.3 (RFC 8446 4.6.1) */

/*
 * Resolve defaults that depend on the machine (workers, max_connections,
 * origins list) given the number of cores and the open-file limit. Returns 0
 * or SSS_EINVAL with a line on err.
 */
int sss_cfg_finish(struct sss_cfg *cfg, int ncores, long fd_limit, FILE *err) SSS_WUR;

/* Print the flags table as Markdown (used to keep the README true). */
void sss_cfg_print_markdown(FILE *out);

/* Parse "250ms", "5s", "2m", "1500" (ms). Returns 0 or SSS_EINVAL. */
int sss_cfg_parse_duration(const char *s, int64_t *ms) SSS_WUR;
/* Parse "64k", "1m", "1g", "4096" (bytes). Returns 0 or SSS_EINVAL. */
int sss_cfg_parse_size(const char *s, size_t *bytes) SSS_WUR;

#endif
