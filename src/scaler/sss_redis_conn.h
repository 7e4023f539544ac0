/*
 * One non-blocking TCP connection to Redis, driven by the scaler's poll loop:
 * connect with backoff, TLS when the URL is rediss:// (OpenSSL over the same
 * non-blocking socket: the handshake, then SSL_read/SSL_write), a write
 * buffer of RESP commands (formatted by hiredis), and hiredis's reader for
 * the replies. Nothing here knows what the commands mean: the Redis engine
 * pairs replies with requests (sss_redis_cmds.c) and sends AUTH first
 * (sss_redis_nodes.c).
 *
 * hiredis 0.14's async API is not used: it aborts on sharded pub/sub
 * messages (DEPENDENCIES.md 3), and our loop is poll(2), not its adapters.
 */
#ifndef SSS_REDIS_CONN_H
#define SSS_REDIS_CONN_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include "sss_dynbuf.h"

enum sss_redis_state {
    SSS_REDIS_DOWN,
    SSS_REDIS_CONNECTING, /* TCP connect in progress */
    SSS_REDIS_HANDSHAKE,  /* TLS handshake in progress (rediss://) */
    SSS_REDIS_UP
};

/* What --redis names. */
struct sss_redis_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char where[160]; /* host:port, for logs */
    char host[128];  /* as written: the name the server's certificate must carry */
    char user[128];  /* ACL user; "" = the default user (AUTH with the password only) */
    char password[256];
    int db;
    int tls;          /* rediss:// */
    int64_t connect_timeout_ms; /* TCP connect plus TLS handshake (0: no limit) */
    SSL_CTX *ssl_ctx; /* owned, from sss_redis_target_tls; NULL until then or without TLS */
};

struct sss_redis_conn {
    const char *role; /* "commands" or "subscriptions", for logs */
    const struct sss_redis_target *target;
    int fd;
    enum sss_redis_state state;
    redisReader *reader;
    struct sss_dynbuf out; /* bytes not yet written start at out_off */
    size_t out_off;
    int64_t retry_at; /* monotonic ms of the next connect attempt */
    int64_t connect_deadline; /* monotonic ms: connect and handshake must be done by then */
    int backoff_ms;
    int down_logged; /* "lost" was logged: log the next success */
    SSL *ssl;        /* owned; rediss:// only, from the TCP connect on */
    int ssl_want_write; /* OpenSSL waits for the socket to take bytes */
    char tls_why[160];  /* why the last TLS handshake or record failed, for the log */
};

/*
 * Parse redis[s]://[[user]:password@]host:port[/db] (through sss_url) and
 * resolve host. user:password is an ACL user (AUTH user password), a bare
 * :password or password the default user's. rediss:// sets t->tls; call
 * sss_redis_target_tls before connecting. Returns 0 or SSS_EINVAL.
 */
int sss_redis_target_parse(const char *url, struct sss_redis_target *t);

/*
 * For a rediss:// target: make its OpenSSL context. The server's certificate
 * is verified against ca_file (or the system's CAs when ca_file is NULL or
 * "") and must name t->host (DNS name or IP address); cert_file and key_file
 * (both or neither) are this client's certificate for servers that ask for
 * one. Nothing to do (0) for redis://. Returns 0, or SSS_EINVAL with a
 * sentence in why (a file that cannot be read, a key that does not match).
 */
int sss_redis_target_tls(struct sss_redis_target *t, const char *ca_file, const char *cert_file,
                         const char *key_file, char *why, size_t cap);

/*
 * Another server with t's credentials, database and TLS context (borrowed:
 * out must not outlive t, and is never given to sss_redis_target_fini):
 * host (a name or an IP literal) and port, resolved now. Returns 0 or
 * SSS_EINVAL when host does not resolve.
 */
int sss_redis_target_at(const struct sss_redis_target *t, const char *host, int port,
                        struct sss_redis_target *out);

/* The port of a parsed target. */
int sss_redis_target_port(const struct sss_redis_target *t);

/* Free what sss_redis_target_tls made. */
void sss_redis_target_fini(struct sss_redis_target *t);

void sss_redis_conn_init(struct sss_redis_conn *c, const char *role,
                         const struct sss_redis_target *t);
void sss_redis_conn_fini(struct sss_redis_conn *c);

/* Start connecting if it is down and its retry time has come. */
void sss_redis_conn_maybe_connect(struct sss_redis_conn *c, int64_t now_ms);

/*
 * Whether a connect (and TLS handshake) in progress is past the target's
 * connect_timeout_ms: then a sentence saying which (the caller calls
 * sss_redis_conn_lost with it), else NULL.
 */
const char *sss_redis_conn_overdue(const struct sss_redis_conn *c, int64_t now_ms);

/* Queue bytes to write. -ENOMEM. */
int sss_redis_conn_append(struct sss_redis_conn *c, const char *p, size_t len);

/* Try to write what is queued (non-blocking). Returns 0, or a negative code when the connection broke. */
int sss_redis_conn_flush(struct sss_redis_conn *c);

/* Fill *pfd for the poll; 0 when there is nothing to wait on. */
int sss_redis_conn_pollfd(struct sss_redis_conn *c, struct pollfd *pfd);

/*
 * After the poll: finish a connect (and TLS handshake) or read what came.
 * Returns 1 when the connection just came up (handshake done), 0 normally, or a negative code when it broke
 * (the caller then calls sss_redis_conn_lost).
 */
int sss_redis_conn_handle(struct sss_redis_conn *c, short revents);

/* The next complete reply (1, *r to freeReplyObject), none yet (0), or a protocol error (<0). */
int sss_redis_conn_reply(struct sss_redis_conn *c, redisReply **r);

/* Close, drop unwritten bytes and unread replies, retry later with backoff (why: for the log). */
void sss_redis_conn_lost(struct sss_redis_conn *c, const char *why, int64_t now_ms);

#endif
