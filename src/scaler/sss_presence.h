/*
 * Who is subscribed to which channel on this host: the scaler keeps, per
 * channel, the number of subscriptions each worker holds and the users
 * behind them, from the SSS_HM_PRESENCE deltas the workers send. A worker
 * that is replaced forgets its share (sss_presence_reset_worker). Served by
 * GET /api/presence when the store cannot answer for every host, and tells
 * the engine when the host gains its first or loses its last subscription
 * to a channel (sss_presence_on_edge), which is what the Redis engine
 * subscribes to.
 */
#ifndef SSS_PRESENCE_H
#define SSS_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

struct sss_presence;

struct sss_presence *sss_presence_create(int nworkers);
void sss_presence_destroy(struct sss_presence *p);

/* fn(data, chan, len, 1) when chan gets its first subscription on this host, 0 after its last. */
void sss_presence_on_edge(struct sss_presence *p,
                          void (*fn)(void *data, const char *chan, size_t len, int on), void *data);

/* Worker w has delta (+1/-1) subscriptions to chan by user ("" = anonymous). */
void sss_presence_add(struct sss_presence *p, int w, const char *chan, size_t chan_len,
                      const char *user, size_t user_len, int delta);

/* Worker w was replaced: drop everything it held. */
void sss_presence_reset_worker(struct sss_presence *p, int w);

/*
 * The subscriptions to chan on this host, and its named users: fn is called
 * once per user (at most max_users times). Returns the subscription count.
 */
int64_t sss_presence_get(struct sss_presence *p, const char *chan, size_t chan_len,
                         size_t max_users, void (*fn)(void *data, const char *user), void *data,
                         size_t *nusers);

#endif
