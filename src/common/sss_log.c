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

void sss_log(enum sss_log_level level, const char *module, const char *fmt, ...)
{
    char line[1024];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n, saved = errno;

    if (!sss_log_enabled(level))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s %s: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(tv.tv_usec / 1000), log_role, level_names[level], module);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
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
