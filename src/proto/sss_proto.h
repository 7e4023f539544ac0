/*
 * The JSON codec of the sss wire protocol (docs/PROTOCOL.md, version 1):
 * decode one client text frame into a struct sss_proto_msg, and encode every
 * message into a growable struct sss_proto_out. MessagePack (sss_msgpack.h)
 * is a transcoding of these JSON texts, at the edge of each connection.
 *
 * Decoding (through sss_json.h, the one JSON reader over yajl):
 *   - One frame is one JSON object with an integer "sys" 1..14, or the
 *     heartbeat frame "h" (exactly that one byte). The reader's strict
 *     grammar: one value per frame, only whitespace after it (an
 *     unterminated string too is garbage), no \v or \f as whitespace (yajl
 *     allows them), top level an object. Strings pass as yajl reads them
 *     (the caller validates UTF-8), except those unescaped (below).
 *   - Nothing is allocated per frame in the common case: yajl's own memory
 *     comes from a region inside struct sss_proto_decoder (the heap only
 *     backs strings with escapes longer than a few KiB), unescaped strings go
 *     into fixed buffers of struct sss_proto_msg, and subscriptions into an
 *     array the decoder allocates once.
 *   - "id", "msg", "query" (and the raw fields a client reads: "uid",
 *     "result", "records", "prot", "err", "reason") are raw spans of the input
 *     text: passed through byte for byte (whitespace, escapes, 2^53+1, 1e400),
 *     never re-serialised. An absent field has ptr NULL; JSON null is the
 *     span "null", so absent and null stay distinct.
 *   - "channel", "topic", "session" and "lastUid" are unescaped into bounded
 *     NUL-terminated buffers. A \u escape that is a lone surrogate or \u0000
 *     is rejected. Channel names must match [A-Za-z0-9_-]{1,128}.
 *   - Duplicate keys: the LAST occurrence wins (as JSON.parse in the original
 *     JavaScript server and clients), but every occurrence is checked, so an
 *     invalid value anywhere is an error. A duplicate "subscriptions" array
 *     replaces the earlier one.
 *   - Unknown fields are ignored at any nesting, but count for the depth
 *     limit: at most SSS_PROTO_MAX_DEPTH nested objects/arrays, the top-level
 *     object included (enforced in the start callbacks, so the parser stops
 *     at once and its state stack stays small).
 *   - On an error the first problem found in document order is reported
 *     (bad JSON and nesting beat everything); then a missing or unknown sys;
 *     then a missing required field. Even then msg->sys (when valid) and
 *     msg->id (when seen) are set, so the server can answer in kind: a
 *     SUBSCRIBE with an invalid name gets result false, anything else ERROR.
 *
 * Encoding: every sss_proto_encode_* function APPENDS one message to out
 * (call sss_proto_out_reset between messages), in the field order of the
 * PROTOCOL.md examples, compact (no spaces). Strings are escaped as JSON
 * requires ('"', '\\', control characters as \b \f \n \r \t or \u00xx) and
 * invalid UTF-8 becomes \ufffd, so the output is always valid JSON in valid
 * UTF-8. Raw spans are copied verbatim: they must be valid JSON values (the
 * decoder's spans are). String arguments are NUL-terminated; NULL means
 * "field absent" where the contract says so.
 *
 * Uids: "E-O", two decimal uint64 (epoch, offset). The offset grows by one
 * per message of a channel within an epoch; a new epoch starts when a
 * channel's history is lost (engine restart without persistence), so uids
 * stay unique and increasing across restarts: compare epoch, then offset.
 */
#ifndef SSS_PROTO_H
#define SSS_PROTO_H

#include "sss/sss_limits.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sss_dynbuf.h"
#include "sss_err.h"

