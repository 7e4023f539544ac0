/*
 * The WebSocket upgrade handshake: parse the request head with llhttp, check
 * it against RFC 6455 section 4.2.1 and the policy, and format the answer.
 *
 * Each call parses from the first byte again: the caller keeps the bytes and
 * we keep no state between calls, so all our state lives in one struct on the
 * stack (struct http_parse, some 600 bytes with the llhttp parser). To keep
 * repeated calls cheap, llhttp runs only once "\r\n\r\n" is in the buffer
 * (llhttp rejects bare LF, so nothing else can end a valid head), and never
 * on more than policy->max_size bytes, so the work per call is bounded.
 *
 * llhttp is stopped in on_headers_complete (HPE_PAUSED). Its error position
 * is then exactly the first byte after the head, for upgrade requests as for
 * plain ones and those with a body, so WebSocket bytes that came in the same
 * read are never parsed as HTTP, and the consumed count is exact.
 *
 * llhttp hands over header names and values in fragments. Names are copied
 * into a small buffer (names longer than any we look for are just "other").
 * Single values (Host, Sec-WebSocket-Key, -Version, Origin) are copied into a
 * bounded buffer; list values (Upgrade, Connection, Sec-WebSocket-Protocol)
 * are split into tokens as the bytes arrive, so a header line may be of any
 * length and a list may span several header lines. Cookie and Authorization
 * are copied into the answer for the session parser; one that doesn't fit is
 * dropped whole and flagged, never cut, so a token can't lose its tail.
 * Origin, User-Agent and X-Forwarded-For are copied for it the same way
 * (dropped, not flagged: nothing depends on them being whole).
 */
#include "sss_http.h"

#include <stdint.h>
#include <string.h>

#include <llhttp.h>
#include <openssl/evp.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN 24        /* base64 of 16 bytes: 22 characters and "==" */
#define ACCEPT_LEN 28        /* base64 of a 20-byte SHA-1 */
#define KEY_MAX 200          /* longer keys are invalid anyway; bounds the stack buffer */
#define REASON_MAX 200       /* longest body we format, so that 512 bytes always suffice */
#define MAX_SUBPROTOCOLS 64  /* policy entries after the 64th are never chosen */

/* The headers we look at; everything else is HDR_OTHER and ignored. */
enum http_hdr {
    HDR_OTHER,
    HDR_HOST,
    HDR_UPGRADE,
    HDR_CONNECTION,
    HDR_KEY,
    HDR_VERSION,
    HDR_ORIGIN,
    HDR_PROTOCOL,
    HDR_TRANSFER_ENCODING,
    /* Copied into the answer (struct http_copy), in this order to the end. */
    HDR_COOKIE,
    HDR_AUTHORIZATION,
    HDR_USER_AGENT,
    HDR_FORWARDED_FOR,
    HDR_EXTENSIONS,
};

#define NCOPIES (HDR_EXTENSIONS - HDR_COOKIE + 1)

static const struct {
    const char *name;
    size_t len;
    enum http_hdr hdr;
} http_hdr_names[] = {
    {"host", 4, HDR_HOST},
    {"upgrade", 7, HDR_UPGRADE},
    {"connection", 10, HDR_CONNECTION},
    {"sec-websocket-key", 17, HDR_KEY},
    {"sec-websocket-version", 21, HDR_VERSION},
    {"origin", 6, HDR_ORIGIN},
    {"sec-websocket-protocol", 22, HDR_PROTOCOL},
    {"transfer-encoding", 17, HDR_TRANSFER_ENCODING},
    {"cookie", 6, HDR_COOKIE},
    {"authorization", 13, HDR_AUTHORIZATION},
    {"user-agent", 10, HDR_USER_AGENT},
    {"x-forwarded-for", 15, HDR_FORWARDED_FOR},
    {"sec-websocket-extensions", 24, HDR_EXTENSIONS},
};

/*
 * One element of a comma-separated list, collected across fragments. Spaces
 * are held back (pending) until a non-space follows, so that optional
 * whitespace around commas never fills the buffer.
 */
struct http_token {
    char buf[64]; /* longer tokens can match nothing we compare with */
    size_t len;
    size_t pending_spaces;
    int overlong;
};

/*
 * A header copied into the answer for the session parser (Cookie,
 * Authorization, User-Agent, X-Forwarded-For, Sec-WebSocket-Extensions),
 * always NUL-terminated, each line trimmed. Several lines are joined by sep;
 * with no sep a second line makes the copy bad (two credentials: which one
 * counts would be ambiguous). A value that doesn't fit, or holds a NUL,
 * empties the copy and makes it bad for good, so a token can't lose its tail.
 */
