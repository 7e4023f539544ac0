/* Unit tests of the hash map (src/common/sss_map.c), against a plain model. */
#include "sss_map.h"
#include "sss_test.h"

#include <stdio.h>
#include <stdlib.h>

#define N 5000

int main(void)
{
    static char keys[N][16];
    static int present[N];
    struct sss_map m;
    unsigned seed = 12345;
    int errors = 0;

    sss_map_init(&m);
    CHECK(sss_map_get(&m, "x", 1) == NULL);
    CHECK(sss_map_del(&m, "x", 1) == NULL);
    for (int i = 0; i < N; i++)
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
    /* Random inserts and deletes, checked against `present` after each step. */
    for (int step = 0; step < 200000; step++) {
        int k = (int)(rand_r(&seed) % N);
        size_t len = strlen(keys[k]);

        if (rand_r(&seed) % 3) {
            if (sss_map_put(&m, keys[k], len, &present[k]) < 0)
                errors++;
            present[k] = 1;
        } else {
            void *v = sss_map_del(&m, keys[k], len);

            if ((v != NULL) != present[k])
                errors++;
            present[k] = 0;
        }
        if (step % 997 == 0)
            for (int i = 0; i < N; i++)
                if ((sss_map_get(&m, keys[i], strlen(keys[i])) != NULL) != present[i])
                    errors++;
    }
    CHECK_EQ_INT(errors, 0);
    {
        uint32_t count = 0, live = 0;

        for (uint32_t i = 0; i < m.cap; i++)
            count += m.slots[i].key != NULL;
        for (int i = 0; i < N; i++)
            live += (uint32_t)present[i];
        CHECK_EQ_INT(count, m.len);
        CHECK_EQ_INT(live, m.len);
    }
    /* Keys that differ only in length or a byte are distinct. */
    CHECK_EQ_INT(sss_map_put(&m, "ab", 1, keys[0]), 0);
    CHECK(sss_map_get(&m, "ab", 1) == keys[0]);
    CHECK(sss_map_get(&m, "ab", 2) == NULL);
    sss_map_fini(&m);
    return sss_test_done();
}