#define SSS_PROTO_CHANNEL_MAX 128 /* bytes of a channel name (PROTOCOL.md 5) */
#define SSS_PROTO_TOPIC_MAX 256   /* bytes of an unescaped topic */
#define SSS_PROTO_SESSION_MAX SSS_SESSION_MAX /* bytes of an unescaped session id */
/*
 * A session's name in the store: "<user>|<session>", the user "" for an
 * anonymous client. A user name has no '|', so one user's session id can
 * never name another user's record, nor an anonymous one's ("|<session>").
 */
#define SSS_PROTO_SESSION_KEY_MAX (SSS_USER_MAX + 1 + SSS_SESSION_MAX)
#define SSS_PROTO_LASTUID_MAX 64  /* bytes of a lastUid string as sent (opaque to clients) */
#define SSS_PROTO_ID_MAX 128      /* bytes of an id as sent (a JSON number or string, quotes too) */
#define SSS_PROTO_MAX_DEPTH 64    /* nested objects/arrays, the top-level object included */
#define SSS_PROTO_UID_BUF 42      /* "18446744073709551615-18446744073709551615" + NUL */
#define SSS_PROTO_YAJL_MEM 16384  /* bump region for yajl's allocations, per decoder */

/* The sys values of PROTOCOL.md 2, plus the two non-sys kinds of a decoded frame. */
enum sss_proto_sys {
    SSS_PROTO_HEARTBEAT = -1, /* the text frame "h", not a sys value */
    SSS_PROTO_NONE = 0,       /* missing or unknown sys (only with an error) */
    SSS_PROTO_SUBSCRIBE = 1,
    SSS_PROTO_UNSUBSCRIBE = 2,
    SSS_PROTO_BEGIN = 3,
    SSS_PROTO_SYNC = 4,
    SSS_PROTO_ASK = 5,
    SSS_PROTO_TELL = 6,
    SSS_PROTO_RESPONSE = 7,
    SSS_PROTO_FEED = 8,
    SSS_PROTO_BOOT = 9,
    SSS_PROTO_BOOTCHANNEL = 10,
    SSS_PROTO_BROADCAST = 11,
    SSS_PROTO_UPDATESUB = 12,
    SSS_PROTO_PUBLISH = 13,
    SSS_PROTO_ERROR = 14,
};

/* Why a frame was refused; sss_proto_strerror() gives the text for the ERROR reply. */
enum sss_proto_error {
    SSS_PROTO_OK = 0,
    SSS_PROTO_E_JSON,            /* "bad JSON" */
    SSS_PROTO_E_NOT_OBJECT,      /* "message must be a JSON object" */
    SSS_PROTO_E_DEPTH,           /* "nesting too deep" */
    SSS_PROTO_E_NO_SYS,          /* "missing sys" */
    SSS_PROTO_E_SYS,             /* "unknown sys" */
    SSS_PROTO_E_ID,              /* "id must be a number or a string" */
    SSS_PROTO_E_CHANNEL_TYPE,    /* "channel must be a string" */
    SSS_PROTO_E_CHANNEL,         /* "invalid channel name" */
    SSS_PROTO_E_NO_CHANNEL,      /* "missing channel" */
    SSS_PROTO_E_TOPIC_TYPE,      /* "topic must be a string" */
    SSS_PROTO_E_TOPIC_LONG,      /* "topic too long" */
    SSS_PROTO_E_NO_TOPIC,        /* "missing topic" */
    SSS_PROTO_E_SESSION_TYPE,    /* "session must be a string" */
    SSS_PROTO_E_SESSION_LONG,    /* "session too long" */
    SSS_PROTO_E_LASTUID_TYPE,    /* "lastUid must be a string or null" */
    SSS_PROTO_E_LASTUID_LONG,    /* "lastUid too long" */
    SSS_PROTO_E_ESCAPE,          /* "lone surrogate or NUL escape in string" */
    SSS_PROTO_E_SUBS_TYPE,       /* "subscriptions must be an array" */
    SSS_PROTO_E_SUB_TYPE,        /* "subscription must be an object" */
    SSS_PROTO_E_NO_SUBS,         /* "missing subscriptions" */
    SSS_PROTO_E_TOO_MANY_SUBS,   /* "too many subscriptions" */
    SSS_PROTO_E_NOMEM,           /* "out of memory" */
    SSS_PROTO_E_ID_LONG,         /* "id too long" (over SSS_PROTO_ID_MAX bytes) */
};

