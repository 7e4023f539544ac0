/*
 * The master process: flags -> configuration, listening sockets, shared
 * memory, fork the workers, then only supervise.
 *
 * - Each worker gets its own SO_REUSEPORT listener (a listener shared by
 *   several io_uring workers sends every connection to one of them). The
 *   master creates them all before forking and keeps its copies open, so a
 *   worker that dies loses nothing in its accept queue: its replacement
 *   inherits the same socket and accepts what waited there.
 * - A worker that dies is replaced at once, with a log line saying which and
 *   why; only a worker that keeps dying right after start is restarted with
 *   a growing delay (up to RESTART_MAX_DELAY_MS).
 * - SIGTERM/SIGINT drain: the master closes its listener copies, signals the
 *   workers (each sends close 1001 to its clients, flushes and exits) and
 *   exits 0 when all are gone, or kills what is left at --drain-timeout.
 * - No child outlives the master: each asks the kernel for SIGTERM when its
 *   parent dies (workers drain, the scaler stops), and one forked just as the
 *   master died sees it at once and exits. Signals the server has no use for
 *   (SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM, ...) are ignored by every process,
 *   so none of them is a silent death.
 * The master never touches a client socket.
 */
#include "sss_master.h"
#include "sss_master_upgrade.h"
#include "sss_cfg.h"
#include "sss_log.h"
#include "sss_shm.h"
#include "sss_time.h"
#include "sss_app.h"
#include "sss_scaler.h"
#include "sss_store.h"
#include "sss_tls.h"
#include "sss_worker.h"
#include "sss_alloc.h"
#include "sss_upgrade.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESTART_MAX_DELAY_MS 5000
#define QUICK_DEATH_MS 1000 /* a worker dying sooner than this after start backs off */
#define UPGRADE_READY_MS 30000 /* SIGUSR2: the new master's workers run within this, or it is killed */

struct sss_child {
    pid_t pid;          /* 0 when not running */
    int listen_fd;      /* the master's copy of this worker's listener */
    int adopt_fd;       /* started by an upgrade: its hand-over socket (sss_upgrade.h), or -1 */
    int64_t started_ms; /* when the current process was forked */
    int64_t restart_at; /* when to fork again (after a quick death); 0 = not pending */
    int quick_deaths;   /* consecutive deaths soon after start */
};

struct sss_master {
    struct sss_cfg cfg;
    struct sss_shm shm;
    struct sss_child *children; /* the workers */
    struct sss_child scaler;
    struct sss_app *app; /* handlers of an --app module (owned), or NULL */
    pid_t pid;           /* the master's own, for the children to check */
    int draining;
    int scaler_signalled; /* drain: the scaler was told to stop */
    int64_t drain_deadline_ms;
    sigset_t sigs; /* handled synchronously with sigtimedwait */
    char **argv;   /* what the binary was started with: an upgrade execs it again */
    /* SIGUSR2: the new master being started, and our end of its socketpair */
    pid_t upgrade_pid;
    int upgrade_sock;
    int64_t upgrade_deadline_ms;
};

static long raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1048576 : (long)rl.rlim_cur;
}

/* The port a socket is bound to, or -1. */
static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t slen = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &slen) < 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* One SO_REUSEPORT listener on host:*port; resolves port 0 to the kernel's pick. */
static int open_listener(const struct sss_cfg *cfg, int *port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    int v6 = strchr(cfg->host, ':') != NULL;
    socklen_t slen = v6 ? sizeof(*a6) : sizeof(*a4);
    void *addr;
    int fd, one = 1, rc;

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = v6 ? AF_INET6 : AF_INET;
    if (v6)
        a6->sin6_port = htons((uint16_t)*port);
    else
        a4->sin_port = htons((uint16_t)*port);
    addr = v6 ? (void *)&a6->sin6_addr : (void *)&a4->sin_addr;
    if (inet_pton(ss.ss_family, cfg->host, addr) != 1)
        return SSS_EINVAL;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, cfg->backlog) < 0)
        goto fail;
    if (*port == 0 && (*port = bound_port(fd)) < 0)
        goto fail;
    return fd;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

