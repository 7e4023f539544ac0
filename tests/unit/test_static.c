/* Unit tests of static file answers (src/http/sss_static.c). */
#include "sss_static.h"
#include "sss_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void put(const char *rel, const char *text)
{
    char p[256];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static struct sss_static_cfg cfg = {.max_file = 64, .csp = "default-src 'self'"};

/* Status of GET target; the body (after the head, or read from the file) into body. */
static int get(int dfd, const char *target, char *body, size_t cap, char *head, size_t hcap)
{
    struct sss_static_reply r;
    struct sss_buf *b;
    char *end;

    cfg.dirfd = dfd;
    body[0] = head[0] = '\0';
    if (sss_static_open(&cfg, target, &r) < 0)
        return -1;
    b = r.head;
    end = memmem(b->data, b->len, "\r\n\r\n", 4);
    if (end) {
        size_t hl = (size_t)(end - (char *)b->data) + 4, bl = b->len - hl;

        snprintf(head, hcap, "%.*s", (int)hl, (char *)b->data);
        snprintf(body, cap, "%.*s", (int)bl, (char *)b->data + hl);
    }
    if (r.fd >= 0) {
        ssize_t n = read(r.fd, body, cap - 1);

        CHECK(n >= 0 && (size_t)n == r.size);
        body[n < 0 ? 0 : n] = '\0';
        CHECK((fcntl(r.fd, F_GETFL) & O_NONBLOCK) == 0); /* reads may wait for the disk */
        close(r.fd);
    }
    sss_buf_unref(b);
    return r.status;
}

int main(void)
{
    char body[256], head[512], p[256];
    int dfd;

    snprintf(dir, sizeof(dir), "/tmp/sss-static-XXXXXX");
    if (!mkdtemp(dir))
        return 77;
    snprintf(p, sizeof(p), "%s/sub", dir);
    mkdir(p, 0755);
    put("index.html", "<h1>hi</h1>");
    put("app.js", "x=1");
    put("sub/index.html", "sub");
    put("a b.txt", "space");
    snprintf(p, sizeof(p), "%s/escape", dir);
    if (symlink("/etc/hostname", p) != 0)
        return 77;
    dfd = open(dir, O_PATH | O_DIRECTORY);
    CHECK_EQ_INT(get(dfd, "/", body, sizeof(body), head, sizeof(head)), 200);
    CHECK_EQ_STR(body, "<h1>hi</h1>");
    CHECK(strstr(head, "Content-Type: text/html; charset=utf-8\r\n") != NULL);
    CHECK(strstr(head, "Content-Length: 11\r\n") != NULL);
    CHECK(strstr(head, "Content-Security-Policy: default-src 'self'\r\n") != NULL);
    CHECK_EQ_INT(get(dfd, "/app.js?v=2", body, sizeof(body), head, sizeof(head)), 200);
    CHECK(strstr(head, "text/javascript") != NULL && !strcmp(body, "x=1"));
    CHECK_EQ_INT(get(dfd, "/sub/", body, sizeof(body), head, sizeof(head)), 200);
    CHECK_EQ_STR(body, "sub");
    CHECK_EQ_INT(get(dfd, "/a%20b.txt", body, sizeof(body), head, sizeof(head)), 200);
    CHECK_EQ_STR(body, "space");
    /* Nothing leaves the folder. */
    CHECK_EQ_INT(get(dfd, "/../etc/hostname", body, sizeof(body), head, sizeof(head)), 404);
    CHECK_EQ_INT(get(dfd, "/sub/../../etc/hostname", body, sizeof(body), head, sizeof(head)),
                 404);
    CHECK_EQ_INT(get(dfd, "/%2e%2e/etc/hostname", body, sizeof(body), head, sizeof(head)), 404);
    CHECK_EQ_INT(get(dfd, "//etc/hostname", body, sizeof(body), head, sizeof(head)), 404);
    CHECK_EQ_INT(get(dfd, "/escape", body, sizeof(body), head, sizeof(head)), 404);
    CHECK_EQ_INT(get(dfd, "/sub", body, sizeof(body), head, sizeof(head)), 404); /* a folder */
    CHECK_EQ_INT(get(dfd, "/missing.css", body, sizeof(body), head, sizeof(head)), 404);
    CHECK_EQ_STR(body, "not found\n");
    CHECK_EQ_INT(get(dfd, "/bad%zz", body, sizeof(body), head, sizeof(head)), 400);
    CHECK_EQ_INT(get(dfd, "/nul%00x", body, sizeof(body), head, sizeof(head)), 400);
    CHECK_EQ_INT(get(dfd, "noslash", body, sizeof(body), head, sizeof(head)), 400);
    /* Past the size limit (64 bytes in this test): not served. */
    put("big.txt", "0123456789012345678901234567890123456789012345678901234567890123456789");
    CHECK_EQ_INT(get(dfd, "/big.txt", body, sizeof(body), head, sizeof(head)), 404);
    /* Dotfiles, and any path through a folder starting with '.': 404 unless allowed. */
    put(".env", "SECRET=1");
    snprintf(p, sizeof(p), "%s/.git", dir);
    mkdir(p, 0755);
    put(".git/config", "cfg");
    CHECK_EQ_INT(get(dfd, "/.env", body, sizeof(body), head, sizeof(head)), 404);
    CHECK_EQ_INT(get(dfd, "/%2eenv", body, sizeof(body), head, sizeof(head)), 404);
    CHECK_EQ_INT(get(dfd, "/.git/config", body, sizeof(body), head, sizeof(head)), 404);
    CHECK_EQ_INT(get(dfd, "/sub/../.env", body, sizeof(body), head, sizeof(head)), 404);
    cfg.dotfiles = 1;
    CHECK_EQ_INT(get(dfd, "/.env", body, sizeof(body), head, sizeof(head)), 200);
    CHECK_EQ_STR(body, "SECRET=1");
    CHECK_EQ_INT(get(dfd, "/.git/config", body, sizeof(body), head, sizeof(head)), 200);
    cfg.dotfiles = 0;
    /* A FIFO with no writer: the open must not wait for one, and it is not served. */
    snprintf(p, sizeof(p), "%s/fifo", dir);
    CHECK(mkfifo(p, 0644) == 0);
    CHECK_EQ_INT(get(dfd, "/fifo", body, sizeof(body), head, sizeof(head)), 404);
    /* No policy configured: no header. */
    cfg.csp = "";
    CHECK_EQ_INT(get(dfd, "/", body, sizeof(body), head, sizeof(head)), 200);
    CHECK(strstr(head, "Content-Security-Policy") == NULL);
    CHECK_EQ_STR(sss_static_type("x.PNG"), "image/png");
    CHECK_EQ_STR(sss_static_type("x"), "application/octet-stream");
    close(dfd);
    snprintf(p, sizeof(p), "rm -rf %s", dir);
    if (system(p) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return sss_test_done();
}
