/*
 * Unit tests of the upgrade parser and the response formatter (sss_http):
 * every answer and reason, the RFC 6455 sample key, incremental feeding,
 * pipelined WebSocket bytes, sub-protocol choice and the exact responses.
 */
#include "http/sss_http.h"
#include "sss_test.h"

#include <stdlib.h>

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* A valid request for policy below, split so tests can vary one part. */
#define REQ_LINE "GET /ws?room=1 HTTP/1.1\r\n"
#define REQ_HOST "Host: example.com\r\n"
#define H_UPGRADE "Upgrade: websocket\r\n"
#define H_CONN "Connection: Upgrade\r\n"
#define H_KEY "Sec-WebSocket-Key: " KEY "\r\n"
#define H_VERSION "Sec-WebSocket-Version: 13\r\n"
#define REQ_WS H_UPGRADE H_CONN H_KEY H_VERSION
#define REQ_ORIGIN "Origin: https://example.com\r\n"
#define VALID REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN "\r\n"

static const char *const origins[] = {"https://example.com", "http://localhost:8080", NULL};
static const char *const subprotocols[] = {"sss.v2", "sss.v1", "chat", NULL};
static const struct sss_http_policy policy = {
    .path = "/ws", .origins = origins, .max_size = 1024, .subprotocols = subprotocols};

static struct sss_http_upgrade u;

/* Parse a NUL-terminated request with the default policy. */
static int parse(const char *req)
{
    return sss_http_upgrade_parse(req, strlen(req), &policy, &u);
}

/* Expect one decision for req: status and reason (NULL: any reason for an error). */
static void expect(const char *req, int status, const char *reason)
{
    CHECK_EQ_INT(parse(req), 1);
    CHECK_EQ_INT(u.status, status);
    if (reason)
        CHECK_EQ_STR(u.reason, reason);
    else if (status == 101)
        CHECK(u.reason == NULL);
    else
        CHECK(u.reason != NULL); /* llhttp's text, not fixed here */
    CHECK(u.consumed <= strlen(req));
}

static void test_accept_key(void)
{
    char out[32];

    sss_http_accept_key(KEY, strlen(KEY), out);
    CHECK_EQ_STR(out, ACCEPT);
    CHECK_EQ_INT(strlen(out), 28);
}

static void test_valid(void)
{
    expect(VALID, 101, NULL);
    CHECK_EQ_INT(u.consumed, strlen(VALID));
    CHECK_EQ_STR(u.accept, ACCEPT);
    CHECK_EQ_STR(u.protocol, "");
    CHECK_EQ_STR(u.target, "/ws?room=1");

    /* Tokens and header names are case-insensitive; lists and OWS are fine. */
    expect(REQ_LINE "host: a\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
                    "sec-websocket-key: " KEY "\r\nsec-websocket-version: 13\r\n" REQ_ORIGIN "\r\n",
           101, NULL);
    expect(REQ_LINE REQ_HOST "Upgrade: h2c, websocket\r\nConnection: upgrade\r\n" H_KEY H_VERSION
               REQ_ORIGIN "\r\n",
           101, NULL);
    expect(REQ_LINE REQ_HOST H_UPGRADE "Connection: keep-alive\r\nConnection: UPGRADE\r\n" H_KEY
               H_VERSION REQ_ORIGIN "\r\n",
           101, NULL);
    /* Trailing whitespace of values is not part of them. */
    expect(REQ_LINE REQ_HOST "Upgrade: websocket  \r\nConnection: Upgrade \t\r\n"
                             "Sec-WebSocket-Key: " KEY "   \r\nSec-WebSocket-Version: 13 \r\n"
                             "Origin: https://example.com  \r\n\r\n",
           101, NULL);
    CHECK_EQ_STR(u.accept, ACCEPT);
    /* Later versions of HTTP/1 and a Content-Length of 0 are accepted. */
    expect("GET /ws HTTP/2.0\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 101, NULL);
    expect(REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN "Content-Length: 0\r\n\r\n", 101, NULL);
    /* Empty lines before the request line are skipped (RFC 9112 2.2). */
    expect("\r\n\r\n" VALID, 101, NULL);
    CHECK_EQ_INT(u.consumed, strlen(VALID) + 4);
}

static void test_pipelined(void)
{
    /* A masked text frame sent right behind the head, in the same read. */
    static const char req[] = VALID "\x81\x85\x01\x02\x03\x04hello";

    CHECK_EQ_INT(sss_http_upgrade_parse(req, sizeof(req) - 1, &policy, &u), 1);
    CHECK_EQ_INT(u.status, 101);
    CHECK_EQ_INT(u.consumed, strlen(VALID));
    /* Pipelined bytes past max_size don't matter once the head is complete. */
    {
        char big[3000];
        size_t n = strlen(VALID);

        memcpy(big, VALID, n);
        memset(big + n, 'x', sizeof(big) - n);
        CHECK_EQ_INT(sss_http_upgrade_parse(big, sizeof(big), &policy, &u), 1);
        CHECK_EQ_INT(u.status, 101);
        CHECK_EQ_INT(u.consumed, n);
    }
    /* The bytes after a plain GET are not parsed as another request either. */
    expect("GET /ws HTTP/1.1\r\n" REQ_HOST "\r\nGARBAGE\r\n\r\n", 426, NULL);
    CHECK_EQ_INT(u.consumed, strlen("GET /ws HTTP/1.1\r\n" REQ_HOST "\r\n"));
}

/* Returns 0 for every proper prefix, then the same decision as all at once. */
static void check_incremental(const char *req, int status)
{
    size_t len = strlen(req), i;
    int zeros = 0;

    for (i = 0; i < len; i++)
        zeros += sss_http_upgrade_parse(req, i, &policy, &u) == 0;
    CHECK_EQ_INT(zeros, len);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, len, &policy, &u), 1);
    CHECK_EQ_INT(u.status, status);
    CHECK_EQ_INT(u.consumed, len);
}

