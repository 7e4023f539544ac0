/*
 * sss-bench: flags, the parent process and the report.
 *
 * The parent forks --procs workers (sb_loop.c), sets the phase times in the
 * shared mapping, samples the server's CPU time (every process under the
 * --server-pid PIDs, descendants included) and memory at the start and end
 * of the measured window, waits for the workers and merges their counts and
 * histograms into one table and one JSON line (the last line on stdout).
 *
 * Exit status: 0 the run completed without errors; 1 it could not run (bad
 * flag, unreachable server, refused upgrade, ...: one line on stderr); 3 it
 * completed but with errors (connections lost, protocol errors): the report
 * is printed and says which.
 */
#include "sb.h"
#include "sb_loop.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sss_tls.h"

#define MAX_PROCS 64
#define SB_BIND_THRESHOLD 8000 /* connections per URL */

static pid_t children[MAX_PROCS];
static int nchildren;
static struct sb_shared *shared;

static void kill_children(void)
{
    if (shared)
        atomic_store(&shared->abort, 1);
    for (int i = 0; i < nchildren; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
    va_list ap;

    kill_children();
    fputs("sss-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void usage(FILE *f)
{
    fputs(
        "usage: sss-bench WORKLOAD --url ws[s]://HOST:PORT/PATH[,ws[s]://...] [options]\n"
        "workloads: fanout connect ask echo cluster\n"
        "  --proto P           sss (default), echo, socketio, centrifugo, nchan, uws\n"
        "  --encoding E        sss: json (default) or msgpack (sub-protocol sss.v1.msgpack);\n"
        "                      centrifugo: json or protobuf (centrifuge-protobuf)\n"
        "  --tls-ca FILE       wss://: verify the server's certificate against this CA (PEM)\n"
        "                      instead of the system's trust store\n"
        "  --tls-no-verify     wss://: do not verify the server's certificate\n"
        "  --deflate           offer permessage-deflate (client_no_context_takeover); the 101\n"
        "                      must agree; compressed messages are inflated (sss, uws, echo)\n"
        "  --payload K         padding of each payload: x (default) or text (chat-like words)\n"
        "  --subscribers S     fanout/cluster subscriber connections (1000)\n"
        "  --channels C        channels bench-0..bench-C-1 (1)\n"
        "  --order O           fanout/cluster, which channel each publish goes to (every\n"
        "                      publisher visits every channel once per C publishes): sweep\n"
        "                      (default: publish n of publisher g to channel (g + n) mod C)\n"
        "                      or spread (consecutive publishes about 0.618 C channels apart,\n"
        "                      so publishers reach a channel at unrelated times)\n"
        "  --publishers P      publisher connections (1)\n"
        "  --rate R            publishes/s over all publishers, k/M suffix; 0 = closed loop (0)\n"
        "  --window W          closed loop: publishes (fanout) or messages (echo) outstanding\n"
        "                      per connection (fanout 16, echo 1)\n"
        "  --messages N        fanout/cluster: publish N messages in all, then stop\n"
        "  --size B            payload bytes, k suffix (64)\n"
        "  --duration D        measured window; D is 500ms, 10s, 2m or seconds (10s)\n"
        "  --warmup D          sending before the window opens (1s)\n"
        "  --tail D            after the window: wait at most this for what is in flight (5s)\n"
        "  --hold D            connect: keep the connections open this long (2s)\n"
        "  --timeout D         each connection must be set up within it (30s)\n"
        "  --procs N           worker processes (enough for < 19,000 connections each)\n"
        "  --connections N     connect/echo connections (connect 1000, echo 100)\n"
        "  --askers K          ask: concurrent askers, one ASK outstanding each (100)\n"
        "  --concurrency N     connection attempts in flight per process (256)\n"
        "  --server-pid PIDS   comma-separated; CPU and memory of them and all descendants\n"
        "  --source-addrs N    bind connections to 127.0.0.2..127.0.0.N+1 (auto above\n"
        "                      25,000 connections per loopback URL)\n"
        "  --json-only         print only the JSON line\n"
        "  --help\n",
        f);
}

/* ---- flag values ---- */

static double parse_duration(const char *flag, const char *v)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno || end == v || d < 0 || !isfinite(d))
        die("%s: bad duration '%s' (e.g. 500ms, 10s, 2m)", flag, v);
    if (strcmp(end, "ms") == 0)
        d /= 1000;
    else if (strcmp(end, "m") == 0)
        d *= 60;
    else if (*end && strcmp(end, "s") != 0)
        die("%s: bad duration '%s' (e.g. 500ms, 10s, 2m)", flag, v);
    return d;
}

static double parse_num(const char *flag, const char *v, double min, double max, int binary)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno || end == v || !isfinite(d))
        die("%s: bad number '%s'", flag, v);
    if (*end == 'k' || *end == 'K')
        d *= binary ? 1024 : 1000, end++;
    else if (*end == 'M')
        d *= binary ? 1048576 : 1e6, end++;
    if (*end)
        die("%s: bad number '%s'", flag, v);
    if (d < min || d > max)
        die("%s: %s is out of range [%.0f, %.0f]", flag, v, min, max);
    return d;
}