static void describe_exit(int status, char *out, size_t cap)
{
    if (WIFSIGNALED(status))
        snprintf(out, cap, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else if (WIFEXITED(status))
        snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(out, cap, "stopped (status 0x%x)", status);
}

/*
 * In a child right after fork: SIGTERM when the master dies. The request
 * only covers a death after it, so a master that died in between (the child
 * was then reparented) is caught by comparing the parent's pid.
 */
static void follow_master(pid_t master, const char *role)
{
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != master) {
        sss_log_error(role, "the master (pid=%d) is gone: exiting", (int)master);
        _exit(1);
    }
}

/* Signals whose default action ends a process and that the server does not
 * use. The disposition is inherited by every child. */
static void ignore_unused_signals(void)
{
    static const int unused[] = {SIGPIPE, SIGUSR1, SIGALRM, SIGVTALRM, SIGPROF,
                                 SIGIO,   SIGPWR,  SIGSTKFLT, SIGXFSZ};

    for (size_t i = 0; i < sizeof(unused) / sizeof(unused[0]); i++)
        signal(unused[i], SIG_IGN);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        signal(sig, SIG_IGN);
}

static int spawn_worker(struct sss_master *m, int id)
{
    struct sss_child *ch = &m->children[id];
    pid_t pid;

    sss_shm_reset_worker(&m->shm, (unsigned)id);
    pid = fork();
    if (pid < 0) {
        sss_log_error("master", "fork worker %d: %s", id, strerror(errno));
        return -errno;
    }
    if (pid == 0) {
        follow_master(m->pid, "worker");
        /* Keep only this worker's listener; the others belong to siblings. */
        for (int i = 0; i < m->cfg.workers; i++)
            if (i != id) {
                close(m->children[i].listen_fd);
                if (m->children[i].adopt_fd >= 0)
                    close(m->children[i].adopt_fd);
            }
        _exit(sss_worker_run(&m->cfg, id, m->children[id].listen_fd, m->children[id].adopt_fd,
                             &m->shm, m->app));
    }
    ch->pid = pid;
    ch->started_ms = sss_now_ms();
    ch->restart_at = 0;
    sss_log_info("master", "worker %d started pid=%d", id, (int)pid);
    return 0;
}

static int spawn_scaler(struct sss_master *m)
{
    struct sss_child *ch = &m->scaler;
    pid_t pid;

    /* Workers see the new generation and ask again what the old one owed them. */
    atomic_fetch_add_explicit(&m->shm.hdr->scaler_gen, 1, memory_order_release);
    pid = fork();

    if (pid < 0) {
        sss_log_error("master", "fork scaler: %s", strerror(errno));
        return -errno;
    }
    if (pid == 0) {
        follow_master(m->pid, "scaler");
        for (int i = 0; i < m->cfg.workers; i++) {
            close(m->children[i].listen_fd);
            if (m->children[i].adopt_fd >= 0)
                close(m->children[i].adopt_fd);
        }
        _exit(sss_scaler_run(&m->cfg, &m->shm));
    }
    ch->pid = pid;
    ch->started_ms = sss_now_ms();
    ch->restart_at = 0;
    sss_log_info("master", "scaler started pid=%d", (int)pid);
    return 0;
}

static int running(const struct sss_master *m)
{
    int n = 0;

    for (int i = 0; i < m->cfg.workers; i++)
        n += m->children[i].pid != 0;
    return n;
}