struct http_copy {
    char *dst;
    size_t cap;
    const char *sep; /* "; " or ", ", or NULL: one line only */
    size_t len;
    size_t mark; /* where the current line (its separator first) began */
    unsigned lines;
    int bad;
};

struct http_parse {
    llhttp_t parser;
    const struct sss_http_policy *policy;
    struct sss_http_upgrade *out;
    int headers_done;
    int has_body;

    /* Request-target and its path, compared with policy->path as it arrives. */
    size_t target_len;
    size_t path_pos;  /* bytes of policy->path matched so far */
    int path_ended;   /* the '?' was seen */
    int path_differs;

    /* The header being read. */
    char field[24];
    size_t field_len; /* > sizeof(field) once the name is too long to be ours */
    enum http_hdr hdr;
    char value[256]; /* single values; longer ones are invalid or unmatched */
    size_t value_len;
    int value_overlong;
    struct http_token tok;

    /* What the headers said. */
    unsigned host_count, key_count, version_count, origin_count;
    int host_empty;
    int key_valid;
    char key[WS_KEY_LEN + 1];
    int version_13;
    int origin_allowed;
    int upgrade_websocket;
    int connection_upgrade;
    int transfer_encoding;
    uint64_t offered; /* bit i: the client offered policy->subprotocols[i] */

    struct http_copy copy[NCOPIES]; /* [hdr - HDR_COOKIE] */
};

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Case-insensitive ASCII comparison of a with the NUL-terminated b (locale-free). */
static int ascii_case_equal(const char *a, size_t alen, const char *b)
{
    size_t i;

    for (i = 0; i < alen; i++) {
        if (b[i] == '\0' || ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    }
    return b[alen] == '\0';
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static struct http_parse *state_of(llhttp_t *p)
{
    return p->data;
}

/* ---- request-target ---------------------------------------------------- */

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct http_parse *st = state_of(p);
    struct sss_http_upgrade *out = st->out;
    const char *want = st->policy->path;
    size_t room = sizeof(out->target) - 1 - st->target_len, i;

    if (room > n)
        room = n;
    memcpy(out->target + st->target_len, at, room);
    st->target_len += room;
    out->target[st->target_len] = '\0';

    if (!want || st->path_ended || st->path_differs)
        return 0;
    for (i = 0; i < n; i++) {
        if (at[i] == '?') {
            st->path_ended = 1;
            break;
        }
        /* want[path_pos] is '\0' past its end, so an extra byte differs. */
        if (want[st->path_pos] != at[i]) {
            st->path_differs = 1;
            break;
        }
        st->path_pos++;
    }
    return 0;
}

/* ---- copies: Cookie, Authorization, User-Agent, X-Forwarded-For, ... ---- */

static void copy_init(struct http_copy *c, char *dst, size_t cap, const char *sep)
{
    c->dst = dst;
    c->cap = cap;
    c->sep = sep;
}

/* The current header's copy, or NULL if it is not copied. */
static struct http_copy *copy_of(struct http_parse *st)
{
    return st->hdr >= HDR_COOKIE ? &st->copy[st->hdr - HDR_COOKIE] : NULL;
}

static void copy_bytes(struct http_copy *c, const char *at, size_t n)
{
    if (c->bad)
        return;
    if (n >= c->cap - c->len || memchr(at, '\0', n)) {
        c->bad = 1;
        c->dst[0] = '\0';
        return;
    }
    memcpy(c->dst + c->len, at, n);
    c->len += n;
    c->dst[c->len] = '\0';
}

static void copy_line_begins(struct http_copy *c)
{
    if (c->lines++ > 0 && !c->sep) {
        c->bad = 1;
        c->dst[0] = '\0';
        return;
    }
    c->mark = c->len;
    if (c->len > 0)
        copy_bytes(c, c->sep, strlen(c->sep));
}

static void copy_line_ends(struct http_copy *c)
{
    size_t start = c->mark + (c->mark > 0 ? strlen(c->sep) : 0);

    if (c->bad)
        return;
    while (c->len > start && is_ows(c->dst[c->len - 1]))
        c->len--;
    if (c->len == start)
        c->len = c->mark; /* an empty line adds nothing, not even a separator */
    c->dst[c->len] = '\0';
}

/* ---- header names ------------------------------------------------------ */

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct http_parse *st = state_of(p);

    if (st->field_len + n <= sizeof(st->field))
        memcpy(st->field + st->field_len, at, n);
    st->field_len = st->field_len + n > sizeof(st->field) ? sizeof(st->field) + 1
                                                          : st->field_len + n;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_parse *st = state_of(p);
    struct http_copy *c;
    size_t i;

    st->hdr = HDR_OTHER;
    if (st->field_len <= sizeof(st->field)) {
        for (i = 0; i < sizeof(http_hdr_names) / sizeof(http_hdr_names[0]); i++) {
            if (http_hdr_names[i].len == st->field_len &&
                ascii_case_equal(st->field, st->field_len, http_hdr_names[i].name)) {
                st->hdr = http_hdr_names[i].hdr;
                break;
            }
        }
    }
    st->field_len = 0;
    st->value_len = 0;
    st->value_overlong = 0;
    memset(&st->tok, 0, sizeof(st->tok));
    if ((c = copy_of(st)))
        copy_line_begins(c);
    return 0;
}

