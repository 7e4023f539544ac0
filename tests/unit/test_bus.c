/*
 * Tests of the broadcast ring (shm/sss_bus.c). Unit cases: wrap with padding,
 * a too-big record refused, a reader starting at the tail, a short buffer,
 * lap detection with the exact count of lost records, the wait-for-slowest
 * mode and a dead consumer unblocking it. Then stresses with checksummed
 * records of random sizes, each carrying its sequence number: a consumer
 * must accept only records with a valid checksum and a strictly increasing
 * sequence, and may skip some only right after SSS_BUS_LAPPED (and then the
 * bus's count of lost records must equal the gaps it saw):
 *   - forked consumers on a MAP_SHARED mapping, one stalling mid-run so that
 *     it is lapped; then the wait mode (exact, no gap), with a consumer that
 *     dies and is detached by the "master";
 *   - the same with threads, for ThreadSanitizer;
 *   - a producer killed inside an append after taking a seq (the fault point
 *     bus.append.unpublished): the restarted producer's records are read with
 *     nothing counted lost, and no assert fires (issue 11).
 * SSS_TEST_QUICK in the environment makes the stresses smaller.
 */
#include "sss_bus.h"
#include "sss_fault.h"
#include "sss_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct sss_bus *new_bus(size_t cap, unsigned n, unsigned flags)
{
    void *mem = aligned_alloc(64, sss_bus_size(cap, n));

    return mem ? sss_bus_init(mem, cap, n, flags) : NULL;
}

static int append_fill(struct sss_bus *bus, uint32_t type, size_t len, unsigned char fill)
{
    unsigned char buf[4096];

    memset(buf, fill, len);
    return sss_bus_append(bus, type, buf, len);
}

static int read_check(struct sss_bus_reader *rd, uint32_t type, size_t len, unsigned char fill)
{
    unsigned char buf[4096];
    uint32_t t;
    size_t n;

    if (sss_bus_read(rd, buf, sizeof(buf), &t, &n) != 1 || t != type || n != len)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] != fill)
            return 0;
    return 1;
}

static void test_basics(void)
{
    struct sss_bus *bus = new_bus(256, 2, 0);
    struct sss_bus_reader rd;
    unsigned char buf[64];
    uint32_t t;
    size_t n;

    CHECK(bus != NULL);
    CHECK_EQ_INT(sss_bus_size(128, 1), 0);
    CHECK_EQ_INT(sss_bus_size(300, 1), 0);
    CHECK_EQ_INT(sss_bus_size(256, 0), 0);
    CHECK_EQ_INT(sss_bus_max_payload(bus), 48);
    CHECK_EQ_INT(sss_bus_reader_init(&rd, bus, 2), -EINVAL);
    /* Too big, reserved type. */
    CHECK_EQ_INT(append_fill(bus, 1, 49, 0), -EMSGSIZE);
    CHECK_EQ_INT(sss_bus_append2(bus, 1, buf, 40, buf, 9), -EMSGSIZE);
    CHECK_EQ_INT(append_fill(bus, SSS_BUS_PAD, 1, 0), -EINVAL);
    /* A reader starting now sees only newer records. */
    CHECK_EQ_INT(append_fill(bus, 1, 10, 1), 0);
    CHECK_EQ_INT(append_fill(bus, 1, 10, 2), 0);
    CHECK_EQ_INT(sss_bus_reader_init(&rd, bus, 0), 0);
    CHECK_EQ_INT(sss_bus_read(&rd, buf, sizeof(buf), &t, &n), 0);
    CHECK_EQ_INT(sss_bus_readable(&rd), 0);
    CHECK_EQ_INT(append_fill(bus, 3, 48, 3), 0);
    CHECK_EQ_INT(sss_bus_readable(&rd), 1);
    /* Too small a buffer: the record stays. */
    CHECK_EQ_INT(sss_bus_read(&rd, buf, 47, &t, &n), -EMSGSIZE);
    CHECK_EQ_INT(n, 48);
    CHECK(read_check(&rd, 3, 48, 3));
    CHECK_EQ_INT(sss_bus_read(&rd, buf, sizeof(buf), &t, &n), 0);
    /* Gather with an odd split; zero-length record. */
    CHECK_EQ_INT(sss_bus_append2(bus, 4, "abc", 3, "defghijklm", 10), 0);
    CHECK_EQ_INT(sss_bus_append(bus, 5, NULL, 0), 0);
    CHECK_EQ_INT(sss_bus_read(&rd, buf, sizeof(buf), &t, &n), 1);
    CHECK(t == 4 && n == 13 && memcmp(buf, "abcdefghijklm", 13) == 0);
    CHECK_EQ_INT(sss_bus_read(&rd, buf, sizeof(buf), &t, &n), 1);
    CHECK(t == 5 && n == 0);
    CHECK_EQ_INT(rd.laps, 0);
    sss_bus_reader_fini(&rd);
    free(bus);
}