static void reap(struct sss_master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int64_t now = sss_now_ms();
        char why[128];

        if (pid == m->upgrade_pid) {
            describe_exit(status, why, sizeof(why));
            m->upgrade_pid = 0;
            if (m->upgrade_sock >= 0) { /* before it was ready: we go on serving */
                close(m->upgrade_sock);
                m->upgrade_sock = -1;
                sss_log_error("master", "upgrade failed: the new master pid=%d %s; still serving",
                              (int)pid, why);
            }
            continue;
        }
        if (pid == m->scaler.pid) {
            m->scaler.pid = 0;
            describe_exit(status, why, sizeof(why));
            if (m->draining) {
                sss_log_info("master", "scaler exited pid=%d: %s", (int)pid, why);
                continue;
            }
            /* Uids and history of the memory engine die with it: the new
             * one starts new epochs, and SYNCs that reach back get gaps. */
            sss_log_warn("master", "scaler exited pid=%d: %s; restarting", (int)pid, why);
            if (now - m->scaler.started_ms < QUICK_DEATH_MS)
                m->scaler.restart_at = now + 500;
            else
                (void)spawn_scaler(m);
            continue;
        }
        for (int i = 0; i < m->cfg.workers; i++) {
            struct sss_child *ch = &m->children[i];
            int64_t delay = 0;

            if (ch->pid != pid)
                continue;
            ch->pid = 0;
            describe_exit(status, why, sizeof(why));
            /* Its connections died with it; its slot must not count them. */
            sss_shm_reset_worker(&m->shm, (unsigned)i);
            if (m->draining) {
                sss_log_info("master", "worker %d exited pid=%d: %s", i, (int)pid, why);
                break;
            }
            if (now - ch->started_ms < QUICK_DEATH_MS) {
                ch->quick_deaths++;
                delay = 100LL << (ch->quick_deaths < 6 ? ch->quick_deaths : 6);
                if (delay > RESTART_MAX_DELAY_MS)
                    delay = RESTART_MAX_DELAY_MS;
            } else {
                ch->quick_deaths = 0;
            }
            sss_log_warn("master", "worker %d exited pid=%d: %s; restarting%s", i, (int)pid, why,
                         delay ? " after a back-off" : "");
            if (delay)
                ch->restart_at = now + delay;
            else
                (void)spawn_worker(m, i);
            break;
        }
    }
}

static void start_drain(struct sss_master *m)
{
    m->draining = 1;
    m->drain_deadline_ms = sss_now_ms() + m->cfg.drain_timeout_ms;
    sss_log_info("master", "draining workers=%d timeout_ms=%lld", running(m),
                 (long long)m->cfg.drain_timeout_ms);
    for (int i = 0; i < m->cfg.workers; i++) {
        struct sss_child *ch = &m->children[i];

        /* New connections are refused from now on, not queued for nobody. */
        if (ch->listen_fd >= 0) {
            close(ch->listen_fd);
            ch->listen_fd = -1;
        }
        ch->restart_at = 0;
        if (ch->pid)
            kill(ch->pid, SIGTERM);
    }
}

/* SIGUSR2: start the new binary with our listeners. */
static void start_upgrade(struct sss_master *m)
{
    int *fds, sock = -1;
    pid_t pid;

    if (m->draining || m->upgrade_pid) {
        sss_log_warn("master", "SIGUSR2 ignored: %s", m->draining ? "draining" : "already upgrading");
        return;
    }
    fds = sss_calloc((size_t)m->cfg.workers, sizeof(*fds));
    if (!fds) {
        sss_log_error("master", "upgrade: out of memory");
        return;
    }
    for (int i = 0; i < m->cfg.workers; i++)
        fds[i] = m->children[i].listen_fd;
    pid = sss_master_upgrade_exec(m->argv, fds, m->cfg.workers, &sock);
    sss_free(fds);
    if (pid < 0) {
        sss_log_error("master", "upgrade: cannot start %s: %s", m->argv[0], strerror((int)-pid));
        return;
    }
    m->upgrade_pid = pid;
    m->upgrade_sock = sock;
    m->upgrade_deadline_ms = sss_now_ms() + UPGRADE_READY_MS;
    sss_log_info("master", "SIGUSR2: upgrading: new master pid=%d (%s)", (int)pid, m->argv[0]);
}

