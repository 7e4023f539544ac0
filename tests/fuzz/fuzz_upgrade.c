/*
 * libFuzzer target for an upgrade's hand-over record (src/upgrade/sss_upgrade.c).
 *
 * Input: a record, copied into a buffer of exactly its size so that ASan
 * sees any read past its end. Checks: sss_upgrade_rec_parse returns 0 or
 * -EINVAL; an accepted record's strings and channels lie inside it, each
 * name within its bound and free of NUL; walking the channels gives
 * exactly nsubs of them; and writing the parsed record again gives back
 * the input's bytes.
 */
#include "fuzz_check.h"
#include "sss_upgrade.h"
#include "sss/sss_limits.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const void *p, size_t n, const uint8_t *buf, size_t size)
{
    const uint8_t *q = p;

    return n == 0 || (q >= buf && q + n <= buf + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    struct sss_upgrade_conn u;
    struct sss_upgrade_sub s;
    struct sss_dynbuf out = SSS_DYNBUF_INIT;
    size_t pos = 0;
    uint32_t n = 0;
    int rc;

    require(buf != NULL);
    memcpy(buf, data, size);
    rc = sss_upgrade_rec_parse(buf, size, &u);
    require(rc == 0 || rc == -EINVAL);
    if (rc == 0) {
        require(u.user_len <= SSS_USER_MAX && u.session_len <= SSS_SESSION_MAX);
        require(inside(u.user, u.user_len, buf, size) && inside(u.session, u.session_len, buf, size));
        require(sss_upgrade_rec_begin(&out, &u) == 0);
        while (sss_upgrade_sub_next(&u, &pos, &s)) {
            require(s.len >= 1 && s.len <= SSS_PROTO_CHANNEL_MAX);
            require(inside(s.name, s.len, buf, size) && !memchr(s.name, '\0', s.len));
            require(sss_upgrade_rec_add_sub(&out, &s) == 0);
            n++;
        }
        require(n == u.nsubs);
        require(sss_upgrade_rec_end(&out, n) == 0);
        require(out.len == size && memcmp(out.data, buf, size) == 0);
    }
    sss_dynbuf_fini(&out);
    free(buf);
    return 0;
}
