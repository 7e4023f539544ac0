/*
 * The one JSON reader of sss, over yajl's callback parser (never its tree
 * API). Two layers:
 *
 *   - sss_json_each, public: the direct children of one JSON object or
 *     array, for small documents: the claims and header of a JWT, the body
 *     of POST /api/boot, and the "err", "prot", "result" and "records"
 *     fields of server messages in the C client.
 *   - sss_json__parse, for src/proto only: every token with its depth and
 *     its offsets in the input. sss_json_each and the wire decoder
 *     (sss_proto_decode, sss_proto_decode_as) are both built on it, so they
 *     share one yajl callback table, one yajl_config, one allocator and one
 *     set of rules.
 *
 * The rules (yajl alone is laxer): one value, a container of the type asked
 * for, and only JSON whitespace after it (yajl lets `{}"` through: its lexer
 * waits for the rest of the string); no \v or \f as whitespace (the text is
 * read up to the first one, so what comes before is seen in order, then it
 * fails); nesting bounded by the caller, checked as each container opens so
 * the parser stops at once. Comments, trailing commas, single quotes, NaN,
 * leading zeros and raw control bytes in strings are refused by yajl itself.
 * Strings are left as yajl reads them by sss_json__parse (the wire decoder
 * passes lone surrogate escapes through in raw fields, as JSON.parse does);
 * sss_json_each checks them too unless told otherwise: well-formed UTF-8
 * only (no overlong forms, no surrogate code points, nothing past U+10FFFF)
 * and no lone surrogate \u escapes, which yajl turns into '?' or CESU bytes.
 *
 * Pure: no state between calls, safe from any thread. yajl's handle and its
 * buffers come from a region the caller lends (sss_json_each: 12 KiB on the
 * stack; the decoder: 16 KiB inside struct sss_proto_decoder), then from
 * sss_alloc: yajl 2.1 writes through a NULL when a buffer cannot grow
 * mid-parse, so a small document (a JWT, a frame) never touches the heap.
 */
#ifndef SSS_JSON_H
#define SSS_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "sss_err.h"

enum sss_json_type {
    SSS_JSON_NULL,
    SSS_JSON_FALSE,
    SSS_JSON_TRUE,
    SSS_JSON_NUMBER,
    SSS_JSON_STRING,
    SSS_JSON_OBJECT,
    SSS_JSON_ARRAY,
};

/*
 * One child of the top-level container, lent to the callback (everything
 * dies when it returns).
 */
struct sss_json_item {
    const char *key; /* an object's member: the unescaped key; NULL in an array */
    size_t key_len;  /* may hold NUL bytes (from \u0000) */
    enum sss_json_type type;
    const char *str; /* SSS_JSON_STRING: the unescaped value, str_len bytes, may hold NUL */
    size_t str_len;
    const char *raw; /* the value as written: a number's text, a string with its quotes,
                      * a whole object or array; "null", "true", "false" */
    size_t raw_len;
    bool loose; /* SSS_JSON_LOOSE_STRINGS only: the value or key holds a lone surrogate
                 * escape or ill-formed UTF-8 (str is then yajl's rendering of it) */
};

/* Called for each child in document order; return 0 to go on, a negative code to stop. */
typedef int (*sss_json_item_fn)(void *data, const struct sss_json_item *item);

/* Flags of sss_json_each. */
#define SSS_JSON_STRICT 0u /* RFC 8259 to the letter */
/* Strings as the wire decoder takes them (lone surrogate escapes, yajl's looser UTF-8),
 * marked item->loose, for a caller that explains such a string better than "bad JSON". */
#define SSS_JSON_LOOSE_STRINGS 1u

/*
 * Read buf (len bytes, need not be NUL-terminated), which must be exactly one
 * container of type top (SSS_JSON_OBJECT or SSS_JSON_ARRAY) with surrounding
 * whitespace, nested at most max_depth deep (the top container counts as 1),
 * under the rules above (flags: SSS_JSON_STRICT or SSS_JSON_LOOSE_STRINGS).
 * fn sees each child when its value is complete: a scalar when it is read, a
 * container at its end; a problem later in the text is found only after it.
 * Repeated keys are passed on as they come: the caller decides.
 *
 * Returns 0; SSS_EPROTO when the text is not such a document (the first
 * problem in document order, after the children before it were seen; too
 * deep included); -ENOMEM when yajl found no memory; or the first negative
 * code from fn, which stops the reading at once.
 */
int sss_json_each(const char *buf, size_t len, enum sss_json_type top, unsigned max_depth,
                  unsigned flags, sss_json_item_fn fn, void *data) SSS_WUR;

/* ---- Module-internal (src/proto): the token layer under both readers ---- */

enum sss_json__kind {
    SSS_JSON__SCALAR, /* null, true, false, a number or a string */
    SSS_JSON__KEY,    /* an object's key: item.key and item.str are it, unescaped */
    SSS_JSON__OPEN,   /* an object or array starts: its first byte */
    SSS_JSON__CLOSE,  /* it ends: its last byte (the text is OPEN's start to CLOSE's end) */
};

/*
 * One token, lent to the handler. item.type, .str (strings and keys) and
 * .raw are set; item.key only for a KEY. start and end are offsets in the
 * input of item.raw: always inside it, also for a number that ends the text
 * (yajl sees that one only when told the input is complete).
 */
struct sss_json__event {
    enum sss_json__kind kind;
    unsigned depth; /* containers open around the token: 0 for the top container's OPEN/CLOSE */
    size_t start, end;
    struct sss_json_item item;
};

/* Return 0 to go on; a negative code stops the parse, which returns it. */
typedef int (*sss_json__fn)(void *data, const struct sss_json__event *ev);

struct sss_json__parser {
    enum sss_json_type top;  /* the container the text must be */
    unsigned max_depth;      /* the top container counts as 1 */
    sss_json__fn fn;
    void *data;
    unsigned char *region;   /* borrowed, 16-byte aligned: yajl's memory before the heap */
    size_t region_cap;
};

/*
 * Parse buf (len bytes) under the rules above, strings as yajl reads them,
 * calling p->fn for each token in document order. Never blocks; the region
 * is free again when it returns.
 *
 * Returns 0; SSS_EPROTO when the text is not JSON by these rules; SSS_EINVAL
 * when the first value is not a p->top container (the rest unread);
 * SSS_ELIMIT when a container opens deeper than p->max_depth; -ENOMEM when
 * yajl could not start; or the first negative code from p->fn.
 */
int sss_json__parse(const struct sss_json__parser *p, const char *buf, size_t len) SSS_WUR;

/*
 * Unescape the inside of a string token (p, n: between its quotes, as the
 * parser handed it over) into dst (cap > 0 bytes), NUL-terminated, its
 * length in *len: the decoder's strings, which must come out as valid UTF-8
 * with no NUL (yajl's own unescaping turns a lone surrogate into '?' or CESU
 * bytes). Returns 0; SSS_ELIMIT when it does not fit; SSS_EPROTO for a lone
 * surrogate or \u0000 escape (or a malformed one).
 */
int sss_json__unescape(const char *p, size_t n, char *dst, size_t cap, size_t *len) SSS_WUR;

/*
 * Length of the well-formed UTF-8 sequence (RFC 3629: no overlong form, no
 * surrogate, nothing past U+10FFFF) at p, before end (p < end), or 0. The
 * one UTF-8 check of src/proto: the reader's strict strings, and the string
 * writer of the encoders, which writes \ufffd where it gives 0.
 */
size_t sss_json__utf8_len(const unsigned char *p, const unsigned char *end);

#endif