static void test_incremental(void)
{
    check_incremental(VALID, 101);
    CHECK_EQ_STR(u.accept, ACCEPT);
    CHECK_EQ_STR(u.target, "/ws?room=1");
    check_incremental("POST /ws HTTP/1.1\r\n" REQ_HOST REQ_WS "\r\n", 405);
    check_incremental(REQ_LINE REQ_HOST REQ_WS "Origin: https://evil.example\r\n\r\n", 403);
    check_incremental("\r\n" VALID, 101);
}

static void test_method_version_host_path(void)
{
    expect("POST /ws HTTP/1.1\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 405, "method must be GET");
    expect("HEAD /ws HTTP/1.1\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 405, "method must be GET");
    expect("GET /ws HTTP/1.0\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 400,
           "HTTP/1.1 or later required");
    expect("GET /ws\r\n\r\n", 400, "HTTP/1.1 or later required"); /* HTTP/0.9 */
    expect(REQ_LINE REQ_WS REQ_ORIGIN "\r\n", 400, "missing Host header");
    expect(REQ_LINE REQ_HOST "Host: b\r\n" REQ_WS REQ_ORIGIN "\r\n", 400, "duplicate Host header");
    expect(REQ_LINE "Host:\r\n" REQ_WS REQ_ORIGIN "\r\n", 400, "empty Host header");
    expect(REQ_LINE "Host:   \r\n" REQ_WS REQ_ORIGIN "\r\n", 400, "empty Host header");
    expect("GET /other HTTP/1.1\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 404,
           "no WebSocket endpoint at this path");
    expect("GET /w HTTP/1.1\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 404,
           "no WebSocket endpoint at this path");
    expect("GET /ws/ HTTP/1.1\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 404,
           "no WebSocket endpoint at this path");
    expect("GET /WS HTTP/1.1\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 404,
           "no WebSocket endpoint at this path");
    expect("GET /ws? HTTP/1.1\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 101, NULL);
    CHECK_EQ_STR(u.target, "/ws?");
}

static void test_long_target(void)
{
    static const struct sss_http_policy big = {
        .path = "/ws", .origins = NULL, .max_size = 8192, .subprotocols = NULL};
    static const char REST[] = " HTTP/1.1\r\n" REQ_HOST REQ_WS "\r\n";
    char req[4096];
    size_t n = 0;

    memcpy(req, "GET /ws?q=", 10);
    n = 10;
    memset(req + n, 'a', 1500);
    n += 1500;
    memcpy(req + n, REST, strlen(REST));
    n += strlen(REST);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, n, &big, &u), 1);
    CHECK_EQ_INT(u.status, 101);
    CHECK_EQ_INT(strlen(u.target), sizeof(u.target) - 1);
    CHECK(memcmp(u.target, "/ws?q=aaaa", 10) == 0);
    CHECK_EQ_INT(u.consumed, n);
    /* Another path, even with a long query, is 404. */
    req[5] = 'x';
    req[6] = 'x';
    CHECK_EQ_INT(sss_http_upgrade_parse(req, n, &big, &u), 1);
    CHECK_EQ_INT(u.status, 404);
}

static void test_upgrade_connection(void)
{
#define REQ(lines) REQ_LINE REQ_HOST lines H_KEY H_VERSION REQ_ORIGIN "\r\n"
#define NO_CONN "Connection header must include Upgrade"
    expect(REQ(H_CONN), 426, "Upgrade: websocket required");
    expect(REQ("Upgrade: h2c\r\n" H_CONN), 426, "Upgrade: websocket required");
    expect(REQ("Upgrade: websocket2\r\n" H_CONN), 426, "Upgrade: websocket required");
    expect(REQ("Upgrade: websocket/13\r\n" H_CONN), 426, "Upgrade: websocket required");
    expect(REQ(H_UPGRADE), 400, NO_CONN);
    expect(REQ(H_UPGRADE "Connection: keep-alive\r\n"), 400, NO_CONN);
    expect(REQ(H_UPGRADE "Connection: upgraded\r\n"), 400, NO_CONN);
    expect(REQ(H_UPGRADE "Connection: up grade\r\n"), 400, NO_CONN);
#undef NO_CONN
#undef REQ
}

static void test_key_version(void)
{
#define REQ(lines) REQ_LINE REQ_HOST H_UPGRADE H_CONN lines REQ_ORIGIN "\r\n"
#define KEY_IS(k) "Sec-WebSocket-Key:" k "\r\n"
    expect(REQ(H_VERSION), 400, "missing Sec-WebSocket-Key");
    expect(REQ(H_KEY H_KEY H_VERSION), 400, "duplicate Sec-WebSocket-Key");
    expect(REQ(H_KEY KEY_IS(" x") H_VERSION), 400, "duplicate Sec-WebSocket-Key");
    expect(REQ(KEY_IS(" dGhlIHNhbXBsZSBub25jZQ") H_VERSION), 400, "invalid Sec-WebSocket-Key");
    /* 24 characters, but 18 bytes, or 15 bytes, or not base64. */
    expect(REQ(KEY_IS(" dGhlIHNhbXBsZSBub25jZQab") H_VERSION), 400, "invalid Sec-WebSocket-Key");
    expect(REQ(KEY_IS(" dGhlIHNhbXBsZSBub25jZ===") H_VERSION), 400, "invalid Sec-WebSocket-Key");
    expect(REQ(KEY_IS(" dGhlIHNhbXBsZSBub25jZ.==") H_VERSION), 400, "invalid Sec-WebSocket-Key");
    expect(REQ(KEY_IS(" dGhlIHNhb XBsZSBub25jZQ==") H_VERSION), 400, "invalid Sec-WebSocket-Key");
    expect(REQ(KEY_IS("") H_VERSION), 400, "invalid Sec-WebSocket-Key");
    expect(REQ(H_KEY), 426, "Sec-WebSocket-Version must be 13");
    expect(REQ(H_KEY "Sec-WebSocket-Version: 8\r\n"), 426, "Sec-WebSocket-Version must be 13");
    expect(REQ(H_KEY "Sec-WebSocket-Version: 130\r\n"), 426, "Sec-WebSocket-Version must be 13");
    expect(REQ(H_KEY "Sec-WebSocket-Version: 13, 8\r\n"), 426, "Sec-WebSocket-Version must be 13");
    expect(REQ(H_KEY H_VERSION H_VERSION), 426, "Sec-WebSocket-Version must be 13");
    /* The version is checked before the key. */
    expect(REQ("Sec-WebSocket-Version: 8\r\n"), 426, "Sec-WebSocket-Version must be 13");
#undef KEY_IS
#undef REQ
}

static void test_origin(void)
{
    static const char *const none[] = {NULL};
    struct sss_http_policy any = policy;
    static const char req_no_origin[] = REQ_LINE REQ_HOST REQ_WS "\r\n";

    expect(REQ_LINE REQ_HOST REQ_WS "Origin: HTTPS://Example.COM\r\n\r\n", 101, NULL);
    expect(REQ_LINE REQ_HOST REQ_WS "Origin: http://localhost:8080\r\n\r\n", 101, NULL);
    expect(REQ_LINE REQ_HOST REQ_WS "Origin: http://localhost\r\n\r\n", 403, "origin not allowed");
    expect(REQ_LINE REQ_HOST REQ_WS "Origin: https://example.com/\r\n\r\n", 403,
           "origin not allowed");
    expect(REQ_LINE REQ_HOST REQ_WS "Origin: https://example.com.evil\r\n\r\n", 403,
           "origin not allowed");
    expect(REQ_LINE REQ_HOST REQ_WS "Origin: null\r\n\r\n", 403, "origin not allowed");
    expect(req_no_origin, 403, "origin not allowed");
    expect(REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN REQ_ORIGIN "\r\n", 403, "origin not allowed");
    /* No list, or an empty one: any Origin, or none. Regression (browsers crashed
     * workers): an Origin header with no list at all. */
    {
        const char *reqs[] = {req_no_origin, REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN "\r\n"};
        const char *const *lists[] = {NULL, none};

        for (size_t r = 0; r < 2; r++)
            for (size_t l = 0; l < 2; l++) {
                any.origins = lists[l];
                CHECK_EQ_INT(sss_http_upgrade_parse(reqs[r], strlen(reqs[r]), &any, &u), 1);
                CHECK_EQ_INT(u.status, 101);
            }
    }
}

static void test_body_and_malformed(void)
{
    expect(REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN "Content-Length: 5\r\n\r\nhello", 400,
           "request body not allowed");
    CHECK_EQ_INT(u.consumed, strlen(VALID) + strlen("Content-Length: 5\r\n"));
    expect(REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
           "request body not allowed");
    expect(REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN "Transfer-Encoding: gzip\r\n\r\n", 400,
           "request body not allowed");

    /* llhttp's own errors: 400 with its reason, one printable line. */
    expect(REQ_LINE REQ_HOST "Upgrade: websocket\nConnection: Upgrade\r\n\r\n", 400, NULL);
    CHECK(u.reason != NULL && strchr(u.reason, '\n') == NULL);
    expect(REQ_LINE REQ_HOST "Bad Header Line\r\n\r\n", 400, NULL);
    CHECK(u.reason != NULL && u.reason[0] != '\0');
    expect("get /ws HTTP/1.1\r\n" REQ_HOST REQ_WS REQ_ORIGIN "\r\n", 400, NULL);
    expect("G\x01T /ws HTTP/1.1\r\n\r\n", 400, NULL);
    CHECK(u.reason != NULL);
    expect("GET /ws HTTP/1.1\r\n X: leading space\r\n\r\n", 400, NULL);
    expect("GET /ws HTTP/9.9\r\n\r\n", 400, NULL);
    expect(REQ_LINE REQ_HOST "Content-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, NULL);
    expect("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "HTTP/2 is not supported here");
    /* Error responses for the malformed requests format fine. */
    {
        char out[512];
        size_t n = sss_http_response(&u, out, sizeof(out));

        CHECK(n > 0);
        CHECK(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    }
}

static void test_too_large(void)
{
    static const struct sss_http_policy small = {
        .path = "/ws", .origins = NULL, .max_size = 200, .subprotocols = NULL};
    char req[600];
    static const char head[] = REQ_LINE REQ_HOST REQ_WS; /* then a padding header */
    size_t hl = strlen(head), n;
    struct sss_http_policy roomy = small;

    /* Head not complete and more than max_size bytes: 431 without waiting for the end. */
    memcpy(req, head, hl);
    memset(req + hl, 'a', sizeof(req) - hl);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, 200, &small, &u), 0);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, 201, &small, &u), 1);
    CHECK_EQ_INT(u.status, 431);
    CHECK_EQ_STR(u.reason, "request header too large");
    CHECK(u.consumed <= 201);

    /* A complete head of exactly max_size bytes passes; one byte more is 431. */
    n = 200 - hl - 4 - 3; /* "X: " + value + "\r\n" + "\r\n" */
    memcpy(req + hl, "X: ", 3);
    memset(req + hl + 3, 'v', n);
    memcpy(req + hl + 3 + n, "\r\n\r\n", 4);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, 200, &small, &u), 1);
    CHECK_EQ_INT(u.status, 101);
    CHECK_EQ_INT(u.consumed, 200);
    memcpy(req + hl, "X: ", 3);
    memset(req + hl + 3, 'v', n + 1);
    memcpy(req + hl + 3 + n + 1, "\r\n\r\n", 4);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, 200, &small, &u), 0);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, 201, &small, &u), 1);
    CHECK_EQ_INT(u.status, 431);
    roomy.max_size = 201;
    CHECK_EQ_INT(sss_http_upgrade_parse(req, 201, &roomy, &u), 1);
    CHECK_EQ_INT(u.status, 101);

    /* The default policy's 1024 bytes, crossed by one long header. */
    {
        char big[2048];

        memcpy(big, head, hl);
        memcpy(big + hl, "Cookie: ", 8);
        memset(big + hl + 8, 'c', sizeof(big) - hl - 8 - 4);
        memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
        CHECK_EQ_INT(sss_http_upgrade_parse(big, 1024, &policy, &u), 0);
        CHECK_EQ_INT(sss_http_upgrade_parse(big, 1025, &policy, &u), 1);
        CHECK_EQ_INT(u.status, 431);
        CHECK_EQ_INT(sss_http_upgrade_parse(big, sizeof(big), &policy, &u), 1);
        CHECK_EQ_INT(u.status, 431);
    }
}