/* A slice of a caller's buffer; ptr NULL means absent. Not NUL-terminated. */
struct sss_proto_span {
    const char *ptr;
    size_t len;
};

static inline struct sss_proto_span sss_proto_span_of(const char *p, size_t len)
{
    struct sss_proto_span s = {p, len};

    return s;
}

/* One entry of a SYNC's "subscriptions". */
struct sss_proto_sub {
    struct sss_proto_span query;  /* raw JSON, ptr NULL when absent */
    bool has_last_uid;            /* lastUid was a string (false: null or absent) */
    uint8_t channel_len;          /* always 1..128 in a decoded message */
    uint8_t last_uid_len;
    char channel[SSS_PROTO_CHANNEL_MAX + 1];
    char last_uid[SSS_PROTO_LASTUID_MAX + 1]; /* "" unless has_last_uid */
};

/* Bits of sss_proto_msg.has: which unescaped fields were present. */
#define SSS_PROTO_HAS_CHANNEL 0x01u
#define SSS_PROTO_HAS_TOPIC 0x02u
#define SSS_PROTO_HAS_SESSION 0x04u
#define SSS_PROTO_HAS_LAST_UID 0x08u      /* lastUid was a string */
#define SSS_PROTO_HAS_LAST_UID_NULL 0x10u /* lastUid was null */
#define SSS_PROTO_HAS_SUBS 0x20u          /* subscriptions was an array */

/*
 * One decoded frame. Spans borrow from the input buffer; subs borrows from
 * the decoder. Both stay valid until the next decode on that decoder or until
 * the input buffer is reused, whichever comes first. The char arrays are
 * NUL-terminated and only meaningful when their has bit is set; `channel` may
 * hold an invalid name (error SSS_PROTO_E_CHANNEL) of up to twice the limit,
 * so that a refusal can name it.
 */
struct sss_proto_msg {
    int sys;                     /* enum sss_proto_sys */
    enum sss_proto_error error;  /* SSS_PROTO_OK when decoding succeeded */
    unsigned has;                /* SSS_PROTO_HAS_* */
    struct sss_proto_span id;    /* raw number or string; null counts as absent */
    struct sss_proto_span msg;   /* raw JSON value */
    struct sss_proto_span query; /* raw JSON value */
    /* Raw fields of server messages, for clients and the protocol vectors. */
    struct sss_proto_span uid, result, records, prot, err, reason;
    struct sss_proto_sub *subs; /* SYNC subscriptions, nsubs of them */
    size_t nsubs;
    size_t channel_len, topic_len, session_len, last_uid_len;
    /* Room for names up to twice the limit, so that a SUBSCRIBE refused for a
     * too long name can still be answered with the name it asked for. */
    char channel[2 * SSS_PROTO_CHANNEL_MAX + 1];
    char topic[SSS_PROTO_TOPIC_MAX + 1];
    char session[SSS_PROTO_SESSION_MAX + 1];
    char last_uid[SSS_PROTO_LASTUID_MAX + 1];
};

/*
 * Reusable decoding state: one per worker (or per client connection). Not
 * thread-safe; decodes one frame at a time.
 */
struct sss_proto_decoder {
    struct sss_proto_sub *subs; /* owned, max_subs entries */
    size_t max_subs;
    bool from_server; /* decode server messages (clients): no required-field checks */
    _Alignas(16) unsigned char mem[SSS_PROTO_YAJL_MEM]; /* yajl's memory, lent per frame */
};

