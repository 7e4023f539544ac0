/*
 * The master's side of an upgrade (sss_master_upgrade.h). Like nginx's
 * binary upgrade (the listeners cross exec in an environment variable) and
 * HAProxy's (descriptors over a unix socket), but the connections too: the
 * workers hand those over themselves (src/worker/sss_handover.c).
 */
#include "sss_master_upgrade.h"
#include "sss_log.h"
#include "sss_tls.h"
#include "sss_upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * In the child about to exec: the TLS ticket secret goes to the new master
 * in a pipe whose read end crosses exec (its number in the environment),
 * so that its workers resume the sessions of ours: the TLS clients, which
 * an upgrade does not hand over, reconnect at once. Without tickets, or if
 * the pipe cannot be made, the new master draws a secret of its own.
 */
static void pass_tickets(void)
{
    unsigned char secret[SSS_TLS_TICKET_SECRET];
    char num[16];
    int p[2];

    if (!sss_tls_tickets_secret(secret))
        return;
    if (pipe(p) == 0) {
        if (write(p[1], secret, sizeof(secret)) == (ssize_t)sizeof(secret)) {
            snprintf(num, sizeof(num), "%d", p[0]);
            (void)setenv(SSS_UPGRADE_TICKETS_ENV, num, 1);
        } else {
            close(p[0]);
        }
        close(p[1]);
    }
    explicit_bzero(secret, sizeof(secret));
}

int sss_master_upgrade_tickets(unsigned char *secret)
{
    const char *s = getenv(SSS_UPGRADE_TICKETS_ENV);
    int fd[1], got = 0;

    if (s && sss_upgrade_parse_fds(s, fd, 1) == 1) {
        got = read(fd[0], secret, SSS_TLS_TICKET_SECRET) == SSS_TLS_TICKET_SECRET;
        close(fd[0]);
    }
    unsetenv(SSS_UPGRADE_TICKETS_ENV);
    return got;
}

pid_t sss_master_upgrade_exec(char **argv, const int *listen_fds, int n, int *sock)
{
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        int rc = -errno;

        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    if (pid == 0) {
        char list[16 * 64], num[16];
        size_t off = 0;
        sigset_t none;

        /* Only what is named here crosses exec: every other fd is CLOEXEC. */
        list[0] = '\0';
        for (int i = 0; i < n && off + 16 < sizeof(list); i++) {
            if (fcntl(listen_fds[i], F_SETFD, 0) < 0)
                _exit(127);
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%d", i ? "," : "",
                                    listen_fds[i]);
        }
        snprintf(num, sizeof(num), "%d", sv[1]);
        if (fcntl(sv[1], F_SETFD, 0) < 0 || setenv(SSS_UPGRADE_INHERIT_ENV, list, 1) < 0 ||
            setenv(SSS_UPGRADE_FD_ENV, num, 1) < 0)
            _exit(127);
        pass_tickets();
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (strchr(argv[0], '/'))
            execv(argv[0], argv);
        else
            execvp(argv[0], argv);
        fprintf(stderr, "sss-server: upgrade: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(sv[1]);
    (void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
    *sock = sv[0];
    return pid;
}

int sss_master_upgrade_poll(int sock, int *workers)
{
    char msg[64];
    ssize_t n = recv(sock, msg, sizeof(msg) - 1, MSG_DONTWAIT);

    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    if (n == 0)
        return -EPIPE;
    msg[n] = '\0';
    if (sscanf(msg, "ready %d", workers) != 1 || *workers < 1)
        return -EPROTO;
    return 1;
}

static int listening_tcp(int fd)
{
    int v = 0, type = 0;
    socklen_t l = sizeof(v), tl = sizeof(type);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v == 1 &&
           getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
           getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
           (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

int sss_master_upgrade_inherit(int *fds, int max, int *sock)
{
    const char *list = getenv(SSS_UPGRADE_INHERIT_ENV), *s = getenv(SSS_UPGRADE_FD_ENV);
    int n = 0, one[1];

    *sock = -1;
    if (!list && !s)
        return 0;
    if (list)
        n = sss_upgrade_parse_fds(list, fds, max);
    if (n < 0 || (s && sss_upgrade_parse_fds(s, one, 1) != 1)) {
        n = -EINVAL;
    } else {
        for (int i = 0; i < n; i++)
            if (!listening_tcp(fds[i]))
                n = -EINVAL;
    }
    if (n >= 0) {
        for (int i = 0; i < n; i++)
            (void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        if (s) {
            *sock = one[0];
            (void)fcntl(*sock, F_SETFD, FD_CLOEXEC);
        }
    }
    unsetenv(SSS_UPGRADE_INHERIT_ENV);
    unsetenv(SSS_UPGRADE_FD_ENV);
    return n;
}

/*
 * Under systemd (dist/sss.service: NotifyAccess=all), the service's main
 * pid is ours from now on, before the old master exits: one datagram of
 * the notify protocol (sd_notify(3), whose wire format systemd documents as
 * stable) to $NOTIFY_SOCKET. Without the variable, nothing.
 */
static void notify_mainpid(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un a;
    size_t len = path ? strlen(path) : 0;
    char msg[32];
    int fd, n;

    if (!len || (path[0] != '/' && path[0] != '@') || len >= sizeof(a.sun_path))
        return;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path, len);
    if (path[0] == '@')
        a.sun_path[0] = '\0'; /* abstract */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    n = snprintf(msg, sizeof(msg), "MAINPID=%d", (int)getpid());
    if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&a,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        sss_log_warn("master", "upgrade: cannot tell systemd the new main pid: %s",
                     strerror(errno));
    close(fd);
}

void sss_master_upgrade_ready(int sock, int workers)
{
    char msg[32];
    int n = snprintf(msg, sizeof(msg), "ready %d", workers);

    notify_mainpid();
    if (send(sock, msg, (size_t)n, MSG_NOSIGNAL) < 0)
        sss_log_warn("master", "upgrade: cannot tell the old master: %s", strerror(errno));
    close(sock);
}
