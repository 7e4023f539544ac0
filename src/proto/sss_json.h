/*
 * A strict reader of small JSON documents for the places that only want the
 * direct children of one container: the claims and header of a JWT, and the
 * "err", "prot", "result" and "records" fields of server messages in the C
 * client. Wire frames keep their own decoder (sss_proto.h).
 *
 * It drives yajl's callback parser (never its tree API) over the whole
 * document in one call and adds what yajl lets through, so that the grammar
 * is RFC 8259 to the letter: no \v or \f as whitespace, well-formed UTF-8
 * only (no overlong forms, no surrogate code points, nothing past U+10FFFF),
 * no lone surrogate \u escapes, one value and only whitespace after it,
 * nesting bounded by the caller (checked in the start callbacks, so the
 * parser stops at once). Comments, trailing commas, single quotes, NaN and
 * leading zeros are refused by yajl itself.
 *
 * Pure: no state between calls, safe from any thread. yajl's handle and its
 * buffers come from a 12 KiB region on the stack, then from sss_alloc: yajl
 * 2.1 writes through a NULL when a buffer cannot grow mid-parse, so a small
 * document (a JWT's header or claims) never touches the heap. Bigger ones
 * (the C client's SYNC records) do; a failed yajl_alloc gives -ENOMEM.
 */
#ifndef SSS_JSON_H
#define SSS_JSON_H

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
};

/* Called for each child in document order; return 0 to go on, a negative code to stop. */
typedef int (*sss_json_item_fn)(void *data, const struct sss_json_item *item);

/*
 * Read buf (len bytes, need not be NUL-terminated), which must be exactly one
 * container of type top (SSS_JSON_OBJECT or SSS_JSON_ARRAY) with surrounding
 * whitespace, nested at most max_depth deep (the top container counts as 1).
 * fn sees each child when its value is complete: a scalar when it is read, a
 * container at its end; a problem later in the text is found only after it.
 * Repeated keys are passed on as they come: the caller decides.
 *
 * Returns 0; SSS_EPROTO when the text is not such a document (the first
 * problem in document order, after the children before it were seen);
 * -ENOMEM when yajl found no memory; or the first negative code from fn,
 * which stops the reading at once.
 */
int sss_json_each(const char *buf, size_t len, enum sss_json_type top, unsigned max_depth,
                  sss_json_item_fn fn, void *data) SSS_WUR;

#endif
