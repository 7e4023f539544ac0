/*
 * Tests of sleep and wake-up between processes (shm/sss_wake.c) on the
 * segment's mailboxes: the flag protocol in one process; an eventfd wake-up
 * across fork; then stresses in which the consumer sleeps whenever its rings
 * are empty and producers notify after every message: every message must
 * arrive, in order, with no wake-up lost (a consumer asleep for 30 s while
 * producers run fails the test), and the eventfd is written
 * at most once per message (how much less is printed). SSS_TEST_QUICK in the
 * environment makes the stresses smaller.
 */
#include "sss_shm.h"
#include "sss_test.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { EXIT_LOST_WAKEUP = 2, EXIT_ORDER = 3, EXIT_ERROR = 4 };

static void test_protocol(void)
{
    struct sss_shm shm;
    struct sss_wake *w;

    CHECK_EQ_INT(sss_shm_create(&shm, 1), 0);
    w = sss_shm_wake(&shm, 0);
    CHECK(sss_wake_fd(w) >= 0);
    CHECK_EQ_INT(sss_wake_notify(w), 0); /* awake: no system call */
    sss_wake_prepare_sleep(w);
    sss_wake_cancel_sleep(w);
    CHECK_EQ_INT(sss_wake_notify(w), 0);
    sss_wake_prepare_sleep(w);
    CHECK_EQ_INT(sss_wake_notify(w), 1);
    CHECK_EQ_INT(sss_wake_notify(w), 0); /* the first notifier cleared the flag */
    CHECK_EQ_INT(atomic_load(&w->signals), 1);
    CHECK_EQ_INT(sss_wake_wait(w, 0), 1); /* the count is there already */
    CHECK_EQ_INT(atomic_load(&w->sleeping), 0);
    CHECK_EQ_INT(sss_wake_wait(w, 0), 0); /* and consumed */
    sss_shm_destroy(&shm);
}

/* The segment's layout and the master's reset of a dead worker. */
static void test_layout_and_reset(void)
{
    struct sss_shm_params params = {
        .nprocs = 3, .bus_capacity = 1 << 12, .mailbox_capacity = 1 << 10,
        .bus_flags = SSS_BUS_WAIT_SLOWEST};
    struct sss_shm shm;
    struct sss_shm_header *h;
    struct sss_bus_reader rd;
    const void *p;
    uint32_t type;
    size_t len;

    CHECK_EQ_INT(sss_shm_create_with(&shm, &params), 0);
    h = shm.hdr;
    CHECK(h->magic == SSS_SHM_MAGIC && h->version == SSS_SHM_VERSION);
    CHECK(h->counters_off % 64 == 0 && h->bus_off % 64 == 0 && h->mailbox_off % 64 == 0 &&
          h->wake_off % 64 == 0 && h->mailbox_stride % 64 == 0);
    CHECK(h->bus_off >= h->counters_off + 3 * sizeof(struct sss_counters));
    CHECK(h->mailbox_off >= h->bus_off + sss_bus_size(1 << 12, 3));
    CHECK(h->wake_off >= h->mailbox_off + 6 * h->mailbox_stride);
    CHECK(h->size == h->wake_off + 4 * sizeof(struct sss_wake) && h->size == shm.size);
    CHECK_EQ_INT(sss_shm_bus(&shm)->capacity, 1 << 12);
    CHECK_EQ_INT(sss_shm_ring_to_worker(&shm, 2)->capacity, 1 << 10);
    CHECK((char *)sss_shm_ring_to_worker(&shm, 2) + sss_ring_size(1 << 10) <=
          (char *)sss_shm_wake(&shm, 0));
    CHECK(sss_wake_fd(sss_shm_wake(&shm, 3)) >= 0);
    /* Worker 1 dies with mail waiting and a bus slot that blocks the scaler. */
    CHECK_EQ_INT(sss_ring_push(sss_shm_ring_to_worker(&shm, 1), 1, "x", 1), 0);
    CHECK_EQ_INT(sss_bus_reader_init(&rd, sss_shm_bus(&shm), 1), 0);
    while (sss_bus_append(sss_shm_bus(&shm), 1, "0123456789", 10) == 0)
        ;
    sss_wake_prepare_sleep(sss_shm_wake(&shm, 1));
    sss_shm_reset_worker(&shm, 1);
    CHECK_EQ_INT(sss_ring_peek(sss_shm_ring_to_worker(&shm, 1), &type, &p, &len), 0);
    CHECK_EQ_INT(sss_bus_append(sss_shm_bus(&shm), 1, "0123456789", 10), 0);
    CHECK_EQ_INT(atomic_load(&sss_shm_wake(&shm, 1)->sleeping), 0);
    sss_shm_destroy(&shm);
    {
        struct sss_shm_params bad = {.nprocs = 1, .bus_capacity = 1000};

        CHECK_EQ_INT(sss_shm_create_with(&shm, &bad), -EINVAL);
    }
}

