/*
 * libFuzzer target for the sss.v1.msgpack transcoder (src/proto/sss_msgpack.c).
 * Each input is read as a client's binary frame: a refusal must name its
 * error (SSS_ELIMIT only for depth); an accepted one must give strict JSON
 * (yajl), which transcodes back to MessagePack and JSON again; from there on
 * the text is a fixed point (the first pass may write ill-formed UTF-8 as
 * \ufffd escapes, which then read back as that character). The input is also read as JSON: what
 * sss_msgpack_from_json accepts must come back from MessagePack as JSON,
 * unless it held a number too large for a double (JSON's 1e400, refused as
 * infinity). A broken invariant calls abort(), which libFuzzer (or the
 * replayer) reports.
 */
#include "fuzz_check.h"
#include "proto/sss_msgpack.h"
#include "sss_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require_json_out(const struct sss_dynbuf *o)
{
    require_json(o->data, o->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sss_dynbuf j1, mp, j2;
    enum sss_msgpack_error e;
    int rc;

    sss_dynbuf_init(&j1, NULL, 0);
    sss_dynbuf_init(&mp, NULL, 0);
    sss_dynbuf_init(&j2, NULL, 0);
    rc = sss_msgpack_to_json(&j1, data, size, &e);
    if (rc == 0) {
        require(e == SSS_MSGPACK_OK);
        require_json_out(&j1);
        require(sss_msgpack_from_json(&mp, j1.data, j1.len) == 0);
        require(sss_msgpack_to_json(&j2, mp.data, mp.len, &e) == 0);
        sss_dynbuf_reset(&mp);
        sss_dynbuf_reset(&j1);
        require(sss_msgpack_from_json(&mp, j2.data, j2.len) == 0);
        require(sss_msgpack_to_json(&j1, mp.data, mp.len, &e) == 0);
        require(j2.len == j1.len && memcmp(j2.data, j1.data, j1.len) == 0);
    } else {
        require(rc == SSS_EPROTO || rc == SSS_ELIMIT || rc == -ENOMEM);
        require(e != SSS_MSGPACK_OK && (rc != SSS_ELIMIT || e == SSS_MSGPACK_E_DEPTH));
    }
    sss_dynbuf_reset(&mp);
    sss_dynbuf_reset(&j2);
    if (sss_msgpack_from_json(&mp, (const char *)data, size) == 0) {
        rc = sss_msgpack_to_json(&j2, mp.data, mp.len, &e);
        /* Deeper than a client may send is fine to encode (a FEED inside a SYNC reply). */
        require(rc == 0 || e == SSS_MSGPACK_E_FLOAT || e == SSS_MSGPACK_E_DEPTH);
        if (rc == 0)
            require_json_out(&j2);
    }
    sss_dynbuf_fini(&j1);
    sss_dynbuf_fini(&mp);
    sss_dynbuf_fini(&j2);
    return 0;
}
