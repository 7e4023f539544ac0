/*
 * The URL parser (see sss_url.h for the grammar and the contract). One pass
 * over the authority, whose end is found first, so that no '@', ':' or ']'
 * of the path is ever taken for one of the authority.
 */
#include "sss_url.h"

#include <string.h>
#include <strings.h>

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static struct sss_url_part part(const char *p, const char *end)
{
    struct sss_url_part sp = {p, (size_t)(end - p)};

    return sp;
}

/* The scheme before "://", if the URL has one; 0 or SSS_EINVAL. */
static int take_scheme(const char **p, struct sss_url *u)
{
    const char *sep = strstr(*p, "://"), *q;

    if (!sep || memchr(*p, '/', (size_t)(sep - *p)) || memchr(*p, '?', (size_t)(sep - *p)) ||
        memchr(*p, '#', (size_t)(sep - *p)) || memchr(*p, '@', (size_t)(sep - *p)))
        return 0; /* no scheme: "host:port" */
    if (sep == *p || !is_alpha(**p))
        return SSS_EINVAL;
    for (q = *p; q < sep; q++) {
        if (!is_alpha(*q) && !(*q >= '0' && *q <= '9') && *q != '+' && *q != '-' && *q != '.')
            return SSS_EINVAL;
    }
    u->scheme = part(*p, sep);
    *p = sep + 3;
    return 0;
}

static int take_port(const char *p, const char *end, int *port)
{
    long v = 0;

    if (p == end)
        return SSS_EINVAL;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return SSS_EINVAL;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return SSS_EINVAL;
    }
    *port = (int)v;
    return 0;
}

static int parse(const char *url, struct sss_url *u)
{
    const char *p = url, *end, *at, *colon;

    for (const char *q = url; *q; q++) {
        if ((unsigned char)*q <= ' ' || *q == 0x7f)
            return SSS_EINVAL;
    }
    if (take_scheme(&p, u) < 0)
        return SSS_EINVAL;
    end = p + strcspn(p, "/?#");
    if (*end)
        u->path = part(end, end + strlen(end));
    at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        colon = memchr(p, ':', (size_t)(at - p));
        u->user = part(p, colon ? colon : at);
        if (colon)
            u->password = part(colon + 1, at);
        p = at + 1;
    }
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));

        if (!rb)
            return SSS_EINVAL;
        u->host = part(p + 1, rb);
        u->ipv6 = true;
        colon = rb + 1;
        if (colon != end && *colon != ':')
            return SSS_EINVAL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        u->host = part(p, colon ? colon : end);
    }
    if (colon && colon != end)
        return take_port(colon + 1, end, &u->port);
    return 0;
}

int sss_url_parse(const char *url, struct sss_url *u)
{
    memset(u, 0, sizeof(*u));
    u->port = -1;
    if (parse(url, u) < 0) {
        memset(u, 0, sizeof(*u));
        u->port = -1;
        return SSS_EINVAL;
    }
    return 0;
}

bool sss_url_part_is(struct sss_url_part part, const char *s)
{
    return part.ptr && part.len == strlen(s) && strncasecmp(part.ptr, s, part.len) == 0;
}

int sss_url_part_copy(struct sss_url_part part, char *buf, size_t cap)
{
    if (cap == 0)
        return SSS_EINVAL;
    buf[0] = '\0';
    if (!part.ptr)
        return 0;
    if (part.len >= cap)
        return SSS_EINVAL;
    memcpy(buf, part.ptr, part.len);
    buf[part.len] = '\0';
    return 0;
}
