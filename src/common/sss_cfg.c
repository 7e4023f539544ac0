/*
 * Flag table and parser of sss-server (see sss_cfg.h). To add a flag: add a
 * field to struct sss_cfg and one row to `flags` below; --help, the
 * environment twin and the README table (tools/flags-table) follow.
 */
#include "sss_cfg.h"
#include "sss_log.h"
#include "sss_url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <strings.h>

#ifndef SSS_VERSION
#define SSS_VERSION "0.1.0"
#endif

/* T_FILE: the value names a file whose one line is the T_STR field at offset (its twin's). */
enum flag_type { T_STR, T_INT, T_LONG, T_BOOL, T_DURATION, T_SIZE, T_LOGLEVEL, T_FILE };

/* What a flag's value may hide (see warn_secret). */
enum { S_NONE, S_SECRET, S_URL };

struct flag {
    const char *name; /* without the leading "--" */
    enum flag_type type;
    size_t offset; /* into struct sss_cfg */
    size_t size;   /* for T_STR: capacity of the char array */
    const char *def;
    long min, max; /* inclusive bounds for T_INT and T_LONG */
    const char *help;
    int secret; /* S_SECRET: the value is one; S_URL: a URL whose password is one */
};

#define F(name, type, field, def, min, max, help)                                                  \
    {name,                                                                                         \
     type,                                                                                         \
     offsetof(struct sss_cfg, field),                                                              \
     sizeof(((struct sss_cfg *)0)->field),                                                         \
     def,                                                                                          \
     min,                                                                                          \
     max,                                                                                          \
     help,                                                                                         \
     S_NONE}

/* A flag whose value is a secret (kind S_SECRET or S_URL). */
#define FS(name, type, field, def, help, kind)                                                     \
    {name, type, offsetof(struct sss_cfg, field), sizeof(((struct sss_cfg *)0)->field),            \
     def,  0,    0,                               help,                                            \
     kind}

