/*
 * libFuzzer target for the host messages (src/proto/sss_hostmsg.c).
 *
 * Input: byte 0 is the record type (any value: most are not types), the rest
 * is the record. The record is copied into a buffer of exactly its size, so
 * that ASan sees any read past its end. Checks: sss_hm_unpack returns 0 or
 * one of SSS_EHM_TYPE, SSS_EHM_SHORT, SSS_EHM_LENGTH; an accepted record's
 * spans lie inside it, in order, and cover it after its fixed part; writing
 * the unpacked record gives back the input's bytes; packing its fields again
 * with the type's own sss_hm_pack_* gives the same size and parts; and the
 * dispatcher agrees with sss_hm_unpack and hands the handler the same record.
 */
#include "fuzz_check.h"
#include "sss_hostmsg.h"
#include "sss_log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct sss_hm_span *a, const struct sss_hm_span *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* Pack the unpacked record's fields again with its type's own function. */
static int repack(const struct sss_hm_rec *u, struct sss_hm_rec *r)
{
    const union sss_hm_fixed *h = &u->h;
    const struct sss_hm_span *v = u->v;

    switch (u->type) {
    case SSS_HM_PUBLISH:
        return sss_hm_pack_publish(r, h->publish.req, h->publish.origin_conn, h->publish.flags,
                                   v[0].p, v[0].len, v[1].p, v[1].len, v[2].p, v[2].len);
    case SSS_HM_LAST_UID:
        return sss_hm_pack_last_uid(r, h->last_uid.req, v[0].p, v[0].len);
    case SSS_HM_HISTORY:
        return sss_hm_pack_history(r, h->history.req,
                                   h->history.has_after ? &h->history.after : NULL, v[0].p,
                                   v[0].len);
    case SSS_HM_BROADCAST:
        return sss_hm_pack_broadcast(r, v[0].p, v[0].len, v[1].p, v[1].len);
    case SSS_HM_HELLO:
        sss_hm_pack_hello(r, h->hello.pid);
        return 0;
    case SSS_HM_RESYNC:
        sss_hm_pack_resync(r, h->hello.pid);
        return 0;
    case SSS_HM_PRESENCE:
        return sss_hm_pack_presence(r, h->presence.delta, v[0].p, v[0].len, v[1].p, v[1].len);
    case SSS_HM_SESSION:
        return sss_hm_pack_session(r, h->session.op, v[0].p, v[0].len, v[1].p, v[1].len, v[2].p,
                                   v[2].len, h->session.has_uid ? &h->session.uid : NULL);
    case SSS_HM_SESSION_LOAD:
        return sss_hm_pack_session_load(r, h->session_load.req, v[0].p, v[0].len);
    case SSS_HM_BOOT:
        return sss_hm_pack_boot(r, h->boot.kind, v[0].p, v[0].len, v[1].p, v[1].len);
    case SSS_HM_PUBLISHED:
        sss_hm_pack_published(r, h->published.req, h->published.rc, h->published.uid);
        return 0;
    case SSS_HM_LAST_UID_R:
        sss_hm_pack_last_uid_r(r, h->last_uid_r.req, (int)h->last_uid_r.has, h->last_uid_r.uid);
        return 0;
    case SSS_HM_HIST_REC:
        return sss_hm_pack_hist_rec(r, h->hist_rec.req, h->hist_rec.uid, v[0].p, v[0].len,
                                    v[1].p, v[1].len);
    case SSS_HM_HIST_END:
        sss_hm_pack_hist_end(r, h->hist_end.req, h->hist_end.rc, (int)h->hist_end.gap,
                             (int)h->hist_end.has_last, h->hist_end.last);
        return 0;
    case SSS_HM_SESSION_ENTRY:
        return sss_hm_pack_session_entry(r, h->session_entry.req,
                                         h->session_entry.has_uid ? &h->session_entry.uid : NULL,
                                         v[0].p, v[0].len);
    case SSS_HM_SESSION_END:
        sss_hm_pack_session_end(r, h->session_end.req, (int)h->session_end.found,
                                (int)h->session_end.kept);
        return 0;
    case SSS_HM_FEED:
        return sss_hm_pack_feed(r, h->feed.uid, h->feed.origin_worker, h->feed.origin_conn,
                                h->feed.flags, v[0].p, v[0].len, v[1].p, v[1].len, v[2].p,
                                v[2].len);
    case SSS_HM_BCAST_RECORD:
        return sss_hm_pack_bcast_record(r, v[0].p, v[0].len, v[1].p, v[1].len);
    case SSS_HM_BOOT_RECORD:
        return sss_hm_pack_boot_record(r, h->boot.kind, v[0].p, v[0].len, v[1].p, v[1].len);
    case SSS_HM_GAP_RECORD:
        return sss_hm_pack_gap_record(r, v[0].p, v[0].len);
    case SSS_HM_TELL:
        return sss_hm_pack_tell(r, h->tell.sid, h->tell.run, v[0].p, v[0].len, v[1].p, v[1].len,
                                v[2].p, v[2].len);
    case SSS_HM_TELL_CONN:
        /* Its packer gives no host; one that carries a host anyway has TELL's layout. */
        if (v[0].len) {
            int rc = sss_hm_pack_tell(r, h->tell.sid, h->tell.run, v[0].p, v[0].len, v[1].p,
                                      v[1].len, v[2].p, v[2].len);

            r->type = SSS_HM_TELL_CONN;
            return rc;
        }
        return sss_hm_pack_tell_conn(r, h->tell.sid, h->tell.run, v[1].p, v[1].len, v[2].p,
                                     v[2].len);
    case SSS_HM_TELL_RECORD:
        return sss_hm_pack_tell_record(r, h->tell.sid, h->tell.run, v[0].p, v[0].len, v[1].p,
                                       v[1].len, v[2].p, v[2].len);
    }
    abort(); /* unpack accepted a type this target does not know */
}

