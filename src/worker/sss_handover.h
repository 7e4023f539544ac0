/*
 * A worker's side of an upgrade without dropping sockets (SIGUSR2; the flow
 * is in docs/deploy.md). src/upgrade holds the record and the sockets.
 *
 * Old worker (sss_handover_export_start, on the master's SIGUSR2 that names
 * the new worker to hand to): it stops accepting, cancels every receive and
 * connects to that worker's hand-over socket. Then, at the top of each loop
 * turn (nothing queued since the sends completed), each connection that is
 * between frames with nothing in flight goes: its record (its session's,
 * sss_session_export) and its socket by SCM_RIGHTS, and it is forgotten
 * here without a shutdown. Once none is left waiting for an answer or a
 * send, or at --upgrade-timeout, the rest (a frame part-read, TLS, a
 * handshake, an inflater with context takeover, the backend proxy) are
 * drained with 1001 and the worker ends as in a drain.
 *
 * New worker (sss_handover_adopt_start, with the hand-over socket the new
 * master made for it): it accepts old workers (same user only), receives
 * their records, and adopts each socket as an upgraded connection
 * (sss_conn_adopt, sss_session_adopt), then receives from it.
 */
#ifndef SSS_HANDOVER_H
#define SSS_HANDOVER_H

#include <stdint.h>

struct sss_worker;

/* New worker: accept hand-overs on listen_fd (owned from now on). 0 or -errno. */
int sss_handover_adopt_start(struct sss_worker *w, int listen_fd);

/* Old worker: hand every connection to worker (arg & 0xffffffff) of master (arg >> 32). */
void sss_handover_export_start(struct sss_worker *w, uint64_t arg);

/* Each loop turn before the shared memory is read: hand over what can go. */
void sss_handover_step(struct sss_worker *w);

/* Whether the worker is handing its connections over (a cancelled recv is not an end). */
int sss_handover_exporting(const struct sss_worker *w);

/* After the ring is gone: free what is left. */
void sss_handover_destroy(struct sss_worker *w);

#endif
