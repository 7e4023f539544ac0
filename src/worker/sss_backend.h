/*
 * libsss's back end: what the calls of include/sss/sss.h (sss_app.c) ask of
 * the scaler through the worker's rpc table: a publish (from the server
 * side, or a socket's, whose sender then gets UPDATESUB instead of its
 * FEED), a host-wide broadcast or boot, a TELL to a socket of another
 * worker or host, and an ask answered with a channel's history.
 * No io_uring, no connections: only the rpc table and libsss's replies.
 * May include: common, proto, shm, rpc, sss_feeds, sss_app.
 */
#ifndef SSS_BACKEND_H
#define SSS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct sss_reply;
struct sss_rpc;

/*
 * Publish json on channel with topic. origin_conn: the publishing socket's
 * id (its own FEED is skipped), or 0. Returns 0, -EMSGSIZE when the record
 * is larger than the worker's mailbox can ever take (logged), or -ENOMEM
 * when the scaler cannot be asked now (the outbox is past its bound, or no
 * memory). The same codes for broadcast and boot.
 */
int sss_backend_publish(struct sss_rpc *rpc, uint64_t origin_conn, const char *channel,
                        const char *topic, const char *json, size_t len);
/* A BROADCAST to every connection on every host. Returns 0, -EMSGSIZE or -ENOMEM. */
int sss_backend_broadcast(struct sss_rpc *rpc, const char *topic, const char *json, size_t len);
/* kind 1: a user's connections (BOOT), 2: a channel's subscribers (BOOTCHANNEL). As above. */
int sss_backend_boot(struct sss_rpc *rpc, int kind, const char *name, size_t name_len,
                     const char *reason, size_t reason_len);
/*
 * TELL the socket (sid, run)@host (src/proto/sss_sockname.h) wherever it is,
 * through the scaler (POST /api/tell's path). Returns as above.
 */
int sss_backend_tell(struct sss_rpc *rpc, uint64_t sid, uint32_t run, const char *host,
                     size_t host_len, const char *topic, const char *json, size_t len);
/*
 * Answer r with the newest `limit` records of channel, oldest first, as one
 * JSON array: sss_app__history_done completes r when the history came (also
 * after a scaler restart, asked again). Returns 0 or -ENOMEM (r not taken).
 */
int sss_backend_history(struct sss_rpc *rpc, struct sss_reply *r, const char *channel,
                        unsigned limit);

#endif