static void parse_url(struct sb_url *u, const char *s, size_t len)
{
    char buf[1024], port[16];
    const char *hp, *slash, *colon;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    size_t hl;
    int rc;

    if (len >= sizeof(buf))
        die("--url: too long");
    memcpy(buf, s, len);
    buf[len] = 0;
    if (strncmp(buf, "ws://", 5) == 0) {
        hp = buf + 5;
    } else if (strncmp(buf, "wss://", 6) == 0) {
        hp = buf + 6;
        u->tls = true;
    } else {
        die("--url: '%s' is not ws://HOST:PORT/PATH or wss://HOST:PORT/PATH", buf);
    }
    slash = strchr(hp, '/');
    if (!slash)
        slash = hp + strlen(hp);
    if (*hp == '[') { /* [v6]:port */
        const char *rb = memchr(hp, ']', (size_t)(slash - hp));

        if (!rb)
            die("--url: bad IPv6 host in '%s'", buf);
        hl = (size_t)(rb - hp - 1);
        if (hl >= sizeof(u->host))
            die("--url: host too long");
        memcpy(u->host, hp + 1, hl);
        u->host[hl] = 0;
        colon = rb + 1 < slash && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(hp, ':', (size_t)(slash - hp));
        hl = (size_t)((colon ? colon : slash) - hp);
        if (hl == 0 || hl >= sizeof(u->host))
            die("--url: no host in '%s'", buf);
        memcpy(u->host, hp, hl);
        u->host[hl] = 0;
    }
    u->port = u->tls ? 443 : 80;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);

        if (end != slash || p < 1 || p > 65535)
            die("--url: bad port in '%s'", buf);
        u->port = (int)p;
    }
    snprintf(u->path, sizeof(u->path), "%s", *slash ? slash : "/");
    snprintf(port, sizeof(port), "%d", u->port);
    rc = getaddrinfo(u->host, port, &hints, &ai);
    if (rc)
        die("--url: cannot resolve '%s': %s", u->host, gai_strerror(rc));
    memcpy(&u->addr, ai->ai_addr, ai->ai_addrlen);
    u->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
}

static const struct sb_proto *const protos[] = {
    &sb_proto_sss,   &sb_proto_sss_msgpack, &sb_proto_echo,
    &sb_proto_socketio, &sb_proto_centrifugo, &sb_proto_centrifugo_protobuf,
    &sb_proto_nchan, &sb_proto_uws};

static const char *const encodings[] = {"json", "msgpack", "protobuf", NULL};
static const char *const payloads[] = {"x", "text", NULL};  /* enum sb_payload_kind */
static const char *const orders[] = {"sweep", "spread", NULL}; /* enum sb_order */

/* The index of v among names (NULL-ended), or die naming the choices. */
static int parse_choice(const char *flag, const char *v, const char *const *names)
{
    char all[128];
    size_t n = 0;

    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    all[0] = 0;
    for (int i = 0; names[i] && n < sizeof(all); i++)
        n += (size_t)snprintf(all + n, sizeof(all) - n, "%s%s", i ? ", " : "", names[i]);
    die("%s: unknown '%s' (%s)", flag, v, all);
}

/* The URL as given, scheme included. */
static void url_str(const struct sb_url *u, char *buf, size_t n)
{
    snprintf(buf, n, "%s://%s:%d%s", u->tls ? "wss" : "ws", u->host, u->port, u->path);
}

static const char *const workloads[] = {"fanout", "connect", "ask", "echo", "cluster"};

