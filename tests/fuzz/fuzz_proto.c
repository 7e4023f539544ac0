/*
 * libFuzzer target for the JSON codec (sss_proto). Each input is decoded as a
 * client frame and as a server frame; the result must obey the contract of
 * sss_proto.h (return code matches msg.error, spans lie inside the input,
 * strings bounded and NUL-terminated, names valid, the bump region empty).
 * The decoded fields are then encoded into a FEED, an ERROR, a SUBSCRIBE
 * reply and a SYNC reply; each must be strict JSON (re-parsed with yajl), and
 * the FEED must decode back to the same channel, topic and msg bytes. The
 * input is also fed to the string escaper and the uid parser, decoded as
 * a PUBLISH body without sys (sss_proto_decode_as, the HTTP API's way), and
 * read by sss_json_each with the decoder's string rules (the API's boot),
 * which must judge the JSON exactly as the decoder does, and strictly (JWT
 * claims), which may only refuse more. A broken invariant calls abort(),
 * which libFuzzer (or the replayer) reports.
 */
#include "fuzz_check.h"
#include "proto/sss_proto.h"
#include "proto/sss_json.h"
#include "sss_alloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SUBS 8

static bool span_inside(struct sss_proto_span sp, const char *in, size_t len)
{
    if (!sp.ptr)
        return sp.len == 0;
    return sp.ptr >= in && sp.len <= len && (size_t)(sp.ptr - in) <= len - sp.len && sp.len > 0;
}

/* Strict JSON: one value, yajl's grammar, and no \v or \f that yajl would allow. */
static void require_json_out(const struct sss_proto_out *o)
{
    require(!o->oom && o->len > 0);
    require(!memchr(o->data, '\v', o->len) && !memchr(o->data, '\f', o->len));
    require_json(o->data, o->len);
}

static void check_msg(const struct sss_proto_decoder *d, const struct sss_proto_msg *m, int rc,
                      const char *in, size_t len)
{
    size_t i;

    (void)d;
    switch (rc) {
    case 0:
        require(m->error == SSS_PROTO_OK);
        require(m->sys == SSS_PROTO_HEARTBEAT ||
                (m->sys >= SSS_PROTO_SUBSCRIBE && m->sys <= SSS_PROTO_ERROR));
        break;
    case SSS_ELIMIT:
        require(m->error == SSS_PROTO_E_DEPTH || m->error == SSS_PROTO_E_TOO_MANY_SUBS);
        break;
    case -ENOMEM:
        require(m->error == SSS_PROTO_E_NOMEM);
        break;
    case SSS_EPROTO:
        require(m->error != SSS_PROTO_OK && m->error != SSS_PROTO_E_DEPTH &&
                m->error != SSS_PROTO_E_TOO_MANY_SUBS && m->error != SSS_PROTO_E_NOMEM);
        break;
    default:
        abort();
    }
    require(strcmp(sss_proto_strerror(m->error), "unknown error") != 0);
    require(m->sys >= SSS_PROTO_HEARTBEAT && m->sys <= SSS_PROTO_ERROR);
    require(span_inside(m->id, in, len) && span_inside(m->msg, in, len) &&
            span_inside(m->query, in, len) && span_inside(m->uid, in, len) &&
            span_inside(m->result, in, len) && span_inside(m->records, in, len) &&
            span_inside(m->prot, in, len) && span_inside(m->err, in, len) &&
            span_inside(m->reason, in, len));
    if (m->id.ptr)
        require(m->id.ptr[0] == '"' || m->id.ptr[0] == '-' ||
                (m->id.ptr[0] >= '0' && m->id.ptr[0] <= '9'));
    if (m->has & SSS_PROTO_HAS_CHANNEL) {
        require(m->channel_len <= 2 * SSS_PROTO_CHANNEL_MAX && strlen(m->channel) == m->channel_len);
        if (rc == 0)
            require(sss_proto_channel_valid(m->channel, m->channel_len));
    }
    if (m->has & SSS_PROTO_HAS_TOPIC)
        require(m->topic_len <= SSS_PROTO_TOPIC_MAX && strlen(m->topic) == m->topic_len);
    if (m->has & SSS_PROTO_HAS_SESSION)
        require(m->session_len <= SSS_PROTO_SESSION_MAX && strlen(m->session) == m->session_len);
    if (m->has & SSS_PROTO_HAS_LAST_UID)
        require(m->last_uid_len <= SSS_PROTO_LASTUID_MAX &&
                strlen(m->last_uid) == m->last_uid_len);
    require(!((m->has & SSS_PROTO_HAS_LAST_UID) && (m->has & SSS_PROTO_HAS_LAST_UID_NULL)));
    require(m->nsubs <= MAX_SUBS);
    for (i = 0; i < m->nsubs; i++) {
        const struct sss_proto_sub *s = &m->subs[i];

        require(span_inside(s->query, in, len));
        require(s->channel_len <= SSS_PROTO_CHANNEL_MAX && strlen(s->channel) == s->channel_len);
        require(s->last_uid_len <= SSS_PROTO_LASTUID_MAX &&
                strlen(s->last_uid) == s->last_uid_len);
        if (rc == 0)
            require(sss_proto_channel_valid(s->channel, s->channel_len));
    }
}