static void test_wrap_padding(void)
{
    struct sss_bus *bus = new_bus(256, 1, 0);
    struct sss_bus_reader rd;

    CHECK_EQ_INT(sss_bus_reader_init(&rd, bus, 0), 0);
    /* 40-byte payloads take 56 bytes: at 0, 56, 112, then 168; the next does
     * not fit in the 32 bytes left at 224: padding, then offset 0 (position
     * 256), and so on, three records a round. */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 3; i++)
            CHECK_EQ_INT(append_fill(bus, (uint32_t)i, 40, (unsigned char)(round * 10 + i)), 0);
        for (int i = 0; i < 3; i++)
            CHECK(read_check(&rd, (uint32_t)i, 40, (unsigned char)(round * 10 + i)));
    }
    CHECK_EQ_INT(rd.laps, 0);
    CHECK_EQ_INT(rd.records, 15);
    free(bus);
}

static void test_lap(void)
{
    struct sss_bus *bus = new_bus(1024, 1, 0);
    struct sss_bus_reader rd;
    unsigned char buf[256];
    uint32_t t;
    size_t n;
    int rc, seen = 0;

    CHECK_EQ_INT(sss_bus_reader_init(&rd, bus, 0), 0);
    CHECK_EQ_INT(append_fill(bus, 1, 40, 0), 0);
    CHECK(read_check(&rd, 1, 40, 0));
    /* The producer writes far more than the capacity while the reader sleeps. */
    for (int i = 1; i <= 200; i++)
        CHECK_EQ_INT(append_fill(bus, 1, 40, (unsigned char)i), 0);
    CHECK_EQ_INT(sss_bus_read(&rd, buf, sizeof(buf), &t, &n), SSS_BUS_LAPPED);
    CHECK_EQ_INT(rd.laps, 1);
    /* Resynchronised at the tail: nothing stale comes back. */
    CHECK_EQ_INT(sss_bus_read(&rd, buf, sizeof(buf), &t, &n), 0);
    CHECK_EQ_INT(append_fill(bus, 1, 40, 201), 0);
    CHECK(read_check(&rd, 1, 40, 201));
    CHECK_EQ_INT(rd.lost, 200);
    CHECK_EQ_INT(atomic_load(&sss_bus_slot(bus, 0)->lost), 200);
    /* Lapped by just over a capacity while in the middle of the ring: every
     * record read is either right or refused. */
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(append_fill(bus, 1, 40, (unsigned char)(100 + i)), 0);
    CHECK(read_check(&rd, 1, 40, 100));
    for (int i = 0; i < 18; i++) /* 18 * 56 = 1008: 9 unread + 18 > 1024 bytes */
        CHECK_EQ_INT(append_fill(bus, 1, 40, (unsigned char)(200 + i)), 0);
    while ((rc = sss_bus_read(&rd, buf, sizeof(buf), &t, &n)) == 1) {
        CHECK(n == 40 && buf[0] >= 200 && buf[39] == buf[0]);
        seen++;
    }
    CHECK_EQ_INT(rc, SSS_BUS_LAPPED);
    CHECK_EQ_INT(seen, 0);
    CHECK_EQ_INT(rd.laps, 2);
    free(bus);
}