static const struct flag flags[] = {
    F("host", T_STR, host, "0.0.0.0", 0, 0, "address to listen on (IPv4 or IPv6 literal)"),
    F("port", T_INT, port, "8080", 0, 65535, "port to listen on (0: the kernel picks one)"),
    F("workers", T_INT, workers, "0", 0, 1024,
      "worker processes (0: one per core); more than the cores when one process's "
      "open-file limit caps the connections"),
    F("path", T_STR, path, "/", 0, 0, "path of the WebSocket endpoint"),
    F("echo", T_BOOL, echo, "false", 0, 0,
      "echo every message back unchanged (conformance tests, raw benchmarks)"),
    F("max-connections", T_LONG, max_connections, "0", 0, LONG_MAX,
      "connections on this host; beyond it the upgrade gets 503 (0: workers x "
      "(open-file limit - 64))"),
    F("handshake-timeout", T_DURATION, handshake_timeout_ms, "5s", 1, 0,
      "a client must finish its upgrade request within this time"),
    F("max-handshake-size", T_SIZE, max_handshake_size, "8k", 256, 1048576,
      "bytes of request line and headers; beyond it 431"),
    F("allowed-origins", T_STR, allowed_origins, "", 0, 0,
      "comma-separated Origin values allowed to connect, 403 for others (empty: any)"),
    F("max-message-size", T_SIZE, max_message_size, "1m", 16, 1L << 30,
      "bytes of one message after reassembly; beyond it close 1009"),
    F("deflate", T_BOOL, deflate, "false", 0, 0,
      "accept permessage-deflate (RFC 7692): each message compressed once per worker, always "
      "server_no_context_takeover"),
    F("deflate-min-size", T_SIZE, deflate_min_size, "256", 0, 1L << 30,
      "messages shorter than this go out uncompressed (RSV1 clear)"),
    F("deflate-level", T_INT, deflate_level, "1", 1, 9,
      "zlib compression level of outgoing messages (1: fastest)"),
    F("max-send-queue", T_SIZE, max_send_queue, "1m", 1024, 1L << 31,
      "bytes queued for one connection; a client past it that takes nothing for "
      "--slow-grace (or that reaches 16 times it) is closed with 4008"),
    F("slow-grace", T_DURATION, slow_grace_ms, "1s", 1, 0,
      "how long a client past --max-send-queue may take no byte before it is closed (4008)"),
    F("idle-timeout", T_DURATION, idle_timeout_ms, "60s", 0, 0,
      "close a connection that sent nothing for this long (0: never)"),
    F("ping-interval", T_DURATION, ping_interval_ms, "25s", 0, 0,
      "send a WebSocket ping after this much silence from the client (0: never)"),
    F("drain-timeout", T_DURATION, drain_timeout_ms, "10s", 0, 0,
      "on SIGTERM/SIGINT, time allowed for workers to close their clients"),
    F("upgrade-timeout", T_DURATION, upgrade_timeout_ms, "10s", 0, 0,
      "on SIGUSR2 (upgrade), time allowed for a connection to reach a state that can be "
      "handed to the new process; the rest are closed with 1001"),
    F("log-level", T_LOGLEVEL, log_level, "info", 0, 0, "error, warn, info or debug"),
    F("backlog", T_INT, backlog, "4096", 1, 1 << 20, "listen queue length of each worker"),
    F("ring-entries", T_INT, ring_entries, "1024", 8, 32768,
      "io_uring submission queue entries per worker"),
    F("io-buffers", T_INT, io_buffers, "128", 8, 32768,
      "provided receive buffers per worker (a power of two); reads cycle through them all, so "
      "each costs at least a page once the worker is busy"),
    F("io-buffer-size", T_SIZE, io_buffer_size, "16k", 512, 1048576,
      "bytes of each provided receive buffer"),
    F("history-size", T_INT, history_size, "256", 0, 1000000,
      "messages kept per channel for SYNC after a reconnect"),
    F("history-ttl", T_DURATION, history_ttl_ms, "5m", 0, 0,
      "age at which a message leaves history (0: never)"),
    F("max-channels", T_INT, max_channels, "100000", 1, 100000000,
      "channels created by the application and the HTTP API that the host remembers (memory "
      "engine); a publish that would create one more fails"),
    F("history-memory", T_SIZE, history_memory, "64m", 65536, 1L << 40,
      "bytes of history (messages and channels) the host keeps, memory engine; over it the "
      "oldest messages of any channel leave first (2 x max-message-size at least)"),
    F("max-client-channels", T_INT, max_client_channels, "10000", 0, 100000000,
      "channels clients' PUBLISH may create on this host, apart from --max-channels (memory "
      "engine); a client publish that would create one more fails"),
    F("max-client-channels-per-conn", T_INT, max_client_channels_per_conn, "100", 0, 100000000,
      "channels one connection's PUBLISH may create over its life; one more fails"),
    F("max-subscriptions", T_INT, max_subscriptions, "128", 1, 100000,
      "channels one connection may subscribe to (SUBSCRIBE and SYNC)"),
    F("heartbeat-interval", T_DURATION, heartbeat_interval_ms, "30s", 0, 0,
      "the server sends the text frame h this often (0: no heartbeat)"),
    F("heartbeat-threshold", T_DURATION, heartbeat_threshold_ms, "2500ms", 0, 0,
      "slack a client allows after hbInterval before it reconnects (sent in BEGIN)"),
    F("allow-client-publish", T_STR, allow_client_publish, "", 0, 0,
      "glob of channels that clients may PUBLISH to, e.g. 'chat-*' (empty: none)"),
    F("max-message-rate", T_INT, max_message_rate, "1000", 0, 10000000,
      "messages per second one connection may send; beyond it close 1008 (0: no limit)"),
    F("tls-cert", T_STR, tls_cert, "", 0, 0,
      "PEM certificate chain (leaf first): the client port speaks TLS 1.2/1.3 only (wss://, "
      "https:// for --static); re-read on SIGHUP (empty: plain TCP)"),
    F("tls-key", T_STR, tls_key, "", 0, 0,
      "PEM private key of --tls-cert; re-read on SIGHUP with it"),
    F("tls-ticket-lifetime", T_DURATION, tls_ticket_lifetime_ms, "60m", 0, 0,
      "a TLS session resumes from its ticket (on any worker) for this long; ticket keys "
      "change as often (0: no resumption, a full handshake each time; at most 7 days)"),
    F("static", T_STR, static_dir, "", 0, 0,
      "folder whose files plain HTTP GETs on the same port get (no path leaves it; empty: "
      "none, a plain GET gets 426)"),
    F("static-max-file", T_SIZE, static_max_file, "8m", 1, 1L << 30,
      "largest file --static serves (bigger ones get 404)"),
    F("static-dotfiles", T_BOOL, static_dotfiles, "false", 0, 0,
      "serve paths with a segment starting with '.' (.env, .git/) from --static (false: 404)"),
    F("static-csp", T_STR, static_csp,
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
      "frame-ancestors 'none'",
      0, 0, "Content-Security-Policy header of every --static answer (empty: none)"),
    F("app", T_STR, app, "", 0, 0,
      "application module (.so) to load: its sss_module_init registers handlers"),
    F("session-ttl", T_DURATION, session_ttl_ms, "10m", 1, 0,
      "a session (JWT sid or BEGIN's session) with no connection left is forgotten after it"),
    F("max-sessions", T_INT, max_sessions, "100000", 1, 100000000,
      "sessions the store keeps; when full, a new one takes the place of the anonymous session "
      "idle longest (a user's: of any anonymous one), else it is not recorded (it cannot be "
      "resumed)"),
    F("anon-session-rate", T_INT, anon_session_rate, "100", 0, 1000000,
      "new anonymous sessions (BEGIN's session, no user) the host records per second; beyond "
      "it one is not recorded: its client connects but cannot resume it (0: no limit)"),
    F("anon-session-burst", T_INT, anon_session_burst, "1000", 1, 100000000,
      "new anonymous sessions recorded at once before --anon-session-rate applies"),
    FS("jwt-secret", T_STR, jwt_secret, "",
       "HS256 key, at least 32 bytes: every client needs a valid JWT (Authorization: Bearer, "
       "?token=, or the cookie --jwt-cookie names); its sub names the user (empty: accept "
       "everyone). Prefer --jwt-secret-file or the environment: on the command line it is "
       "visible to local users",
       S_SECRET),
    FS("jwt-secret-file", T_FILE, jwt_secret, "",
       "file holding --jwt-secret (one line; e.g. a systemd or container secret)", S_NONE),
    F("jwt-cookie", T_STR, jwt_cookie, "", 0, 0,
      "cookie --jwt-secret also reads the token from, e.g. token (empty: no cookie is read); "
      "needs --allowed-origins, or --allow-any-origin"),
    F("allow-any-origin", T_BOOL, allow_any_origin, "false", 0, 0,
      "with --jwt-cookie and no --allowed-origins, start anyway: any web page may then open a "
      "socket with its visitor's cookie"),
    F("jwt-issuer", T_STR, jwt_issuer, "", 0, 0,
      "a token's iss must be exactly this (empty: any issuer)"),
    F("jwt-audience", T_STR, jwt_audience, "", 0, 0,
      "a token's aud (a string or an array of them) must be or hold this (empty: any)"),
    F("jwt-leeway", T_DURATION, jwt_leeway_ms, "0", 0, 0,
      "clock skew allowed around a token's exp and nbf, in whole seconds (at most 10m)"),
    F("jwt-require-exp", T_BOOL, jwt_require_exp, "true", 0, 0,
      "refuse a token without exp (false: such a token never expires)"),
    F("ask-timeout", T_DURATION, ask_timeout_ms, "10s", 1, 0,
      "an ASK its handler has not answered in this time gets a Timeout error"),
    F("max-pending-asks", T_INT, max_pending_asks, "32", 1, 1000000,
      "ASKs of one connection waiting for their answer; one more gets an error RESPONSE"),
    F("decision-timeout", T_DURATION, decision_timeout_ms, "10s", 1, 0,
      "a session or subscription decision the application has not answered in this time is "
      "refused for it (upgrade 503, subscription refused: \"application did not answer\")"),
    F("max-waiting-messages", T_INT, max_waiting_messages, "64", 1, 1000000,
      "messages of one connection kept, in order, while its subscriptions are being decided; "
      "one more closes it with 1008"),
    F("bus-size", T_SIZE, bus_size, "16m", 65536, 1L << 32,
      "bytes of the host's broadcast ring (a power of two; 4 x max-message-size at least)"),
    F("mailbox-size", T_SIZE, mailbox_size, "4m", 65536, 1L << 32,
      "bytes of each worker<->scaler ring (a power of two; 2 x max-message-size at least)"),
    F("api-listen", T_STR, api_listen, "", 0, 0,
      "HOST:PORT of the HTTP API (publish, broadcast, stats, /metrics, /healthz), served by "
      "the scaler (empty: no API; port 0: the kernel picks one)"),
    FS("api-key", T_STR, api_key, "",
       "bearer key the HTTP API requires (Authorization: Bearer KEY; empty: the API is open, "
       "and --api-listen must be a loopback address). Prefer --api-key-file or the "
       "environment: on the command line it is visible to local users",
       S_SECRET),
    FS("api-key-file", T_FILE, api_key, "", "file holding --api-key (one line)", S_NONE),
    F("api-allowed-origins", T_STR, api_allowed_origins, "", 0, 0,
      "comma-separated Origin values the HTTP API takes requests from; a request with another "
      "Origin gets 403 (empty: none, so no web page can drive the API)"),
    F("api-open-connections", T_INT, api_open_connections, "16", 1, SSS_API_CONNS,
      "HTTP API connections at once that have not shown the key (e.g. /healthz probes); one "
      "more closes the oldest of them, so the other slots stay for requests with the key"),
    F("api-max-per-address", T_INT, api_max_per_address, "8", 1, SSS_API_CONNS,
      "HTTP API connections from one client address that have not shown the key; one more "
      "closes that address's oldest"),
    F("engine", T_STR, engine, "memory", 0, 0,
      "memory (one host) or redis (many hosts: uids, history and delivery through --redis)"),
    FS("redis", T_STR, redis_url, "redis://127.0.0.1:6379/0",
       "Redis of --engine redis: redis://[[user]:password@]host:port/db (user: an ACL user), "
       "rediss://... for TLS (with a password, prefer --redis-url-file or the environment)",
       S_URL),
    FS("redis-url-file", T_FILE, redis_url, "", "file holding the --redis URL (one line)",
       S_NONE),
    FS("redis-cluster", T_STR, redis_cluster, "",
       "seed nodes of a Redis Cluster for --engine redis, host:port[,host:port...] (or "
       "redis[s]://[[user]:password@]host:port: the first seed's user, password and TLS are "
       "every node's); replaces --redis: commands go to each channel's master, delivery is "
       "sharded pub/sub",
       S_URL),
    FS("redis-cluster-url-file", T_FILE, redis_cluster, "",
       "file holding the --redis-cluster seeds (one line)", S_NONE),
    F("redis-ca-file", T_STR, redis_ca_file, "", 0, 0,
      "rediss://: PEM file of the CAs that sign Redis's certificate, which must name the URL's "
      "host (empty: the system's CAs)"),
    F("redis-cert-file", T_STR, redis_cert_file, "", 0, 0,
      "rediss://: PEM certificate (chain) this host shows to a Redis that asks for one "
      "(tls-auth-clients); with --redis-key-file"),
    F("redis-key-file", T_STR, redis_key_file, "", 0, 0,
      "rediss://: PEM private key of --redis-cert-file"),
    F("redis-connect-timeout", T_DURATION, redis_connect_timeout_ms, "5s", 10, 0,
      "a connection to Redis must be connected (and its TLS handshake done) within this; "
      "else it is dropped and tried again with backoff"),
    F("redis-wait", T_DURATION, redis_wait_ms, "5s", 0, 0,
      "while Redis is away a publish waits this long for it, then fails with an error to its "
      "publisher (0: fail at once)"),
    F("redis-queue", T_INT, redis_queue, "10000", 1, 10000000,
      "publishes that may wait for Redis at once; one more fails at once"),
    F("redis-cluster-max-nodes", T_INT, redis_cluster_max_nodes, "32", 1, 250,
      "--redis-cluster: Redis nodes (seeds and masters) a host connects to at most, two "
      "connections each; a new master takes the place of one the slot map names no more, "
      "else it is logged and its slots are answered 503"),
    F("redis-min-replicas", T_INT, redis_min_replicas, "0", 0, 64,
      "a publish is acknowledged only once this many replicas of its Redis have it (WAIT, "
      "up to --redis-wait); fewer: the publisher is told it may not have been published "
      "(0: at once, replication asynchronous)"),
    F("store", T_STR, store, "memory", 0, 0,
      "memory (one host) or mongodb (sessions and presence across hosts through --mongo)"),
    FS("mongo", T_STR, mongo_url, "mongodb://127.0.0.1:27017/sss",
       "MongoDB of --store mongodb: any URI libmongoc accepts, e.g. "
       "mongodb://[user:password@]host:port/database or mongodb+srv://user:password@cluster/"
       "database?tls=true&replicaSet=rs&authSource=admin (with a password, prefer "
       "--mongo-url-file or the environment)",
       S_URL),
    FS("mongo-url-file", T_FILE, mongo_url, "", "file holding the --mongo URL (one line)",
       S_NONE),
    F("store-queue", T_INT, store_queue, "100000", 1, 100000000,
      "session writes kept while MongoDB is away; beyond it they are dropped and counted"),
    F("host-lease", T_DURATION, host_lease_ms, "15s", 1000, 0,
      "a host refreshes its lease in the store; when it lapses other hosts mark its sessions "
      "offline"),
    F("host-id", T_STR, host_id, "", 0, 0,
      "names this host in envelopes, leases and logs (empty: hostname:port)"),
    F("proxy-url", T_STR, proxy_url, "", 0, 0,
      "http://host:port[/prefix] of a backend that gets the clients' events as HTTP/JSON calls "
      "(PROXY.md; https is not supported; empty: no proxy)"),
    F("proxy-events", T_STR, proxy_events, "connect,subscribe,ask,tell,close", 0, 0,
      "comma-separated events that go to --proxy-url; the others behave as without a proxy"),
    F("proxy-timeout", T_DURATION, proxy_timeout_ms, "5s", 1, 0,
      "a backend call's whole answer must come within this; else the event's failure rule "
      "applies"),
    F("proxy-connections", T_INT, proxy_connections, "16", 1, 1024,
      "keep-alive HTTP/1.1 connections to --proxy-url per worker (one call at a time each)"),
    F("proxy-queue", T_INT, proxy_queue, "1024", 0, 1000000,
      "backend calls per worker that may wait, for a connection or behind an earlier call of "
      "their socket; one more fails at once"),
};

