/* Static files for plain GETs (see sss_static.h). */
#include "sss_static.h"
#include "sss_http.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PATH_MAX_LEN 1024

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".wasm", "application/wasm"},
    {".woff2", "font/woff2"},
};

const char *sss_static_type(const char *name)
{
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The relative file path of a request-target; 0, or -1 for a malformed one. */
static int target_path(const char *target, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = target;

    if (*p != '/')
        return -1;
    while (*p == '/')
        p++;
    for (; *p && *p != '?' && *p != '#'; p++) {
        char c = *p;

        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

            if (lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            p += 2;
        }
        if (c == '\0' || c == '\\' || n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    if (n == 0 || out[n - 1] == '/') {
        if (n + sizeof("index.html") >= cap)
            return -1;
        memcpy(out + n, "index.html", sizeof("index.html"));
    }
    return 0;
}

/* Head and room for len body bytes (copied from body when it is not NULL). */
static struct sss_buf *answer(int status, const char *type, const char *body, size_t len)
{
    char head[512];
    const char *text = sss_http_status_text(status);
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
                      "Connection: close\r\n\r\n",
                      status, text ? text : "Error", type, len);
    struct sss_buf *b = sss_buf_new((size_t)hl + len);

    if (!b)
        return NULL;
    memcpy(b->data, head, (size_t)hl);
    b->len = (uint32_t)hl;
    if (body) {
        memcpy(b->data + hl, body, len);
        b->len += (uint32_t)len;
    }
    return b;
}

static struct sss_buf *text_answer(int status, const char *msg, int *statusp)
{
    *statusp = status;
    return answer(status, "text/plain; charset=utf-8", msg, strlen(msg));
}

struct sss_buf *sss_static_answer(int dirfd, const char *target, size_t max_file, int *status)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    char path[PATH_MAX_LEN];
    struct sss_buf *b;
    struct stat sb;
    size_t size, got = 0;
    int fd;

    if (target_path(target, path, sizeof(path)) < 0)
        return text_answer(400, "malformed path\n", status);
    fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    if (fd < 0)
        return text_answer(404, "not found\n", status);
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max_file) {
        close(fd);
        return text_answer(404, "not found\n", status);
    }
    size = (size_t)sb.st_size;
    b = answer(200, sss_static_type(path), NULL, size);
    while (b && got < size) {
        ssize_t r = pread(fd, b->data + b->len + got, size - got, (off_t)got);

        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!b)
        return NULL;
    if (got != size) {
        sss_buf_unref(b);
        return text_answer(500, "read error\n", status);
    }
    b->len += (uint32_t)size;
    *status = 200;
    return b;
}