/* The new master's workers run: hand everything over, then end as a drain. */
static void upgrade_handover(struct sss_master *m, int new_workers)
{
    int64_t now = sss_now_ms();

    close(m->upgrade_sock);
    m->upgrade_sock = -1;
    m->draining = 1;
    m->drain_deadline_ms = now + m->cfg.upgrade_timeout_ms + m->cfg.drain_timeout_ms;
    sss_log_info("master", "upgrade: new master pid=%d ready with %d worker(s): handing over",
                 (int)m->upgrade_pid, new_workers);
    for (int i = 0; i < m->cfg.workers; i++) {
        struct sss_child *ch = &m->children[i];
        union sigval v;

        /* The new workers accept from the same sockets; ours no longer need them. */
        if (ch->listen_fd >= 0) {
            close(ch->listen_fd);
            ch->listen_fd = -1;
        }
        ch->restart_at = 0;
        v.sival_ptr = (void *)(uintptr_t)(((uint64_t)m->upgrade_pid << 32) |
                                          (uint64_t)(i % new_workers));
        if (ch->pid && sigqueue(ch->pid, SIGUSR2, v) < 0)
            kill(ch->pid, SIGTERM);
    }
}

static void upgrade_check(struct sss_master *m)
{
    int workers = 0, rc;

    if (m->upgrade_sock < 0)
        return;
    rc = sss_master_upgrade_poll(m->upgrade_sock, &workers);
    if (rc > 0) {
        upgrade_handover(m, workers);
        return;
    }
    if (rc == 0 && sss_now_ms() < m->upgrade_deadline_ms)
        return;
    sss_log_error("master", "upgrade failed: the new master pid=%d %s; still serving",
                  (int)m->upgrade_pid, rc == 0 ? "was not ready in time" : "did not start");
    close(m->upgrade_sock);
    m->upgrade_sock = -1;
    kill(m->upgrade_pid, SIGKILL); /* reaped as any child */
}

static int64_t next_wakeup(const struct sss_master *m, int64_t now)
{
    int64_t t = now + 1000;

    if (m->draining && m->drain_deadline_ms < t)
        t = m->drain_deadline_ms;
    for (int i = 0; i < m->cfg.workers; i++)
        if (m->children[i].restart_at && m->children[i].restart_at < t)
            t = m->children[i].restart_at;
    if (m->scaler.restart_at && m->scaler.restart_at < t)
        t = m->scaler.restart_at;
    if (m->upgrade_sock >= 0 && now + 50 < t) /* the new master's word is polled */
        t = now + 50;
    return t > now ? t - now : 0;
}