static const char *const proxy_event_names[SSS_PROXY_EVENTS] = {
    [SSS_PROXY_CONNECT] = "connect", [SSS_PROXY_SUBSCRIBE] = "subscribe",
    [SSS_PROXY_ASK] = "ask",         [SSS_PROXY_TELL] = "tell",
    [SSS_PROXY_CLOSE] = "close",
};

static const char *const proxy_fail_names[SSS_PROXY_FAIL_COUNT] = {
    [SSS_PROXY_FAIL_REFUSED] = "refused",     [SSS_PROXY_FAIL_CONNECT] = "connect",
    [SSS_PROXY_FAIL_TIMEOUT] = "timeout",     [SSS_PROXY_FAIL_CLOSED] = "closed",
    [SSS_PROXY_FAIL_TOO_LARGE] = "too_large", [SSS_PROXY_FAIL_BAD_HTTP] = "bad_http",
    [SSS_PROXY_FAIL_QUEUE] = "queue_full",    [SSS_PROXY_FAIL_NOMEM] = "nomem",
    [SSS_PROXY_FAIL_STATUS] = "status",       [SSS_PROXY_FAIL_BODY] = "bad_body",
};

const char *sss_proxy_event_name(int ev)
{
    return ev >= 0 && ev < SSS_PROXY_EVENTS ? proxy_event_names[ev] : "?";
}

