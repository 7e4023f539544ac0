/* Unit tests of the shared memory segment and its counters (shm/sss_shm.c). */
#include "sss_shm.h"
#include "sss_test.h"

#include <sys/wait.h>
#include <unistd.h>

/*
 * Each segment draws its own run id (never 0); a worker slot is current for
 * the incarnation of the process that runs in it, and for nothing else.
 */
static void worker_current(void)
{
    struct sss_shm a, b;
    struct sss_counters *c;

    CHECK_EQ_INT(sss_shm_create(&a, 2), 0);
    CHECK_EQ_INT(sss_shm_create(&b, 2), 0);
    CHECK(a.hdr->run_id != 0 && b.hdr->run_id != 0);
    CHECK(a.hdr->run_id != b.hdr->run_id); /* 1 in 2^32 to fail by chance */
    c = sss_shm_counters(&a, 1);
    CHECK(!sss_shm_worker_current(&a, 1, 0)); /* nobody runs there yet */
    atomic_store(&c->incarnation, 0x10002u);  /* 16 low bits: 2 */
    atomic_store(&c->pid, 1234);
    CHECK(sss_shm_worker_current(&a, 1, 2));
    CHECK(!sss_shm_worker_current(&a, 1, 1));
    CHECK(!sss_shm_worker_current(&a, 0, 2));
    CHECK(!sss_shm_worker_current(&a, 2, 2)); /* out of range */
    CHECK(!sss_shm_worker_current(&a, 0xffff, 2));
    /* The process died: the master reset its slot. */
    sss_shm_reset_worker(&a, 1);
    CHECK(!sss_shm_worker_current(&a, 1, 2));
    /* Its successor takes the next incarnation. */
    atomic_fetch_add(&c->incarnation, 1);
    atomic_store(&c->pid, 1235);
    CHECK(!sss_shm_worker_current(&a, 1, 2));
    CHECK(sss_shm_worker_current(&a, 1, 3));
    sss_shm_destroy(&a);
    sss_shm_destroy(&b);
}

int main(void)
{
    struct sss_shm shm;
    struct sss_counters *c0, *c2;
    pid_t pid;
    int status;

    CHECK_EQ_INT(sss_shm_create(&shm, 3), 0);
    CHECK(shm.hdr->magic == SSS_SHM_MAGIC);
    CHECK_EQ_INT(shm.hdr->nprocs, 3);
    c0 = sss_shm_counters(&shm, 0);
    c2 = sss_shm_counters(&shm, 2);
    CHECK(((uintptr_t)c0 % SSS_CACHELINE) == 0 && ((uintptr_t)c2 % SSS_CACHELINE) == 0);
    CHECK_EQ_INT(sss_shm_total_conns(&shm), 0);
    sss_ctr_add(c0, conns_open, 5);
    /* A child process writes its own slot; the parent sees it. */
    pid = fork();
    if (pid == 0) {
        sss_ctr_add(c2, conns_open, 7);
        sss_ctr_add(c2, conns_open, -1);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(sss_shm_total_conns(&shm), 11);
    atomic_fetch_add(&c2->incarnation, 3);
    sss_shm_reset_counters(&shm, 2);
    CHECK_EQ_INT(sss_shm_total_conns(&shm), 5);
    CHECK_EQ_INT(atomic_load(&c2->incarnation), 3); /* kept: the next process counts on */
    sss_shm_destroy(&shm);
    worker_current();
    return sss_test_done();
}
