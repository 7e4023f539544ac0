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
/* Bytes of a host id (--host-id; default hostname:port). */
#define SSS_HOST_ID_MAX 127
/*
 * Bytes of a socket name, "<socket id>.<run>@<host id>" (sss_socket_name):
 * up to 20 decimal digits, '.', 8 hex digits, '@', the host id.
 */
#define SSS_SOCKET_NAME_MAX (20 + 1 + 8 + 1 + SSS_HOST_ID_MAX)

#endif
