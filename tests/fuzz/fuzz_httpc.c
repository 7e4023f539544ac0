/*
 * libFuzzer target for the answer side of sss_httpc (the proxy's HTTP
 * client). The input's first byte picks how the rest arrives (the size of
 * each read, whether the call in flight is cancelled midway, how the stream
 * ends); the rest is what the backend sends, across as many connections and
 * calls as it takes: the target plays the driver and queues a new call each
 * time one completes, up to MAX_CALLS. Every call must then end in exactly
 * one callback (none once cancelled) that obeys sss_httpc.h: an answer with
 * a final status and at most max_body bytes, NUL-terminated, or a failure
 * with one of the known reasons; the counters must agree. A broken
 * invariant calls abort(), which libFuzzer (or the replayer) reports.
 */
#include "fuzz_check.h"
#include "proxy/sss_httpc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CALLS 8
#define MAX_BODY 256

struct fcall {
    struct sss_httpc_call *h;
    int cbs;
    bool cancelled;
};

struct run {
    struct sss_httpc *c;
    struct fcall calls[MAX_CALLS];
    int ncalls;
    int answers, failures;
};

static void on_done(void *data, int status, const char *body, size_t len, const char *fail);

static void add_call(struct run *r)
{
    struct fcall *f;
    int rc;

    if (r->ncalls == MAX_CALLS)
        return;
    f = &r->calls[r->ncalls];
    rc = sss_httpc_call(r->c, "/ask", "X-SSS-Host: h1\r\n", "{}", 2, on_done, f, 0, &f->h);
    require(rc == 0 && f->h);
    f->cbs = 0;
    f->cancelled = false;
    r->ncalls++;
}

static struct run *the_run;

static void on_done(void *data, int status, const char *body, size_t len, const char *fail)
{
    struct fcall *f = data;
    int known = 0;

    require(!f->cancelled && f->cbs == 0);
    f->cbs++;
    f->h = NULL;
    if (fail) {
        for (int i = 0; i < SSS_HTTPC_FAIL_COUNT; i++)
            known |= strcmp(fail, sss_httpc_fail_text(i)) == 0;
        require(known && status == 0 && body == NULL && len == 0);
        require(strcmp(fail, "queue full") != 0);
        the_run->failures++;
    } else {
        require(status >= 200 && status <= 999 && body && len <= MAX_BODY && body[len] == '\0');
        the_run->answers++;
    }
    add_call(the_run);
}

/* Do what the client asks: close, connect (succeeds), send (all, or short writes). */
static void drive(struct run *r, bool short_writes)
{
    bool again = true;
    const void *p;
    size_t n;
    int s;

    while (again) {
        again = false;
        while ((s = sss_httpc_want_close(r->c)) >= 0) {
            sss_httpc_closed(r->c, s);
            again = true;
        }
        while ((s = sss_httpc_want_connect(r->c)) >= 0) {
            sss_httpc_connected(r->c, s, 0);
            again = true;
        }
        while ((s = sss_httpc_want_send(r->c, &p, &n)) >= 0) {
            require(n > 0 && memcmp(p, "POST /ask HTTP/1.1\r\n", short_writes ? 0 : 20) == 0);
            sss_httpc_sent(r->c, s, (ssize_t)(short_writes && n > 7 ? 7 : n));
            again = true;
        }
    }
}

/* The call on the one slot now, if any, is cancelled. */
static void cancel_current(struct run *r)
{
    for (int i = 0; i < r->ncalls; i++) {
        struct fcall *f = &r->calls[i];

        if (f->h && f->cbs == 0 && !f->cancelled) {
            sss_httpc_cancel(f->h);
            f->cancelled = true;
            f->h = NULL;
            return;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sss_httpc_config cfg;
    const struct sss_httpc_stats *st;
    struct run r;
    size_t step, off = 1, pieces = 0;
    uint8_t flags;
    uint64_t failed = 0;

    if (size == 0)
        return 0;
    flags = data[0];
    step = 1 + (flags & 0x0f) * 7;
    memset(&r, 0, sizeof(r));
    the_run = &r;
    sss_httpc_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.connections = 1;
    cfg.queue_max = 2;
    cfg.max_body = MAX_BODY;
    cfg.timeout_ms = 1000;
    r.c = sss_httpc_create(&cfg);
    require(r.c != NULL);
    add_call(&r);
    add_call(&r);
    drive(&r, flags & 0x40);
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        int slot = 0;

        if (sss_httpc_reading(r.c, slot))
            sss_httpc_received(r.c, slot, data + off, n);
        off += n;
        if ((flags & 0x10) && ++pieces == 2)
            cancel_current(&r);
        drive(&r, flags & 0x40);
    }
    sss_httpc_eof(r.c, 0, (flags & 0x20) ? -ECONNRESET : 0);
    drive(&r, flags & 0x40);
    /* Whatever is still pending ends with the clock (callbacks queue more, up to MAX_CALLS). */
    for (int guard = 0; sss_httpc_tick(r.c, 1000) != -1; guard++) {
        require(guard < 4 * MAX_CALLS);
        drive(&r, flags & 0x40);
    }
    for (int i = 0; i < r.ncalls; i++)
        require(r.calls[i].cancelled ? r.calls[i].cbs == 0 : r.calls[i].cbs == 1);
    st = sss_httpc_stats(r.c);
    for (int i = 0; i < SSS_HTTPC_FAIL_COUNT; i++)
        failed += st->failures[i];
    require(st->answers == (uint64_t)r.answers && failed == (uint64_t)r.failures);
    require(st->calls == (uint64_t)r.ncalls);
    sss_httpc_destroy(r.c);
    return 0;
}
