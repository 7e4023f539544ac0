/* Creation and accessors of the host's shared memory segment (see sss_shm.h). */
#include "sss_shm.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static_assert(sizeof(struct sss_counters) % SSS_CACHELINE == 0, "counters own whole lines");
static_assert(sizeof(struct sss_shm_header) == 104, "header layout is part of the version");
static_assert(sizeof(struct sss_wake) == SSS_CACHELINE, "wake words own whole lines");

static size_t line_up(size_t n)
{
    return (n + SSS_CACHELINE - 1) & ~(size_t)(SSS_CACHELINE - 1);
}

static char *base_of(struct sss_shm *shm)
{
    return (char *)shm->hdr;
}

/* A random word for run_id, never 0 (which a zeroed header would read as). */
static uint32_t draw_run_id(void)
{
    uint32_t v = 0;

    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        struct timespec ts;

        /* No entropy yet (early boot): the clock and the pid still differ per run. */
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^ (uint32_t)getpid() << 16;
    }
    return v ? v : 1;
}

int sss_shm_create_with(struct sss_shm *shm, const struct sss_shm_params *p)
{
    size_t bus_cap = p->bus_capacity ? p->bus_capacity : SSS_SHM_BUS_DEFAULT;
    size_t mb_cap = p->mailbox_capacity ? p->mailbox_capacity : SSS_SHM_MAILBOX_DEFAULT;
    size_t bus_size = sss_bus_size(bus_cap, p->nprocs), ring_size = sss_ring_size(mb_cap);
    size_t counters_off, bus_off, mailbox_off, stride, wake_off, size;
    struct sss_shm_header *hdr;
    unsigned nwake = p->nprocs + 1;
    int rc = 0, fd;
    void *base;

    shm->hdr = NULL;
    shm->size = 0;
    shm->fd = -1;
    if (p->nprocs == 0 || !bus_size || !ring_size || (p->bus_flags & ~SSS_BUS_WAIT_SLOWEST))
        return -EINVAL;
    counters_off = line_up(sizeof(struct sss_shm_header));
    bus_off = line_up(counters_off + p->nprocs * sizeof(struct sss_counters));
    mailbox_off = line_up(bus_off + bus_size);
    stride = line_up(ring_size);
    wake_off = line_up(mailbox_off + 2 * (size_t)p->nprocs * stride);
    size = wake_off + nwake * sizeof(struct sss_wake);
    fd = memfd_create("sss-shm", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0)
        goto fail;
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        goto fail;
    hdr = base;
    shm->hdr = hdr;
    shm->size = size;
    shm->fd = fd;
    hdr->magic = SSS_SHM_MAGIC;
    hdr->version = SSS_SHM_VERSION;
    hdr->nprocs = p->nprocs;
    hdr->size = size;
    hdr->counters_off = counters_off;
    hdr->bus_off = bus_off;
    hdr->bus_capacity = bus_cap;
    hdr->bus_flags = p->bus_flags;
    hdr->mailbox_off = mailbox_off;
    hdr->mailbox_stride = stride;
    hdr->mailbox_capacity = mb_cap;
    hdr->wake_off = wake_off;
    hdr->run_id = draw_run_id();
    /* A fresh memfd reads as zeros: counters start at 0, wake fds at 0 (set below). */
    if (!sss_bus_init(base_of(shm) + bus_off, bus_cap, p->nprocs, p->bus_flags))
        goto invalid;
    for (unsigned i = 0; i < 2 * p->nprocs; i++)
        if (!sss_ring_init(base_of(shm) + mailbox_off + i * stride, mb_cap))
            goto invalid;
    for (unsigned i = 0; i < nwake; i++)
        sss_shm_wake(shm, i)->fd = -1;
    for (unsigned i = 0; i < nwake; i++) {
        int efd = sss_wake_eventfd();

        if (efd < 0) {
            sss_shm_destroy(shm);
            return efd;
        }
        sss_wake_init(sss_shm_wake(shm, i), efd);
    }
    return 0;
invalid:
    sss_shm_destroy(shm); /* cannot happen: the sizes were checked above */
    return -EINVAL;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

int sss_shm_create(struct sss_shm *shm, unsigned nprocs)
{
    struct sss_shm_params p = {.nprocs = nprocs};

    return sss_shm_create_with(shm, &p);
}

void sss_shm_destroy(struct sss_shm *shm)
{
    if (shm->hdr) {
        for (unsigned i = 0; shm->hdr->wake_off && i <= shm->hdr->nprocs; i++) {
            struct sss_wake *w = sss_shm_wake(shm, i);

            if (w->fd >= 0)
                close(w->fd);
            w->fd = -1;
        }
        munmap(shm->hdr, shm->size);
    }
    if (shm->fd >= 0)
        close(shm->fd);
    shm->hdr = NULL;
    shm->fd = -1;
}

struct sss_counters *sss_shm_counters(struct sss_shm *shm, unsigned i)
{
    assert(i < shm->hdr->nprocs);
    return (struct sss_counters *)(base_of(shm) + shm->hdr->counters_off) + i;
}

void sss_shm_reset_counters(struct sss_shm *shm, unsigned i)
{
    struct sss_counters *c = sss_shm_counters(shm, i);
    unsigned inc = atomic_load_explicit(&c->incarnation, memory_order_relaxed);

    memset(c, 0, sizeof(*c));
    atomic_store_explicit(&c->incarnation, inc, memory_order_relaxed);
}

int sss_shm_worker_current(struct sss_shm *shm, unsigned i, unsigned inc)
{
    struct sss_counters *c;

    if (i >= shm->hdr->nprocs)
        return 0;
    c = sss_shm_counters(shm, i);
    return atomic_load_explicit(&c->pid, memory_order_relaxed) != 0 &&
           (atomic_load_explicit(&c->incarnation, memory_order_relaxed) & 0xffffu) == inc;
}

struct sss_bus *sss_shm_bus(struct sss_shm *shm)
{
    return (struct sss_bus *)(base_of(shm) + shm->hdr->bus_off);
}

struct sss_ring *sss_shm_ring_to_scaler(struct sss_shm *shm, unsigned i)
{
    assert(i < shm->hdr->nprocs);
    return (struct sss_ring *)(base_of(shm) + shm->hdr->mailbox_off +
                               2 * (size_t)i * shm->hdr->mailbox_stride);
}

struct sss_ring *sss_shm_ring_to_worker(struct sss_shm *shm, unsigned i)
{
    assert(i < shm->hdr->nprocs);
    return (struct sss_ring *)(base_of(shm) + shm->hdr->mailbox_off +
                               (2 * (size_t)i + 1) * shm->hdr->mailbox_stride);
}

struct sss_wake *sss_shm_wake(struct sss_shm *shm, unsigned i)
{
    assert(i <= shm->hdr->nprocs);
    return (struct sss_wake *)(base_of(shm) + shm->hdr->wake_off) + i;
}

void sss_shm_reset_worker(struct sss_shm *shm, unsigned i)
{
    sss_shm_reset_counters(shm, i);
    sss_ring_discard(sss_shm_ring_to_worker(shm, i));
    sss_bus_detach(sss_shm_bus(shm), i);
    sss_wake_reset(sss_shm_wake(shm, i));
}

int64_t sss_shm_total_conns(struct sss_shm *shm)
{
    int64_t sum = 0;

    for (unsigned i = 0; i < shm->hdr->nprocs; i++)
        sum += atomic_load_explicit(&sss_shm_counters(shm, i)->conns_open, memory_order_relaxed);
    return sum;
}
