/*
 * What a failure of the C client is, as clients/README.md's table says for
 * both clients: every failure has a code; permanent ones (401 after the
 * token retry, 403, other refusals, a failed TLS handshake, close 1000,
 * 1002/1003, 1007, 1009, BOOT) stop the client and call on_error once; transient ones redial after
 * min(max, interval * 2^n) with equal jitter, n the failures since the last
 * READY minus one, whatever stage the attempt failed in (dial, upgrade,
 * BEGIN, SYNC), until retry_attempts attempts after the failure have failed
 * too (then retries_exhausted, naming the last transient code).
 */
#include "sss_client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

const char *sss_client__close_code(int code)
{
    switch (code) {
    case 1000: return SSS_CLIENT_CLOSED_BY_SERVER;
    case 1001: return SSS_CLIENT_GOING_AWAY;
    case 1002:
    case 1003: return SSS_CLIENT_PROTOCOL_ERROR;
    case 1007: return SSS_CLIENT_INVALID_PAYLOAD;
    case 1008: return SSS_CLIENT_POLICY_VIOLATION;
    case 1009: return SSS_CLIENT_MESSAGE_TOO_BIG;
    case 4001: return SSS_CLIENT_BOOTED_CODE;
    case 4008: return SSS_CLIENT_TOO_SLOW;
    default: return SSS_CLIENT_CONNECTION_LOST;
    }
}

const char *sss_client__http_code(int status)
{
    if (status == 401)
        return SSS_CLIENT_UNAUTHORIZED;
    if (status == 403)
        return SSS_CLIENT_FORBIDDEN;
    if (status == 408 || status == 429 || (status >= 500 && status <= 599))
        return SSS_CLIENT_UPGRADE_FAILED;
    return SSS_CLIENT_UPGRADE_REFUSED;
}

static bool permanent(const char *code)
{
    static const char *const codes[] = {
        SSS_CLIENT_UNAUTHORIZED,    SSS_CLIENT_FORBIDDEN,       SSS_CLIENT_UPGRADE_REFUSED,
        SSS_CLIENT_TLS_FAILED,      SSS_CLIENT_CLOSED_BY_SERVER, SSS_CLIENT_PROTOCOL_ERROR,
        SSS_CLIENT_INVALID_PAYLOAD, SSS_CLIENT_MESSAGE_TOO_BIG, SSS_CLIENT_BOOTED_CODE,
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (!strcmp(code, codes[i]))
            return true;
    return false;
}

static int64_t backoff(const struct sss_client *c, int n)
{
    int64_t base = c->o.retry_interval_ms;
    uint32_t r = 0;

    for (int i = 0; i < n && base < c->o.max_retry_interval_ms; i++)
        base *= 2;
    if (base > c->o.max_retry_interval_ms)
        base = c->o.max_retry_interval_ms;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
        r = (uint32_t)rand();
    return base / 2 + (int64_t)((double)(base / 2) * (r / 4294967296.0)); /* equal jitter */
}

static void set_error(struct sss_client *c, const char *code, const char *detail)
{
    c->err_code = code;
    snprintf(c->err_detail, sizeof(c->err_detail), "%s", detail ? detail : "");
}

/* Stop for good: the final status, every pending reply answered, on_error once. */
static void finish(struct sss_client *c, const char *code, const char *detail)
{
    enum sss_client_status s = SSS_CLIENT_FAILED;
    char d[sizeof(c->err_detail)];

    if (!strcmp(code, SSS_CLIENT_BOOTED_CODE))
        s = SSS_CLIENT_BOOTED;
    else if (!strcmp(code, SSS_CLIENT_CLOSED_BY_SERVER))
        s = SSS_CLIENT_CLOSED;
    set_error(c, code, detail);
    snprintf(d, sizeof(d), "%s", c->err_detail); /* a callback may fail again meanwhile */
    c->dial_at = 0;
    sss_client__set_status(c, s);
    if (c->status == s) /* not connected again from on_status */
        sss_client__fail_sub_replies(c, REQ_CLOSED, code);
    sss_client__report(c, NULL, code, d);
}

void sss_client__fail(struct sss_client *c, const char *code, const char *detail)
{
    enum sss_client_status was = c->status;
    bool was_open = was == SSS_CLIENT_READY || was == SSS_CLIENT_SYNCING ||
                    was == SSS_CLIENT_BEGINNING;

    if (sss_client__final_status(was) || was == SSS_CLIENT_IDLE)
        return; /* closed by the application meanwhile */
    set_error(c, code, detail);
    sss_client__flush_close(c);
    sss_client__conn_lost(c);
    if (was_open && c->o.on_drop)
        c->o.on_drop(c, c->o.data);
    if (c->status != was)
        return; /* a callback closed the client (or it is connecting again) */
    if (permanent(code)) {
        finish(c, code, detail);
        return;
    }
    c->attempts++;
    if (c->o.no_reconnect || (c->o.retry_attempts > 0 && c->attempts > c->o.retry_attempts)) {
        char d[sizeof(c->err_detail)];

        snprintf(d, sizeof(d), "%s: %s", code, detail ? detail : "");
        finish(c, SSS_CLIENT_RETRIES_EXHAUSTED, d);
        return;
    }
    /* A server going away lets the first attempt after it go at once. */
    c->dial_at = c->now + (!strcmp(code, SSS_CLIENT_GOING_AWAY) && c->attempts == 1
                               ? 0
                               : backoff(c, c->attempts - 1));
    sss_client__set_status(c, SSS_CLIENT_WAITING);
}