const char *sss_proxy_fail_name(int fail)
{
    return fail >= 0 && fail < SSS_PROXY_FAIL_COUNT ? proxy_fail_names[fail] : "?";
}

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

int sss_cfg_parse_duration(const char *s, int64_t *ms)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return SSS_EINVAL;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        ;
    else if (strcmp(end, "s") == 0)
        v *= 1000;
    else if (strcmp(end, "m") == 0)
        v *= 60000;
    else
        return SSS_EINVAL;
    if (v > 1e12)
        return SSS_EINVAL;
    *ms = (int64_t)v;
    return 0;
}

int sss_cfg_parse_size(const char *s, size_t *bytes)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    if (!isdigit((unsigned char)*s))
        return SSS_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return SSS_EINVAL;
    switch (tolower((unsigned char)*end)) {
    case '\0':
        break;
    case 'k':
        shift = 10;
        break;
    case 'm':
        shift = 20;
        break;
    case 'g':
        shift = 30;
        break;
    default:
        return SSS_EINVAL;
    }
    if (*end && end[1] != '\0' && !(tolower((unsigned char)end[1]) == 'b' && end[2] == '\0'))
        return SSS_EINVAL;
    if (v > (SIZE_MAX >> 1) >> shift)
        return SSS_EINVAL;
    *bytes = (size_t)(v << shift);
    return 0;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return SSS_EINVAL;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
        *out = 1;
    else if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
        *out = 0;
    else
        return SSS_EINVAL;
    return 0;
}

/*
 * A T_FILE flag: the file's one line (a final "\n" or "\r\n" dropped) into
 * field (cap bytes). Refused: not a regular file, empty, longer than the
 * field, more than one line, a NUL byte. Warns when other users may read it.
 */
