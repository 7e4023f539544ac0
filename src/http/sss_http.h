/*
 * The HTTP side of a connection before it is a WebSocket: parse the upgrade
 * request (llhttp, compiled from Debian's node-llhttp sources), decide the
 * answer by RFC 6455 section 4.2 and our policy, and format that answer.
 *
 * Pure functions over byte buffers: no sockets, no allocation that outlives a
 * call, so that unit tests and the fuzzer drive them directly. The worker
 * keeps the request bytes in a per-connection buffer and calls
 * sss_http_upgrade_parse each time more arrive.
 *
 * Answers (each error carries a one-line plain-text reason as its body):
 *   101 Switching Protocols  valid upgrade (Sec-WebSocket-Accept, chosen protocol)
 *   400 Bad Request          malformed HTTP, missing/invalid Host, Connection,
 *                            Sec-WebSocket-Key, a request body, HTTP < 1.1
 *   403 Forbidden            Origin not in the allowed list
 *   404 Not Found            path other than the WebSocket path
 *   405 Method Not Allowed   method other than GET (with Allow: GET)
 *   426 Upgrade Required     no "Upgrade: websocket", or Sec-WebSocket-Version
 *                            missing or not 13 (with Sec-WebSocket-Version: 13)
 *   431 Request Header Fields Too Large   request head over max_size bytes
 *   503 Service Unavailable  (decided by the worker, formatted here)
 */
#ifndef SSS_HTTP_H
#define SSS_HTTP_H

#include <stddef.h>

struct sss_http_policy {
    const char *path;                 /* the WebSocket path, e.g. "/" (query ignored); NULL = any */
    const char *const *origins;       /* NULL-terminated allowed Origins; NULL or empty = any */
    size_t max_size;                  /* bytes of request line + headers + final CRLF */
    const char *const *subprotocols;  /* NULL-terminated, server preference order; NULL = none */
};

struct sss_http_upgrade {
    int status;          /* 101, or the error status listed above */
    const char *reason;  /* static one-line reason for an error, NULL for 101 */
    size_t consumed;     /* bytes of the request head; what follows is WebSocket data */
    char accept[32];     /* Sec-WebSocket-Accept value (28 chars + NUL) for 101 */
    char protocol[64];   /* chosen sub-protocol, "" when none was offered or matched */
    /* Request details for the session parser (sss_jwt_find_token). */
    char target[1024];   /* request-target as sent: path and query; truncated if longer */
    int plain_get;       /* a well-formed GET without Upgrade: websocket (static files) */
    char cookie[2048];   /* Cookie value; several Cookie lines joined by "; "; "" if absent */
    char authorization[1024]; /* Authorization value; "" if absent */
    /*
     * Set when a Cookie or Authorization value was dropped (left ""): too long
     * for its buffer, holding a NUL, or Authorization sent twice. The session
     * parser must then refuse the upgrade rather than look elsewhere.
     */
    int headers_truncated;
    /*
     * For the session parser (PROXY.md's connect call), "" when absent or
     * dropped: Origin and User-Agent sent twice, or any of the three longer
     * than its buffer (never cut). X-Forwarded-For lines are joined by ", ".
     */
    char origin[256];
    char user_agent[512];
    char forwarded_for[512];
    /* Sec-WebSocket-Extensions as sent (lines joined by ", "); "" when absent or
     * longer than the buffer (then no extension is negotiated). */
    char extensions[512];
    /* The caller's answer to it (a Sec-WebSocket-Extensions value, printable
     * ASCII), put in the 101 response when not ""; the parser leaves it "". */
    char extensions_answer[128];
};

/*
 * Parse the request bytes received so far (buf, len: everything from the
 * first byte of the connection) against policy.
 *
 * Returns 0 when the head is not complete yet and no error is visible
 * (call again with more bytes), or 1 when out holds the decision: 101 or an
 * error status with its reason. It returns 1 with 431 as soon as len exceeds
 * policy->max_size without a complete head. Never reads past len, never
 * allocates beyond the call.
 */
int sss_http_upgrade_parse(const char *buf, size_t len, const struct sss_http_policy *policy,
                           struct sss_http_upgrade *out);

/*
 * Format the HTTP response for a decision into dst (cap bytes): the 101
 * answer with Upgrade, Connection, Sec-WebSocket-Accept and, if chosen,
 * Sec-WebSocket-Protocol and Sec-WebSocket-Extensions; or an error status with Content-Type text/plain,
 * Content-Length, Connection: close, the extra header its status requires
 * (426: Sec-WebSocket-Version: 13, 405: Allow: GET) and "reason\n" as body.
 * Returns the length written (a NUL follows when there is room), or 0 if cap
 * is too small (512 bytes always suffice) or the status is not one listed above.
 * Reasons are cut at 200 bytes and bytes outside printable ASCII become '?'.
 */
size_t sss_http_response(const struct sss_http_upgrade *u, char *dst, size_t cap);

/* Format a bare error answer (used for 503 before any parsing). Same rules as above. */
size_t sss_http_error(int status, const char *reason, char *dst, size_t cap);

/* The reason phrase of an HTTP status sss answers with, or NULL for another status. */
const char *sss_http_status_text(int status);

/* Compute Sec-WebSocket-Accept for a key (RFC 6455 4.2.2): base64(SHA-1(key + GUID)). */
void sss_http_accept_key(const char *key, size_t key_len, char out[32]);

#endif
