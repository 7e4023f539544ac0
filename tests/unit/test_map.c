/* Unit tests of the hash map (src/common/sss_map.c), against a plain model;
 * the iterator returns every entry once, also when the entry it just
 * returned is deleted (its backward shift moves others into the slot);
 * sss_map_clear frees every value once and leaves the map reusable. */
#include "sss_map.h"
#include "sss_test.h"

#include <stdio.h>
#include <stdlib.h>

#define N 5000

/* Walk maps of many sizes, deleting about half of the entries as they come. */
static void test_iter_delete_safe(void)
{
    static char keys[2000][16];
    static int seen[2000];
    unsigned seed = 777;
    int errors = 0;

    for (int i = 0; i < 2000; i++)
        snprintf(keys[i], sizeof(keys[i]), "it%d", i);
    for (int round = 0; round < 300; round++) {
        int n = 1 + (int)(rand_r(&seed) % 2000), returned = 0;
        struct sss_map m;
        struct sss_map_iter it;
        char *k;

        sss_map_init(&m);
        for (int i = 0; i < n; i++) {
            seen[i] = 0;
            if (sss_map_put(&m, keys[i], strlen(keys[i]), keys[i]) < 0)
                errors++;
        }
        for (sss_map_iter_init(&it, &m); (k = sss_map_next(&it));) {
            int i = (int)strtol(k + 2, NULL, 10);

            returned++;
            if (seen[i]++)
                errors++; /* twice */
            if (rand_r(&seed) % 2 && sss_map_del(&m, k, strlen(k)) != k)
                errors++;
        }
        for (int i = 0; i < n; i++)
            if (!seen[i])
                errors++; /* skipped */
        if (returned != n)
            errors++;
        for (sss_map_iter_init(&it, &m); (k = sss_map_next(&it));) /* what is left, once */
            if (sss_map_del(&m, k, strlen(k)) != k)
                errors++;
        if (m.len != 0)
            errors++;
        sss_map_fini(&m);
    }
    CHECK_EQ_INT(errors, 0);
}

/* A value that holds its own key, as most maps' values do. */
struct owned {
    char key[16];
    int *freed; /* freed[i] counts the frees of value i */
    int i;
};

static int clear_calls;

static void owned_free(void *val)
{
    struct owned *o = val;

    clear_calls++;
    o->freed[o->i]++;
    free(o);
}

static void test_clear(void)
{
    static int freed[1000];
    struct sss_map m;
    int errors = 0;

    sss_map_init(&m);
    sss_map_clear(&m, owned_free); /* never used: nothing to free */
    sss_map_clear(&m, NULL);
    CHECK_EQ_INT(clear_calls, 0);
    for (int i = 0; i < 1000; i++) {
        struct owned *o = malloc(sizeof(*o));

        if (!o)
            break;
        snprintf(o->key, sizeof(o->key), "c%d", i);
        o->freed = freed;
        o->i = i;
        if (sss_map_put(&m, o->key, strlen(o->key), o) < 0) {
            free(o);
            errors++;
        }
    }
    CHECK_EQ_INT(errors, 0);
    sss_map_clear(&m, owned_free);
    CHECK_EQ_INT(clear_calls, 1000);
    for (int i = 0; i < 1000; i++)
        if (freed[i] != 1)
            errors++;
    CHECK_EQ_INT(errors, 0);
    CHECK_EQ_INT(m.len, 0);
    CHECK_EQ_INT(m.cap, 0);
    CHECK(m.slots == NULL);
    CHECK(sss_map_get(&m, "c1", 2) == NULL);
    /* Ready for use again; a NULL free_fn leaves the values alone. */
    CHECK_EQ_INT(sss_map_put(&m, "again", 5, freed), 0);
    CHECK(sss_map_get(&m, "again", 5) == freed);
    sss_map_clear(&m, NULL);
    CHECK_EQ_INT(m.len, 0);
    CHECK(m.slots == NULL);
    CHECK_EQ_INT(clear_calls, 1000);
}

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

        struct sss_map_iter it;

        for (sss_map_iter_init(&it, &m); sss_map_next(&it);)
            count++;
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
    test_iter_delete_safe();
    test_clear();
    return sss_test_done();
}
