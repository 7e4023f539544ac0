/*
 * Redis Cluster's key space, for the Redis engine (sss_engine_redis.c):
 * which of the 16384 hash slots a key falls in (CRC16 of its hash tag, as
 * Redis computes it), the slot map read from CLUSTER SLOTS, and the MOVED
 * and ASK redirections. Pure functions over bytes and hiredis replies; no
 * I/O. hiredis 0.14 has no cluster support, hence this module.
 */
#ifndef SSS_REDIS_SLOTS_H
#define SSS_REDIS_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define SSS_REDIS_SLOTS 16384

/* CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with. */
uint16_t sss_redis_crc16(const char *p, size_t len);

/*
 * The slot of a key: of what lies between its first '{' and the next '}'
 * when that is not empty (the hash tag), else of the whole key.
 */
int sss_redis_key_slot(const char *key, size_t len);

/* One range of a CLUSTER SLOTS answer: slots start..end served by master host:port. */
struct sss_redis_range {
    int start, end;
    char host[128];
    int port;
};

/*
 * Read the masters of a CLUSTER SLOTS reply into out (at most cap ranges).
 * Returns how many, or SSS_EPROTO when the reply is not that shape (a
 * slot out of range, a host too long, more ranges than cap). A master
 * announced with an empty host is at the address the reply came from:
 * its host is returned as "".
 */
int sss_redis_slots_parse(const redisReply *r, struct sss_redis_range *out, int cap);

/*
 * An error reply "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>":
 * 1 (ask 0 or 1, slot, host and port filled), or 0 when it is neither.
 */
int sss_redis_redirect_parse(const char *err, size_t len, int *ask, int *slot, char *host,
                             size_t host_cap, int *port);

#endif