/*
 * Prepare d to decode frames with at most max_subs SYNC subscriptions (the
 * --max-subscriptions flag). Allocates the subscription array once.
 * Returns 0 or -ENOMEM. from_server starts false.
 */
int sss_proto_decoder_init(struct sss_proto_decoder *d, size_t max_subs) SSS_WUR;

/* Free what init allocated. d may be zeroed or finished already. */
void sss_proto_decoder_fini(struct sss_proto_decoder *d);

/*
 * Decode one text frame (buf, len: UTF-8 validated and bounded by the caller;
 * need not be NUL-terminated; must outlive msg's spans). Fills msg (see
 * struct sss_proto_msg for lifetimes), including msg->error.
 *
 * Returns 0 on success (msg->sys is 1..14 or SSS_PROTO_HEARTBEAT);
 * SSS_ELIMIT for nesting too deep or too many subscriptions; -ENOMEM when a
 * huge escaped string found no memory; SSS_EPROTO for every other error.
 * On failure msg->error says which, and msg->sys and msg->id are set when
 * they could be read. Never reads outside buf, never blocks.
 */
int sss_proto_decode(struct sss_proto_decoder *d, const char *buf, size_t len,
                     struct sss_proto_msg *msg) SSS_WUR;

/*
 * Decode buf as if "sys":sys came first in its object (sys 1..14): for
 * bodies that carry one message kind without saying so, such as the HTTP
 * API's publish (PUBLISH) and broadcast (TELL). A "sys" in buf still wins,
 * as a later duplicate does; "h" is not the heartbeat here. Otherwise
 * exactly sss_proto_decode, with the same returns.
 */
int sss_proto_decode_as(struct sss_proto_decoder *d, const char *buf, size_t len, int sys,
                        struct sss_proto_msg *msg) SSS_WUR;

/* The short English text of a decoding error, for the ERROR reply's message. */
const char *sss_proto_strerror(enum sss_proto_error e);

/* Whether name (len bytes) matches [A-Za-z0-9_-]{1,128}. */
bool sss_proto_channel_valid(const char *name, size_t len);

/* Whether a channel name is the server's own: it starts with '_' (PROTOCOL.md 5). */
bool sss_proto_channel_reserved(const char *name, size_t len);

/* ---- Uids ---- */

struct sss_uid {
    uint64_t epoch;
    uint64_t offset; /* +1 per message of the channel within an epoch */
};

/*
 * Parse "E-O" (exactly len bytes): both parts present, decimal digits only,
 * no sign, no leading zero except "0" itself, each at most UINT64_MAX.
 * Returns 0, or SSS_EINVAL (uid untouched).
 */
int sss_proto_uid_parse(struct sss_uid *uid, const char *s, size_t len) SSS_WUR;

/* Format uid as "E-O" into buf (cap >= SSS_PROTO_UID_BUF), NUL-terminated; returns the length. */
size_t sss_proto_uid_format(const struct sss_uid *uid, char *buf, size_t cap);

/* Order of two uids of one channel: negative, 0 or positive as a <, ==, > b. */
int sss_proto_uid_cmp(const struct sss_uid *a, const struct sss_uid *b);

/* ---- Output ---- */

/*
 * The encoders append to the common growable buffer (src/common/sss_dynbuf.h;
 * an allocation failure is sticky there, and encoders return -ENOMEM until a
 * reset). The sss_proto_out names are that type and its calls under this
 * module's prefix, kept while src/worker and clients/c still use them.
 */
#define sss_proto_out sss_dynbuf

static inline void sss_proto_out_init(struct sss_proto_out *out, char *storage, size_t cap)
{
    sss_dynbuf_init(out, storage, cap);
}

/* Forget the content (keeps the memory) and clear an allocation failure. */
static inline void sss_proto_out_reset(struct sss_proto_out *out)
{
    sss_dynbuf_reset(out);
}

