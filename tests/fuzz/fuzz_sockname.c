/*
 * libFuzzer target for socket names (src/proto/sss_sockname.c).
 *
 * Input: any bytes, parsed as a name (copied into a buffer of exactly their
 * size, so that ASan sees a read past the end). Checks: the parse returns 0
 * or SSS_EINVAL; an accepted name's host lies inside the input, after the
 * first '@', and is 1..SSS_HOST_ID_MAX bytes without NUL; formatting the
 * parsed fields gives back the input byte for byte (one spelling per
 * socket). Then the first 12 bytes are taken as a socket id and run and the
 * rest as a host: a format that succeeds parses back to the same fields.
 */
#include "fuzz_check.h"
#include "sss_sockname.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[SSS_SOCKET_NAME_MAX + 1];
    char *in = malloc(size ? size : 1);
    struct sss_sockname n;
    int rc;

    require(in != NULL);
    memcpy(in, data, size);
    rc = sss_sockname_parse(in, size, &n);
    require(rc == 0 || rc == SSS_EINVAL);
    if (rc == 0) {
        const char *at = memchr(in, '@', size);

        require(at && n.host == at + 1 && n.host + n.host_len == in + size);
        require(n.host_len >= 1 && n.host_len <= SSS_HOST_ID_MAX);
        require(!memchr(n.host, '\0', n.host_len));
        rc = sss_sockname_format(out, sizeof(out), n.sid, n.run, n.host, n.host_len);
        require(rc == (int)size && memcmp(out, in, size) == 0);
    }
    if (size >= 12) {
        uint64_t sid;
        uint32_t run;
        struct sss_sockname m;

        memcpy(&sid, data, 8);
        memcpy(&run, data + 8, 4);
        rc = sss_sockname_format(out, sizeof(out), sid, run, in + 12, size - 12);
        require(rc > 0 || rc == SSS_EINVAL);
        if (rc > 0) {
            require(sss_sockname_parse(out, (size_t)rc, &m) == 0);
            require(m.sid == sid && m.run == run && m.host_len == size - 12 &&
                    memcmp(m.host, in + 12, size - 12) == 0);
        }
    }
    free(in);
    return 0;
}