static int supervise(struct sss_master *m)
{
    for (;;) {
        int64_t now = sss_now_ms(), wait_ms = next_wakeup(m, now);
        struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
        siginfo_t si;
        int sig = sigtimedwait(&m->sigs, &si, &ts);

        if (sig == SIGCHLD)
            reap(m);
        else if (sig == SIGTERM || sig == SIGINT) {
            if (m->upgrade_sock >= 0) {
                /* Stopped while upgrading, before the hand-over: the new
                 * master would otherwise outlive us and go on serving. */
                sss_log_warn("master", "upgrade abandoned: stopping the new master pid=%d",
                             (int)m->upgrade_pid);
                close(m->upgrade_sock);
                m->upgrade_sock = -1;
                kill(m->upgrade_pid, SIGTERM);
            }
            if (!m->draining)
                start_drain(m);
            else
                m->drain_deadline_ms = 0; /* a second signal: stop waiting */
        } else if (sig == SIGUSR2) {
            start_upgrade(m);
        } else if (sig == SIGHUP && m->cfg.tls_cert[0]) {
            /* Each worker reads --tls-cert and --tls-key again; a worker
             * started later reads them anyway. */
            sss_log_info("master", "SIGHUP: workers reload the TLS certificate");
            for (int i = 0; i < m->cfg.workers; i++)
                if (m->children[i].pid)
                    kill(m->children[i].pid, SIGHUP);
        } else if (sig == SIGHUP)
            sss_log_info("master", "SIGHUP ignored (nothing to reload without --tls-cert)");
        reap(m); /* SIGCHLD may coalesce with another signal */
        upgrade_check(m);
        now = sss_now_ms();
        if (m->draining) {
            if (running(m) == 0) {
                /* The scaler goes last: draining workers may still publish. */
                if (!m->scaler.pid) {
                    sss_log_info("master", "drained; exiting");
                    return 0;
                }
                if (!m->scaler_signalled) {
                    kill(m->scaler.pid, SIGTERM);
                    m->scaler_signalled = 1;
                }
            }
            if (now >= m->drain_deadline_ms) {
                sss_log_warn("master", "drain timeout: killing %d worker(s)", running(m));
                for (int i = 0; i < m->cfg.workers; i++)
                    if (m->children[i].pid)
                        kill(m->children[i].pid, SIGKILL);
                if (m->scaler.pid)
                    kill(m->scaler.pid, SIGKILL);
                while (running(m) || m->scaler.pid) {
                    int status;
                    pid_t pid = waitpid(-1, &status, 0);

                    if (pid < 0)
                        break;
                    if (pid == m->scaler.pid)
                        m->scaler.pid = 0;
                    for (int i = 0; i < m->cfg.workers; i++)
                        if (m->children[i].pid == pid)
                            m->children[i].pid = 0;
                }
                return 0;
            }
            continue;
        }
        for (int i = 0; i < m->cfg.workers; i++)
            if (m->children[i].restart_at && now >= m->children[i].restart_at)
                (void)spawn_worker(m, i);
        if (m->scaler.restart_at && now >= m->scaler.restart_at)
            (void)spawn_scaler(m);
    }
}

/* The copy of argv an upgrade execs: held for the life of the process. */
static char **argv_kept;

/* argv and its strings, copied into argv_kept; NULL on ENOMEM. */
static char **argv_copy(int argc, char **argv)
{
    argv_kept = sss_calloc((size_t)argc + 1, sizeof(*argv_kept));
    for (int i = 0; argv_kept && i < argc; i++)
        if (!(argv_kept[i] = sss_strndup(argv[i], strlen(argv[i]))))
            return NULL; /* the process stops: what was copied goes with it */
    return argv_kept;
}