/* Drain every ring in order; sleep when all are empty. Returns an exit code. */
static int consume(struct sss_ring **rings, int nrings, struct sss_wake *w, long per_ring)
{
    long got[4] = {0}, total = 0;

    while (total < per_ring * nrings) {
        int any = 0;

        for (int i = 0; i < nrings; i++) {
            const void *p;
            uint32_t type;
            size_t len;
            long seq;

            while (sss_ring_peek(rings[i], &type, &p, &len)) {
                if (len != sizeof(seq))
                    return EXIT_ERROR;
                memcpy(&seq, p, sizeof(seq));
                if (seq != got[i] || type != (uint32_t)i)
                    return EXIT_ORDER;
                sss_ring_consume(rings[i]);
                got[i]++;
                total++;
                any = 1;
            }
        }
        if (any)
            continue;
        sss_wake_prepare_sleep(w);
        for (int i = 0; i < nrings; i++)
            any |= sss_ring_readable(rings[i]);
        if (any) {
            sss_wake_cancel_sleep(w);
            continue;
        }
        if (sss_wake_wait(w, 30000) == 0)
            return EXIT_LOST_WAKEUP; /* 30 s asleep: no producer pauses that long */
    }
    return 0;
}

/* Push n sequence numbers into r (type tag), notifying w after each; pace:
 * pause every that many messages (0: never). Returns the eventfd writes. */
static long produce(struct sss_ring *r, uint32_t tag, struct sss_wake *w, long n, int pace)
{
    long writes = 0;

    for (long i = 0; i < n; i++) {
        int rc;

        while ((rc = sss_ring_push(r, tag, &i, sizeof(i))) == SSS_RING_EFULL)
            sched_yield();
        if (rc != 0)
            abort();
        rc = sss_wake_notify(w);
        if (rc < 0)
            abort();
        writes += rc;
        if (pace && i % pace == 0)
            usleep(50);
    }
    return writes;
}

static void test_fork_wakeup(void)
{
    struct sss_shm shm;
    struct sss_ring *r;
    struct sss_wake *w;
    pid_t pid;
    int status;

    CHECK_EQ_INT(sss_shm_create(&shm, 1), 0);
    r = sss_shm_ring_to_worker(&shm, 0);
    w = sss_shm_wake(&shm, 0);
    pid = fork();
    if (pid == 0)
        _exit(consume(&r, 1, w, 1));
    /* Wait until the child says it sleeps (however slow the machine). */
    for (int i = 0; i < 60000 && !atomic_load(&w->sleeping); i++)
        usleep(1000);
    CHECK_EQ_INT(atomic_load(&w->sleeping), 1);
    CHECK_EQ_INT(produce(r, 0, w, 1, 0), 1);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sss_shm_destroy(&shm);
}

/* One producer (the parent) and a forked consumer, flat out then paced. */
static void test_one_producer(long n, int pace)
{
    struct sss_shm_params params = {.nprocs = 1, .mailbox_capacity = 4096};
    struct sss_shm shm;
    struct sss_ring *r;
    struct sss_wake *w;
    long writes;
    pid_t pid;
    int status;

    CHECK_EQ_INT(sss_shm_create_with(&shm, &params), 0);
    r = sss_shm_ring_to_worker(&shm, 0);
    w = sss_shm_wake(&shm, 0);
    pid = fork();
    if (pid == 0)
        _exit(consume(&r, 1, w, n));
    writes = produce(r, 0, w, n, pace);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (WIFEXITED(status) && WEXITSTATUS(status))
        fprintf(stderr, "consumer exit code %d\n", WEXITSTATUS(status));
    printf("wake, 1 producer%s: %ld messages, %ld eventfd writes, %llu sleeps\n",
           pace ? " (paced)" : "", n, writes, (unsigned long long)atomic_load(&w->sleeps));
    /* How much rarer than messages the writes are depends on scheduling:
     * a benchmark's figure (printed above), not a test's. */
    CHECK_EQ_INT(writes, (long)atomic_load(&w->signals));
    CHECK(writes <= n);
    sss_shm_destroy(&shm);
}

/* Two forked producers (workers) wake one consumer (the scaler's word). */
static void test_two_producers(long n)
{
    struct sss_shm_params params = {.nprocs = 2, .mailbox_capacity = 4096};
    struct sss_shm shm;
    struct sss_ring *rings[2];
    struct sss_wake *w;
    pid_t pids[2];
    int status, rc;

    CHECK_EQ_INT(sss_shm_create_with(&shm, &params), 0);
    w = sss_shm_wake(&shm, 2);
    for (int i = 0; i < 2; i++) {
        rings[i] = sss_shm_ring_to_scaler(&shm, (unsigned)i);
        pids[i] = fork();
        if (pids[i] == 0) {
            produce(rings[i], (uint32_t)i, w, n, i == 1 ? 256 : 0);
            _exit(0);
        }
    }
    rc = consume(rings, 2, w, n);
    CHECK_EQ_INT(rc, 0);
    for (int i = 0; i < 2; i++) {
        waitpid(pids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    printf("wake, 2 producers: %ld messages, %llu eventfd writes, %llu sleeps\n", 2 * n,
           (unsigned long long)atomic_load(&w->signals),
           (unsigned long long)atomic_load(&w->sleeps));
    sss_shm_destroy(&shm);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* no buffered line is copied by fork */
    int quick = getenv("SSS_TEST_QUICK") != NULL;

    test_protocol();
    test_layout_and_reset();
    test_fork_wakeup();
    test_one_producer(quick ? 100000 : 1000000, 0);
    test_one_producer(quick ? 20000 : 100000, 64);
    test_two_producers(quick ? 50000 : 300000);
    return sss_test_done();
}
