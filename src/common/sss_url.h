/*
 * The one URL parser of sss, for --redis (redis://[:password@]host:port/db),
 * --api-listen (HOST:PORT, [V6]:PORT, :PORT) and the C client's ws:// URLs.
 * (--mongo goes to mongoc whole: MongoDB URIs list several hosts and
 * options, and mongoc_uri_new_with_error is their parser.)
 *
 *   [scheme "://"] [user [":" password] "@"] host [":" port] [path]
 *
 * The authority ends at the first '/', '?' or '#'; path is the rest, as
 * written (query and fragment included, nothing percent-decoded). user info
 * ends at the first '@' of the authority, the password at the first ':' of
 * the user info. A host in brackets is an IPv6 literal (brackets dropped);
 * any other host ends at the first ':'. Each caller then says which parts
 * it allows. Pure: the parts point into the input, nothing is allocated.
 */
#ifndef SSS_URL_H
#define SSS_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "sss_err.h"

/* A part of the input; ptr NULL when the part is absent (present parts may be empty). */
struct sss_url_part {
    const char *ptr;
    size_t len;
};

struct sss_url {
    struct sss_url_part scheme;   /* before "://", e.g. "redis" */
    struct sss_url_part user;     /* before ':' or '@' in the user info */
    struct sss_url_part password; /* after the ':' of the user info */
    struct sss_url_part host;     /* without brackets; may be empty (":9090") */
    bool ipv6;                    /* host was in brackets */
    int port;                     /* 0..65535, -1 when absent */
    struct sss_url_part path;     /* from the first '/', '?' or '#'; absent when none */
};

/*
 * Split the NUL-terminated url into u (whose parts borrow from url).
 * Returns 0, or SSS_EINVAL (u zeroed, port -1) for: a scheme that is not
 * ALPHA *(ALPHA / DIGIT / "+" / "-" / "."), an opening '[' without its ']'
 * or with something other than ":port" after it, a ':' with no port after
 * it, a port that is not all digits or is over 65535, or control bytes,
 * spaces or DEL anywhere.
 */
int sss_url_parse(const char *url, struct sss_url *u) SSS_WUR;

/* Whether part is exactly the NUL-terminated s (ASCII case-insensitive). */
bool sss_url_part_is(struct sss_url_part part, const char *s);

/*
 * Copy part into buf (cap bytes) with a NUL. Returns 0, or SSS_EINVAL when
 * it does not fit (buf is then "" when cap > 0). An absent part gives "".
 */
int sss_url_part_copy(struct sss_url_part part, char *buf, size_t cap) SSS_WUR;

#endif
