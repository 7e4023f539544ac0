/* Line-oriented logging to stderr (see sss_log.h for the format). */
#include "sss_log.h"
#include "sss_err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum sss_log_level log_level = SSS_LOG_INFO;
static char log_role[16] = "master";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sss_log_setup(enum sss_log_level level, const char *role)
{
    log_level = level;
    snprintf(log_role, sizeof(log_role), "%s", role);
}

int sss_log_level_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int sss_log_enabled(enum sss_log_level level)
{
    return level <= log_level;
}

static int ascii_lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
}

/* Whether in[i..] starts with word (lower case), in any case. */
static int starts_with(const char *in, size_t n, size_t i, const char *word)
{
    size_t k;

    for (k = 0; word[k]; k++)
        if (i + k >= n || ascii_lower((unsigned char)in[i + k]) != word[k])
            return 0;
    return 1;
}

/* Where a credential written in a log line ends. */
static int ends_value(char ch)
{
    return ch == '&' || ch == ';' || ch == ',' || ch == '#' || ch == '"' || ch == '\'' ||
           ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\0';
}

/* The end of a URL's authority part. */
static int ends_authority(char ch)
{
    return ch == '/' || ch == '?' || ends_value(ch);
}

/*
 * A credential starting at in[i]: [*vs, *ve) is its value, to be replaced.
 * Returns 0 when none starts here.
 */
static int credential_at(const char *in, size_t n, size_t i, size_t *vs, size_t *ve)
{
    size_t j, colon = 0, at = 0;

    if (starts_with(in, n, i, "token=")) {
        *vs = i + 6;
    } else if (starts_with(in, n, i, "bearer ")) {
        for (*vs = i + 7; *vs < n && in[*vs] == ' ';)
            (*vs)++;
    } else if (starts_with(in, n, i, "://")) {
        /* scheme://user:password@host: the password, when the authority has an '@'. */
        for (j = i + 3; j < n && !ends_authority(in[j]); j++) {
            if (in[j] == ':' && !colon)
                colon = j;
            if (in[j] == '@')
                at = j;
        }
        if (!at || !colon || colon > at)
            return 0;
        *vs = colon + 1;
        *ve = at;
        return *ve > *vs;
    } else {
        return 0;
    }
    if (*vs < n && in[*vs] == '"')
        (*vs)++; /* a quoted cookie value */
    for (*ve = *vs; *ve < n && !ends_value(in[*ve]);)
        (*ve)++;
    return *ve > *vs;
}

size_t sss_log_redact(const char *in, size_t n, char *out, size_t cap)
{
    static const char mark[] = "[redacted]";
    size_t i = 0, o = 0, vs, ve;

    while (i < n && o + 1 < cap) {
        if (!credential_at(in, n, i, &vs, &ve)) {
            out[o++] = in[i++];
            continue;
        }
        while (i < vs && o + 1 < cap)
            out[o++] = in[i++];
        for (size_t k = 0; mark[k] && o + 1 < cap; k++)
            out[o++] = mark[k];
        i = ve;
    }
    out[o] = '\0';
    return o;
}

void sss_log(enum sss_log_level level, const char *module, const char *fmt, ...)
{
    char raw[1024], line[1024];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n, saved = errno;

    if (!sss_log_enabled(level))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(raw, sizeof(raw), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s %s: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(tv.tv_usec / 1000), log_role, level_names[level], module);
    va_start(ap, fmt);
    n += vsnprintf(raw + n, sizeof(raw) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(raw) - 1)
        n = (int)sizeof(raw) - 1;
    /* Never a credential: a client's ?token=, a Bearer header, a URL's password. */
    n = (int)sss_log_redact(raw, (size_t)n, line, sizeof(line) - 1);
    line[n++] = '\n';
    /* One write per line so that lines of several processes never mix. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* Nowhere left to report it. */
    }
    errno = saved;
}

const char *sss_strerror(int code)
{
    switch (code) {
    case SSS_EPROTO:
        return "protocol violation";
    case SSS_EFULL:
        return "queue full";
    case SSS_ELIMIT:
        return "limit reached";
    case SSS_EINVAL:
        return "invalid value";
    case SSS_EUNAVAIL:
        return "service unavailable";
    case SSS_EUNKNOWN:
        return "outcome unknown: the service went away";
    case SSS_EGONE:
        return "gone";
    case SSS_ETLS:
        return "TLS failure";
    case SSS_EHM_TYPE:
        return "host message of an unexpected type";
    case SSS_EHM_SHORT:
        return "host message shorter than its fixed part";
    case SSS_EHM_LENGTH:
        return "host message lengths do not match its size";
    case SSS_ELAPPED:
        return "lapped by the bus producer";
    default:
        return code < 0 ? strerror(-code) : "success";
    }
}