/* ---- list values: Upgrade, Connection, Sec-WebSocket-Protocol ----------- */

/* One complete list element (already trimmed) of the current header. */
static void token_done(struct http_parse *st)
{
    struct http_token *t = &st->tok;
    const char *const *subs = st->policy->subprotocols;
    size_t i;

    if (t->len == 0 || t->overlong)
        return;
    t->buf[t->len] = '\0';
    switch (st->hdr) {
    case HDR_UPGRADE:
        if (ascii_case_equal(t->buf, t->len, "websocket"))
            st->upgrade_websocket = 1;
        break;
    case HDR_CONNECTION:
        if (ascii_case_equal(t->buf, t->len, "upgrade"))
            st->connection_upgrade = 1;
        break;
    case HDR_PROTOCOL:
        /* Sub-protocol names compare exactly, as RFC 6455 gives no case rule. */
        for (i = 0; subs && subs[i] && i < MAX_SUBPROTOCOLS; i++) {
            if (strcmp(subs[i], t->buf) == 0)
                st->offered |= (uint64_t)1 << i;
        }
        break;
    default:
        break;
    }
}

static void token_bytes(struct http_parse *st, const char *at, size_t n)
{
    struct http_token *t = &st->tok;
    size_t i;

    for (i = 0; i < n; i++) {
        char c = at[i];

        if (c == ',') {
            token_done(st);
            memset(t, 0, sizeof(*t));
        } else if (is_ows(c)) {
            if (t->len > 0)
                t->pending_spaces++;
        } else if (!t->overlong) {
            /* Keep one byte for the NUL that token_done adds. */
            if (t->len + t->pending_spaces + 1 >= sizeof(t->buf)) {
                t->overlong = 1;
                continue;
            }
            memset(t->buf + t->len, ' ', t->pending_spaces);
            t->len += t->pending_spaces;
            t->pending_spaces = 0;
            t->buf[t->len++] = c;
        }
    }
}

/* ---- single values: Host, Sec-WebSocket-Key, -Version, Origin ----------- */