struct seen {
    int calls;
    const struct sss_hm_rec *want;
};

static void handler(void *data, const struct sss_hm_rec *rec)
{
    struct seen *sn = data;

    sn->calls++;
    require(rec->type == sn->want->type);
    for (int i = 0; i < SSS_HM_MAX_PARTS; i++)
        require(rec->v[i].p == sn->want->v[i].p && rec->v[i].len == sn->want->v[i].len);
}

static void refused(void *data, uint32_t type, int rc, const struct sss_hm_rec *rec)
{
    (void)type, (void)rec;
    require(rc == SSS_EHM_TYPE || rc == SSS_EHM_SHORT || rc == SSS_EHM_LENGTH);
    ((struct seen *)data)->calls += 100;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sss_hm_dispatcher d = {.who = "fuzz", .on_refused = refused};
    static int setup;
    struct sss_hm_rec u, r;
    struct seen sn = {0, &u};
    uint32_t type;
    size_t len, off;
    char *rec, *out;
    int rc;

    if (!setup) {
        /* A refusal is expected here: keep the log quiet. */
        sss_log_setup(SSS_LOG_ERROR, "fuzz");
        for (int t = 0; t < SSS_HM_TYPE_END; t++)
            d.on[t] = handler;
        setup = 1;
    }
    if (size < 1)
        return 0;
    type = data[0];
    len = size - 1;
    rec = malloc(len ? len : 1);
    require(rec != NULL);
    memcpy(rec, data + 1, len);
    rc = sss_hm_unpack(type, rec, len, &u);
    require(rc == 0 || rc == SSS_EHM_TYPE || rc == SSS_EHM_SHORT || rc == SSS_EHM_LENGTH);
    require(rc != SSS_EHM_TYPE || strcmp(sss_hm_type_name(type), "?") == 0);
    if (rc == 0) {
        long n;

        require(u.type == type && sss_hm_rec_size(&u) == len);
        /* The parts follow the fixed part in order and end where the record ends. */
        off = len - u.v[0].len - u.v[1].len - u.v[2].len;
        for (int i = 0; i < SSS_HM_MAX_PARTS; i++) {
            if (u.v[i].len) {
                require(u.v[i].p == rec + off);
                off += u.v[i].len;
            }
        }
        require(off == len);
        /* Written back, the record is the input. */
        out = malloc(len ? len : 1);
        require(out != NULL);
        n = sss_hm_write(&u, out, len);
        require(n == (long)len && memcmp(out, rec, len) == 0);
        free(out);
        /* Packed again from its fields: same size, same parts. */
        require(repack(&u, &r) == 0);
        require(r.type == type && sss_hm_rec_size(&r) == len);
        for (int i = 0; i < SSS_HM_MAX_PARTS; i++)
            require(same(&r.v[i], &u.v[i]));
    }
    /* The dispatcher agrees: the handler once, or a refusal once. */
    require(sss_hm_dispatch(&d, &sn, type, rec, len) == rc);
    require(sn.calls == (rc == 0 ? 1 : 100));
    free(rec);
    return 0;
}