static inline void sss_proto_out_fini(struct sss_proto_out *out)
{
    sss_dynbuf_fini(out);
}

/* Append raw bytes (already valid JSON where it matters). Returns 0 or -ENOMEM. */
static inline int sss_proto_out_append(struct sss_proto_out *out, const char *raw, size_t len)
    SSS_WUR;

static inline int sss_proto_out_append(struct sss_proto_out *out, const char *raw, size_t len)
{
    return sss_dynbuf_append(out, raw, len);
}

/* The "err" object of replies: {"name":...,"message":...}. */
struct sss_proto_fail {
    const char *name;
    const char *message;
};

/*
 * The BEGIN reply. prot is {} unless hb, then
 * {"hb":true,"hbInterval":..,"hbThreshold":..}. channel (NULL: absent) comes
 * with lastUid (last_uid NULL: null); session NULL: absent.
 */
struct sss_proto_begin_reply {
    bool hb;
    uint32_t hb_interval;  /* ms */
    uint32_t hb_threshold; /* ms */
    const char *channel;
    const struct sss_uid *last_uid;
    const char *session;
};

/*
 * Append s (NUL-terminated) as one JSON string, escaped as the encoders
 * escape every string (see the top of this file): the one JSON string writer,
 * also for the HTTP API's answers. Returns 0 or -ENOMEM (out->oom); the
 * failure is sticky, so a caller writing several pieces may check oom once.
 */
int sss_proto_encode_string(struct sss_proto_out *out, const char *s);

/* The same for n bytes that may hold NUL (a MessagePack str): NUL becomes \u0000. */
int sss_proto_encode_string_n(struct sss_proto_out *out, const char *s, size_t n);

/*
 * Encoders. Each appends one message and returns 0, or -ENOMEM (out->oom).
 * id: the client's raw id (ptr NULL: no "id" field). msg: raw JSON (ptr NULL:
 * no "msg" field; RESPONSE writes null then). uid NULL writes null.
 */
int sss_proto_encode_begin_reply(struct sss_proto_out *out, const struct sss_proto_begin_reply *r)
    SSS_WUR;
/* {"sys":1,"id":..,"channel":..,"result":true,"lastUid":..} or result false with err (optional). */
int sss_proto_encode_subscribe_reply(struct sss_proto_out *out, struct sss_proto_span id,
                                     const char *channel, bool result,
                                     const struct sss_uid *last_uid,
                                     const struct sss_proto_fail *err) SSS_WUR;
/* {"sys":2,"id":..,"channel":..,"result":..} */
int sss_proto_encode_unsubscribe_reply(struct sss_proto_out *out, struct sss_proto_span id,
                                       const char *channel, bool result) SSS_WUR;
/* {"sys":7,"id":..,"msg":..} */
int sss_proto_encode_response(struct sss_proto_out *out, struct sss_proto_span id,
                              struct sss_proto_span msg) SSS_WUR;
/* {"sys":7,"id":..,"err":{"name":..,"message":..}} */
int sss_proto_encode_response_err(struct sss_proto_out *out, struct sss_proto_span id,
                                  const struct sss_proto_fail *err) SSS_WUR;
/* The PUBLISH reply {"sys":7,"id":..,"msg":{"uid":"E-O"}}. */
int sss_proto_encode_publish_reply(struct sss_proto_out *out, struct sss_proto_span id,
                                   const struct sss_uid *uid) SSS_WUR;
/* {"sys":6,"topic":..,"msg":..}: TELL in both directions. */
int sss_proto_encode_tell(struct sss_proto_out *out, const char *topic, struct sss_proto_span msg)
    SSS_WUR;
/* {"sys":8,"channel":..,"topic":..,"msg":..,"uid":..} */
int sss_proto_encode_feed(struct sss_proto_out *out, const char *channel, const char *topic,
                          struct sss_proto_span msg, const struct sss_uid *uid) SSS_WUR;