static void test_subprotocols(void)
{
    char out[512];

#define SP(lines) REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN lines "\r\n"
    /* Server preference wins over the client's order. */
    expect(SP("Sec-WebSocket-Protocol: chat, sss.v1\r\n"), 101, NULL);
    CHECK_EQ_STR(u.protocol, "sss.v1");
    expect(SP("Sec-WebSocket-Protocol: chat,sss.v2 ,  sss.v1\r\n"), 101, NULL);
    CHECK_EQ_STR(u.protocol, "sss.v2");
    /* Offers spread over several header lines. */
    expect(SP("Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: x, sss.v2\r\n"), 101, NULL);
    CHECK_EQ_STR(u.protocol, "sss.v2");
    expect(SP("Sec-WebSocket-Protocol: foo\r\nsec-websocket-protocol: chat\r\n"), 101, NULL);
    CHECK_EQ_STR(u.protocol, "chat");
    /* None matched: exact names only (SSS.V1 is not sss.v1), no prefixes. */
    expect(SP("Sec-WebSocket-Protocol: foo, SSS.V1, sss, sss.v1x\r\n"), 101, NULL);
    CHECK_EQ_STR(u.protocol, "");
    CHECK(sss_http_response(&u, out, sizeof(out)) > 0);
    CHECK(strstr(out, "Sec-WebSocket-Protocol") == NULL);
    expect(SP("Sec-WebSocket-Protocol:\r\n"), 101, NULL);
    CHECK_EQ_STR(u.protocol, "");
    expect(SP("Sec-WebSocket-Protocol: ,, ,\r\n"), 101, NULL);
    CHECK_EQ_STR(u.protocol, "");
    /* A server without sub-protocols never picks one. */
    {
        struct sss_http_policy plain = policy;
        static const char req[] = SP("Sec-WebSocket-Protocol: chat\r\n");

        plain.subprotocols = NULL;
        CHECK_EQ_INT(sss_http_upgrade_parse(req, strlen(req), &plain, &u), 1);
        CHECK_EQ_INT(u.status, 101);
        CHECK_EQ_STR(u.protocol, "");
    }
#undef SP
}