static int read_secret_file(const struct flag *f, const char *path, char *field, size_t cap,
                            const char *origin, FILE *err)
{
    char buf[1024];
    struct stat st;
    ssize_t n;
    size_t len;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        fprintf(err, "sss-server: %s: --%s %s: %s\n", origin, f->name, path, strerror(errno));
        return SSS_EINVAL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size >= (off_t)sizeof(buf)) {
        fprintf(err, "sss-server: %s: --%s %s: not a regular file of at most %zu bytes\n",
                origin, f->name, path, cap - 1);
        close(fd);
        return SSS_EINVAL;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        fprintf(err, "sss-server: %s: --%s %s: %s\n", origin, f->name, path, strerror(errno));
        return SSS_EINVAL;
    }
    len = (size_t)n;
    if (len && buf[len - 1] == '\n')
        len--;
    if (len && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    if (!len || len >= cap || strlen(buf) != len || strpbrk(buf, "\r\n")) {
        fprintf(err,
                "sss-server: %s: --%s %s: wants one non-empty line of at most %zu bytes\n",
                origin, f->name, path, cap - 1);
        explicit_bzero(buf, sizeof(buf));
        return SSS_EINVAL;
    }
    if (st.st_mode & S_IROTH)
        fprintf(err, "sss-server: warning: --%s %s is readable by every local user (chmod o-r)\n",
                f->name, path);
    memcpy(field, buf, len + 1);
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

/* Set one flag from text. `origin` names where it came from, for the error line. */
static int set_flag(struct sss_cfg *cfg, const struct flag *f, const char *value,
                    const char *origin, FILE *err)
{
    char *field = (char *)cfg + f->offset;
    long l;
    int64_t ms;
    size_t sz;
    int b;

    switch (f->type) {
    case T_STR:
        if (strlen(value) >= f->size) {
            fprintf(err, "sss-server: %s: --%s is longer than %zu bytes\n", origin, f->name,
                    f->size - 1);
            return SSS_EINVAL;
        }
        /* No value of any flag holds one (paths, URLs, names, header values such as
         * --static-csp, where a CR or LF would start a header of its own). */
        for (const char *c = value; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                fprintf(err, "sss-server: %s: --%s holds a control character (0x%02x)\n", origin,
                        f->name, (unsigned char)*c);
                return SSS_EINVAL;
            }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case T_FILE:
        if (!value[0])
            return 0; /* no file: the twin's own value stands */
        return read_secret_file(f, value, field, f->size, origin, err);
    case T_INT:
    case T_LONG:
        if (parse_long(value, f->min, f->max, &l) < 0) {
            fprintf(err, "sss-server: %s: --%s wants an integer from %ld to %ld, not '%s'\n",
                    origin, f->name, f->min, f->max, value);
            return SSS_EINVAL;
        }
        if (f->type == T_INT)
            *(int *)field = (int)l;
        else
            *(long *)field = l;
        return 0;
    case T_BOOL:
        if (parse_bool(value, &b) < 0) {
            fprintf(err, "sss-server: %s: --%s wants true or false, not '%s'\n", origin, f->name,
                    value);
            return SSS_EINVAL;
        }
        *(int *)field = b;
        return 0;
    case T_DURATION:
        if (sss_cfg_parse_duration(value, &ms) < 0 || (f->min && ms < f->min)) {
            fprintf(err,
                    "sss-server: %s: --%s wants a duration such as 500ms, 5s or 2m, not '%s'\n",
                    origin, f->name, value);
            return SSS_EINVAL;
        }
        *(int64_t *)field = ms;
        return 0;
    case T_SIZE:
        if (sss_cfg_parse_size(value, &sz) < 0 || (long)sz < f->min || (long)sz > f->max) {
            fprintf(err, "sss-server: %s: --%s wants a size from %ld to %ld bytes (k, m, g "
                         "suffixes allowed), not '%s'\n",
                    origin, f->name, f->min, f->max, value);
            return SSS_EINVAL;
        }
        *(size_t *)field = sz;
        return 0;
    case T_LOGLEVEL:
        b = sss_log_level_parse(value);
        if (b < 0) {
            fprintf(err, "sss-server: %s: --%s wants error, warn, info or debug, not '%s'\n",
                    origin, f->name, value);
            return SSS_EINVAL;
        }
        *(int *)field = b;
        return 0;
    }
    return SSS_EINVAL;
}

void sss_cfg_defaults(struct sss_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->static_fd = -1;
    for (size_t i = 0; i < NFLAGS; i++) {
        int rc = set_flag(cfg, &flags[i], flags[i].def, "default", stderr);

        (void)rc; /* the table's defaults are checked by the unit test */
    }
}

/* "max-connections" -> "SSS_MAX_CONNECTIONS" */
static void env_name(const char *flag, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "SSS_");

    for (; *flag && n + 1 < cap; flag++)
        out[n++] = *flag == '-' ? '_' : (char)toupper((unsigned char)*flag);
    out[n] = '\0';
}

static const struct flag *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0)
            return &flags[i];
    return NULL;
}

static void print_help(FILE *out)
{
    char env[64];

    fprintf(out, "Usage: sss-server [flags]\n"
                 "Super Scaled Sockets: a WebSocket server for real-time applications.\n"
                 "Every flag can also be set by its environment variable; flags win.\n\n");
    for (size_t i = 0; i < NFLAGS; i++) {
        env_name(flags[i].name, env, sizeof(env));
        fprintf(out, "  --%-20s %s\n  %-22s env %s, default: %s\n", flags[i].name, flags[i].help,
                "", env, flags[i].def[0] ? flags[i].def : "(empty)");
    }
    fprintf(out, "  --%-20s %s\n  --%-20s %s\n", "help", "print this and exit", "version",
            "print the version and exit");
}

