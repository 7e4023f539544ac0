/*
 * libFuzzer target for permessage-deflate (src/ws/sss_deflate.c): the input
 * is a Sec-WebSocket-Extensions value for sss_deflate_negotiate, and also a
 * compressed message for sss_deflate_inflate (with and without context
 * takeover) under a small limit. An accepted offer must give windows in
 * range and an answer that starts with our extension and is printable; an
 * inflate must stay within its limit and, without takeover, keep no stream.
 * A broken invariant calls abort().
 */
#include "fuzz_check.h"
#include "ws/sss_deflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sss_deflate_params p;
    struct sss_deflate_rx rx;
    struct sss_dynbuf out = SSS_DYNBUF_INIT;
    char answer[SSS_DEFLATE_EXT_MAX];
    int rc;

    if (sss_deflate_negotiate((const char *)data, size, &p, answer)) {
        if (!p.on || p.server_bits < 9 || p.server_bits > 15 || p.client_bits < 8 ||
            p.client_bits > 15 || strncmp(answer, "permessage-deflate; server_no_context_takeover",
                                          46) != 0)
            abort();
        for (size_t i = 0; answer[i]; i++)
            if (answer[i] < 0x20 || answer[i] > 0x7e)
                abort();
    } else if (p.on || answer[0]) {
        abort();
    }
    for (int takeover = 0; takeover < 2; takeover++) {
        struct sss_deflate_params q = {1, 15, 15, (uint8_t)!takeover};

        sss_deflate_rx_init(&rx, &q);
        rc = sss_deflate_inflate(&rx, data, size, 4096, &out);
        if (rc == 0 && out.len > 4096)
            abort();
        if (!takeover && sss_deflate_rx_holding(&rx))
            abort();
        sss_deflate_rx_fini(&rx);
    }
    sss_dynbuf_fini(&out);
    return 0;
}
