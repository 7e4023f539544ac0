/*
 * Payloads and the small text helpers of the hot path. A payload is
 * printable ASCII, so it fits unescaped in a JSON string and in every
 * protocol's framing:
 *
 *     ~sb~<pub>:<seq>:<t_ns>:xxxxxxxx...
 *
 * <pub> names the publisher (or asker/echoer) over all processes, <seq> is
 * its sequence number on that channel (from 1), <t_ns> its CLOCK_MONOTONIC
 * send time, shared by every process of the machine.
 */
#include "sb.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t sb_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

char *sb_put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/*
 * The text padding: words of everyday chat, so that a deflated payload is
 * about as large as deflated chat text (a fresh deflate context per message,
 * as with server_no_context_takeover): about half its size at 512 bytes,
 * against a few percent for 'x' padding.
 */
static const char *const words[] = {
    "the",     "you",    "and",     "that",    "for",      "this",    "with",   "have",
    "what",    "just",   "are",     "not",     "but",      "was",     "can",    "will",
    "about",   "there",  "think",   "know",    "like",     "really",  "good",   "time",
    "today",   "tomorrow", "meeting", "later", "thanks",   "sure",    "okay",   "great",
    "sounds",  "maybe",  "morning", "tonight", "weekend",  "coffee",  "lunch",  "call",
    "send",    "file",   "link",    "update",  "deploy",   "build",   "test",   "review",
    "please",  "check",  "again",   "soon",    "agree",    "idea",    "team",   "project",
    "channel", "message", "server", "client",  "release",  "version", "issue",  "fixed",
};

static void text_fill(char *p, size_t n, uint64_t pub, uint64_t seq)
{
    uint64_t rng = (pub + 1) * 0x9E3779B97F4A7C15ULL ^ (seq + 1) * 0xBF58476D1CE4E5B9ULL;
    size_t i = 0;

    while (i < n) {
        uint64_t r = sb_rand(&rng);
        const char *wd = words[r % (sizeof(words) / sizeof(words[0]))];
        size_t wl = strlen(wd);

        if (wl > n - i)
            wl = n - i;
        memcpy(p + i, wd, wl);
        i += wl;
        if (i < n) {
            unsigned k = (unsigned)(r >> 32) % 16;

            p[i++] = k == 0 ? '.' : k == 1 ? ',' : k == 2 ? '?' : ' ';
            if (k <= 2 && i < n)
                p[i++] = ' ';
        }
    }
}

size_t sb_payload_encode(char *dst, size_t cap, size_t size, uint64_t pub, uint64_t seq,
                         uint64_t t_ns, enum sb_payload_kind kind)
{
    char head[96], *p = head;
    size_t hl, total;

    memcpy(p, SB_MARK, SB_MARK_LEN);
    p += SB_MARK_LEN;
    p = sb_put_u64(p, pub);
    *p++ = ':';
    p = sb_put_u64(p, seq);
    *p++ = ':';
    p = sb_put_u64(p, t_ns);
    *p++ = ':';
    hl = (size_t)(p - head);
    total = size > hl ? size : hl;
    if (total > cap)
        return 0;
    memcpy(dst, head, hl);
    if (kind == SB_PAYLOAD_TEXT)
        text_fill(dst + hl, total - hl, pub, seq);
    else
        memset(dst + hl, 'x', total - hl);
    return total;
}

static const char *get_u64(const char *p, const char *end, uint64_t *v)
{
    const char *s = p, *stop = end - p > 20 ? p + 20 : end;
    uint64_t x = 0;
    unsigned d;

    while (p < stop && (d = (unsigned)(unsigned char)*p - '0') < 10) {
        x = x * 10 + d;
        p++;
    }
    if (p == s || p >= end || *p != ':')
        return NULL;
    *v = x;
    return p + 1;
}

size_t sb_payload_decode(const char *p, size_t n, uint64_t *pub, uint64_t *seq, uint64_t *t_ns)
{
    const char *q = p + SB_MARK_LEN, *end = p + n;

    if (n < SB_MARK_LEN || memcmp(p, SB_MARK, SB_MARK_LEN) != 0)
        return 0;
    if (!(q = get_u64(q, end, pub)) || !(q = get_u64(q, end, seq)) ||
        !(q = get_u64(q, end, t_ns)))
        return 0;
    return (size_t)(q - p);
}

int sb_channel_name(char *buf, size_t n, long i)
{
    return snprintf(buf, n, "bench-%ld", i);
}

long long sb_json_uint(const char *s, size_t n, const char *key)
{
    size_t kl = strlen(key);
    const char *p = s, *end = s + n;
    long long v = 0;

    while ((p = memmem(p, (size_t)(end - p), key, kl))) {
        /* key is given with its quotes, e.g. "\"id\"": skip to the colon */
        const char *q = p + kl;

        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            if (q >= end || *q < '0' || *q > '9')
                return -1;
            while (q < end && *q >= '0' && *q <= '9' && v < (1LL << 58))
                v = v * 10 + (*q++ - '0');
            return v;
        }
        p += kl;
    }
    return -1;
}

/*
 * Order and uniqueness of one (publisher, channel) stream at one subscriber: the next
 * sequence should be last + 1. A jump counts the skipped ones as gaps; an older one is a
 * late first arrival (out of order) unless it was seen already (duplicate): the mask
 * remembers which of the 64 sequences below `last` arrived. Older than that, a message
 * is counted as out of order.
 */
void sb_track_seq(struct sb_result *r, struct sb_seq *s, uint64_t seq)
{
    if (seq > s->last) {
        uint64_t d = seq - s->last;

        r->gaps += d - 1;
        if (d >= 64)
            s->mask = d == 64 && s->last ? 1ULL << 63 : 0;
        else
            s->mask = s->mask << d | (s->last ? 1ULL << (d - 1) : 0);
        s->last = seq;
    } else if (seq == s->last) {
        r->duplicates++;
    } else {
        uint64_t d = s->last - seq - 1;

        if (d < 64 && (s->mask >> d & 1)) {
            r->duplicates++;
        } else {
            if (d < 64)
                s->mask |= 1ULL << d;
            r->reordered++;
        }
    }
}