void sss_cfg_print_markdown(FILE *out)
{
    char env[64];

    fprintf(out, "| flag | environment | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < NFLAGS; i++) {
        env_name(flags[i].name, env, sizeof(env));
        if (flags[i].def[0])
            fprintf(out, "| `--%s` | `%s` | `%s` | %s |\n", flags[i].name, env, flags[i].def,
                    flags[i].help);
        else
            fprintf(out, "| `--%s` | `%s` | (empty) | %s |\n", flags[i].name, env, flags[i].help);
    }
}

/*
 * The secret bytes of a flag's value, or NULL: all of an S_SECRET value, the
 * password of an S_URL one ("scheme://[user]:PASSWORD@host...").
 */
static char *secret_span(const struct flag *f, char *value, size_t *len)
{
    char *p, *at, *colon;
    size_t auth;

    *len = 0;
    if (f->secret == S_SECRET) {
        *len = strlen(value);
        return *len ? value : NULL;
    }
    if (f->secret != S_URL || !(p = strstr(value, "://")))
        return NULL;
    p += 3;
    auth = strcspn(p, "/?#");
    at = memrchr(p, '@', auth);
    colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (!colon || at - colon < 2)
        return NULL;
    *len = (size_t)(at - colon - 1);
    return colon + 1;
}

/*
 * A secret on the command line: every local user reads it in
 * /proc/PID/cmdline. Say so, and overwrite it there (the kernel shows the
 * argument area as it is now, and forked children share its contents).
 */
static void warn_secret(const struct flag *f, char *value, FILE *err)
{
    size_t len;
    char *s = secret_span(f, value, &len);

    if (!s)
        return;
    fprintf(err,
            "sss-server: warning: --%s on the command line is visible to every local user "
            "(ps, /proc/PID/cmdline); use --%s%s or SSS_* in the environment\n",
            f->name, f->name, f->secret == S_URL ? "-url-file" : "-file");
    memset(s, '*', len);
}

/* The T_FILE flag that fills the same field as f, or f's twin of it. */
static const struct flag *twin_of(const struct flag *f)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (&flags[i] != f && flags[i].offset == f->offset)
            return &flags[i];
    return NULL;
}

/* Refuse a secret given both as a value and as a file (which should win is not obvious). */
static int check_twins(const unsigned char *given, FILE *err)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag *t;

        if (flags[i].type != T_FILE || !given[i] || !(t = twin_of(&flags[i])) ||
            !given[t - flags])
            continue;
        fprintf(err, "sss-server: give --%s or --%s (or their SSS_* variables), not both\n",
                t->name, flags[i].name);
        return SSS_EINVAL;
    }
    return 0;
}

/* Refuse --redis together with --redis-cluster (which one Redis is meant?). */
static int check_exclusive(const unsigned char *given, FILE *err)
{
    int redis = 0, cluster = 0;

    for (size_t i = 0; i < NFLAGS; i++) {
        if (!given[i])
            continue;
        if (flags[i].offset == offsetof(struct sss_cfg, redis_url))
            redis = 1;
        if (flags[i].offset == offsetof(struct sss_cfg, redis_cluster))
            cluster = 1;
    }
    if (redis && cluster) {
        fprintf(err, "sss-server: give --redis (one Redis) or --redis-cluster (its seed nodes), "
                     "not both\n");
        return SSS_EINVAL;
    }
    return 0;
}

int sss_cfg_parse(struct sss_cfg *cfg, int argc, char **argv, char **envp, FILE *out, FILE *err)
{
    unsigned char given[NFLAGS] = {0}; /* set by the environment or the command line */
    char env[64];

    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');

        if (!eq || strncmp(*e, "SSS_", 4) != 0)
            continue;
        for (size_t i = 0; i < NFLAGS; i++) {
            env_name(flags[i].name, env, sizeof(env));
            if (strlen(env) != (size_t)(eq - *e) || memcmp(env, *e, (size_t)(eq - *e)) != 0)
                continue;
            if (set_flag(cfg, &flags[i], eq + 1, env, err) < 0)
                return SSS_EINVAL;
            given[i] = eq[1] != '\0';
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *eq, *value;
        const struct flag *f;
        size_t len;

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(out);
            return 1;
        }
        if (!strcmp(a, "--help-markdown")) {
            sss_cfg_print_markdown(out); /* the README's flags table */
            return 1;
        }
        if (!strcmp(a, "--version")) {
            fprintf(out, "sss-server %s\n", SSS_VERSION);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(err, "sss-server: unexpected argument '%s' (see --help)\n", a);
            return SSS_EINVAL;
        }
        name = a + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        f = find_flag(name, len);
        if (!f) {
            fprintf(err, "sss-server: unknown flag '%s' (see --help)\n", a);
            return SSS_EINVAL;
        }
        if (eq)
            value = eq + 1;
        else if (f->type == T_BOOL)
            value = "true";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            fprintf(err, "sss-server: --%s needs a value\n", f->name);
            return SSS_EINVAL;
        }
        if (set_flag(cfg, f, value, "command line", err) < 0)
            return SSS_EINVAL;
        given[f - flags] = value[0] != '\0';
        if (f->secret)
            warn_secret(f, (char *)value, err);
    }
    if (check_twins(given, err) < 0)
        return SSS_EINVAL;
    return check_exclusive(given, err);
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT", the port 0..65535 (the host is checked at bind). */
static int api_listen_valid(const char *s)
{
    struct sss_url u;

    return sss_url_parse(s, &u) == 0 && !u.scheme.ptr && !u.user.ptr && !u.path.ptr &&
           u.port >= 0;
}