int sss_master_run(int argc, char **argv, char **envp)
{
    struct sss_master m;
    long nofile;
    int rc, port, inherited[SSS_UPGRADE_MAX_FDS], ninherited, old_master = -1, passed;
    unsigned char secret[SSS_TLS_TICKET_SECRET]; /* TLS tickets', from an old master */

    memset(&m, 0, sizeof(m));
    m.shm.fd = -1;
    m.upgrade_sock = -1;
    /* Started by an upgrade: the old master's listeners, and its socket. */
    ninherited = sss_master_upgrade_inherit(inherited, SSS_UPGRADE_MAX_FDS, &old_master);
    if (ninherited < 0) {
        fprintf(stderr, "sss-server: %s or %s is not what an upgrade sets: ignored\n",
                SSS_UPGRADE_INHERIT_ENV, SSS_UPGRADE_FD_ENV);
        ninherited = 0;
    }
    sss_alloc_init();
    sss_store_mongo_forget_shm();
    /* What an upgrade execs: a copy, since parsing overwrites a secret given
     * on the command line with '*' in argv (the new binary needs the value). */
    m.argv = argv_copy(argc, argv);
    if (!m.argv) {
        fprintf(stderr, "sss-server: out of memory\n");
        return 1;
    }
    sss_cfg_defaults(&m.cfg);
    rc = sss_cfg_parse(&m.cfg, argc, argv, envp, stdout, stderr);
    if (rc == 1)
        return 0;
    if (rc < 0)
        return 2;
    nofile = raise_fd_limit();
    if (sss_cfg_finish(&m.cfg, (int)sysconf(_SC_NPROCESSORS_ONLN), nofile, stderr) < 0)
        return 2;
    sss_log_setup((enum sss_log_level)m.cfg.log_level, "master");
    if (m.cfg.static_dir[0]) {
        m.cfg.static_fd = open(m.cfg.static_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (m.cfg.static_fd < 0) {
            fprintf(stderr, "sss-server: --static %s: %s\n", m.cfg.static_dir, strerror(errno));
            return 2;
        }
    }
    if (!m.cfg.echo && sss_scaler_check_cfg(&m.cfg, stderr) < 0)
        return 2;
    /* Read (and its pipe closed) whether TLS is on now or not. */
    passed = sss_master_upgrade_tickets(secret);
    if (m.cfg.tls_cert[0]) {
        struct ssl_ctx_st *ctx;
        char err[512];

        /* The ticket secret is drawn here (or taken from the master this one
         * upgrades), before any worker is forked: all share it, restarted
         * ones too. */
        rc = sss_tls_tickets_init((unsigned)(m.cfg.tls_ticket_lifetime_ms / 1000),
                                  passed ? secret : NULL);
        if (rc < 0) {
            fprintf(stderr, "sss-server: --tls-ticket-lifetime: no randomness for its keys\n");
            return 2;
        }
        /* Each worker loads its own context; this only fails fast. */
        if (sss_tls_server_ctx(m.cfg.tls_cert, m.cfg.tls_key, &ctx, err, sizeof(err)) < 0) {
            fprintf(stderr, "sss-server: --tls-cert/--tls-key: %s\n", err);
            return 2;
        }
        sss_tls_ctx_unref(ctx);
    }
    explicit_bzero(secret, sizeof(secret));
    if (m.cfg.proxy_mask && m.cfg.echo) {
        fprintf(stderr, "sss-server: --proxy-url and --echo exclude each other\n");
        return 2;
    }
    if (m.cfg.app[0]) {
        if (m.cfg.echo) {
            fprintf(stderr, "sss-server: --app and --echo exclude each other\n");
            return 2;
        }
        m.app = sss_app_create();
        if (!m.app || sss_app_load(m.app, m.cfg.app) < 0) {
            sss_app_destroy(m.app);
            return 2;
        }
    } else if (m.cfg.proxy_mask) {
        /* No module: an empty registry, whose pending asks the proxy answers. */
        m.app = sss_app_create();
        if (!m.app) {
            fprintf(stderr, "sss-server: out of memory\n");
            return 2;
        }
    }

    /* Signals are taken synchronously by supervise(); children inherit the
     * mask and the workers read the same signals through a signalfd. */
    sigemptyset(&m.sigs);
    sigaddset(&m.sigs, SIGCHLD);
    sigaddset(&m.sigs, SIGTERM);
    sigaddset(&m.sigs, SIGINT);
    sigaddset(&m.sigs, SIGHUP);
    sigaddset(&m.sigs, SIGUSR2);
    sigprocmask(SIG_BLOCK, &m.sigs, NULL);
    ignore_unused_signals();
    m.pid = getpid();

    m.children = sss_calloc((size_t)m.cfg.workers, sizeof(*m.children));
    if (!m.children) {
        fprintf(stderr, "sss-server: out of memory\n");
        return 1;
    }
    port = m.cfg.port;
    for (int i = 0; i < m.cfg.workers; i++)
        m.children[i].listen_fd = m.children[i].adopt_fd = -1;
    if (ninherited) {
        int was = bound_port(inherited[0]);

        if (was >= 0) /* the old master's port wins: clients are connected to it */
            port = was;
        for (int i = 0; i < ninherited; i++) {
            if (i < m.cfg.workers)
                m.children[i].listen_fd = inherited[i];
            else
                close(inherited[i]); /* fewer workers now: its queue is reset */
        }
        sss_log_info("master", "upgrade: inherited %d listener(s) on port %d%s", ninherited, port,
                     ninherited > m.cfg.workers ? " (closed the ones over --workers)" : "");
    }
    for (int i = 0; i < m.cfg.workers; i++) {
        if (m.children[i].listen_fd >= 0)
            continue;
        rc = open_listener(&m.cfg, &port);
        if (rc < 0) {
            sss_log_error("master", "cannot listen on %s:%d: %s", m.cfg.host, port,
                          rc == SSS_EINVAL ? "not an IP address" : sss_strerror(rc));
            rc = 1;
            goto out;
        }
        m.children[i].listen_fd = rc;
    }
    m.cfg.port = port;
    {
        struct sss_shm_params sp = {
            .nprocs = (unsigned)m.cfg.workers,
            .bus_capacity = m.cfg.bus_size,
            .mailbox_capacity = m.cfg.mailbox_size,
            .bus_flags = 0,
        };

        rc = sss_shm_create_with(&m.shm, &sp);
    }
    if (rc < 0) {
        sss_log_error("master", "shared memory: %s", sss_strerror(rc));
        rc = 1;
        goto out;
    }
    if (!m.cfg.host_id[0]) { /* --host-id's default: hostname:port, the port as bound */
        char hn[64];

        if (gethostname(hn, sizeof(hn)) != 0)
            snprintf(hn, sizeof(hn), "localhost");
        hn[sizeof(hn) - 1] = '\0';
        snprintf(m.cfg.host_id, sizeof(m.cfg.host_id), "%s:%d", hn, port);
    }
    sss_log_info("master",
                 "sss-server %s listening on %s:%d workers=%d max_connections=%ld "
                 "fd_limit=%ld echo=%s host=%s",
                 SSS_VERSION, m.cfg.host, port, m.cfg.workers, m.cfg.max_connections, nofile,
                 m.cfg.echo ? "on" : "off", m.cfg.host_id);
    if (m.cfg.tls_cert[0]) {
        int ktls = sss_tls_ktls_probe();

        /* Records are encrypted in user space either way; the line says
         * whether this kernel could take them over (kTLS). */
        sss_log_info("master", "tls on cert=%s library=\"%s\" kernel_tls_ulp=%s", m.cfg.tls_cert,
                     sss_tls_library(), ktls == 0 ? "offered (unused)" : strerror(-ktls));
    }
    if (old_master >= 0) {
        /* Where the old workers hand their connections over, one per worker. */
        for (int i = 0; i < m.cfg.workers; i++) {
            rc = sss_upgrade_listen(m.pid, i);
            if (rc < 0)
                sss_log_error("master", "upgrade: hand-over socket of worker %d: %s", i,
                              sss_strerror(rc));
            m.children[i].adopt_fd = rc < 0 ? -1 : rc;
        }
    }
    if (!m.cfg.echo && spawn_scaler(&m) < 0)
        m.scaler.restart_at = sss_now_ms() + 1000;
    for (int i = 0; i < m.cfg.workers; i++)
        if (spawn_worker(&m, i) < 0)
            m.children[i].restart_at = sss_now_ms() + 1000;
    if (old_master >= 0) {
        sss_log_info("master", "upgrade: workers started: taking over from the old master");
        sss_master_upgrade_ready(old_master, m.cfg.workers);
        old_master = -1;
    }
    rc = supervise(&m);
out:
    if (old_master >= 0)
        close(old_master); /* the old master sees it gone and goes on serving */
    for (int i = 0; i < m.cfg.workers; i++) {
        if (m.children[i].listen_fd >= 0)
            close(m.children[i].listen_fd);
        if (m.children[i].adopt_fd >= 0)
            close(m.children[i].adopt_fd);
    }
    sss_free(m.children);
    sss_shm_destroy(&m.shm);
    sss_app_destroy(m.app);
    if (m.cfg.static_fd >= 0)
        close(m.cfg.static_fd);
    return rc;
}
