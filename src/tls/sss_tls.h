/*
 * TLS over memory buffers (OpenSSL with two memory BIOs), for a server's
 * accepted sockets and for clients alike. The owner moves the bytes: what
 * the socket read goes into sss_tls_feed, which decrypts and hands the
 * plaintext to a callback; plaintext to send goes into sss_tls_write; the
 * ciphertext both produce (handshake messages, records, alerts) waits until
 * the owner takes it with sss_tls_take and writes it to the socket. No call
 * here touches a socket or blocks, so it fits an io_uring loop: the ring
 * reads and writes ciphertext, OpenSSL never sees the descriptor.
 *
 * Contexts (SSL_CTX) are reference-counted by OpenSSL: each connection holds
 * its own reference, so a context can be replaced (a certificate reloaded)
 * while connections made with the old one go on.
 */
#ifndef SSS_TLS_H
#define SSS_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "sss_err.h"

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */
struct ssl_st;     /* SSL */
struct bio_st;     /* BIO */
struct sss_tls_early;

/* sss_tls_feed's answer when the peer sent close_notify: no more plaintext comes. */
#define SSS_TLS_CLOSED 1

#define SSS_TLS_TICKET_SECRET 32 /* bytes */

/*
 * Session resumption for the server contexts made after this call, in this
 * process and in those it forks afterwards (workers, restarted ones too): a
 * secret (secret's bytes, as an upgraded master is given its predecessor's,
 * or drawn here when NULL) from which each derives the same ticket keys for
 * each lifetime_s-long period, so a ticket one worker issued resumes on
 * another. A ticket is taken in its own period and the next (and then
 * replaced), and OpenSSL refuses a session older than lifetime_s.
 * lifetime_s 0: no tickets. Returns 0, or SSS_ETLS when no randomness could
 * be had.
 */
SSS_WUR int sss_tls_tickets_init(unsigned lifetime_s, const unsigned char *secret);

/* The secret in use into out (SSS_TLS_TICKET_SECRET bytes): 1, or 0 without tickets. */
int sss_tls_tickets_secret(unsigned char *out);

/*
 * A server context from PEM files: cert holds the certificate chain (leaf
 * first), key its private key. TLS 1.2 and 1.3 only, no renegotiation, no
 * session cache; session tickets as sss_tls_tickets_init set them (none
 * before it). On failure err gets one line naming the file and OpenSSL's
 * reason.
 *
 * Returns 0 and *out (one reference, the caller's), or SSS_ETLS.
 */
SSS_WUR int sss_tls_server_ctx(const char *cert, const char *key, struct ssl_ctx_st **out,
                               char *err, size_t errcap);

/*
 * A client context: TLS 1.2 and 1.3; the peer's certificate is verified
 * against ca_file (PEM), or the system's trust store when ca_file is NULL
 * or "", unless verify is 0 (benchmarks against a throwaway certificate).
 *
 * Returns 0 and *out (the caller's reference), or SSS_ETLS with err set.
 */
SSS_WUR int sss_tls_client_ctx(const char *ca_file, int verify, struct ssl_ctx_st **out,
                               char *err, size_t errcap);

/* Drop one reference to a context (NULL is fine). */
void sss_tls_ctx_unref(struct ssl_ctx_st *ctx);

struct sss_tls {
    struct ssl_st *ssl; /* owned; holds a reference to its context */
    struct bio_st *in;  /* ciphertext from the peer (owned by ssl) */
    struct bio_st *out; /* ciphertext for the peer (owned by ssl) */
    struct sss_tls_early *early; /* plaintext written before the handshake ended (owned) */
    uint8_t failed;     /* a fatal error: only the alert in out may still go */
    uint8_t shut;       /* close_notify is queued */
};

/*
 * Set up t (caller's storage) as the server side (server = 1) or the
 * client side of one connection made with ctx. A client names the host in
 * sni (SNI and the certificate's name check; NULL for neither); the client
 * side's first flight is ready in the output at once.
 *
 * Returns 0, -ENOMEM or SSS_ETLS (t is then empty: sss_tls_fini is safe).
 */
SSS_WUR int sss_tls_init(struct sss_tls *t, struct ssl_ctx_st *ctx, int server, const char *sni);

/* Free what t holds. */
void sss_tls_fini(struct sss_tls *t);

/*
 * Bytes that arrived from the peer. Drives the handshake, then decrypts:
 * each piece of plaintext goes to plain(data, bytes, len) as it comes (the
 * bytes are lent for the call); a plain that returns nonzero stops the
 * feed (the owner is closing), and the rest of the input waits for the
 * next call (len may be 0).
 * Whatever OpenSSL answers (handshake, alerts) waits in the output.
 *
 * Returns 0; SSS_TLS_CLOSED when the peer closed TLS (close_notify);
 * SSS_ETLS when the input is not TLS or breaks it (t->failed is set and an
 * alert may wait in the output: send it, then close).
 */
SSS_WUR int sss_tls_feed(struct sss_tls *t, const uint8_t *in, size_t len,
                         int (*plain)(void *data, const uint8_t *bytes, size_t len), void *data);

/*
 * Encrypt len bytes of plaintext into the output (all of them: the memory
 * BIO grows). Before the handshake is over the bytes wait inside OpenSSL
 * and are encrypted once it is. Returns 0, or SSS_ETLS (t->failed).
 */
SSS_WUR int sss_tls_write(struct sss_tls *t, const void *bytes, size_t len);

/* Whether the handshake is over. */
int sss_tls_established(const struct sss_tls *t);

/* The protocol agreed ("TLSv1.3"), or "" before the handshake. */
const char *sss_tls_version(const struct sss_tls *t);

/* Whether t's handshake resumed a session (a ticket) instead of a full one. */
int sss_tls_resumed(const struct sss_tls *t);

/* Ciphertext bytes waiting for the socket. */
size_t sss_tls_pending(const struct sss_tls *t);

/* Move up to cap waiting ciphertext bytes into dst; returns how many. */
size_t sss_tls_take(struct sss_tls *t, void *dst, size_t cap);

/* Queue close_notify (once; nothing after a failure). */
void sss_tls_shutdown(struct sss_tls *t);

/*
 * Whether this kernel offers kTLS (the "tls" TCP upper-layer protocol):
 * setsockopt(TCP_ULP, "tls") on a fresh TCP socket, which fails with
 * ENOENT when the tls module is absent and with ENOTCONN when it is there
 * (it wants a connected socket). Returns 0 when offered, else -errno.
 */
int sss_tls_ktls_probe(void);

/* The OpenSSL version in use ("OpenSSL 3.0.19 ..."). */
const char *sss_tls_library(void);

/* One line for OpenSSL's last error (and clear its queue), for logs. */
void sss_tls_last_error(char *dst, size_t cap);

#endif
