/*
 * The fuzz targets' main() in builds without libFuzzer: run
 * LLVMFuzzerTestOneInput once on every regular file of the directory given
 * (the seed corpus), so the corpus is replayed in every test run. A target
 * reports a broken invariant by aborting. Prints "N passed, 0 failed" and
 * exits 0; exits 1 if the directory is missing, unreadable or empty.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sss_alloc.h"
#include "sss_test_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    DIR *dir;
    struct dirent *de;
    char path[4096];
    struct stat sb;
    int run = 0, failed = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 1;
    }
    dir = opendir(argv[1]);
    if (!dir) {
        perror(argv[1]);
        return 1;
    }
    while ((de = readdir(dir)) != NULL) {
        uint8_t *data;
        size_t size = 0;
        int n = snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);

        if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        data = (uint8_t *)sss_test_read_file(path, &size);
        if (!data) {
            fprintf(stderr, "%s: cannot read\n", path);
            failed++;
            continue;
        }
        LLVMFuzzerTestOneInput(data, size);
        sss_free(data);
        run++;
    }
    closedir(dir);
    printf("%d passed, %d failed\n", run, failed);
    if (run == 0) {
        fprintf(stderr, "%s: no corpus files\n", argv[1]);
        return 1;
    }
    return failed ? 1 : 0;
}