static void parse_args(struct sb_params *pp, int argc, char **argv)
{
    enum {
        O_URL = 256, O_PROTO, O_SUBS, O_CHANS, O_PUBS, O_RATE, O_SIZE, O_DUR, O_WARM, O_PROCS,
        O_CONNS, O_ASKERS, O_PIDS, O_SRC, O_JSON, O_WINDOW, O_TAIL, O_HOLD, O_TIMEOUT, O_CONC,
        O_MSGS, O_ENC, O_TLS_CA, O_TLS_NOVERIFY, O_DEFLATE, O_PAYLOAD, O_ORDER, O_HELP
    };
    static const struct option opts[] = {
        {"url", 1, 0, O_URL},           {"proto", 1, 0, O_PROTO},
        {"subscribers", 1, 0, O_SUBS},  {"channels", 1, 0, O_CHANS},
        {"publishers", 1, 0, O_PUBS},   {"rate", 1, 0, O_RATE},
        {"size", 1, 0, O_SIZE},         {"duration", 1, 0, O_DUR},
        {"warmup", 1, 0, O_WARM},       {"procs", 1, 0, O_PROCS},
        {"connections", 1, 0, O_CONNS}, {"askers", 1, 0, O_ASKERS},
        {"server-pid", 1, 0, O_PIDS},   {"source-addrs", 1, 0, O_SRC},
        {"json-only", 0, 0, O_JSON},    {"window", 1, 0, O_WINDOW},
        {"tail", 1, 0, O_TAIL},         {"hold", 1, 0, O_HOLD},
        {"timeout", 1, 0, O_TIMEOUT},   {"concurrency", 1, 0, O_CONC},
        {"messages", 1, 0, O_MSGS},     {"help", 0, 0, O_HELP},
        {"encoding", 1, 0, O_ENC},      {"tls-ca", 1, 0, O_TLS_CA},
        {"tls-no-verify", 0, 0, O_TLS_NOVERIFY}, {"deflate", 0, 0, O_DEFLATE},
        {"payload", 1, 0, O_PAYLOAD},   {"order", 1, 0, O_ORDER},
        {0, 0, 0, 0},
    };
    const char *url = NULL, *proto = "sss", *tls_ca = NULL;
    long window = 0;
    int o, w = -1, enc = -1;
    bool tls_verify = true, any_tls = false;

    memset(pp, 0, sizeof(*pp));
    pp->proto = &sb_proto_sss;
    pp->subscribers = 1000;
    pp->channels = 1;
    pp->publishers = 1;
    pp->askers = 100;
    pp->size = 64;
    pp->duration = 10;
    pp->warmup = 1;
    pp->tail = 5;
    pp->hold = 2;
    pp->timeout = 30;
    pp->concurrency = 256;
    pp->source_addrs = -1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case O_URL: url = optarg; break;
        case O_PROTO: proto = optarg; break;
        case O_ENC: enc = parse_choice("--encoding", optarg, encodings); break;
        case O_TLS_CA: tls_ca = optarg; break;
        case O_TLS_NOVERIFY: tls_verify = false; break;
        case O_DEFLATE: pp->deflate = true; break;
        case O_PAYLOAD:
            pp->payload = (enum sb_payload_kind)parse_choice("--payload", optarg, payloads);
            break;
        case O_ORDER: pp->order = (enum sb_order)parse_choice("--order", optarg, orders); break;
        case O_SUBS: pp->subscribers = (long)parse_num("--subscribers", optarg, 0, 1e7, 0); break;
        case O_CHANS: pp->channels = (long)parse_num("--channels", optarg, 1, 1e6, 0); break;
        case O_PUBS: pp->publishers = (long)parse_num("--publishers", optarg, 1, 1e5, 0); break;
        case O_RATE: pp->rate = parse_num("--rate", optarg, 0, 1e9, 0); break;
        case O_SIZE: pp->size = (long)parse_num("--size", optarg, 0, 16 << 20, 1); break;
        case O_DUR: pp->duration = parse_duration("--duration", optarg); break;
        case O_WARM: pp->warmup = parse_duration("--warmup", optarg); break;
        case O_TAIL: pp->tail = parse_duration("--tail", optarg); break;
        case O_HOLD: pp->hold = parse_duration("--hold", optarg); break;
        case O_TIMEOUT: pp->timeout = parse_duration("--timeout", optarg); break;
        case O_PROCS: pp->procs = (int)parse_num("--procs", optarg, 1, MAX_PROCS, 0); break;
        case O_CONNS: pp->connections = (long)parse_num("--connections", optarg, 1, 1e7, 0); break;
        case O_ASKERS: pp->askers = (long)parse_num("--askers", optarg, 1, 1e7, 0); break;
        case O_SRC: pp->source_addrs = (int)parse_num("--source-addrs", optarg, 0, 250, 0); break;
        case O_CONC: pp->concurrency = (long)parse_num("--concurrency", optarg, 1, 1e6, 0); break;
        case O_MSGS: pp->messages = (long)parse_num("--messages", optarg, 1, 1e12, 0); break;
        case O_WINDOW: window = (long)parse_num("--window", optarg, 1, 1e6, 0); break;
        case O_JSON: pp->json_only = true; break;
        case O_PIDS: {
            char *s = optarg, *end;

            for (;;) {
                long pid;

                errno = 0;
                pid = strtol(s, &end, 10);
                if (errno || end == s || pid <= 0 || (*end && *end != ','))
                    die("--server-pid: bad PID list '%s'", optarg);
                if (pp->nserver_pids == SB_MAX_SERVER_PIDS)
                    die("--server-pid: at most %d PIDs", SB_MAX_SERVER_PIDS);
                if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
                    die("--server-pid: no process %ld", pid);
                pp->server_pids[pp->nserver_pids++] = (pid_t)pid;
                if (!*end)
                    break;
                s = end + 1;
            }
            break;
        }
        case O_HELP:
        case 'h': usage(stdout); exit(0);
        default:
            die("unknown or incomplete flag '%s' (see --help)", argv[optind - 1]);
        }
    }
    pp->proto = NULL;
    for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
        if (strcmp(proto, protos[i]->name) == 0 && (int)protos[i]->encoding == (enc < 0 ? 0 : enc))
            pp->proto = protos[i];
    if (!pp->proto) {
        for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
            if (strcmp(proto, protos[i]->name) == 0)
                die("--encoding %s: --proto %s speaks only json%s (msgpack: --proto sss; "
                    "protobuf: --proto centrifugo)",
                    encodings[enc], proto, strcmp(proto, "sss") == 0 ? " and msgpack" : "");
        die("--proto: unknown '%s' (sss, echo, socketio, centrifugo, nchan, uws)", proto);
    }
    pp->encoding = pp->proto->encoding;
    if (optind >= argc)
        die("no workload given (fanout, connect, ask, echo, cluster; see --help)");
    if (optind + 1 < argc)
        die("unexpected argument '%s'", argv[optind + 1]);
    for (int i = 0; i < 5; i++)
        if (strcmp(argv[optind], workloads[i]) == 0)
            w = i;
    if (w < 0)
        die("unknown workload '%s' (fanout, connect, ask, echo, cluster)", argv[optind]);
    pp->workload = (enum sb_workload)w;
    if (!url)
        die("--url ws://HOST:PORT/PATH is required");
    for (const char *s = url; *s;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);

        if (pp->nurls == SB_MAX_URLS)
            die("--url: at most %d URLs", SB_MAX_URLS);
        parse_url(&pp->urls[pp->nurls], s, len);
        any_tls |= pp->urls[pp->nurls++].tls;
        s += len + (comma != NULL);
    }
    if ((tls_ca || !tls_verify) && !any_tls)
        die("--tls-ca and --tls-no-verify are for wss:// URLs, and none was given");
    if (tls_ca && !tls_verify)
        die("--tls-ca and --tls-no-verify contradict each other");
    if (!pp->connections)
        pp->connections = pp->workload == SB_CONNECT ? 1000 : 100;
    pp->window = window ? window : pp->workload == SB_ECHO || pp->workload == SB_ASK ? 1 : 16;
    if (pp->workload == SB_ASK)
        pp->window = 1; /* one ASK outstanding per asker, always */
    switch (pp->workload) {
    case SB_FANOUT:
    case SB_CLUSTER:
    case SB_CONNECT:
        if (!(pp->proto->caps & SB_CAP_PUBSUB) && pp->workload != SB_CONNECT)
            die("--proto %s has no publish/subscribe: workload %s is not supported",
                pp->proto->name, workloads[w]);
        break;
    case SB_ASK:
        if (!(pp->proto->caps & SB_CAP_ASK))
            die("--proto %s has no request/response: workload ask is not supported",
                pp->proto->name);
        break;
    case SB_ECHO:
        if (!(pp->proto->caps & SB_CAP_ECHO))
            die("--proto %s has no echo: workload echo is not supported", pp->proto->name);
        if (pp->encoding != SB_ENC_JSON)
            die("--encoding %s: echo is raw WebSocket, it has no encoding", encodings[enc]);
        break;
    }
    /* --deflate only where a peer of bench/peers negotiates it and sss-bench was checked
     * against it: sss-server --deflate (also --echo), uWS.js with compression on. */
    if (pp->deflate && (pp->proto == &sb_proto_socketio || pp->proto == &sb_proto_centrifugo ||
                        pp->proto == &sb_proto_nchan))
        die("--deflate: --proto %s is measured without compression here (its peer in "
            "bench/peers runs with compression off); use --proto sss, uws or echo",
            pp->proto->name);
    if (pp->order != SB_ORDER_SWEEP && (pp->proto->caps & SB_CAP_PUB_CHANNEL))
        die("--order: --proto %s binds each publisher to one channel, so publishes have no "
            "order over channels",
            pp->proto->name);
    if (pp->order != SB_ORDER_SWEEP && pp->workload != SB_FANOUT && pp->workload != SB_CLUSTER)
        die("--order: only fanout and cluster publish over channels");
    if (pp->workload == SB_CLUSTER && pp->nurls < 2)
        die("cluster needs two URLs at least: publishers use the first, subscribers the others");
    if ((pp->workload == SB_FANOUT || pp->workload == SB_CLUSTER) && pp->subscribers < 1)
        die("--subscribers must be 1 or more");
    if ((pp->workload == SB_FANOUT || pp->workload == SB_CLUSTER) && pp->rate == 0 &&
        pp->subscribers < pp->channels)
        die("closed loop (--rate 0) needs a subscriber on every channel: --subscribers %ld < "
            "--channels %ld",
            pp->subscribers, pp->channels);
    if (pp->duration <= 0 && pp->workload != SB_CONNECT)
        die("--duration must be above 0");
    if (any_tls) { /* last: nothing above may leave it behind (main frees it) */
        char err[256];

        /* made before the fork: every worker process uses it */
        if (sss_tls_client_ctx(tls_ca, tls_verify, &pp->tls_ctx, err, sizeof(err)) != 0)
            die("TLS: %s", err);
    }
}