static void test_wait_mode(void)
{
    struct sss_bus *bus = new_bus(1024, 3, SSS_BUS_WAIT_SLOWEST);
    struct sss_bus_reader a, b, mon;
    int pushed = 0, rc;

    CHECK_EQ_INT(sss_bus_reader_init(&a, bus, 0), 0);
    CHECK_EQ_INT(sss_bus_reader_init(&b, bus, 1), 0);
    CHECK_EQ_INT(sss_bus_reader_init(&mon, bus, -1), 0); /* never waited for */
    /* Slot 2 is DEAD: never attached, never waited for. */
    while ((rc = append_fill(bus, 1, 40, (unsigned char)pushed)) == 0)
        pushed++;
    CHECK_EQ_INT(rc, SSS_BUS_EFULL);
    CHECK_EQ_INT(pushed, 1024 / 56);
    for (int i = 0; i < pushed; i++)
        CHECK(read_check(&a, 1, 40, (unsigned char)i));
    CHECK_EQ_INT(append_fill(bus, 1, 40, 99), SSS_BUS_EFULL); /* b still holds it */
    CHECK(read_check(&b, 1, 40, 0));
    CHECK_EQ_INT(append_fill(bus, 1, 40, 99), 0); /* one record's room */
    CHECK_EQ_INT(append_fill(bus, 1, 40, 99), SSS_BUS_EFULL);
    /* The master marks b dead: nothing waits for it any more. */
    sss_bus_detach(bus, 1);
    for (int i = 0; i < pushed - 1; i++)
        CHECK_EQ_INT(append_fill(bus, 1, 40, 98), 0);
    CHECK_EQ_INT(append_fill(bus, 1, 40, 98), SSS_BUS_EFULL); /* now a is the slowest */
    CHECK_EQ_INT(a.laps, 0);
    /* The monitor was lapped; a re-attached b starts at the tail. */
    {
        unsigned char buf[64];
        uint32_t t;
        size_t n;

        CHECK_EQ_INT(sss_bus_read(&mon, buf, sizeof(buf), &t, &n), SSS_BUS_LAPPED);
        CHECK_EQ_INT(sss_bus_reader_init(&b, bus, 1), 0);
        CHECK_EQ_INT(sss_bus_read(&b, buf, sizeof(buf), &t, &n), 0);
    }
    free(bus);
}

/* ---- stress: records, producer, consumers ---- */

#define REC_MAX 600
#define END_TYPE 0xe0du

/* Record i: u64 i, u64 fnv64(body), body of random length and bytes. */
static size_t make_record(uint64_t i, unsigned char *buf)
{
    size_t len = sss_test_random_body(i * 0x9e3779b97f4a7c15ULL + 7, buf, 16, REC_MAX);
    uint64_t h = sss_test_fnv64(buf + 16, len - 16);
    memcpy(buf, &i, 8);
    memcpy(buf + 8, &h, 8);
    return len;
}

struct result {
    long records, laps, gaps, lost_by_bus, errors;
    long unexplained_gaps; /* a gap with no SSS_BUS_LAPPED before it */
};

struct ctl {
    _Atomic int ready;
    _Atomic int done; /* the producer appended its last record */
    struct result res[4];
};

/*
 * Producer: n records, every 64th through the two-part append. wait: retry on
 * SSS_BUS_EFULL. Returns the number of EFULL retries.
 */
static long produce(struct sss_bus *bus, long n, struct ctl *ctl)
{
    unsigned char buf[REC_MAX];
    long full = 0;

    for (uint64_t i = 0; i < (uint64_t)n; i++) {
        size_t len = make_record(i, buf);
        int rc;

        for (;;) {
            if (i % 64 == 0)
                rc = sss_bus_append2(bus, (uint32_t)(i & 0xffff), buf, 11, buf + 11, len - 11);
            else
                rc = sss_bus_append(bus, (uint32_t)(i & 0xffff), buf, len);
            if (rc != SSS_BUS_EFULL)
                break;
            full++;
            sched_yield();
        }
        if (rc != 0)
            abort();
        /* Give the consumers a chance on a machine with fewer cores than processes. */
        if (i % 4096 == 0)
            sched_yield();
    }
    atomic_store(&ctl->done, 1);
    return full;
}

/* Consumer: stall_at >= 0 sleeps stall_ms after that many records; die_at
 * >= 0 returns (as if killed) after that many. */
static void consume(struct sss_bus *bus, int id, struct ctl *ctl, long stall_at, int stall_ms,
                    long die_at)
{
    struct sss_bus_reader rd;
    struct result *res = &ctl->res[id];
    unsigned char buf[REC_MAX];
    uint64_t last = 0;
    int have_last = 0, lap_pending = 0;

    if (sss_bus_reader_init(&rd, bus, id) != 0) {
        res->errors++;
        return;
    }
    atomic_fetch_add(&ctl->ready, 1);
    for (;;) {
        uint32_t type;
        size_t len;
        uint64_t seq, h;
        int done = atomic_load(&ctl->done);
        int rc = sss_bus_read(&rd, buf, sizeof(buf), &type, &len);

        if (rc == 0) {
            if (done)
                break; /* read after seeing done: nothing more will come */
            sched_yield();
            continue;
        }
        if (rc == SSS_BUS_LAPPED) {
            res->laps++;
            lap_pending = 1;
            continue;
        }
        if (rc != 1 || len < 16) {
            res->errors++;
            continue;
        }
        memcpy(&seq, buf, 8);
        memcpy(&h, buf + 8, 8);
        if (h != sss_test_fnv64(buf + 16, len - 16) || type != (uint32_t)(seq & 0xffff)) {
            res->errors++;
            continue;
        }
        if (have_last && seq <= last) {
            res->errors++; /* repeated or out of order */
            continue;
        }
        if (have_last && seq != last + 1) {
            res->gaps += (long)(seq - last - 1);
            if (!lap_pending)
                res->unexplained_gaps++;
        }
        lap_pending = 0;
        last = seq;
        have_last = 1;
        res->records++;
        if (res->records == stall_at) {
            struct timespec ts = {stall_ms / 1000, (long)(stall_ms % 1000) * 1000000};

            nanosleep(&ts, NULL);
        }
        if (res->records == die_at)
            return; /* no fini: a crash leaves the slot LIVE */
    }
    res->lost_by_bus = (long)rd.lost;
    if (rd.laps != (uint64_t)res->laps)
        res->errors++;
    sss_bus_reader_fini(&rd);
}

