/*
 * Upgrading without dropping sockets (SIGUSR2, docs/deploy.md): what the old
 * processes hand the new ones.
 *
 * - The listeners: the old master execs the new binary with them open and
 *   their numbers in SSS_INHERIT_FDS ("3,4"), and one end of a socketpair in
 *   SSS_UPGRADE_FD, on which the new master says when its workers run.
 * - The connections: each new worker listens on a SOCK_SEQPACKET socket in
 *   the abstract namespace named after its master's pid and its own id
 *   (sss_upgrade_name); an old worker connects to one and sends, per
 *   connection, one message: the record below, with the socket itself
 *   attached by SCM_RIGHTS.
 *
 * The record: a connection's protocol state between two frames (encoding,
 * sub-protocol, permessage-deflate parameters, user, session, whether BEGIN
 * came, and each subscribed channel with the last uid delivered on it), in
 * a flat little format of our own: a fixed head, then the strings and one
 * entry per channel, every length checked by sss_upgrade_rec_parse (the
 * peer is checked to run as our user, but the bytes are still not trusted:
 * tests/fuzz/fuzz_upgrade.c).
 * May include: libc, common, proto.
 */
#ifndef SSS_UPGRADE_H
#define SSS_UPGRADE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sss_dynbuf.h"
#include "sss_proto.h"

#define SSS_UPGRADE_INHERIT_ENV "SSS_INHERIT_FDS"
#define SSS_UPGRADE_FD_ENV "SSS_UPGRADE_FD"
#define SSS_UPGRADE_TICKETS_ENV "SSS_TICKETS_FD" /* a pipe holding the TLS ticket secret */
#define SSS_UPGRADE_MAX_FDS 1024          /* listeners in SSS_INHERIT_FDS */
#define SSS_UPGRADE_REC_MAX (256 * 1024) /* bytes of one connection's record */

enum {
    SSS_UPGRADE_BEGUN = 1,           /* BEGIN or SYNC came */
    SSS_UPGRADE_DEFLATE = 2,         /* permessage-deflate negotiated */
    SSS_UPGRADE_CLIENT_NO_TAKEOVER = 4,
};

/* A connection's state, parsed: the strings point into the record. */
struct sss_upgrade_conn {
    uint8_t encoding;    /* enum sss_wire_encoding */
    uint8_t subprotocol; /* one of ours was chosen at the upgrade */
    uint8_t flags;       /* SSS_UPGRADE_* */
    uint8_t server_bits; /* permessage-deflate windows (0 without it) */
    uint8_t client_bits;
    const char *user; /* not NUL-terminated */
    size_t user_len;
    const char *session;
    size_t session_len;
    uint32_t nsubs;
    const uint8_t *subs; /* nsubs entries, checked: walk them with sss_upgrade_sub_next */
};

/* One subscribed channel of a record. */
struct sss_upgrade_sub {
    const char *name; /* not NUL-terminated */
    size_t len;
    uint8_t has_floor; /* a uid was delivered, or the subscription's start is known */
    struct sss_uid floor;
};

/* Start a record in out (reset): the head; then add each channel, then end. */
int sss_upgrade_rec_begin(struct sss_dynbuf *out, const struct sss_upgrade_conn *c);
int sss_upgrade_rec_add_sub(struct sss_dynbuf *out, const struct sss_upgrade_sub *s);
/* Writes the channel count into the head. Returns 0, or -E2BIG past SSS_UPGRADE_REC_MAX. */
int sss_upgrade_rec_end(struct sss_dynbuf *out, uint32_t nsubs);

/*
 * Check a whole record and fill c (pointing into buf). Returns 0 or
 * -EINVAL (bad magic or version, a length past its bound or past the
 * end, a NUL in a name, bytes left over).
 */
int sss_upgrade_rec_parse(const uint8_t *buf, size_t len, struct sss_upgrade_conn *c);

/* The next channel of a parsed record: *pos starts at 0; 1 while there is one. */
int sss_upgrade_sub_next(const struct sss_upgrade_conn *c, size_t *pos,
                         struct sss_upgrade_sub *s);

/* The hand-over socket's abstract name of worker id of the master pid (sun_path; len set). */
size_t sss_upgrade_name(char *sun_path, size_t cap, pid_t master, int id);

/*
 * A listening SOCK_SEQPACKET socket on that name (CLOEXEC): an fd or -errno.
 * Connect to one: an fd or -errno.
 */
int sss_upgrade_listen(pid_t master, int id);
int sss_upgrade_connect(pid_t master, int id);

/* Whether the peer of a unix socket runs as our user: 1, 0, or -errno. */
int sss_upgrade_peer_ok(int fd);

/* Send one record with fd attached (SCM_RIGHTS). 0 or -errno. */
int sss_upgrade_send(int sock, const void *rec, size_t len, int fd);

/*
 * Receive one record (at most cap bytes) and its fd (CLOEXEC). Returns the
 * record's length with *fd set (-1: none came), 0 at the end, or -errno
 * (-EAGAIN: nothing yet; -EMSGSIZE: truncated, the fd if any is closed).
 */
ssize_t sss_upgrade_recv(int sock, void *buf, size_t cap, int *fd);

/*
 * Parse SSS_INHERIT_FDS ("3,4,5"): each number a descriptor that is open,
 * at most max of them. Returns how many, or -EINVAL.
 */
int sss_upgrade_parse_fds(const char *s, int *fds, int max);

#endif
