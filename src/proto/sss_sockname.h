/*
 * Socket names: the string that names one client connection across every
 * host of a cluster, for as long as the cluster lives (PROXY.md's `socket`,
 * the `socket` of POST /api/tell, sss_socket_name in include/sss/sss.h):
 *
 *     <socket id>.<run>@<host id>          e.g. 281479271677953.5e0c13a7@web1:8080
 *
 *   socket id  decimal uint64, no sign, no leading zero: sss_socket_id() of
 *              the connection, worker << 48 | incarnation << 32 | counter
 *              (the worker slot, the 16 low bits of that slot's process
 *              incarnation, and the process's connection counter, never 0)
 *   run        exactly 8 lowercase hex digits: a random word the host draws
 *              when it starts (struct sss_shm_header.run_id), so that a host
 *              restarted under the same --host-id never hands out a name it
 *              gave before (its counters start again from 1)
 *   host id    --host-id (default hostname:port), 1..SSS_HOST_ID_MAX bytes,
 *              any byte but NUL: the rest of the string
 *
 * Why this shape: a host id may hold ':' (hostname:port, an IPv6 literal),
 * '.' or even '@', so it goes last and is everything after the FIRST '@';
 * what comes before it holds only digits and one '.', so the split is
 * unambiguous. Parsing is strict (one spelling per socket: no leading
 * zeros, fixed-width hex), so a name can be compared as a string and
 * format(parse(name)) == name.
 *
 * Pure functions over bytes, no allocation; any thread. Part of libsss.
 */
#ifndef SSS_SOCKNAME_H
#define SSS_SOCKNAME_H

#include <stddef.h>
#include <stdint.h>

#include "sss/sss_limits.h"
#include "sss_err.h"

/* A parsed name; host points into the parsed string (borrowed). */
struct sss_sockname {
    uint64_t sid;     /* the socket id: worker << 48 | connection id */
    uint32_t run;     /* the host's run word */
    const char *host; /* not NUL-terminated */
    size_t host_len;  /* 1..SSS_HOST_ID_MAX */
};

/* The parts of a socket id (sss_socket_id in src/worker/sss_app.c builds it). */
#define SSS_SOCKNAME_CONN_BITS 48
static inline unsigned sss_sockname_worker(uint64_t sid)
{
    return (unsigned)(sid >> SSS_SOCKNAME_CONN_BITS);
}
/* The connection id inside its worker (incarnation << 32 | counter). */
static inline uint64_t sss_sockname_conn(uint64_t sid)
{
    return sid & ((UINT64_C(1) << SSS_SOCKNAME_CONN_BITS) - 1);
}
/* The 16 low bits of the worker process's incarnation. */
static inline unsigned sss_sockname_incarnation(uint64_t sid)
{
    return (unsigned)(sid >> 32) & 0xffffu;
}

/*
 * Write the name of socket sid of run `run` on host (host_len bytes) into
 * buf (size bytes), NUL-terminated. SSS_SOCKET_NAME_MAX + 1 bytes always
 * suffice. Returns the name's length, SSS_EINVAL for a host that is empty,
 * longer than SSS_HOST_ID_MAX or holds a NUL, or -ENOSPC when buf is too
 * small (buf then holds "" if size > 0).
 */
int sss_sockname_format(char *buf, size_t size, uint64_t sid, uint32_t run, const char *host,
                        size_t host_len) SSS_WUR;

/*
 * Parse exactly len bytes of name (need not be NUL-terminated) into *out
 * (out->host then points into name). Returns 0, or SSS_EINVAL when it is
 * not a name by the grammar above (*out is then unusable).
 */
int sss_sockname_parse(const char *name, size_t len, struct sss_sockname *out) SSS_WUR;

#endif
