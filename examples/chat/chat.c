/*
 * The chat example: an sss application module.
 *
 *   sss-server --app build/dev/examples/libsss-chat.so
 *
 * Rooms are channels named room-<name>. A client SUBSCRIBEs to a room to
 * hear it, TELLs "say" {"room":"room-lobby","name":"ann","text":"hi"} to speak
 * (the message is published on the room as topic "said"), and ASKs "history"
 * {"room":"room-lobby"} for the room's last messages. Other channels are
 * refused. JSON is parsed with cJSON; what the module sends is built with it
 * too, so every string is escaped properly.
 *
 * Presence: how many connections of this host are in a room. Each worker is a
 * process that sees only its own sockets, so the counts live in a table that
 * sss_module_init maps shared (MAP_SHARED) before the workers are forked: one
 * counter per room and worker, written only by that worker. When a worker's
 * count changes (a subscription goes live, a connection closes) it publishes
 * the host-wide sum on the room, topic "presence" {"room":..,"count":n}; ASK
 * "presence" {"room"} answers the current sum. A counter of a worker that
 * died is ignored (its pid is gone) and reset by its replacement.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "sss/sss.h"

#define HISTORY_LIMIT 50
#define MAX_TEXT 2000
#define MAX_ROOM 64
#define PRESENCE_ROOMS 512    /* distinct rooms counted (later ones are not) */
#define PRESENCE_WORKERS 1024 /* the --workers maximum */

static int room_name_ok(const char *room)
{
    size_t n = strlen(room);

    return n > 5 && n <= MAX_ROOM && strncmp(room, "room-", 5) == 0;
}

/* ---- presence: shared by every worker (mapped before the fork) ---- */

struct presence_room {
    int state; /* 0 free, 1 being named, 2 named (__atomic builtins throughout) */
    char name[MAX_ROOM + 1];
    unsigned count[PRESENCE_WORKERS]; /* [w] written by worker w only */
};

struct presence {
    int pid[PRESENCE_WORKERS]; /* the process that owns the counters of worker w */
    struct presence_room rooms[PRESENCE_ROOMS];
};

static struct presence *presence; /* NULL when the mapping failed: no presence */

/* Per worker process (each has its own copy after the fork). */
struct membership {
    uint64_t socket_id;
    int room;
};
static struct membership *members;
static size_t n_members, cap_members;
static int my_worker = -1;

static int presence_find(const char *room, int create)
{
    for (int i = 0; i < PRESENCE_ROOMS; i++) {
        struct presence_room *r = &presence->rooms[i];
        int st = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE), zero = 0;

        if (st == 2 && strcmp(r->name, room) == 0)
            return i;
        if (st == 0) {
            if (!create)
                return -1;
            if (!__atomic_compare_exchange_n(&r->state, &zero, 1, 0, __ATOMIC_ACQ_REL,
                                              __ATOMIC_ACQUIRE)) {
                i--; /* another worker is naming this slot: look at it again */
                continue;
            }
            snprintf(r->name, sizeof(r->name), "%s", room);
            __atomic_store_n(&r->state, 2, __ATOMIC_RELEASE);
            return i;
        }
        while (st == 1) /* being named right now: a few stores away */
            st = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
        if (st == 2 && strcmp(r->name, room) == 0)
            return i;
    }
    return -1;
}

static int worker_alive(int w)
{
    int pid = __atomic_load_n(&presence->pid[w], __ATOMIC_RELAXED);

    return pid > 0 && (pid == (int)getpid() || kill(pid, 0) == 0 || errno != ESRCH);
}

static unsigned presence_total(int room)
{
    unsigned total = 0;

    for (int w = 0; w < PRESENCE_WORKERS; w++) {
        unsigned n = __atomic_load_n(&presence->rooms[room].count[w], __ATOMIC_RELAXED);

        if (n && worker_alive(w))
            total += n;
    }
    return total;
}

/* {"room":..,"count":n}, built with cJSON (NULL on ENOMEM; cJSON_free it). */
static char *presence_json(const char *room, unsigned count)
{
    cJSON *o = cJSON_CreateObject();
    char *json;

    cJSON_AddStringToObject(o, "room", room);
    cJSON_AddNumberToObject(o, "count", count);
    json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return json;
}

static void presence_publish(struct sss_app *app, int room)
{
    const char *name = presence->rooms[room].name;
    char *json = presence_json(name, presence_total(room));

    if (json)
        sss_publish(app, name, "presence", json, strlen(json));
    cJSON_free(json);
}

/*
 * The first event this process sees: claim the counters of its worker index,
 * resetting what a predecessor that died with that index left there.
 */
static void presence_claim(struct sss_socket *s)
{
    int w = (int)(sss_socket_id(s) >> 48);

    if (my_worker >= 0 || w < 0 || w >= PRESENCE_WORKERS)
        return;
    my_worker = w;
    __atomic_store_n(&presence->pid[w], (int)getpid(), __ATOMIC_RELAXED);
    for (int i = 0; i < PRESENCE_ROOMS; i++) {
        struct presence_room *r = &presence->rooms[i];

        if (__atomic_load_n(&r->state, __ATOMIC_ACQUIRE) == 2 && r->count[w]) {
            __atomic_store_n(&r->count[w], 0, __ATOMIC_RELAXED);
            presence_publish(sss_socket_app(s), i);
        }
    }
}