/*
 * Whether --api-listen names a loopback address only: 127.0.0.0/8, ::1 (or
 * ::ffff:127.x.x.x) or "localhost". An empty host means every address.
 */
static int api_listen_loopback(const char *s)
{
    struct sss_url u;
    char host[128];
    struct in_addr a4;
    struct in6_addr a6;

    if (sss_url_parse(s, &u) < 0 || sss_url_part_copy(u.host, host, sizeof(host)) < 0 || !host[0])
        return 0;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

/* A cookie name is an RFC 6265 token: visible ASCII but separators. */
static int cookie_name_valid(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s))
            return 0;
    return 1;
}

/*
 * --proxy-url: http://host[:port][/prefix], no user info, no query or
 * fragment; --proxy-events: known names only. Fills the derived proxy_*
 * fields (proxy_mask stays 0 without a URL).
 */
static int proxy_finish(struct sss_cfg *cfg, FILE *err)
{
    struct sss_url u;
    char list[sizeof(cfg->proxy_events)], *p, *save = NULL;
    unsigned mask = 0;

    cfg->proxy_mask = 0;
    memcpy(list, cfg->proxy_events, sizeof(list));
    for (p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        int ev;

        while (*p == ' ')
            p++;
        for (char *q = p + strlen(p); q > p && q[-1] == ' ';)
            *--q = '\0';
        if (!*p)
            continue;
        for (ev = 0; ev < SSS_PROXY_EVENTS && strcmp(p, proxy_event_names[ev]) != 0; ev++)
            ;
        if (ev == SSS_PROXY_EVENTS) {
            fprintf(err,
                    "sss-server: --proxy-events: unknown event '%s' (connect, subscribe, ask, "
                    "tell, close)\n",
                    p);
            return SSS_EINVAL;
        }
        mask |= 1u << ev;
    }
    if (!cfg->proxy_url[0])
        return 0;
    if (sss_url_parse(cfg->proxy_url, &u) < 0 || !u.scheme.ptr) {
        fprintf(err, "sss-server: --proxy-url wants http://host:port[/prefix], not '%s'\n",
                cfg->proxy_url);
        return SSS_EINVAL;
    }
    if (sss_url_part_is(u.scheme, "https")) {
        fprintf(err, "sss-server: --proxy-url: https is not supported; use http:// (to a "
                     "backend on a trusted network, or a local TLS-terminating proxy)\n");
        return SSS_EINVAL;
    }
    if (!sss_url_part_is(u.scheme, "http") || u.user.ptr || !u.host.len ||
        (u.path.ptr && (u.path.ptr[0] != '/' || memchr(u.path.ptr, '?', u.path.len) ||
                        memchr(u.path.ptr, '#', u.path.len))) ||
        u.port == 0 || sss_url_part_copy(u.host, cfg->proxy_host, sizeof(cfg->proxy_host)) < 0 ||
        sss_url_part_copy(u.path, cfg->proxy_prefix, sizeof(cfg->proxy_prefix)) < 0) {
        fprintf(err, "sss-server: --proxy-url wants http://host:port[/prefix], not '%s'\n",
                cfg->proxy_url);
        return SSS_EINVAL;
    }
    cfg->proxy_port = u.port > 0 ? u.port : 80;
    /* A final '/' of the prefix goes: calls are {prefix}/{event}. */
    for (size_t n = strlen(cfg->proxy_prefix); n && cfg->proxy_prefix[n - 1] == '/';)
        cfg->proxy_prefix[--n] = '\0';
    cfg->proxy_mask = mask;
    return 0;
}