/* Strict UTF-8: no overlongs, surrogates or code points past U+10FFFF. */
static bool utf8_valid(const char *str)
{
    const unsigned char *p = (const unsigned char *)str;

    while (*p) {
        unsigned c = *p, n, cp, i;

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 3, cp = c & 0x07;
        else
            return false;
        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n + 1;
    }
    return true;
}

/* Encode what was decoded; everything must be strict JSON, the FEED must round-trip. */
static void reencode(struct sss_proto_decoder *d, const struct sss_proto_msg *m)
{
    static struct sss_proto_msg back;
    struct sss_proto_fail fail = {"Protocol Error", sss_proto_strerror(m->error)};
    struct sss_proto_sync_reply b;
    struct sss_proto_out o, feed;
    struct sss_uid uid = {0, 0};
    const char *channel = (m->has & SSS_PROTO_HAS_CHANNEL) &&
                                  sss_proto_channel_valid(m->channel, m->channel_len)
                              ? m->channel
                              : "c";
    const char *topic = m->has & SSS_PROTO_HAS_TOPIC ? m->topic : "t";
    bool from_server = d->from_server;
    size_t i;

    if (m->has & SSS_PROTO_HAS_LAST_UID)
        (void)!sss_proto_uid_parse(&uid, m->last_uid, m->last_uid_len);

    sss_proto_out_init(&feed, NULL, 0);
    require(sss_proto_encode_feed(&feed, channel, topic, m->msg, &uid) == 0);
    require_json_out(&feed);
    d->from_server = true;
    require(sss_proto_decode(d, feed.data, feed.len, &back) == 0);
    d->from_server = from_server;
    require(back.sys == SSS_PROTO_FEED);
    require(strcmp(back.channel, channel) == 0);
    /* yajl lets overlong and surrogate bytes through; the escaper replaces them. */
    if (utf8_valid(topic))
        require(strcmp(back.topic, topic) == 0);
    require(back.msg.len == m->msg.len &&
            (m->msg.len == 0 || memcmp(back.msg.ptr, m->msg.ptr, m->msg.len) == 0));

    sss_proto_out_init(&o, NULL, 0);
    require(sss_proto_encode_error(&o, &fail, m->id) == 0);
    require_json_out(&o);
    sss_proto_out_reset(&o);
    require(sss_proto_encode_subscribe_reply(&o, m->id, channel, m->error == SSS_PROTO_OK, &uid,
                                             &fail) == 0);
    require_json_out(&o);
    sss_proto_out_reset(&o);
    require(sss_proto_encode_response(&o, m->id, m->query) == 0);
    require_json_out(&o);
    sss_proto_out_reset(&o);
    require(sss_proto_sync_reply_begin(&b, &o, m->id) == 0);
    for (i = 0; i < m->nsubs; i++)
        require(sss_proto_sync_reply_result(&b, m->subs[i].channel, i % 2 == 0) == 0);
    require(sss_proto_sync_reply_record(&b, feed.data, feed.len) == 0);
    require(sss_proto_sync_reply_end(&b) == 0);
    require_json_out(&o);
    sss_proto_out_reset(&o);
    if (m->sys == SSS_PROTO_SYNC) {
        require(sss_proto_encode_sync(&o, m->id, m->subs, m->nsubs) == 0);
        require_json_out(&o);
    }
    sss_proto_out_fini(&o);
    sss_proto_out_fini(&feed);
}

