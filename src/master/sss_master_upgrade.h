/*
 * The master's side of an upgrade (SIGUSR2; docs/deploy.md): start the new
 * binary with the listeners, and, in the new master, take them over and say
 * when the workers run. Internal to src/master: sss_master.c calls it.
 */
#ifndef SSS_MASTER_UPGRADE_H
#define SSS_MASTER_UPGRADE_H

#include <sys/types.h>

/*
 * Old master: fork and exec argv[0] (through PATH if it has no slash) with
 * argv, the n listeners open and named in SSS_INHERIT_FDS, and one end of
 * a new socketpair in SSS_UPGRADE_FD. Returns the child's pid with *sock
 * the other end (nonblocking, CLOEXEC), or -errno.
 */
pid_t sss_master_upgrade_exec(char **argv, const int *listen_fds, int n, int *sock);

/*
 * Old master: what the new one said on sock. 1: its workers run (*workers
 * set); 0: nothing yet; < 0: it is gone or said something else.
 */
int sss_master_upgrade_poll(int sock, int *workers);

/*
 * New master, before anything else: the listeners it inherits (CLOEXEC set
 * again; each checked to be a listening TCP socket) into fds (at most max)
 * and the old master's socket in *sock (-1: not an upgrade). The variables
 * are removed from the environment. Returns how many, or -EINVAL (a value
 * that is not what the old master writes: nothing is inherited).
 */
int sss_master_upgrade_inherit(int *fds, int max, int *sock);

/*
 * The TLS ticket secret (SSS_TLS_TICKET_SECRET bytes) an old master passed
 * across exec into secret: 1, or 0 when it passed none (not an upgrade, no
 * tickets). Either way the variable is gone afterwards.
 */
int sss_master_upgrade_tickets(unsigned char *secret);

/*
 * New master: its workers run (n of them): tell systemd our pid is the main
 * one ($NOTIFY_SOCKET, if set), then the old master, and close sock.
 */
void sss_master_upgrade_ready(int sock, int workers);

#endif