int sss_cfg_finish(struct sss_cfg *cfg, int ncores, long fd_limit, FILE *err)
{
    char *p, *save = NULL;

    if (cfg->workers == 0)
        cfg->workers = ncores > 0 ? ncores : 1;
    cfg->fd_limit = fd_limit;
    if (fd_limit < 128) {
        fprintf(err, "sss-server: the open-file limit (%ld) is too low to serve anything\n",
                fd_limit);
        return SSS_EINVAL;
    }
    if (cfg->max_connections == 0)
        cfg->max_connections = (long)cfg->workers * (fd_limit - 64);
    if (cfg->path[0] != '/') {
        fprintf(err, "sss-server: --path must start with '/', not '%s'\n", cfg->path);
        return SSS_EINVAL;
    }
    if (cfg->io_buffers & (cfg->io_buffers - 1)) {
        fprintf(err, "sss-server: --io-buffers must be a power of two, not %d\n", cfg->io_buffers);
        return SSS_EINVAL;
    }
    if ((cfg->bus_size & (cfg->bus_size - 1)) || (cfg->mailbox_size & (cfg->mailbox_size - 1))) {
        fprintf(err, "sss-server: --bus-size and --mailbox-size must be powers of two\n");
        return SSS_EINVAL;
    }
    /* Messages cross the bus and the mailboxes, except in --echo mode. */
    if (!cfg->echo && (cfg->bus_size / 4 < cfg->max_message_size + 1024 ||
                       cfg->mailbox_size / 2 < cfg->max_message_size + 1024)) {
        fprintf(err,
                "sss-server: --max-message-size %zu needs --bus-size >= 4x and "
                "--mailbox-size >= 2x it (plus 1k)\n",
                cfg->max_message_size);
        return SSS_EINVAL;
    }
    /* The newest message always stays in history: the bound must hold one. */
    if (!cfg->echo && cfg->history_memory / 2 < cfg->max_message_size) {
        fprintf(err,
                "sss-server: --history-memory %zu must be at least 2 x --max-message-size %zu\n",
                cfg->history_memory, cfg->max_message_size);
        return SSS_EINVAL;
    }
    if (cfg->jwt_secret[0] && strlen(cfg->jwt_secret) < SSS_CFG_JWT_SECRET_MIN) {
        fprintf(err,
                "sss-server: --jwt-secret is %zu bytes; an HS256 key needs at least %d (e.g. "
                "openssl rand -base64 48)\n",
                strlen(cfg->jwt_secret), SSS_CFG_JWT_SECRET_MIN);
        return SSS_EINVAL;
    }
    if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
        fprintf(err, "sss-server: --tls-cert and --tls-key go together (one is missing)\n");
        return SSS_EINVAL;
    }
    if (cfg->tls_ticket_lifetime_ms % 1000 || cfg->tls_ticket_lifetime_ms > SSS_CFG_TICKET_MAX_MS) {
        fprintf(err, "sss-server: --tls-ticket-lifetime is 0 or whole seconds up to 7 days "
                     "(TLS 1.3's limit), not %lld ms\n",
                (long long)cfg->tls_ticket_lifetime_ms);
        return SSS_EINVAL;
    }
    if (cfg->jwt_leeway_ms > SSS_CFG_JWT_LEEWAY_MAX_MS) {
        fprintf(err, "sss-server: --jwt-leeway is at most 10m\n");
        return SSS_EINVAL;
    }
    if (cfg->api_listen[0] && !api_listen_valid(cfg->api_listen)) {
        fprintf(err, "sss-server: --api-listen wants HOST:PORT (e.g. 127.0.0.1:9090), not '%s'\n",
                cfg->api_listen);
        return SSS_EINVAL;
    }
    if (cfg->api_listen[0] && !cfg->api_key[0] && !api_listen_loopback(cfg->api_listen)) {
        fprintf(err,
                "sss-server: --api-listen %s without --api-key: an open API may only listen on a "
                "loopback address (127.0.0.1, [::1], localhost); set --api-key\n",
                cfg->api_listen);
        return SSS_EINVAL;
    }
    if (strcmp(cfg->engine, "memory") != 0 && strcmp(cfg->engine, "redis") != 0) {
        fprintf(err, "sss-server: --engine is memory or redis, not '%s'\n", cfg->engine);
        return SSS_EINVAL;
    }
    if (strcmp(cfg->store, "memory") != 0 && strcmp(cfg->store, "mongodb") != 0) {
        fprintf(err, "sss-server: --store is memory or mongodb, not '%s'\n", cfg->store);
        return SSS_EINVAL;
    }
    if (strncasecmp(cfg->redis_url, "redis://", 8) != 0 &&
        strncasecmp(cfg->redis_url, "rediss://", 9) != 0) {
        char shown[sizeof(cfg->redis_url) + 16]; /* never the password */

        sss_log_redact(cfg->redis_url, strlen(cfg->redis_url), shown, sizeof(shown));
        fprintf(err, "sss-server: --redis wants redis[s]://[[user]:password@]host:port/db, not "
                     "'%s'\n",
                shown);
        return SSS_EINVAL;
    }
    if ((cfg->redis_ca_file[0] || cfg->redis_cert_file[0] || cfg->redis_key_file[0]) &&
        strncasecmp(cfg->redis_cluster[0] ? cfg->redis_cluster : cfg->redis_url, "rediss://", 9) !=
            0) {
        fprintf(err, "sss-server: --redis-ca-file, --redis-cert-file and --redis-key-file are "
                     "for TLS: --redis (or --redis-cluster's first seed) must then be "
                     "rediss://...\n");
        return SSS_EINVAL;
    }
    if (!!cfg->redis_cert_file[0] != !!cfg->redis_key_file[0]) {
        fprintf(err, "sss-server: --redis-cert-file and --redis-key-file go together\n");
        return SSS_EINVAL;
    }
    /* --mongo: libmongoc is its parser (sss_scaler_check_cfg). */
    if (proxy_finish(cfg, err) < 0)
        return SSS_EINVAL;
    memcpy(cfg->origins_buf, cfg->allowed_origins, sizeof(cfg->origins_buf));
    cfg->origin_count = 0;
    for (p = strtok_r(cfg->origins_buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ')
            p++;
        for (char *q = p + strlen(p); q > p && q[-1] == ' ';)
            *--q = '\0';
        if (!*p)
            continue;
        if (cfg->origin_count == SSS_CFG_MAX_ORIGINS) {
            fprintf(err, "sss-server: --allowed-origins lists more than %d origins\n",
                    SSS_CFG_MAX_ORIGINS);
            return SSS_EINVAL;
        }
        cfg->origins[cfg->origin_count++] = p;
    }
    cfg->origins[cfg->origin_count] = NULL;
    if (cfg->jwt_cookie[0] && (!cfg->jwt_secret[0] || !cookie_name_valid(cfg->jwt_cookie))) {
        fprintf(err, "sss-server: --jwt-cookie '%s' needs --jwt-secret and a cookie name\n",
                cfg->jwt_cookie);
        return SSS_EINVAL;
    }
    /* A browser sends the cookie with any page's WebSocket: only an Origin list stops
     * another site from opening an authenticated socket with its visitor's cookie. */
    if (cfg->jwt_cookie[0] && cfg->origin_count == 0 && !cfg->allow_any_origin) {
        fprintf(err, "sss-server: --jwt-cookie without --allowed-origins lets any web page open a "
                     "socket as its visitor: list your pages' origins in --allowed-origins (or "
                     "give --allow-any-origin)\n");
        return SSS_EINVAL;
    }
    return 0;
}