static void test_responses(void)
{
    char out[512];
    size_t n;
    struct sss_http_upgrade d;

    memset(&d, 0, sizeof(d));
    d.status = 101;
    memcpy(d.accept, ACCEPT, 29);
    n = sss_http_response(&d, out, sizeof(out));
    CHECK_EQ_STR(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n\r\n");
    CHECK_EQ_INT(n, strlen(out));
    memcpy(d.protocol, "sss.v1", 7);
    n = sss_http_response(&d, out, sizeof(out));
    CHECK_EQ_STR(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n"
                      "Sec-WebSocket-Protocol: sss.v1\r\n\r\n");
    CHECK_EQ_INT(n, strlen(out));
    /* Exactly enough room (no NUL), and one byte short. */
    CHECK_EQ_INT(sss_http_response(&d, out, n), n);
    CHECK_EQ_INT(sss_http_response(&d, out, n - 1), 0);
    /* A 101 without a proper accept value or with a bad protocol is refused. */
    d.accept[27] = '\0';
    CHECK_EQ_INT(sss_http_response(&d, out, sizeof(out)), 0);
    memcpy(d.accept, ACCEPT, 29);
    memcpy(d.protocol, "a\r\nb", 5);
    CHECK_EQ_INT(sss_http_response(&d, out, sizeof(out)), 0);

    d.status = 426;
    d.reason = "Sec-WebSocket-Version must be 13";
    n = sss_http_response(&d, out, sizeof(out));
    CHECK_EQ_STR(out, "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Length: 33\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\n\r\n"
                      "Sec-WebSocket-Version must be 13\n");
    CHECK_EQ_INT(n, strlen(out));

    d.status = 405;
    d.reason = "method must be GET";
    n = sss_http_response(&d, out, sizeof(out));
    CHECK_EQ_STR(out, "HTTP/1.1 405 Method Not Allowed\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n"
                      "Connection: close\r\nAllow: GET\r\n\r\n"
                      "method must be GET\n");
    CHECK_EQ_INT(n, strlen(out));

    n = sss_http_error(503, "server full", out, sizeof(out));
    CHECK_EQ_STR(out, "HTTP/1.1 503 Service Unavailable\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n"
                      "Connection: close\r\n\r\nserver full\n");
    CHECK_EQ_INT(n, strlen(out));
    CHECK_EQ_INT(sss_http_error(503, "server full", out, n), n);
    CHECK_EQ_INT(sss_http_error(503, "server full", out, n - 1), 0);
    CHECK_EQ_INT(sss_http_error(503, "server full", out, 0), 0);

    /* Every status of the table; a NULL reason is the status text. */
    {
        static const struct {
            int status;
            const char *line;
        } all[] = {
            {400, "HTTP/1.1 400 Bad Request\r\n"},
            {401, "HTTP/1.1 401 Unauthorized\r\n"},
            {403, "HTTP/1.1 403 Forbidden\r\n"},
            {404, "HTTP/1.1 404 Not Found\r\n"},
            {405, "HTTP/1.1 405 Method Not Allowed\r\n"},
            {426, "HTTP/1.1 426 Upgrade Required\r\n"},
            {431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
            {500, "HTTP/1.1 500 Internal Server Error\r\n"},
            {503, "HTTP/1.1 503 Service Unavailable\r\n"},
        };
        size_t i;

        for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            n = sss_http_error(all[i].status, "x", out, sizeof(out));
            CHECK(n > 0 && strncmp(out, all[i].line, strlen(all[i].line)) == 0);
            CHECK(strstr(out, "Content-Length: 2\r\nConnection: close\r\n") != NULL);
            CHECK(n > 6 && memcmp(out + n - 6, "\r\n\r\nx\n", 6) == 0);
        }
        n = sss_http_error(401, NULL, out, sizeof(out));
        CHECK(n > 0 && strstr(out, "Content-Length: 13\r\n") != NULL);
        CHECK(n > 0 && strstr(out, "\r\n\r\nUnauthorized\n") != NULL);
    }
    /* Statuses outside the table are refused. */
    CHECK_EQ_INT(sss_http_error(418, "teapot", out, sizeof(out)), 0);
    CHECK_EQ_INT(sss_http_error(101, "x", out, sizeof(out)), 0);
    CHECK_EQ_INT(sss_http_error(200, "x", out, sizeof(out)), 0);

    /* A reason is one printable line, at most 200 bytes. */
    n = sss_http_error(400, "a\r\nb\x80", out, sizeof(out));
    CHECK(n > 0 && strstr(out, "Content-Length: 6\r\n") && strstr(out, "\r\n\r\na??b?\n"));
    {
        char longr[1000];

        memset(longr, 'r', sizeof(longr) - 1);
        longr[sizeof(longr) - 1] = '\0';
        n = sss_http_error(431, longr, out, sizeof(out));
        CHECK(n > 0 && n < sizeof(out));
        CHECK(strstr(out, "Content-Length: 201\r\n") != NULL);
    }
}

/* Cookie and Authorization are kept for the session parser, whole or not at all. */
static void test_auth_headers(void)
{
    static const struct sss_http_policy big = {
        .path = "/ws", .origins = NULL, .max_size = 8192, .subprotocols = NULL};
    char req[6000], longv[3000];
    int n;

    static const struct {
        const char *req, *cookie, *authorization;
        int truncated;
    } cases[] = {
        {VALID, "", "", 0},
        {REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN "Cookie: a=b; token=xyz \t\r\n"
                                             "authorization: Bearer abc.def.ghi  \r\n\r\n",
         "a=b; token=xyz", "Bearer abc.def.ghi", 0},
        /* Several Cookie lines make one list; empty ones add nothing. */
        {REQ_LINE REQ_HOST "Cookie: a=1\r\n" REQ_WS "COOKIE:\r\nCookie: token=t \r\n"
                           "Cookie:  \r\n" REQ_ORIGIN "\r\n",
         "a=1; token=t", "", 0},
        /* Two Authorization lines are ambiguous: dropped and flagged. */
        {REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN "Authorization: Bearer a\r\n"
                                             "Authorization: Bearer b\r\n\r\n",
         "", "", 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect(cases[i].req, 101, NULL);
        CHECK_EQ_STR(u.cookie, cases[i].cookie);
        CHECK_EQ_STR(u.authorization, cases[i].authorization);
        CHECK_EQ_INT(u.headers_truncated, cases[i].truncated);
    }

    /* A Cookie that doesn't fit is dropped whole, never cut; the upgrade still succeeds. */
    memset(longv, 'c', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    n = snprintf(req, sizeof(req), REQ_LINE REQ_HOST REQ_WS "Cookie: token=%s\r\n\r\n", longv);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, (size_t)n, &big, &u), 1);
    CHECK_EQ_INT(u.status, 101);
    CHECK_EQ_STR(u.cookie, "");
    CHECK_EQ_INT(u.headers_truncated, 1);
    /* Exactly 2047 bytes fit. */
    n = snprintf(req, sizeof(req), REQ_LINE REQ_HOST REQ_WS "Cookie: %.*s\r\n\r\n", 2047, longv);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, (size_t)n, &big, &u), 1);
    CHECK_EQ_INT(strlen(u.cookie), 2047);
    CHECK_EQ_INT(u.headers_truncated, 0);
    n = snprintf(req, sizeof(req), REQ_LINE REQ_HOST REQ_WS "Cookie: %.*s\r\n\r\n", 2048, longv);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, (size_t)n, &big, &u), 1);
    CHECK_EQ_STR(u.cookie, "");
    CHECK_EQ_INT(u.headers_truncated, 1);
    /* Lines that fit alone but not together. */
    n = snprintf(req, sizeof(req),
                 REQ_LINE REQ_HOST REQ_WS "Cookie: a=%.*s\r\nCookie: b=%.*s\r\n\r\n", 1200, longv,
                 1200, longv);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, (size_t)n, &big, &u), 1);
    CHECK_EQ_STR(u.cookie, "");
    CHECK_EQ_INT(u.headers_truncated, 1);
    n = snprintf(req, sizeof(req), REQ_LINE REQ_HOST REQ_WS "Authorization: Bearer %.*s\r\n\r\n",
                 1100, longv);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, (size_t)n, &big, &u), 1);
    CHECK_EQ_INT(u.status, 101);
    CHECK_EQ_STR(u.authorization, "");
    CHECK_EQ_INT(u.headers_truncated, 1);
    /* Every call starts afresh. */
    expect(VALID, 101, NULL);
    CHECK_EQ_STR(u.cookie, "");
    CHECK_EQ_STR(u.authorization, "");
    CHECK_EQ_INT(u.headers_truncated, 0);
}