/* A valid key is base64 of exactly 16 bytes: 22 alphabet characters and "==". */
static int key_is_valid(const char *v, size_t n)
{
    size_t i;

    if (n != WS_KEY_LEN || v[22] != '=' || v[23] != '=')
        return 0;
    for (i = 0; i < 22; i++) {
        char c = v[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    return 1;
}

static int origin_is_allowed(const struct sss_http_policy *policy, const char *v, size_t n)
{
    size_t i;

    if (!policy->origins)
        return 1; /* no list: any origin (browsers always send one) */
    for (i = 0; policy->origins[i]; i++) {
        if (ascii_case_equal(v, n, policy->origins[i]))
            return 1;
    }
    return 0;
}

static void single_value_done(struct http_parse *st)
{
    const char *v = st->value;
    size_t n = st->value_len;

    /* llhttp drops leading whitespace but keeps trailing (and a folded line's). */
    while (n > 0 && is_ows(v[0])) {
        v++;
        n--;
    }
    while (n > 0 && is_ows(v[n - 1]))
        n--;

    switch (st->hdr) {
    case HDR_HOST:
        st->host_count++;
        if (n == 0 && !st->value_overlong)
            st->host_empty = 1;
        break;
    case HDR_KEY:
        st->key_count++;
        st->key_valid = !st->value_overlong && key_is_valid(v, n);
        if (st->key_valid) {
            memcpy(st->key, v, WS_KEY_LEN);
            st->key[WS_KEY_LEN] = '\0';
        }
        break;
    case HDR_VERSION:
        st->version_count++;
        st->version_13 = !st->value_overlong && n == 2 && v[0] == '1' && v[1] == '3';
        break;
    case HDR_ORIGIN:
        st->origin_count++;
        st->origin_allowed = !st->value_overlong && origin_is_allowed(st->policy, v, n);
        /* The copy: dropped when overlong, holding a NUL, or sent twice. */
        if (st->origin_count == 1 && !st->value_overlong && n < sizeof(st->out->origin) &&
            !memchr(v, '\0', n)) {
            memcpy(st->out->origin, v, n);
            st->out->origin[n] = '\0';
        } else {
            st->out->origin[0] = '\0';
        }
        break;
    default:
        break;
    }
}

/* ---- header values ----------------------------------------------------- */

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct http_parse *st = state_of(p);
    struct http_copy *c;
    size_t room;

    switch (st->hdr) {
    case HDR_UPGRADE:
    case HDR_CONNECTION:
    case HDR_PROTOCOL:
        token_bytes(st, at, n);
        break;
    case HDR_HOST:
    case HDR_KEY:
    case HDR_VERSION:
    case HDR_ORIGIN:
        room = sizeof(st->value) - st->value_len;
        if (n > room) {
            st->value_overlong = 1;
            n = room;
        }
        memcpy(st->value + st->value_len, at, n);
        st->value_len += n;
        break;
    default:
        if ((c = copy_of(st)))
            copy_bytes(c, at, n);
        break;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_parse *st = state_of(p);
    struct http_copy *c;

    switch (st->hdr) {
    case HDR_UPGRADE:
    case HDR_CONNECTION:
    case HDR_PROTOCOL:
        token_done(st);
        break;
    case HDR_TRANSFER_ENCODING:
        st->transfer_encoding = 1;
        break;
    default:
        if ((c = copy_of(st)))
            copy_line_ends(c);
        else
            single_value_done(st);
        break;
    }
    st->hdr = HDR_OTHER;
    return 0;
}

/*
 * Stop at the end of the head: llhttp's error position is then the first byte
 * after it, whatever kind of request this is, and nothing after it is parsed.
 */
static int on_headers_complete(llhttp_t *p)
{
    struct http_parse *st = state_of(p);

    st->headers_done = 1;
    if ((p->flags & (F_CHUNKED | F_TRANSFER_ENCODING)) ||
        ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0))
        st->has_body = 1;
    return HPE_PAUSED;
}

/* ---- decision ---------------------------------------------------------- */

/* A printable one-line llhttp reason (its reasons are static strings), or NULL. */
static const char *printable_reason(const char *r)
{
    size_t i;

    if (!r || r[0] == '\0')
        return NULL;
    for (i = 0; r[i]; i++) {
        if (i >= REASON_MAX || r[i] < 0x20 || r[i] > 0x7e)
            return NULL;
    }
    return r;
}

static int decide(struct sss_http_upgrade *out, int status, const char *reason)
{
    out->status = status;
    out->reason = reason;
    return 1;
}

static void choose_subprotocol(const struct http_parse *st, struct sss_http_upgrade *out)
{
    const char *const *subs = st->policy->subprotocols;
    size_t i, n;

    out->protocol[0] = '\0';
    for (i = 0; subs && subs[i] && i < MAX_SUBPROTOCOLS; i++) {
        if (!(st->offered & ((uint64_t)1 << i)))
            continue;
        n = strlen(subs[i]);
        /* A name that doesn't fit can't have been offered (tokens are < 64 bytes). */
        if (n < sizeof(out->protocol)) {
            memcpy(out->protocol, subs[i], n + 1);
            return;
        }
    }
}

/* The headers are complete and llhttp found no error: apply RFC 6455 4.2.1 and the policy. */
static int check_request(struct http_parse *st)
{
    const struct sss_http_policy *policy = st->policy;
    struct sss_http_upgrade *out = st->out;
    llhttp_t *p = &st->parser;

    if (llhttp_get_method(p) != HTTP_GET)
        return decide(out, 405, "method must be GET");
    if (p->http_major < 1 || (p->http_major == 1 && p->http_minor < 1))
        return decide(out, 400, "HTTP/1.1 or later required");
    if (st->has_body || st->transfer_encoding)
        return decide(out, 400, "request body not allowed");
    if (st->host_count == 0)
        return decide(out, 400, "missing Host header");
    if (st->host_count > 1)
        return decide(out, 400, "duplicate Host header");
    if (st->host_empty)
        return decide(out, 400, "empty Host header");
    out->plain_get = !st->upgrade_websocket;
    if (policy->path && (st->path_differs || policy->path[st->path_pos] != '\0'))
        return decide(out, 404, "no WebSocket endpoint at this path");
    if (!st->upgrade_websocket)
        return decide(out, 426, "Upgrade: websocket required");
    if (!st->connection_upgrade)
        return decide(out, 400, "Connection header must include Upgrade");
    if (st->version_count != 1 || !st->version_13)
        return decide(out, 426, "Sec-WebSocket-Version must be 13");
    if (st->key_count == 0)
        return decide(out, 400, "missing Sec-WebSocket-Key");
    if (st->key_count > 1)
        return decide(out, 400, "duplicate Sec-WebSocket-Key");
    if (!st->key_valid)
        return decide(out, 400, "invalid Sec-WebSocket-Key");
    if (policy->origins && policy->origins[0] && (st->origin_count != 1 || !st->origin_allowed))
        return decide(out, 403, "origin not allowed");

    sss_http_accept_key(st->key, WS_KEY_LEN, out->accept);
    if (strlen(out->accept) != ACCEPT_LEN)
        return decide(out, 500, "internal error");
    choose_subprotocol(st, out);
    return decide(out, 101, NULL);
}

int sss_http_upgrade_parse(const char *buf, size_t len, const struct sss_http_policy *policy,
                           struct sss_http_upgrade *out)
{
    struct http_parse st;
    llhttp_settings_t settings;
    llhttp_errno_t err;
    size_t window = len < policy->max_size ? len : policy->max_size;
    const char *pos, *reason;

    out->status = 0;
    out->reason = NULL;
    out->consumed = 0;
    out->accept[0] = '\0';
    out->protocol[0] = '\0';
    out->target[0] = '\0';
    out->cookie[0] = '\0';
    out->authorization[0] = '\0';
    out->headers_truncated = 0;
    out->plain_get = 0;
    out->origin[0] = '\0';
    out->user_agent[0] = '\0';
    out->forwarded_for[0] = '\0';
    out->extensions[0] = '\0';
    out->extensions_answer[0] = '\0';

    /* A head must end within max_size bytes; until its end is here, don't parse. */
    if (window < 4 || !memmem(buf, window, "\r\n\r\n", 4)) {
        if (len <= policy->max_size)
            return 0;
        out->consumed = window;
        return decide(out, 431, "request header too large");
    }

    memset(&st, 0, sizeof(st));
    st.policy = policy;
    st.out = out;
    copy_init(&st.copy[HDR_COOKIE - HDR_COOKIE], out->cookie, sizeof(out->cookie), "; ");
    copy_init(&st.copy[HDR_AUTHORIZATION - HDR_COOKIE], out->authorization,
              sizeof(out->authorization), NULL);
    copy_init(&st.copy[HDR_USER_AGENT - HDR_COOKIE], out->user_agent, sizeof(out->user_agent),
              NULL);
    copy_init(&st.copy[HDR_FORWARDED_FOR - HDR_COOKIE], out->forwarded_for,
              sizeof(out->forwarded_for), ", ");
    copy_init(&st.copy[HDR_EXTENSIONS - HDR_COOKIE], out->extensions, sizeof(out->extensions),
              ", ");
    llhttp_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_headers_complete = on_headers_complete;
    llhttp_init(&st.parser, HTTP_REQUEST, &settings);
    st.parser.data = &st;

    err = llhttp_execute(&st.parser, buf, window);
    pos = llhttp_get_error_pos(&st.parser);
    /* The session parser must know a credential was dropped; the others just go. */
    out->headers_truncated =
        st.copy[HDR_COOKIE - HDR_COOKIE].bad || st.copy[HDR_AUTHORIZATION - HDR_COOKIE].bad;
    if (st.headers_done && (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) && pos) {
        out->consumed = (size_t)(pos - buf);
        return check_request(&st);
    }
    if (err == HPE_OK) {
        /* "\r\n\r\n" came early (empty lines before the request line): not done yet. */
        if (len <= policy->max_size)
            return 0;
        out->consumed = window;
        return decide(out, 431, "request header too large");
    }
    out->consumed = pos && pos >= buf && pos <= buf + window ? (size_t)(pos - buf) : window;
    if (err == HPE_PAUSED_H2_UPGRADE)
        return decide(out, 400, "HTTP/2 is not supported here");
    reason = printable_reason(llhttp_get_error_reason(&st.parser));
    return decide(out, 400, reason ? reason : "malformed HTTP request");
}

/* ---- responses --------------------------------------------------------- */

const char *sss_http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 426:
        return "Upgrade Required";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return NULL;
    }
}

