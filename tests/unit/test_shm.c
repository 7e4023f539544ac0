/* Unit tests of the shared memory segment and its counters (shm/sss_shm.c). */
#include "sss_shm.h"
#include "sss_test.h"

#include <sys/wait.h>
#include <unistd.h>

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
    return sss_test_done();
}