/* {"sys":12,"channel":..,"uid":..} */
int sss_proto_encode_updatesub(struct sss_proto_out *out, const char *channel,
                               const struct sss_uid *uid) SSS_WUR;
/* {"sys":11,"topic":..,"msg":..} */
int sss_proto_encode_broadcast(struct sss_proto_out *out, const char *topic,
                               struct sss_proto_span msg) SSS_WUR;
/* {"sys":9,"reason":..} */
int sss_proto_encode_boot(struct sss_proto_out *out, const char *reason) SSS_WUR;
/* {"sys":10,"channel":..,"reason":..} */
int sss_proto_encode_bootchannel(struct sss_proto_out *out, const char *channel,
                                 const char *reason) SSS_WUR;
/* {"sys":14,"err":{"name":..,"message":..},"id":..} */
int sss_proto_encode_error(struct sss_proto_out *out, const struct sss_proto_fail *err,
                           struct sss_proto_span id) SSS_WUR;
/* The heartbeat text frame: h */
int sss_proto_encode_heartbeat(struct sss_proto_out *out) SSS_WUR;

/*
 * The SYNC reply, built incrementally:
 *   {"sys":4,"id":..,"result":{"c1":true,...},"records":[<FEED>,...]}
 * begin, then any results, then any records (raw FEED texts, copied
 * verbatim), then end. A result after a record returns SSS_EINVAL.
 */
struct sss_proto_sync_reply {
    struct sss_proto_out *out; /* borrowed */
    size_t nresults;
    size_t nrecords;
};

int sss_proto_sync_reply_begin(struct sss_proto_sync_reply *b, struct sss_proto_out *out,
                               struct sss_proto_span id) SSS_WUR;
int sss_proto_sync_reply_result(struct sss_proto_sync_reply *b, const char *channel, bool ok)
    SSS_WUR;
int sss_proto_sync_reply_record(struct sss_proto_sync_reply *b, const char *feed, size_t len)
    SSS_WUR;
int sss_proto_sync_reply_end(struct sss_proto_sync_reply *b) SSS_WUR;

/* Client -> server messages (for the C client and the protocol vectors). */
/* {"sys":1,"channel":..,"query":..,"id":..} (query ptr NULL: absent) */
int sss_proto_encode_subscribe(struct sss_proto_out *out, const char *channel,
                               struct sss_proto_span query, struct sss_proto_span id) SSS_WUR;
/* {"sys":2,"channel":..,"id":..} */
int sss_proto_encode_unsubscribe(struct sss_proto_out *out, const char *channel,
                                 struct sss_proto_span id) SSS_WUR;
/* {"sys":3,"session":..} (session NULL: absent) */
int sss_proto_encode_begin(struct sss_proto_out *out, const char *session) SSS_WUR;
/* {"sys":4,"id":..,"subscriptions":[{"channel":..,"lastUid":..,"query":..},...]} */
int sss_proto_encode_sync(struct sss_proto_out *out, struct sss_proto_span id,
                          const struct sss_proto_sub *subs, size_t n) SSS_WUR;
/* {"sys":5,"topic":..,"msg":..,"id":..} */
int sss_proto_encode_ask(struct sss_proto_out *out, const char *topic, struct sss_proto_span msg,
                         struct sss_proto_span id) SSS_WUR;
/* {"sys":13,"channel":..,"topic":..,"msg":..,"id":..} */
int sss_proto_encode_publish(struct sss_proto_out *out, const char *channel, const char *topic,
                             struct sss_proto_span msg, struct sss_proto_span id) SSS_WUR;

/* A span over a NUL-terminated string (for literals and tests). */
static inline struct sss_proto_span sss_proto_span_str(const char *s)
{
    struct sss_proto_span sp = {s, 0};

    if (s)
        while (s[sp.len])
            sp.len++;
    return sp;
}

#endif
