/* Creation and accessors of the host's shared memory segment (see sss_shm.h). */
#include "sss_shm.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static_assert(sizeof(struct sss_counters) % SSS_CACHELINE == 0, "counters own whole lines");

int sss_shm_create(struct sss_shm *shm, unsigned nprocs)
{
    size_t off = (sizeof(struct sss_shm_header) + SSS_CACHELINE - 1) & ~(size_t)(SSS_CACHELINE - 1);
    size_t size = off + nprocs * sizeof(struct sss_counters);
    int rc = 0, fd = memfd_create("sss-shm", MFD_CLOEXEC);
    void *base;

    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0)
        goto fail;
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        goto fail;
    shm->hdr = base;
    shm->size = size;
    shm->fd = fd;
    shm->hdr->magic = SSS_SHM_MAGIC;
    shm->hdr->version = SSS_SHM_VERSION;
    shm->hdr->nprocs = nprocs;
    shm->hdr->size = size;
    shm->hdr->counters_off = off;
    return 0;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

void sss_shm_destroy(struct sss_shm *shm)
{
    if (shm->hdr)
        munmap(shm->hdr, shm->size);
    if (shm->fd >= 0)
        close(shm->fd);
    shm->hdr = NULL;
    shm->fd = -1;
}

struct sss_counters *sss_shm_counters(struct sss_shm *shm, unsigned i)
{
    assert(i < shm->hdr->nprocs);
    return (struct sss_counters *)((char *)shm->hdr + shm->hdr->counters_off) + i;
}

void sss_shm_reset_counters(struct sss_shm *shm, unsigned i)
{
    memset(sss_shm_counters(shm, i), 0, sizeof(struct sss_counters));
}

int64_t sss_shm_total_conns(struct sss_shm *shm)
{
    int64_t sum = 0;

    for (unsigned i = 0; i < shm->hdr->nprocs; i++)
        sum += atomic_load_explicit(&sss_shm_counters(shm, i)->conns_open, memory_order_relaxed);
    return sum;
}