/* Bounded appending into the caller's buffer; full is set once anything didn't fit. */
struct http_out {
    char *dst;
    size_t cap, len;
    int full;
};

static void put(struct http_out *o, const char *s, size_t n)
{
    if (o->full || n > o->cap - o->len) {
        o->full = 1;
        return;
    }
    memcpy(o->dst + o->len, s, n);
    o->len += n;
}

static void puts_(struct http_out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_uint(struct http_out *o, size_t v)
{
    char digits[24];
    size_t i = sizeof(digits);

    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    put(o, digits + i, sizeof(digits) - i);
}

static size_t finish(struct http_out *o)
{
    if (o->full)
        return 0;
    if (o->len < o->cap)
        o->dst[o->len] = '\0'; /* when there is room: convenient for logs and tests */
    return o->len;
}

/* Printable ASCII of up to 64 bytes, no separators: safe inside a header line. */
static int is_header_token(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++) {
        if (i >= 64 || s[i] <= 0x20 || s[i] > 0x7e || s[i] == ',')
            return 0;
    }
    return 1;
}

size_t sss_http_error(int status, const char *reason, char *dst, size_t cap)
{
    /* Error answers only: 4xx and 5xx of the table. */
    const char *text = status >= 400 ? sss_http_status_text(status) : NULL;
    struct http_out o = {dst, cap, 0, 0};
    char body[REASON_MAX + 1];
    size_t n;

    if (!text || status == 101 || !dst)
        return 0;
    if (!reason)
        reason = text;
    /* The body is one line of printable ASCII, whatever the caller passed. */
    for (n = 0; n < REASON_MAX && reason[n]; n++)
        body[n] = (reason[n] >= 0x20 && reason[n] <= 0x7e) ? reason[n] : '?';
    body[n++] = '\n';

    puts_(&o, "HTTP/1.1 ");
    put_uint(&o, (size_t)status);
    put(&o, " ", 1);
    puts_(&o, text);
    puts_(&o, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    put_uint(&o, n);
    puts_(&o, "\r\nConnection: close\r\n");
    if (status == 426)
        puts_(&o, "Sec-WebSocket-Version: 13\r\n");
    else if (status == 405)
        puts_(&o, "Allow: GET\r\n");
    puts_(&o, "\r\n");
    put(&o, body, n);
    return finish(&o);
}

size_t sss_http_response(const struct sss_http_upgrade *u, char *dst, size_t cap)
{
    struct http_out o = {dst, cap, 0, 0};

    if (u->status != 101)
        return sss_http_error(u->status, u->reason, dst, cap);
    if (!dst || strnlen(u->accept, sizeof(u->accept)) != ACCEPT_LEN ||
        !is_header_token(u->protocol))
        return 0;
    puts_(&o, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Accept: ");
    put(&o, u->accept, ACCEPT_LEN);
    puts_(&o, "\r\n");
    if (u->protocol[0]) {
        puts_(&o, "Sec-WebSocket-Protocol: ");
        puts_(&o, u->protocol);
        puts_(&o, "\r\n");
    }
    if (u->extensions_answer[0]) {
        puts_(&o, "Sec-WebSocket-Extensions: ");
        puts_(&o, u->extensions_answer);
        puts_(&o, "\r\n");
    }
    puts_(&o, "\r\n");
    return finish(&o);
}

void sss_http_accept_key(const char *key, size_t key_len, char out[32])
{
    unsigned char input[KEY_MAX + sizeof(WS_GUID)];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    out[0] = '\0';
    if (key_len > KEY_MAX)
        return;
    memcpy(input, key, key_len);
    memcpy(input + key_len, WS_GUID, sizeof(WS_GUID) - 1);
    if (EVP_Digest(input, key_len + sizeof(WS_GUID) - 1, md, &md_len, EVP_sha1(), NULL) != 1 ||
        md_len != 20)
        return;
    /* 20 bytes encode to 28 characters and a NUL: fits out[32]. */
    EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
}
