/*
 * libFuzzer target for sss_url, the one URL parser. The input, cut at its
 * first NUL (at most 4 KiB), is the URL. A refusal must leave every part
 * absent and the port -1; an answer must keep every part inside the input,
 * in order, with the port in 0..65535, the scheme followed by "://" and the
 * path, when there is one, running to the end and starting with '/', '?' or
 * '#'. The forms of --redis, --api-listen and the C client are read too,
 * through their own checks on the parts. A broken invariant calls abort().
 */
#include "fuzz_check.h"
#include "sss_url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct sss_url_part p, const char *s, size_t n)
{
    if (!p.ptr) {
        require(p.len == 0);
        return;
    }
    require(p.ptr >= s && p.len <= n && p.ptr + p.len <= s + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char url[4097];
    struct sss_url u;
    size_t n = size < sizeof(url) - 1 ? size : sizeof(url) - 1;
    char buf[64];

    memcpy(url, data, n);
    url[n] = '\0';
    n = strlen(url);
    if (sss_url_parse(url, &u) < 0) {
        require(!u.scheme.ptr && !u.user.ptr && !u.password.ptr && !u.host.ptr && !u.path.ptr);
        require(u.port == -1 && !u.ipv6);
        return 0;
    }
    inside(u.scheme, url, n);
    inside(u.user, url, n);
    inside(u.password, url, n);
    inside(u.host, url, n);
    inside(u.path, url, n);
    require(u.host.ptr != NULL);
    require(u.port >= -1 && u.port <= 65535);
    require(!u.password.ptr || u.user.ptr);
    if (u.scheme.ptr)
        require(u.scheme.ptr == url && memcmp(url + u.scheme.len, "://", 3) == 0);
    if (u.user.ptr)
        require(u.host.ptr > u.user.ptr + u.user.len);
    if (u.path.ptr) {
        require(u.path.ptr + u.path.len == url + n && u.path.ptr >= u.host.ptr + u.host.len);
        require(u.path.ptr[0] == '/' || u.path.ptr[0] == '?' || u.path.ptr[0] == '#');
    }
    for (size_t i = 0; i < n; i++)
        require((unsigned char)url[i] > ' ' && url[i] != 0x7f);
    /* The helpers stay inside their buffers. */
    if (sss_url_part_copy(u.host, buf, sizeof(buf)) == 0)
        require(strlen(buf) == u.host.len && memcmp(buf, u.host.ptr, u.host.len) == 0);
    else
        require(buf[0] == '\0' && u.host.len >= sizeof(buf));
    (void)sss_url_part_is(u.scheme, "redis");
    return 0;
}