static void on_subscribed(struct sss_socket *s, const char *channel, void *data)
{
    uint64_t id = sss_socket_id(s);
    int room;

    (void)data;
    if (!presence || !room_name_ok(channel))
        return; /* e.g. the _u_<user> channel of --jwt-secret */
    presence_claim(s);
    if (my_worker < 0 || (room = presence_find(channel, 1)) < 0)
        return;
    for (size_t i = 0; i < n_members; i++)
        if (members[i].socket_id == id && members[i].room == room)
            return; /* already counted */
    if (n_members == cap_members) {
        size_t cap = cap_members ? cap_members * 2 : 64;
        struct membership *m = realloc(members, cap * sizeof(*m));

        if (!m)
            return;
        members = m, cap_members = cap;
    }
    members[n_members++] = (struct membership){id, room};
    __atomic_fetch_add(&presence->rooms[room].count[my_worker], 1, __ATOMIC_RELAXED);
    presence_publish(sss_socket_app(s), room);
}

static void on_close(struct sss_socket *s, void *data)
{
    uint64_t id = sss_socket_id(s);

    (void)data;
    if (!presence || my_worker < 0)
        return;
    for (size_t i = 0; i < n_members;) {
        if (members[i].socket_id != id) {
            i++;
            continue;
        }
        int room = members[i].room;

        members[i] = members[--n_members];
        __atomic_fetch_sub(&presence->rooms[room].count[my_worker], 1, __ATOMIC_RELAXED);
        presence_publish(sss_socket_app(s), room);
    }
}

static int on_subscribe(struct sss_socket *s, const char *channel, const char *query,
                        size_t query_len, const char **why, void *data)
{
    (void)s, (void)query, (void)query_len, (void)data;
    if (room_name_ok(channel))
        return 0;
    *why = "only rooms (room-<name>) can be joined";
    return 1;
}

static const char *string_field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void on_say(struct sss_socket *s, const char *msg, size_t len, void *data)
{
    cJSON *in = cJSON_ParseWithLength(msg, len), *out;
    const char *room, *name, *text;
    struct timeval tv;
    char *json;

    (void)data;
    room = in ? string_field(in, "room") : NULL;
    name = in ? string_field(in, "name") : NULL;
    text = in ? string_field(in, "text") : NULL;
    if (!room || !room_name_ok(room) || !text || !*text || strlen(text) > MAX_TEXT) {
        static const char err[] = "\"say needs a room (room-<name>) and a text\"";

        sss_tell(s, "error", err, sizeof(err) - 1);
        cJSON_Delete(in);
        return;
    }
    gettimeofday(&tv, NULL);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "name", name && *name ? name : "anonymous");
    cJSON_AddStringToObject(out, "text", text);
    cJSON_AddNumberToObject(out, "at", (double)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    json = cJSON_PrintUnformatted(out);
    if (json)
        sss_publish(sss_socket_app(s), room, "said", json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(out);
    cJSON_Delete(in);
}

static void on_history(struct sss_socket *s, const char *msg, size_t len, struct sss_reply *r,
                       void *data)
{
    cJSON *in = cJSON_ParseWithLength(msg, len);
    const char *room = in ? string_field(in, "room") : NULL;

    (void)s, (void)data;
    if (!room || !room_name_ok(room))
        sss_reply_err(r, "Bad request", "history needs a room (room-<name>)");
    else if (sss_reply_history(r, room, HISTORY_LIMIT) != 0)
        sss_reply_err(r, "History unavailable", "try again");
    cJSON_Delete(in);
}

static void on_presence(struct sss_socket *s, const char *msg, size_t len,
                        struct sss_reply *r, void *data)
{
    cJSON *in = cJSON_ParseWithLength(msg, len);
    const char *room = in ? string_field(in, "room") : NULL;
    char *json;
    int i;

    (void)data;
    if (!room || !room_name_ok(room)) {
        sss_reply_err(r, "Bad request", "presence needs a room (room-<name>)");
    } else if (!presence) {
        sss_reply_err(r, "Presence unavailable", "the presence table could not be mapped");
    } else {
        presence_claim(s);
        i = presence_find(room, 0);
        json = presence_json(room, i < 0 ? 0 : presence_total(i));
        if (json)
            sss_reply_ok(r, json, strlen(json));
        else
            sss_reply_err(r, "Presence unavailable", "out of memory");
        cJSON_free(json);
    }
    cJSON_Delete(in);
}

int sss_module_init(struct sss_app *app)
{
    void *p = mmap(NULL, sizeof(struct presence), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    presence = p == MAP_FAILED ? NULL : p;
    if (!presence)
        fprintf(stderr, "chat: no presence (mmap: %s)\n", strerror(errno));
    if (sss_on_subscribe(app, on_subscribe, NULL) || sss_on_tell(app, "say", on_say, NULL) ||
        sss_on_ask(app, "history", on_history, NULL) ||
        sss_on_ask(app, "presence", on_presence, NULL) ||
        sss_on_subscribed(app, on_subscribed, NULL) || sss_on_close(app, on_close, NULL))
        return 1;
    fprintf(stderr, "chat: rooms are room-<name>; tell \"say\", ask \"history\", "
                    "ask \"presence\"\n");
    return 0;
}
