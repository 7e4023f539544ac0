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

/* A path segment that starts with '.' (a dotfile, ".." too). */
static int has_dot_segment(const char *path)
{
    return path[0] == '.' || strstr(path, "/.") != NULL;
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
static struct sss_buf *answer(const struct sss_static_cfg *cfg, int status, const char *type,
                              const char *body, size_t len)
{
    const char *text = sss_http_status_text(status);
    const char *csp = cfg->csp ? cfg->csp : "";
    int hl = snprintf(NULL, 0,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
                      "%s%s%sConnection: close\r\n\r\n",
                      status, text ? text : "Error", type, len,
                      csp[0] ? "Content-Security-Policy: " : "", csp, csp[0] ? "\r\n" : "");
    struct sss_buf *b = hl < 0 ? NULL : sss_buf_new((size_t)hl + 1 + (body ? len : 0));

    if (!b)
        return NULL;
    (void)snprintf((char *)b->data, (size_t)hl + 1,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
                   "%s%s%sConnection: close\r\n\r\n",
                   status, text ? text : "Error", type, len,
                   csp[0] ? "Content-Security-Policy: " : "", csp, csp[0] ? "\r\n" : "");
    b->len = (uint32_t)hl;
    if (body) {
        memcpy(b->data + hl, body, len);
        b->len += (uint32_t)len;
    }
    return b;
}

static int text_answer(const struct sss_static_cfg *cfg, int status, const char *msg,
                       struct sss_static_reply *out)
{
    out->status = status;
    out->head = answer(cfg, status, "text/plain; charset=utf-8", msg, strlen(msg));
    return out->head ? 0 : -ENOMEM;
}

int sss_static_open(const struct sss_static_cfg *cfg, const char *target,
                    struct sss_static_reply *out)
{
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer. */
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    char path[PATH_MAX_LEN];
    struct stat sb;
    int fd;

    out->head = NULL;
    out->fd = -1;
    out->size = 0;
    if (target_path(target, path, sizeof(path)) < 0)
        return text_answer(cfg, 400, "malformed path\n", out);
    if (!cfg->dotfiles && has_dot_segment(path))
        return text_answer(cfg, 404, "not found\n", out);
    fd = (int)syscall(SYS_openat2, cfg->dirfd, path, &how, sizeof(how));
    if (fd < 0)
        return text_answer(cfg, 404, "not found\n", out);
    /* Regular files only; O_NONBLOCK off again, so that the io_uring reads
     * of a file not in the page cache wait for the disk instead of failing
     * with EAGAIN. */
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > cfg->max_file ||
        fcntl(fd, F_SETFL, 0) < 0) {
        close(fd);
        return text_answer(cfg, 404, "not found\n", out);
    }
    out->head = answer(cfg, 200, sss_static_type(path), NULL, (size_t)sb.st_size);
    if (!out->head) {
        close(fd);
        return -ENOMEM;
    }
    out->fd = fd;
    out->size = (size_t)sb.st_size;
    out->status = 200;
    return 0;
}