/* ---- server and bench processes: CPU and memory from /proc ---- */

struct procset {
    pid_t pid[4096];
    int n;
};

static int read_stat(pid_t pid, pid_t *ppid, double *cpu_s)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    int pp = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    p = strrchr(buf, ')');
    /* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    if (!p || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &pp, &ut,
                     &st) != 3)
        return -1;
    if (ppid)
        *ppid = pp;
    if (cpu_s)
        *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

/* The given PIDs and all their descendants. */
static void server_procs(const struct sb_params *pp, struct procset *ps)
{
    static pid_t pids[65536], ppids[65536];
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;

    ps->n = 0;
    for (int i = 0; i < pp->nserver_pids; i++)
        if (kill(pp->server_pids[i], 0) == 0 || errno != ESRCH)
            ps->pid[ps->n++] = pp->server_pids[i];
    while (d && (e = readdir(d)) && n < 65536) {
        pid_t ppid;

        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pids[n] = (pid_t)strtol(e->d_name, NULL, 10);
        if (read_stat(pids[n], &ppid, NULL) == 0)
            ppids[n++] = ppid;
    }
    if (d)
        closedir(d);
    for (int k = 0; k < ps->n; k++) /* breadth first: ps grows as children are found */
        for (int i = 0; i < n; i++)
            if (ppids[i] == ps->pid[k] && ps->n < 4096) {
                bool seen = false;

                for (int j = 0; j < ps->n; j++)
                    seen |= ps->pid[j] == pids[i];
                if (!seen)
                    ps->pid[ps->n++] = pids[i];
            }
}

static double procs_cpu(const struct procset *ps)
{
    double sum = 0, c;

    for (int i = 0; i < ps->n; i++)
        if (read_stat(ps->pid[i], NULL, &c) == 0)
            sum += c;
    return sum;
}

/* Add to *sum the bytes of the first "<key> <n> kB" line of /proc/<pid>/<file>. */
static void add_proc_kb(pid_t pid, const char *file, const char *key, uint64_t *sum)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    uint64_t kb;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    if (!(f = fopen(path, "r")))
        return;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0 && sscanf(line + klen, " %" SCNu64, &kb) == 1) {
            *sum += kb * 1024;
            break;
        }
    fclose(f);
}

/* Memory of one process in bytes: Pss from smaps_rollup (shared pages split among their
 * users, so forked workers are not counted twice) and VmRSS from status. */
static void proc_mem(pid_t pid, uint64_t *pss, uint64_t *rss)
{
    add_proc_kb(pid, "smaps_rollup", "Pss:", pss);
    add_proc_kb(pid, "status", "VmRSS:", rss);
}

static void procs_mem(const struct procset *ps, uint64_t *pss, uint64_t *rss)
{
    *pss = *rss = 0;
    for (int i = 0; i < ps->n; i++)
        proc_mem(ps->pid[i], pss, rss);
}