static void check_results(const char *what, struct ctl *ctl, int nc, long n, int exact,
                          int must_lap)
{
    for (int i = 0; i < nc; i++) {
        struct result *r = &ctl->res[i];

        printf("%s consumer %d: %ld records, %ld laps, %ld lost (bus says %ld)\n", what, i,
               r->records, r->laps, r->gaps, r->lost_by_bus);
        CHECK_EQ_INT(r->errors, 0);
        CHECK_EQ_INT(r->unexplained_gaps, 0);
        CHECK(r->records > 0);
        if (exact >= 0 && i == exact) {
            CHECK_EQ_INT(r->records, n);
            CHECK_EQ_INT(r->laps, 0);
        }
        if (exact < 0 || i != exact) {
            /* Every record is accounted for: read, or lost to a lap. The
             * records before its first lap that it never read are not
             * counted by the bus (it had no sequence yet), hence <=. */
            CHECK(r->records + r->gaps <= n);
            CHECK_EQ_INT(r->gaps, r->lost_by_bus);
        }
        if (must_lap == i)
            CHECK(r->laps > 0);
    }
}

static void *map_shared(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

/* Forked consumers, default mode: consumer 2 stalls and must be lapped. */
static void test_processes_lapping(long n)
{
    size_t cap = 1 << 16;
    struct ctl *ctl = map_shared(sizeof(struct ctl));
    void *mem = map_shared(sss_bus_size(cap, 3));
    struct sss_bus *bus = sss_bus_init(mem, cap, 3, 0);
    pid_t pids[3];
    int status;

    CHECK(bus != NULL && ctl != NULL);
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            consume(bus, i, ctl, i == 2 ? 1000 : -1, 300, -1);
            _exit(0);
        }
    }
    while (atomic_load(&ctl->ready) < 3)
        sched_yield();
    produce(bus, n, ctl);
    for (int i = 0; i < 3; i++) {
        waitpid(pids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    check_results("fork/lapping", ctl, 3, n, -1, 2);
    munmap(mem, sss_bus_size(cap, 3));
    munmap(ctl, sizeof(*ctl));
}

/*
 * Forked consumers, wait mode: consumers 0 and 1 get every record exactly
 * (consumer 1 stalls: the producer waits). Consumer 2 "crashes" after 5000
 * records without releasing its slot; the producer (a child too) is stuck
 * until the parent, as the master would, detaches the dead consumer.
 */
static void test_processes_wait(long n)
{
    size_t cap = 1 << 15;
    struct ctl *ctl = map_shared(sizeof(struct ctl));
    void *mem = map_shared(sss_bus_size(cap, 3));
    struct sss_bus *bus = sss_bus_init(mem, cap, 3, SSS_BUS_WAIT_SLOWEST);
    pid_t pids[3], prod;
    int status;

    CHECK(bus != NULL && ctl != NULL);
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            consume(bus, i, ctl, i == 1 ? 2000 : -1, 200, i == 2 ? 5000 : -1);
            _exit(0);
        }
    }
    while (atomic_load(&ctl->ready) < 3)
        sched_yield();
    prod = fork();
    if (prod == 0) {
        produce(bus, n, ctl);
        _exit(0);
    }
    waitpid(pids[2], &status, 0); /* the "crash" */
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(ctl->res[2].records, 5000);
    usleep(50000); /* let the producer run into the dead consumer's slot */
    CHECK_EQ_INT(atomic_load(&ctl->done), 0);
    sss_bus_detach(bus, 2);
    waitpid(prod, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 2; i++) {
        waitpid(pids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    check_results("fork/wait", ctl, 2, n, 0, -1);
    CHECK_EQ_INT(ctl->res[1].records, n);
    CHECK_EQ_INT(ctl->res[1].laps, 0);
    munmap(mem, sss_bus_size(cap, 3));
    munmap(ctl, sizeof(*ctl));
}

/* ---- the same with threads, for ThreadSanitizer ---- */

struct targ {
    struct sss_bus *bus;
    struct ctl *ctl;
    int id;
    long n, stall_at;
    int stall_ms;
};

static void test_producer_death(void)
{
#ifdef SSS_FAULT_INJECTION
    size_t cap = 4096, size = sss_bus_size(cap, 1);
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct sss_bus *bus = mem != MAP_FAILED ? sss_bus_init(mem, cap, 1, 0) : NULL;
    struct sss_bus_reader rd;
    int status = 0;
    pid_t pid;

    CHECK(bus != NULL);
    if (!bus)
        return;
    CHECK(sss_bus_reader_init(&rd, bus, 0) == 0);
    sss_bus_producer_start(bus);
    CHECK(append_fill(bus, 1, 100, 0x11) == 0);
    CHECK(append_fill(bus, 1, 100, 0x12) == 0);
    CHECK(read_check(&rd, 1, 100, 0x11) == 1);
    CHECK(read_check(&rd, 1, 100, 0x12) == 1);
    pid = fork();
    if (pid == 0) { /* a producer that dies between taking a seq and publishing */
        setenv("SSS_FAULT", "bus.append.unpublished:1", 1);
        sss_fault_reload();
        sss_bus_producer_start(bus);
        (void)append_fill(bus, 1, 100, 0x13);
        _exit(0); /* not reached: the fault point kills it */
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    {
        unsigned char buf[256];
        uint32_t type;
        size_t len;

        CHECK_EQ_INT(sss_bus_read(&rd, buf, sizeof(buf), &type, &len), 0); /* nothing published */
    }
    /* The restarted producer: its records arrive, nothing counted lost. */
    sss_bus_producer_start(bus);
    CHECK(append_fill(bus, 1, 100, 0x14) == 0);
    CHECK(append_fill(bus, 1, 100, 0x15) == 0);
    CHECK(read_check(&rd, 1, 100, 0x14) == 1);
    CHECK(read_check(&rd, 1, 100, 0x15) == 1);
    CHECK_EQ_INT(rd.lost, 0);
    CHECK_EQ_INT(rd.laps, 0);
    /* A restart without a death in between: no skip, still accepted. */
    sss_bus_producer_start(bus);
    CHECK(append_fill(bus, 1, 100, 0x16) == 0);
    CHECK(read_check(&rd, 1, 100, 0x16) == 1);
    CHECK_EQ_INT(rd.lost, 0);
    sss_bus_reader_fini(&rd);
    munmap(mem, size);
#endif
}

static void *tconsume(void *arg)
{
    struct targ *a = arg;

    consume(a->bus, a->id, a->ctl, a->stall_at, a->stall_ms, -1);
    return NULL;
}

static void run_threads(unsigned flags, long n, int stall_ms)
{
    size_t cap = 1 << 14;
    struct ctl *ctl = calloc(1, sizeof(*ctl));
    struct sss_bus *bus = new_bus(cap, 2, flags);
    struct targ args[2];
    pthread_t th[2];

    for (int i = 0; i < 2; i++) {
        args[i] = (struct targ){bus, ctl, i, n, i == 1 ? 500 : -1, stall_ms};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, tconsume, &args[i]), 0);
    }
    while (atomic_load(&ctl->ready) < 2)
        sched_yield();
    produce(bus, n, ctl);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    if (flags & SSS_BUS_WAIT_SLOWEST) {
        check_results("threads/wait", ctl, 2, n, 0, -1);
        CHECK_EQ_INT(ctl->res[1].records, n);
    } else {
        check_results("threads/lapping", ctl, 2, n, -1, 1);
    }
    free(bus);
    free(ctl);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* no buffered line is copied by fork */
    int quick = getenv("SSS_TEST_QUICK") != NULL;

    signal(SIGPIPE, SIG_IGN);
    test_basics();
    test_wrap_padding();
    test_lap();
    test_wait_mode();
    test_producer_death();
    test_processes_lapping(quick ? 100000 : 1000000);
    test_processes_wait(quick ? 50000 : 300000);
    run_threads(0, quick ? 50000 : 200000, 200);
    run_threads(SSS_BUS_WAIT_SLOWEST, quick ? 20000 : 100000, 50);
    return sss_test_done();
}
