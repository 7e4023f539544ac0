/*
 * Internals of the HTTP API shared by its files, not for other modules.
 * sss_api_server.c owns the listener and the connections: it parses each
 * request (llhttp), judges route, key and size from the head, and hands a
 * complete request to its route's serve function (sss_api_routes.c). A route
 * answers at once with sss_api__answer*, or hands out a ticket with
 * sss_api__wait and answers when the scaler calls sss_api_*_done.
 */
#ifndef SSS_API_SERVER_H
#define SSS_API_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "sss_api.h"
#include "sss_dynbuf.h"
#include "sss_proto.h"

#define SSS_API_URL_MAX 1024
#define SSS_API_AUTH_MAX 1024
#define SSS_API_HNAME_MAX 32

/* SSS_API_WAIT: a publish or presence request waits for the scaler's answer
 * (sss_api_publish_done / sss_api_presence_done); nothing more is read. */
enum sss_api_conn_state { SSS_API_READ, SSS_API_WRITE, SSS_API_LINGER, SSS_API_WAIT };

/* The request headers the server keeps. */
enum sss_api_hdr {
    SSS_API_H_OTHER,
    SSS_API_H_AUTH,
    SSS_API_H_EXPECT,
    SSS_API_H_ORIGIN,
    SSS_API_H_CTYPE
};

#define SSS_API_ORIGIN_MAX 256 /* an Origin longer than this is not in any list */
#define SSS_API_CTYPE_MAX 64   /* a Content-Type longer than this is not application/json */

struct sss_api_conn;

/* One path of the API; the table lives in sss_api_routes.c. */
struct sss_api_route {
    const char *path;
    int method; /* llhttp_method_t */
    const char *allow;
    bool open; /* served without the key */
    /* Answer a complete request (body in c->body), or wait (SSS_API_WAIT). */
    void (*serve)(struct sss_api *api, struct sss_api_conn *c);
};

/* A client address, the key of the per-address limit (IPv4-mapped IPv6 as IPv4). */
struct sss_api_addr {
    int family; /* AF_INET, AF_INET6, or 0: unknown (never counted together) */
    unsigned char bytes[16];
};

struct sss_api_conn {
    struct sss_api *api; /* borrowed */
    int fd;
    enum sss_api_conn_state state;
    int64_t deadline; /* monotonic ms */
    /* Admission (see sss_api_server.c): a connection is "open" until one of
     * its requests shows the key; open ones are few and the first evicted. */
    bool proven;
    uint64_t accepted; /* order of acceptance: the oldest open one goes first */
    struct sss_api_addr addr;
    llhttp_t parser;
    /* The request being read; reset in on_message_begin. */
    char url[SSS_API_URL_MAX + 1];
    size_t url_len;
    size_t head_bytes; /* request line and headers so far */
    char hname[SSS_API_HNAME_MAX];
    size_t hname_len;
    enum sss_api_hdr cur;
    char auth[SSS_API_AUTH_MAX];
    size_t auth_len;
    int auth_count;
    bool auth_long;
    char expect[32];
    size_t expect_len;
    char origin[SSS_API_ORIGIN_MAX];
    size_t origin_len;
    int origin_count;
    bool origin_long;
    char ctype[SSS_API_CTYPE_MAX];
    size_t ctype_len;
    bool ctype_long;
    const struct sss_api_route *route;
    struct sss_dynbuf body;
    bool complete;
    bool keep_alive;
    int early_status; /* an answer decided while parsing (0: none) */
    const char *early_reason;
    const char *early_allow;
    /* The answer. */
    struct sss_dynbuf out;
    size_t out_off;
    bool close_after;
    char *pending; /* bytes read after a complete request (owned) */
    size_t pending_len;
    uint64_t ticket; /* of the request in SSS_API_WAIT: slot << 40 | serial */
    char chan[SSS_PROTO_CHANNEL_MAX + 1]; /* of the presence request in SSS_API_WAIT */
};

struct sss_api {
    const struct sss_cfg *cfg; /* borrowed */
    struct sss_shm *shm;       /* borrowed */
    struct sss_api_handlers h;
    int listen_fd;
    int nconns;
    struct sss_api_conn *conns[SSS_API_MAX_CONNS]; /* owned; NULL = free slot */
    int polled[SSS_API_MAX_POLLFDS];               /* slot of each pollfd entry; -1: listener */
    int npolled;
    size_t max_body;
    int64_t timeout_ms;
    uint64_t requests;
    llhttp_settings_t settings;
    struct sss_proto_decoder dec;
    struct sss_proto_msg msg;
    struct sss_dynbuf gather; /* channel + topic + msg for the handlers */
    struct sss_dynbuf resp;   /* the body of an answer */
    int nopen;          /* connections not proven yet (at most --api-open-connections) */
    uint64_t accepts;   /* connections accepted so far */
    uint64_t evicted;   /* open connections closed to make room for a newer one */
    uint64_t forbidden; /* requests refused for their Origin or Content-Type (403, 415) */
    int accept_warned;
    int64_t accept_paused_until;  /* out of file descriptors: stop polling the listener a while */
    uint64_t serial;              /* of the last ticket handed out */
    struct sss_api_conn *serving; /* the connection whose request serve() is answering */
};

/* The route of a request path (len bytes, query cut off), or NULL. */
const struct sss_api_route *sss_api__route_find(const char *path, size_t len);

/* Queue the answer in c->out (status line, headers, body); counts the request. */
void sss_api__answer(struct sss_api_conn *c, int status, const char *ctype, const char *body,
                     size_t len, const char *extra);
/* The same with the JSON in b. */
void sss_api__answer_json(struct sss_api_conn *c, int status, struct sss_dynbuf *b);
/* {"error":reason}, with Allow (405) or WWW-Authenticate (401) as fits. */
void sss_api__answer_error(struct sss_api_conn *c, int status, const char *reason,
                           const char *allow);

/* The request's answer comes later, from the scaler: hand out a ticket (c->ticket). */
void sss_api__wait(struct sss_api *api, struct sss_api_conn *c);
/* The connection waiting with this ticket, or NULL (it went away). */
struct sss_api_conn *sss_api__waiting(struct sss_api *api, uint64_t ticket);
/* A waiting connection's answer is queued in c->out: send it, go on with pipelined requests. */
void sss_api__answered(struct sss_api *api, struct sss_api_conn *c);

#endif