static double self_cpu(int who)
{
    struct rusage ru;

    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double bench_cpu(void)
{
    struct procset ps = {.n = 0};
    double self = self_cpu(RUSAGE_SELF);

    for (int i = 0; i < nchildren; i++)
        ps.pid[ps.n++] = children[i];
    return self + procs_cpu(&ps);
}

/* ---- waiting for the workers ---- */

static void sleep_until(uint64_t t)
{
    for (;;) {
        uint64_t now = sb_now_ns();
        struct timespec ts;

        if (now >= t)
            return;
        ts.tv_sec = (time_t)((t - now) / 1000000000ULL);
        ts.tv_nsec = (long)((t - now) % 1000000000ULL);
        if (ts.tv_sec > 0 || ts.tv_nsec > 5000000) {
            ts.tv_sec = 0;
            ts.tv_nsec = 5000000;
        }
        nanosleep(&ts, NULL);
        if (atomic_load(&shared->abort))
            die("interrupted");
        for (int i = 0; i < nchildren; i++) { /* a worker that dies ends the run */
            siginfo_t si;

            /* WNOWAIT: a worker that finished stays a zombie whose CPU times can still be
             * read from /proc until the final waitpid */
            memset(&si, 0, sizeof(si));
            if (children[i] <= 0 ||
                waitid(P_PID, (id_t)children[i], &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
                si.si_pid != children[i])
                continue;
            if (si.si_code != CLD_EXITED || si.si_status != 0) {
                struct sb_result *r = sb_shared_result(shared, i);

                if (r->error[0])
                    die("worker %d failed: %s", i, r->error);
                if (si.si_code != CLD_EXITED)
                    die("worker %d died: %s", i, strsignal(si.si_status));
                die("worker %d exited with status %d", i, si.si_status);
            }
        }
    }
}

/* Wait until every worker reached state (or failed: fatal). */
static void wait_state(int state, double limit_s, const char *what)
{
    uint64_t deadline = sb_now_ns() + (uint64_t)(limit_s * 1e9);

    for (;;) {
        int n = 0;

        for (int i = 0; i < nchildren; i++) {
            struct sb_result *r = sb_shared_result(shared, i);
            int st = atomic_load_explicit(&r->state, memory_order_acquire);

            if (st == SB_PS_FAILED)
                die("worker %d failed: %s", i, r->error[0] ? r->error : "unknown error");
            n += st >= state;
        }
        if (n == nchildren)
            return;
        if (sb_now_ns() > deadline)
            die("the workers did not %s within %.0f s", what, limit_s);
        sleep_until(sb_now_ns() + 2000000);
    }
}

/* ---- report ---- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_hist(FILE *f, const char *name, const struct sb_hist *h)
{
    fprintf(f,
            "\"%s\":{\"count\":%" PRIu64 ",\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
            "\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}",
            name, h->count, (double)sb_hist_pct(h, 50) / 1e3, (double)sb_hist_pct(h, 90) / 1e3,
            (double)sb_hist_pct(h, 99) / 1e3, (double)sb_hist_pct(h, 99.9) / 1e3,
            (double)h->max / 1e3, h->count ? h->sum / (double)h->count / 1e3 : 0.0);
}

static const char *human_us(char *buf, size_t n, uint64_t ns)
{
    double us = (double)ns / 1e3;

    if (us < 1000)
        snprintf(buf, n, "%.0f us", us);
    else if (us < 1e6)
        snprintf(buf, n, "%.2f ms", us / 1e3);
    else
        snprintf(buf, n, "%.2f s", us / 1e6);
    return buf;
}

static void human_hist(const char *label, const struct sb_hist *h)
{
    char a[32], b[32], c[32], d[32], e[32];

    if (!h->count) {
        printf("  %-16s (none)\n", label);
        return;
    }
    printf("  %-16s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", label,
           human_us(a, sizeof(a), sb_hist_pct(h, 50)), human_us(b, sizeof(b), sb_hist_pct(h, 90)),
           human_us(c, sizeof(c), sb_hist_pct(h, 99)),
           human_us(d, sizeof(d), sb_hist_pct(h, 99.9)), human_us(e, sizeof(e), h->max));
}

struct totals {
    struct sb_result r; /* summed */
    uint64_t expected, members;
    double connect_s, window_s;
    double server_cpu_s, bench_cpu_s, bench_cpu_total_s;
    uint64_t pss_before, pss_after, rss_before, rss_after;
    int server_nprocs;
    uint64_t unanswered; /* asks, echoes or publishes never answered within --tail */
    uint64_t errors;
    const char *error;
    char error_buf[160];
};

static void sum_results(struct totals *t)
{
    struct sb_result *s = &t->r;

    memset(s, 0, sizeof(*s));
    sb_hist_init(&s->lat);
    sb_hist_init(&s->conn);
    for (int i = 0; i < nchildren; i++) {
        struct sb_result *r = sb_shared_result(shared, i);

        s->conns += r->conns;
        s->conns_ok += r->conns_ok;
        s->conns_failed += r->conns_failed;
        if (r->t_ready_last > s->t_ready_last)
            s->t_ready_last = r->t_ready_last;
        s->sent += r->sent;
        s->sent_window += r->sent_window;
        s->acked += r->acked;
        s->pub_errors += r->pub_errors;
        s->delivered += r->delivered;
        s->delivered_window += r->delivered_window;
        s->expected_local += r->expected_local;
        s->gaps += r->gaps;
        s->duplicates += r->duplicates;
        s->reordered += r->reordered;
        s->bad_payloads += r->bad_payloads;
        s->closed_early += r->closed_early;
        s->proto_errors += r->proto_errors;
        s->enobufs += r->enobufs;
        s->late_sends += r->late_sends;
        s->bytes_in += r->bytes_in;
        s->bytes_out += r->bytes_out;
        s->wire_in += r->wire_in;
        s->wire_out += r->wire_out;
        s->wire_in_window += r->wire_in_window;
        s->deflated_msgs += r->deflated_msgs;
        s->inflated_bytes += r->inflated_bytes;
        sb_hist_merge(&s->lat, &r->lat);
        sb_hist_merge(&s->conn, &r->conn);
        if (!t->error && r->error[0])
            t->error = r->error;
    }
}

static void report(const struct sb_params *pp, struct totals *t)
{
    const struct sb_result *r = &t->r;
    bool pubsub = pp->workload == SB_FANOUT || pp->workload == SB_CLUSTER;
    uint64_t unique = r->delivered > r->duplicates ? r->delivered - r->duplicates : 0;
    uint64_t lost = t->expected > unique ? t->expected - unique : 0;
    uint64_t dups = r->duplicates + r->reordered; /* anything not exactly in order */
    double dps = t->window_s > 0 ? (double)r->delivered_window / t->window_s : 0;
    double sps = t->window_s > 0 ? (double)r->sent_window / t->window_s : 0;
    double cps = t->connect_s > 0 ? (double)r->conns_ok / t->connect_s : 0;
    uint64_t errors = t->errors;
    double srv_us = r->delivered_window ? t->server_cpu_s * 1e6 / (double)r->delivered_window : 0;
    double bench_us = r->delivered_window ? t->bench_cpu_s * 1e6 / (double)r->delivered_window : 0;
    int64_t n_ok = r->conns_ok ? (int64_t)r->conns_ok : 1;
    int64_t per_conn = ((int64_t)t->pss_after - (int64_t)t->pss_before) / n_ok;
    int64_t per_conn_rss = ((int64_t)t->rss_after - (int64_t)t->rss_before) / n_ok;
    double wire_per =
        r->delivered_window ? (double)r->wire_in_window / (double)r->delivered_window : 0;
    const char *unit = pubsub ? "deliveries" : pp->workload == SB_CONNECT ? "connections"
                                                                          : "round trips";

    if (!pp->json_only) {
        printf("sss-bench %s  proto=%s  encoding=%s%s  url=", workloads[pp->workload],
               pp->proto->name, encodings[pp->encoding], pp->deflate ? "+deflate" : "");
        for (int i = 0; i < pp->nurls; i++) {
            char u[1024];

            url_str(&pp->urls[i], u, sizeof(u));
            printf("%s%s", i ? "," : "", u);
        }
        printf("  procs=%d\n", pp->procs);
        if (pubsub)
            printf("  setup            %ld subscribers, %ld channels (%s order), %ld publishers, "
                   "%s, %ld-byte payloads\n",
                   pp->subscribers, pp->channels, orders[pp->order],
                   sb_params_publishers(pp), pp->rate > 0 ? "open loop" : "closed loop", pp->size);
        printf("  connections      %" PRIu64 " ok, %" PRIu64 " failed in %.2f s (%.0f /s)\n",
               r->conns_ok, r->conns_failed, t->connect_s, cps);
        human_hist("connect time", &r->conn);
        if (pp->workload != SB_CONNECT) {
            printf("  window           %.2f s after %.2f s warm-up\n", t->window_s, pp->warmup);
            printf("  sent             %" PRIu64 " (%.0f /s in the window)", r->sent, sps);
            if (pp->proto->caps & SB_CAP_PUB_ACK && pubsub)
                printf(", %" PRIu64 " acknowledged, %" PRIu64 " refused", r->acked,
                       r->pub_errors);
            printf("\n");
            if (pubsub)
                printf("  delivered        %" PRIu64 " of %" PRIu64 " expected: lost %" PRIu64
                       ", duplicates %" PRIu64 ", out of order %" PRIu64 ", gaps %" PRIu64 "%s\n",
                       r->delivered, t->expected, lost, r->duplicates, r->reordered, r->gaps,
                       lost || dups ? "   <-- NOT EXACT" : "");
            else
                printf("  answered         %" PRIu64 " of %" PRIu64 "\n", r->delivered, r->sent);
            printf("  %-16s %.0f /s\n", unit, dps);
            human_hist("latency", &r->lat);
        }
        if (pp->nserver_pids) {
            printf("  server           %d processes, memory Pss %.1f MB, RSS %.1f MB",
                   t->server_nprocs, (double)t->pss_after / 1048576.0,
                   (double)t->rss_after / 1048576.0);
            if (pp->workload == SB_CONNECT)
                printf("\n  server memory    Pss %.1f -> %.1f MB: %" PRId64
                       " bytes per connection (RSS: %" PRId64 ")",
                       (double)t->pss_before / 1048576.0, (double)t->pss_after / 1048576.0,
                       per_conn, per_conn_rss);
            printf("\n");
            if (pp->workload != SB_CONNECT)
                printf("  server cpu       %.2f s = %.2f cores, %.3f us per %s\n",
                       t->server_cpu_s, t->window_s > 0 ? t->server_cpu_s / t->window_s : 0,
                       srv_us, unit[0] == 'd' ? "delivery" : "round trip");
        }
        if (pp->workload != SB_CONNECT)
            printf("  bench cpu        %.2f s = %.2f cores, %.3f us per %s (%.2f s in all)\n",
                   t->bench_cpu_s, t->window_s > 0 ? t->bench_cpu_s / t->window_s : 0, bench_us,
                   unit[0] == 'd' ? "delivery" : "round trip", t->bench_cpu_total_s);
        if (pp->workload != SB_CONNECT)
            printf("  wire             %" PRIu64 " bytes in, %" PRIu64 " out; %.1f bytes in "
                   "per %s in the window\n",
                   r->wire_in, r->wire_out, wire_per,
                   unit[0] == 'd' ? "delivery" : "round trip");
        if (pp->deflate)
            printf("  deflate          %" PRIu64 " messages received compressed, inflated to "
                   "%" PRIu64 " bytes\n",
                   r->deflated_msgs, r->inflated_bytes);
        printf("  errors           %" PRIu64 "%s%s\n", errors, t->error ? ": " : "",
               t->error ? t->error : "");
    }
    printf("{\"workload\":\"%s\",\"proto\":\"%s\",\"encoding\":\"%s\",\"deflate\":%s,"
           "\"payload\":\"%s\",\"urls\":[",
           workloads[pp->workload], pp->proto->name, encodings[pp->encoding],
           pp->deflate ? "true" : "false", payloads[pp->payload]);
    for (int i = 0; i < pp->nurls; i++) {
        char u[1024];

        url_str(&pp->urls[i], u, sizeof(u));
        if (i)
            putchar(',');
        json_str(stdout, u);
    }
    printf("],\"params\":{\"subscribers\":%ld,\"channels\":%ld,\"order\":\"%s\","
           "\"publishers\":%ld,\"rate\":%.0f,\"window\":%ld,\"size\":%ld,"
           "\"duration_s\":%.3f,\"warmup_s\":%.3f,"
           "\"procs\":%d,\"connections\":%ld,\"askers\":%ld,\"source_addrs\":%d},",
           pp->workload == SB_FANOUT || pp->workload == SB_CLUSTER ? pp->subscribers : 0,
           pp->channels, orders[pp->order], sb_params_publishers(pp), pp->rate, pp->window,
           pp->size, pp->duration, pp->warmup, pp->procs, pp->connections, pp->askers,
           pp->source_addrs > 0 ? pp->source_addrs : 0);
    printf("\"connections_ok\":%" PRIu64 ",\"connections_failed\":%" PRIu64
           ",\"connect_s\":%.3f,\"connect_per_s\":%.1f,",
           r->conns_ok, r->conns_failed, t->connect_s, cps);
    json_hist(stdout, "connect_latency_us", &r->conn);
    printf(",\"window_s\":%.3f,\"sent\":%" PRIu64 ",\"sent_window\":%" PRIu64
           ",\"sent_per_s\":%.1f,\"acked\":%" PRIu64 ",\"pub_errors\":%" PRIu64
           ",\"delivered\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"lost\":%" PRIu64
           ",\"duplicates\":%" PRIu64 ",\"out_of_order\":%" PRIu64 ",\"gaps\":%" PRIu64
           ",\"bad_payloads\":%" PRIu64 ",\"deliveries_window\":%" PRIu64
           ",\"deliveries_per_s\":%.1f,",
           t->window_s, r->sent, r->sent_window, sps, r->acked, r->pub_errors, r->delivered,
           pubsub ? t->expected : r->sent, pubsub ? lost : r->sent - r->delivered,
           r->duplicates, r->reordered, r->gaps, r->bad_payloads, r->delivered_window, dps);
    json_hist(stdout, "latency_us", &r->lat);
    printf(",\"bench_cpu_s\":%.3f,\"bench_cpu_us_per_delivery\":%.4f,\"bench_cpu_total_s\":%.3f,",
           t->bench_cpu_s, bench_us, t->bench_cpu_total_s);
    printf("\"server_pids\":[");
    for (int i = 0; i < pp->nserver_pids; i++)
        printf("%s%d", i ? "," : "", (int)pp->server_pids[i]);
    printf("],\"server_procs\":%d,\"server_cpu_s\":%.3f,\"server_cpu_us_per_delivery\":%.4f,"
           "\"server_pss_bytes\":%" PRIu64 ",\"server_pss_before_bytes\":%" PRIu64
           ",\"server_pss_per_conn_bytes\":%" PRId64 ",\"server_rss_bytes\":%" PRIu64
           ",\"server_rss_before_bytes\":%" PRIu64 ",\"server_rss_per_conn_bytes\":%" PRId64
           ",",
           t->server_nprocs, t->server_cpu_s, srv_us, t->pss_after, t->pss_before,
           pp->workload == SB_CONNECT ? per_conn : 0, t->rss_after, t->rss_before,
           pp->workload == SB_CONNECT ? per_conn_rss : 0);
    printf("\"wire_bytes_in\":%" PRIu64 ",\"wire_bytes_out\":%" PRIu64
           ",\"wire_bytes_in_window\":%" PRIu64 ",\"wire_bytes_in_per_delivery\":%.2f,",
           r->wire_in, r->wire_out, r->wire_in_window, wire_per);
    printf("\"deflated_messages\":%" PRIu64 ",\"inflated_bytes\":%" PRIu64 ",", r->deflated_msgs,
           r->inflated_bytes);
    printf("\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"recv_rearms\":%" PRIu64
           ",\"late_sends\":%" PRIu64 ",\"unanswered\":%" PRIu64 ",\"closed_early\":%" PRIu64
           ",\"proto_errors\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"error\":",
           r->bytes_in, r->bytes_out, r->enobufs, r->late_sends, t->unanswered, r->closed_early,
           r->proto_errors, errors);
    if (t->error)
        json_str(stdout, t->error);
    else
        fputs("null", stdout);
    printf("}\n");
    fflush(stdout);
}

/* ---- main ---- */

static long total_conns(const struct sb_params *pp)
{
    switch (pp->workload) {
    case SB_FANOUT:
    case SB_CLUSTER:
        return pp->subscribers + sb_params_publishers(pp);
    case SB_CONNECT:
    case SB_ECHO:
        return pp->connections;
    case SB_ASK:
        return pp->askers;
    }
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    if (shared)
        atomic_store(&shared->abort, 1);
}

int main(int argc, char **argv)
{
    struct sb_params pp;
    struct rlimit rl;
    struct totals t;
    struct procset srv = {.n = 0};
    long conns, per_proc;
    size_t shsz;
    uint64_t t_go, t_start;
    double srv_cpu0 = 0, bench_cpu0 = 0;

    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    parse_args(&pp, argc, argv);
    memset(&t, 0, sizeof(t));

    /* Open files: the hard limit, and enough processes to stay under it. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    conns = total_conns(&pp);
    if (!pp.procs) {
        long cap = rl.rlim_cur > 19064 ? 19000 : (long)rl.rlim_cur - 64;

        pp.procs = (int)((conns + cap - 1) / cap);
        if (pp.procs < 1)
            pp.procs = 1;
        if (pp.procs > MAX_PROCS)
            die("%ld connections need more than %d processes", conns, MAX_PROCS);
    }
    per_proc = (conns + pp.procs - 1) / pp.procs;
    if (per_proc + 64 > (long)rl.rlim_cur)
        die("%ld connections per process exceed the open-file limit %llu: raise --procs", per_proc,
            (unsigned long long)rl.rlim_cur);
    if (pp.source_addrs < 0) {
        pp.source_addrs = 0;
        for (int i = 0; i < pp.nurls; i++) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&pp.urls[i].addr;

            if (a->sin_family == AF_INET && (ntohl(a->sin_addr.s_addr) >> 24) == 127 &&
                conns / pp.nurls > 25000)
                pp.source_addrs = (int)((conns / pp.nurls + 24999) / 25000);
        }
    }

    /* Thousands of connections to one loopback address: choose the source ports ourselves. */
    if (conns / pp.nurls >= SB_BIND_THRESHOLD || pp.source_addrs > 0) {
        FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

        if (!f || fscanf(f, "%d %d", &pp.port_lo, &pp.port_hi) != 2 || pp.port_lo < 1 ||
            pp.port_hi <= pp.port_lo || pp.port_hi > 65535) {
            pp.port_lo = 32768;
            pp.port_hi = 60999;
        }
        pp.port_hi++; /* exclusive */
        if (f)
            fclose(f);
    }
    shsz = sb_shared_size(pp.procs, pp.channels, sb_params_publishers(&pp));
    shared = mmap(NULL, shsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        die("cannot map %zu bytes of shared memory: %s", shsz, strerror(errno));
    shared->procs = pp.procs;
    shared->channels = pp.channels;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    if (pp.nserver_pids) {
        server_procs(&pp, &srv);
        procs_mem(&srv, &t.pss_before, &t.rss_before);
    }
    fflush(stdout);
    for (int i = 0; i < pp.procs; i++) {
        pid_t pid = fork();

        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            signal(SIGINT, SIG_IGN);
            _exit(sb_worker_run(&pp, shared, i));
        }
        children[nchildren++] = pid;
    }
    wait_state(SB_PS_STARTED, 30, "start");

    /* Connect. */
    t_go = sb_now_ns();
    atomic_store_explicit(&shared->t_go, t_go, memory_order_release);
    wait_state(SB_PS_READY, pp.timeout + 30, "set up their connections");
    sum_results(&t);
    t.connect_s = t.r.t_ready_last > t_go ? (double)(t.r.t_ready_last - t_go) / 1e9 : 0;
    if (pp.workload != SB_CONNECT && t.r.conns_failed)
        die("%" PRIu64 " of %" PRIu64 " connections failed; first: %s", t.r.conns_failed,
            t.r.conns, t.error ? t.error : "?");
    if (atomic_load(&shared->abort))
        die("interrupted");

    /* Run: warm-up, measured window, then the workers drain and finish. */
    t_start = sb_now_ns() + 20000000ULL;
    if (pp.workload == SB_CONNECT) {
        atomic_store(&shared->t_measure, t_start);
        atomic_store(&shared->t_end, t_start + (uint64_t)(pp.hold * 1e9));
    } else {
        atomic_store(&shared->t_measure, t_start + (uint64_t)(pp.warmup * 1e9));
        atomic_store(&shared->t_end, t_start + (uint64_t)((pp.warmup + pp.duration) * 1e9));
        /* t_measure is stored before t_end, and both before t_start (sb_loop.c's in_window) */
    }
    atomic_store_explicit(&shared->t_start, t_start, memory_order_release);
    sleep_until(atomic_load(&shared->t_measure));
    if (pp.nserver_pids) {
        server_procs(&pp, &srv);
        srv_cpu0 = procs_cpu(&srv);
    }
    bench_cpu0 = bench_cpu();
    sleep_until(atomic_load(&shared->t_end));
    t.window_s = (double)(atomic_load(&shared->t_end) - atomic_load(&shared->t_measure)) / 1e9;
    t.bench_cpu_s = bench_cpu() - bench_cpu0;
    if (pp.nserver_pids) {
        t.server_cpu_s = procs_cpu(&srv) - srv_cpu0;
        server_procs(&pp, &srv);
        t.server_nprocs = srv.n;
        procs_mem(&srv, &t.pss_after, &t.rss_after);
    }
    if (atomic_load(&shared->abort))
        die("interrupted");
    wait_state(SB_PS_DONE, 2 * pp.tail + 30, "finish");
    for (int i = 0; i < nchildren; i++) {
        int st;

        waitpid(children[i], &st, 0);
        children[i] = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("worker %d ended badly", i);
    }
    t.bench_cpu_total_s = self_cpu(RUSAGE_SELF) + self_cpu(RUSAGE_CHILDREN);

    sum_results(&t);
    if (pp.workload == SB_FANOUT || pp.workload == SB_CLUSTER) {
        _Atomic uint32_t *members = sb_shared_members(shared);

        for (long c = 0; c < pp.channels; c++) {
            uint64_t pub = 0;

            for (int p = 0; p < pp.procs; p++)
                pub += sb_shared_published(shared, p)[c];
            t.expected += pub * atomic_load(&members[c]);
        }
    }
    if (pp.workload == SB_ASK || pp.workload == SB_ECHO) {
        t.unanswered = t.r.sent > t.r.delivered + t.r.bad_payloads
                           ? t.r.sent - t.r.delivered - t.r.bad_payloads
                           : 0;
        if (t.unanswered && !t.error) {
            snprintf(t.error_buf, sizeof(t.error_buf),
                     "%" PRIu64 " of %" PRIu64 " %s got no answer within --tail", t.unanswered,
                     t.r.sent, pp.workload == SB_ASK ? "asks" : "messages");
            t.error = t.error_buf;
        }
    }
    if ((pp.workload == SB_FANOUT || pp.workload == SB_CLUSTER) &&
        (pp.proto->caps & SB_CAP_PUB_ACK)) {
        t.unanswered = t.r.sent > t.r.acked + t.r.pub_errors
                           ? t.r.sent - t.r.acked - t.r.pub_errors
                           : 0;
        if (t.unanswered && !t.error) {
            snprintf(t.error_buf, sizeof(t.error_buf),
                     "%" PRIu64 " of %" PRIu64 " publishes got no reply within --tail",
                     t.unanswered, t.r.sent);
            t.error = t.error_buf;
        }
    }
    t.errors = t.r.conns_failed + t.r.closed_early + t.r.proto_errors + t.r.bad_payloads +
               t.unanswered;
    report(&pp, &t);
    sss_tls_ctx_unref(pp.tls_ctx);
    return t.errors ? 3 : 0;
}