/* Origin, User-Agent and X-Forwarded-For, copied for the session parser (PROXY.md's connect). */
static void test_info_headers(void)
{
    static const struct sss_http_policy big = {
        .path = "/ws", .origins = NULL, .max_size = 8192, .subprotocols = NULL};
    char req[4000], longv[1000];
    int n;

    expect(REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN "User-Agent: ua/1.0 (x)  \r\n"
                                               "X-Forwarded-For: 10.0.0.1\r\n"
                                               "x-forwarded-for:  10.0.0.2 \r\n"
                                               "X-Forwarded-For: \r\n\r\n",
           101, NULL);
    CHECK_EQ_STR(u.origin, "https://example.com");
    CHECK_EQ_STR(u.user_agent, "ua/1.0 (x)");
    CHECK_EQ_STR(u.forwarded_for, "10.0.0.1, 10.0.0.2");
    /* Absent: "". Every call starts afresh. */
    n = snprintf(req, sizeof(req), REQ_LINE REQ_HOST REQ_WS "\r\n");
    CHECK_EQ_INT(sss_http_upgrade_parse(req, (size_t)n, &big, &u), 1);
    CHECK_EQ_INT(u.status, 101);
    CHECK_EQ_STR(u.origin, "");
    CHECK_EQ_STR(u.user_agent, "");
    CHECK_EQ_STR(u.forwarded_for, "");
    /* Sent twice: dropped (which one counts is ambiguous). */
    n = snprintf(req, sizeof(req),
                 REQ_LINE REQ_HOST REQ_WS REQ_ORIGIN REQ_ORIGIN
                 "User-Agent: a\r\nUser-Agent: b\r\n\r\n");
    CHECK_EQ_INT(sss_http_upgrade_parse(req, (size_t)n, &big, &u), 1);
    CHECK_EQ_INT(u.status, 101);
    CHECK_EQ_STR(u.origin, "");
    CHECK_EQ_STR(u.user_agent, "");
    /* Too long for its buffer: dropped whole, never cut; the upgrade goes on. */
    memset(longv, 'v', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    n = snprintf(req, sizeof(req),
                 REQ_LINE REQ_HOST REQ_WS "User-Agent: %.*s\r\nX-Forwarded-For: %.*s\r\n"
                 "Origin: %.*s\r\n\r\n",
                 512, longv, 512, longv, 256, longv);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, (size_t)n, &big, &u), 1);
    CHECK_EQ_INT(u.status, 101);
    CHECK_EQ_STR(u.user_agent, "");
    CHECK_EQ_STR(u.forwarded_for, "");
    CHECK_EQ_STR(u.origin, "");
    CHECK_EQ_INT(u.headers_truncated, 0);
    n = snprintf(req, sizeof(req),
                 REQ_LINE REQ_HOST REQ_WS "User-Agent: %.*s\r\nX-Forwarded-For: %.*s\r\n"
                 "Origin: %.*s\r\n\r\n",
                 511, longv, 511, longv, 255, longv);
    CHECK_EQ_INT(sss_http_upgrade_parse(req, (size_t)n, &big, &u), 1);
    CHECK_EQ_INT(strlen(u.user_agent), 511);
    CHECK_EQ_INT(strlen(u.forwarded_for), 511);
    CHECK_EQ_INT(strlen(u.origin), 255);
}

int main(void)
{
    test_accept_key();
    test_valid();
    test_pipelined();
    test_incremental();
    test_method_version_host_path();
    test_long_target();
    test_upgrade_connection();
    test_key_version();
    test_origin();
    test_body_and_malformed();
    test_too_large();
    test_subprotocols();
    test_responses();
    test_auth_headers();
    test_info_headers();
    return sss_test_done();
}
