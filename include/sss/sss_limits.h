/*
 * Limits that the wire protocol, the stores, the HTTP API and the
 * application API share: each named once, here, and checked where the input
 * arrives (the protocol decoder, the JWT reader, the API, the libsss calls),
 * which refuses anything longer with a clear error instead of cutting it.
 */
#ifndef SSS_LIMITS_H
#define SSS_LIMITS_H

/* Bytes of a user name ([A-Za-z0-9_-]): "_u_" + user is a channel name (<= 128). */
#define SSS_USER_MAX 120
/* Bytes of a session id (printable ASCII, no space). */
#define SSS_SESSION_MAX 128
/* Bytes of a close or boot reason: a close frame's 125 bytes less its 2-byte code. */
#define SSS_REASON_MAX 123

#endif
