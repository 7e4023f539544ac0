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
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "sss/sss.h"

#define HISTORY_LIMIT 50
#define MAX_TEXT 2000

static int room_name_ok(const char *room)
{
    size_t n = strlen(room);

    return n > 5 && n <= 64 && strncmp(room, "room-", 5) == 0;
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

int sss_module_init(struct sss_app *app)
{
    if (sss_on_subscribe(app, on_subscribe, NULL) || sss_on_tell(app, "say", on_say, NULL) ||
        sss_on_ask(app, "history", on_history, NULL))
        return 1;
    fprintf(stderr, "chat: rooms are room-<name>; tell \"say\", ask \"history\"\n");
    return 0;
}