/* Any bytes through the escaper give strict JSON in valid UTF-8 (yajl checks strings). */
static void escape(const uint8_t *data, size_t size)
{
    char s[512];
    size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    struct sss_proto_out o;

    memcpy(s, data, n);
    s[n] = '\0';
    sss_proto_out_init(&o, NULL, 0);
    require(sss_proto_encode_boot(&o, s) == 0);
    require_json_out(&o);
    sss_proto_out_fini(&o);
}

/* A uid that parses formats back to the same bytes (the text form is canonical). */
static void uid(const uint8_t *data, size_t size)
{
    struct sss_uid u, v;
    char buf[SSS_PROTO_UID_BUF];
    size_t n = size < 48 ? size : 48, len;

    if (sss_proto_uid_parse(&u, (const char *)data, n) != 0)
        return;
    len = sss_proto_uid_format(&u, buf, sizeof(buf));
    require(len == n && memcmp(buf, data, n) == 0);
    require(sss_proto_uid_parse(&v, buf, len) == 0 && sss_proto_uid_cmp(&u, &v) == 0);
}

/* Each child of the top object: raw text inside the input, keys and strings as said. */
static int each_child(void *data, const struct sss_json_item *it)
{
    const struct sss_proto_span *in = data;

    require(it->key && it->raw && it->raw_len > 0 && it->raw >= in->ptr &&
            it->raw_len <= in->len && (size_t)(it->raw - in->ptr) <= in->len - it->raw_len);
    require((it->type == SSS_JSON_STRING) == (it->str != NULL));
    if (it->type == SSS_JSON_STRING)
        require(it->raw[0] == '"' && it->raw[it->raw_len - 1] == '"');
    if (it->type == SSS_JSON_OBJECT || it->type == SSS_JSON_ARRAY)
        require(it->raw[0] == (it->type == SSS_JSON_OBJECT ? '{' : '['));
    return 0;
}

/*
 * sss_json_each with the decoder's string rules accepts exactly the objects
 * the decoder parses (server decoding: no required fields); strictly, it
 * accepts no more.
 */
static void each(const struct sss_proto_msg *server, int server_rc, const char *in, size_t len)
{
    struct sss_proto_span sp = {in, len};
    int loose = sss_json_each(in, len, SSS_JSON_OBJECT, SSS_PROTO_MAX_DEPTH,
                              SSS_JSON_LOOSE_STRINGS, each_child, &sp);
    int strict = sss_json_each(in, len, SSS_JSON_OBJECT, SSS_PROTO_MAX_DEPTH, SSS_JSON_STRICT,
                               each_child, &sp);
    bool json_ok = server->error != SSS_PROTO_E_JSON && server->error != SSS_PROTO_E_NOT_OBJECT &&
                   server->error != SSS_PROTO_E_DEPTH;

    require(loose == 0 || loose == SSS_EPROTO || loose == -ENOMEM);
    require(strict == 0 || strict == SSS_EPROTO || strict == -ENOMEM);
    if (loose == -ENOMEM || strict == -ENOMEM || server_rc == -ENOMEM || (len == 1 && in[0] == 'h'))
        return;
    require((loose == 0) == json_ok);
    require(strict != 0 || loose == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sss_proto_decoder dec;
    static struct sss_proto_msg msg;
    static bool ready;
    const char *in = (const char *)data;
    int rc;

    if (!ready) {
        require(sss_proto_decoder_init(&dec, MAX_SUBS) == 0);
        ready = true;
    }
    dec.from_server = false;
    rc = sss_proto_decode(&dec, in, size, &msg);
    check_msg(&dec, &msg, rc, in, size);
    reencode(&dec, &msg);

    dec.from_server = true;
    rc = sss_proto_decode(&dec, in, size, &msg);
    check_msg(&dec, &msg, rc, in, size);
    dec.from_server = false;
    each(&msg, rc, in, size);

    rc = sss_proto_decode_as(&dec, in, size, SSS_PROTO_PUBLISH, &msg);
    check_msg(&dec, &msg, rc, in, size);
    require(msg.sys != SSS_PROTO_HEARTBEAT);

    escape(data, size);
    uid(data, size);
    return 0;
}
