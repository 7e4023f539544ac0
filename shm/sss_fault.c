/* Named crash points for the fault tests (format of SSS_FAULT in sss_fault.h). */
#include "sss_fault.h"

#ifdef SSS_FAULT_INJECTION
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAULT_MAX 8
#define FAULT_NAME_MAX 64

struct fault {
    char name[FAULT_NAME_MAX];
    long nth;     /* fire on this pass (1 = the first) */
    long passes;  /* passes so far in this process */
    int stop;     /* SIGSTOP instead of SIGKILL */
};

/* Test-only state of this process, parsed from the environment once. */
static struct fault faults[FAULT_MAX];
static int nfaults = -1; /* -1: SSS_FAULT not read yet */

static void parse(void)
{
    const char *spec = getenv("SSS_FAULT");

    nfaults = 0;
    while (spec && *spec && nfaults < FAULT_MAX) {
        struct fault *f = &faults[nfaults];
        const char *end = strchr(spec, ','), *colon = strchr(spec, ':');
        size_t n;
        char *rest;

        if (!end)
            end = spec + strlen(spec);
        if (!colon || colon > end || (n = (size_t)(colon - spec)) == 0 || n >= FAULT_NAME_MAX) {
            fprintf(stderr, "sss_fault: ignoring malformed SSS_FAULT entry %.*s\n",
                    (int)(end - spec), spec);
        } else {
            memcpy(f->name, spec, n);
            f->name[n] = '\0';
            f->nth = strtol(colon + 1, &rest, 10);
            f->stop = strncmp(rest, ":stop", 5) == 0;
            f->passes = 0;
            if (f->nth > 0)
                nfaults++;
        }
        spec = *end ? end + 1 : end;
    }
}

/* With SSS_FAULT_DIR: whether this process is the first to fire the point. */
static int first_to_fire(const char *name)
{
    const char *dir = getenv("SSS_FAULT_DIR");
    char path[512];
    int fd;

    if (!dir || !*dir)
        return 1;
    if (snprintf(path, sizeof(path), "%s/%s.fired", dir, name) >= (int)sizeof(path))
        return 0;
    fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

void sss_fault_reload(void)
{
    parse();
}

/* The fault of point `name` whose nth pass this is, or NULL. */
static struct fault *due(const char *name)
{
    if (nfaults < 0)
        parse();
    for (int i = 0; i < nfaults; i++) {
        struct fault *f = &faults[i];

        if (strcmp(f->name, name) == 0 && ++f->passes == f->nth && first_to_fire(name))
            return f;
    }
    return NULL;
}

void sss_fault_point(const char *name)
{
    struct fault *f = due(name);

    if (!f)
        return;
    fprintf(stderr, "sss_fault: pid %d %s at %s (pass %ld)\n", (int)getpid(),
            f->stop ? "stops" : "dies", name, f->passes);
    raise(f->stop ? SIGSTOP : SIGKILL);
}

int sss_fault_hit(const char *name)
{
    struct fault *f = due(name);

    if (f)
        fprintf(stderr, "sss_fault: pid %d fakes a fault at %s (pass %ld)\n", (int)getpid(), name,
                f->passes);
    return f != NULL;
}
#endif
