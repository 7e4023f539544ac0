/* Reference-counted output buffers (see sss_buf.h). */
#include "sss_buf.h"
#include "sss_alloc.h"

#include <assert.h>

struct sss_buf *sss_buf_new(size_t cap)
{
    struct sss_buf *b;

    if (cap > UINT32_MAX - sizeof(*b))
        return NULL;
    b = sss_malloc(sizeof(*b) + cap);
    if (b) {
        b->ref = 1;
        b->len = 0;
        b->cap = (uint32_t)cap;
    }
    return b;
}

void sss_buf_unref(struct sss_buf *b)
{
    assert(b->ref > 0);
    if (--b->ref == 0)
        sss_free(b);
}
