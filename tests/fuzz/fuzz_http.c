/*
 * libFuzzer target for the upgrade parser and the response formatter
 * (sss_http). Each input is parsed whole and then again in two steps, split at
 * a point taken from its first byte, as bytes arrive from a socket; the
 * decisions must agree and obey the contract of sss_http.h. A broken
 * invariant calls abort(), which libFuzzer (or the replayer) reports.
 */
#include "fuzz_check.h"
#include "http/sss_http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const origins[] = {"https://example.com", "http://localhost:8080", NULL};
static const char *const subprotocols[] = {"sss.v2", "sss.v1", "chat", NULL};
static const struct sss_http_policy policy = {
    .path = "/ws", .origins = origins, .max_size = 4096, .subprotocols = subprotocols};

static int is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=';
}

/* Everything sss_http.h promises about one decision, and its response. */
static void check_decision(const struct sss_http_upgrade *u, size_t len)
{
    static const int allowed[] = {101, 400, 403, 404, 405, 426, 431, 500};
    char out[512];
    size_t i, n;
    int ok = 0;

    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        ok |= u->status == allowed[i];
    require(ok);
    require(u->consumed <= len);
    require((u->reason != NULL) == (u->status != 101));
    require(memchr(u->target, '\0', sizeof(u->target)) != NULL);
    require(memchr(u->protocol, '\0', sizeof(u->protocol)) != NULL);
    if (u->status == 101) {
        require(strnlen(u->accept, sizeof(u->accept)) == 28);
        for (i = 0; i < 28; i++)
            require(is_base64_char(u->accept[i]));
        require(u->consumed > 0);
        if (u->protocol[0]) {
            ok = 0;
            for (i = 0; subprotocols[i]; i++)
                ok |= strcmp(u->protocol, subprotocols[i]) == 0;
            require(ok);
        }
    } else {
        require(strlen(u->reason) > 0 && strchr(u->reason, '\n') == NULL);
    }

    n = sss_http_response(u, out, sizeof(out));
    require(n > 0 && n < sizeof(out));
    require(memcmp(out, "HTTP/1.1 ", 9) == 0);
    require(strlen(out) == n);
    if (u->status == 101)
        require(n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
    else
        require(out[n - 1] == '\n' && strstr(out, "\r\n\r\n") != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct sss_http_upgrade whole, part;
    size_t split;
    int rc;

    rc = sss_http_upgrade_parse(buf, size, &policy, &whole);
    require(rc == 0 || rc == 1);
    require(rc == 1 || size <= policy.max_size);
    if (rc == 1)
        check_decision(&whole, size);

    /* Incrementally: a prefix is undecided, or decided as the whole input is. */
    split = size ? data[0] % (size + 1) : 0;
    rc = sss_http_upgrade_parse(buf, split, &policy, &part);
    require(rc == 0 || rc == 1);
    if (rc == 1) {
        check_decision(&part, split);
        require(whole.status == part.status && whole.consumed == part.consumed);
        require(strcmp(whole.accept, part.accept) == 0);
        require(strcmp(whole.protocol, part.protocol) == 0);
    }
    return 0;
}
