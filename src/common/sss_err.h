/*
 * Error codes of sss. Functions that return int give 0 on success or a
 * negative code: -errno for system failures, or one of ours below (-1000 and
 * down, grouped by family as wslay does). sss_strerror() names any of them.
 */
#ifndef SSS_ERR_H
#define SSS_ERR_H

#define SSS_WUR __attribute__((warn_unused_result))

enum sss_err {
    SSS_EPROTO = -1000, /* a peer broke the protocol */
    SSS_EFULL = -1001,  /* a bounded queue or table is full */
    SSS_ELIMIT = -1002, /* a configured limit was crossed */
    SSS_EINVAL = -1003, /* a bad value in configuration or a request */
    SSS_EUNAVAIL = -1004, /* a backing service (Redis, MongoDB) is away: nothing was done */
    SSS_EUNKNOWN = -1005, /* the service went away mid-call: it may or may not have been done */
    SSS_EGONE = -1006,    /* what was named is known to be gone (a socket of a dead worker) */
    SSS_ETLS = -1007,     /* TLS failed: a bad handshake or record, or a bad certificate */
    /* Host messages (src/proto/sss_hostmsg.h): a record refused unread. */
    SSS_EHM_TYPE = -1010,   /* not a record type this receiver takes */
    SSS_EHM_SHORT = -1011,  /* shorter than its type's fixed part */
    SSS_EHM_LENGTH = -1012, /* its length fields do not add up to its size */
    /* shm/ (which includes nothing of ours) defines the same values locally. */
    SSS_ELAPPED = -1100, /* a bus reader was overtaken (SSS_BUS_LAPPED) */
};

/* Text for any code returned by an sss function (negative errno or ours). */
const char *sss_strerror(int code);

#endif
