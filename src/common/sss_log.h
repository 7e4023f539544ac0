/*
 * One log line per event that matters, on stderr:
 *   2026-11-26T00:41:07.123Z w1 info worker: started pid=123 fd_limit=20000
 * time (UTC), role and id (master, w0.., scaler), level, module, message.
 * Details go as key=value so that lines are easy to grep. Client-triggered
 * events log at debug: a client must never be able to fill the disk.
 * Credentials never reach the log: every line goes through sss_log_redact.
 */
#ifndef SSS_LOG_H
#define SSS_LOG_H

enum sss_log_level {
    SSS_LOG_ERROR = 0,
    SSS_LOG_WARN,
    SSS_LOG_INFO,
    SSS_LOG_DEBUG,
};

/* Set the process-wide level and role ("master", "w3"); call after fork. */
void sss_log_setup(enum sss_log_level level, const char *role);
/* Parse "error", "warn", "info" or "debug"; -1 if unknown. */
int sss_log_level_parse(const char *s);
int sss_log_enabled(enum sss_log_level level);
void sss_log(enum sss_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#include <stddef.h>

/*
 * Copy in (n bytes) to out (cap > 0 bytes, NUL-terminated) with every
 * credential it may hold replaced by "[redacted]": the value after
 * "token=" (a query parameter or a cookie: up to '&', ';', ',', '#', a quote
 * or whitespace), the credentials after "Bearer " (any case), and the
 * password of a URL ("scheme://user:PASSWORD@host"). Cut at cap - 1 bytes.
 * Returns the length written. Pure; any thread.
 */
size_t sss_log_redact(const char *in, size_t n, char *out, size_t cap);

#define sss_log_error(mod, ...) sss_log(SSS_LOG_ERROR, mod, __VA_ARGS__)
#define sss_log_warn(mod, ...) sss_log(SSS_LOG_WARN, mod, __VA_ARGS__)
#define sss_log_info(mod, ...) sss_log(SSS_LOG_INFO, mod, __VA_ARGS__)
#define sss_log_debug(mod, ...)                                                                    \
    do {                                                                                           \
        if (sss_log_enabled(SSS_LOG_DEBUG))                                                        \
            sss_log(SSS_LOG_DEBUG, mod, __VA_ARGS__);                                              \
    } while (0)

#endif
