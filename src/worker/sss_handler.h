/*
 * The protocol side of a worker (PROTOCOL.md over sss.v1.json): decode each
 * client message and act on it, talk to the scaler through the worker's
 * mailbox, and fan the bus's FEEDs and BROADCASTs out to local subscribers.
 *
 * Requests to the scaler carry a request id: (pid << 32) | counter, so that a
 * reply meant for a dead predecessor of this worker is recognised and
 * dropped. Each pending request names its connection by id, never by
 * pointer: a connection may close before its answer comes.
 */
#ifndef SSS_HANDLER_H
#define SSS_HANDLER_H

#include <stddef.h>
#include <stdint.h>

struct sss_worker;
struct sss_conn;

/* Set up the worker's protocol state (after its ring exists). Returns 0 or -errno. */
int sss_handler_init(struct sss_worker *w);
void sss_handler_fini(struct sss_worker *w);

/* A connection finished its upgrade / is going away (kill: before it is freed). */
int sss_handler_conn_open(struct sss_conn *c);
void sss_handler_conn_closed(struct sss_conn *c);

/* One complete message from a client (opcode: WSLAY_TEXT_FRAME or WSLAY_BINARY_FRAME). */
void sss_handler_message(struct sss_conn *c, int opcode, const uint8_t *msg, size_t len);

/* Read the bus and the mailbox (bounded batch). Returns the records handled. */
int sss_handler_poll(struct sss_worker *w);

/* Whether the bus or the mailbox has something (checked before sleeping). */
int sss_handler_readable(struct sss_worker *w);

/* End of a loop turn: push waiting requests, wake the scaler if we sent any. */
void sss_handler_flush(struct sss_worker *w);

/* For libsss: publish (origin: the socket to skip, or NULL), broadcast, history reply. */
int sss_handler_publish(struct sss_worker *w, struct sss_conn *origin, const char *channel,
                        const char *topic, const char *json, size_t len);
int sss_handler_broadcast(struct sss_worker *w, const char *topic, const char *json, size_t len);
/* kind 1: a user's connections (BOOT), 2: a channel's subscribers (BOOTCHANNEL), host-wide. */
int sss_handler_boot(struct sss_worker *w, int kind, const char *name, size_t name_len,
                     const char *reason, size_t reason_len);
struct sss_reply;
int sss_handler_history_reply(struct sss_worker *w, struct sss_reply *r, const char *channel,
                              unsigned limit);

/* Periodic: give up the publishes a dead scaler took without answering. */
void sss_handler_expire(struct sss_worker *w, int64_t now_ms);

/* Periodic per-connection duty (heartbeat), from the worker's sweep. */
void sss_handler_tick(struct sss_conn *c, int64_t now_ms);

#endif
