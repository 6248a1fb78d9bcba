/*
 * harness: a real server process per test group, driven with libcurl (see harness.h).
 */
#include "server/harness.h"

#include "pgtest.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *bin(void) {
    const char *b = getenv("CG_TEST_BIN");
    return b && *b ? b : "build/test/commonground";
}

int cg_run(const char *const *args, buf *out) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        const char *argv[32];
        size_t n = 0;
        argv[n++] = bin();
        for (size_t i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(bin(), (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    char chunk[4096];
    ssize_t got;
    while ((got = read(fd[0], chunk, sizeof chunk)) > 0)
        if (out) buf_append(out, chunk, (size_t)got);
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int copy_after(const char *text, const char *label, char *out, size_t outlen) {
    const char *p = strstr(text, label);
    if (!p) return -1;
    p += strlen(label);
    while (*p == ' ') p++;
    size_t n = strcspn(p, " \r\n");
    if (n >= outlen) return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int start_server(cg_server *s, int init, int demo);

int cg_server_start(cg_server *s, int demo) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/cg-test-XXXXXX");
    if (!mkdtemp(s->dir)) return -1;
    const char *pg = getenv("CG_TEST_DB_URL");
    if (pgtest_is_pg(pg)) {
        if (pgtest_create(pg, s->db, sizeof s->db) != 0) return -1;
        s->drop_db = 1;
    } else {
        snprintf(s->db, sizeof s->db, "%s/test.db", s->dir);
    }
    return start_server(s, 1, demo);
}

int cg_server_start_db(cg_server *s, const char *db, int init, int demo) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/cg-test-XXXXXX");
    if (!mkdtemp(s->dir)) return -1;
    snprintf(s->db, sizeof s->db, "%s", db);
    return start_server(s, init, demo);
}

static int start_server(cg_server *s, int init, int demo) {
    buf out;
    buf_init(&out, 1 << 20);
    const char *init_args[] = {"init", "--db", s->db, demo ? "--demo" : NULL, NULL};
    int rc = init ? cg_run(init_args, &out) : 0;
    if (init && (rc != 0 || copy_after(buf_cstr(&out), "First administrator:", s->admin_email, sizeof s->admin_email) ||
        copy_after(buf_cstr(&out), "One-time password:", s->admin_once, sizeof s->admin_once))) {
        fprintf(stderr, "harness: init failed (%d): %s\n", rc, buf_cstr(&out));
        buf_free(&out);
        return -1;
    }
    buf_free(&out);

    int fd[2];
    if (pipe(fd) != 0) return -1;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        char logpath[320];
        snprintf(logpath, sizeof logpath, "%s/server.log", s->dir);
        int lf = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (lf >= 0) dup2(lf, 2);
        execl(bin(), bin(), "serve", "--db", s->db, "--listen", "127.0.0.1:0", "--threads", "4",
              (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    /* The first line names the port: "... on http://localhost:PORT/ ...". */
    char line[1024];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t got = read(fd[0], line + n, 1);
        if (got <= 0) break;
        if (line[n] == '\n') break;
        n++;
    }
    line[n] = '\0';
    close(fd[0]);
    const char *p = strstr(line, "http://localhost:");
    if (!p) {
        fprintf(stderr, "harness: server did not start: '%s' (log in %s/server.log)\n", line, s->dir);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        return -1;
    }
    s->port = (unsigned)atoi(p + strlen("http://localhost:"));
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%u", s->port);
    if (init) {
        /* The first sign-in with a one-time password must replace it. */
        snprintf(s->admin_password, sizeof s->admin_password, "own-%s", s->admin_once);
        cg_client *c = cg_client_new(s);
        long st = c ? cg_signin(c, s->admin_email, s->admin_once) : -1;
        long ch = st == 303 ? cg_change_password(c, s->admin_once, s->admin_password) : -1;
        cg_client_free(c);
        if (ch != 303) {
            fprintf(stderr, "harness: first admin sign-in %ld, password change %ld\n", st, ch);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            return -1;
        }
    }
    return 0;
}

void cg_server_stop(cg_server *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int st = 0;
        waitpid(s->pid, &st, 0);
        s->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (s->exit_status != 0) {
            char cmd[400];
            snprintf(cmd, sizeof cmd, "tail -n 40 %s/server.log >&2", s->dir);
            if (system(cmd) != 0) fprintf(stderr, "harness: could not show the server log\n");
        }
        s->pid = 0;
    }
    if (s->drop_db) {
        pgtest_drop(getenv("CG_TEST_DB_URL"), s->db);
        s->drop_db = 0;
    }
    if (s->dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0) fprintf(stderr, "harness: could not remove %s\n", s->dir);
        s->dir[0] = '\0';
    }
}

struct cg_client {
    CURL *curl;
    char base[64];
    struct curl_slist *headers;
};

cg_client *cg_client_new(const cg_server *s) {
    cg_client *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->curl = curl_easy_init();
    snprintf(c->base, sizeof c->base, "%s", s->base);
    curl_easy_setopt(c->curl, CURLOPT_COOKIEFILE, ""); /* in-memory cookie jar */
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    return c;
}

void cg_client_use(cg_client *c, const cg_server *s) {
    snprintf(c->base, sizeof c->base, "%s", s->base);
}

void cg_client_free(cg_client *c) {
    if (!c) return;
    curl_slist_free_all(c->headers);
    curl_easy_cleanup(c->curl);
    free(c);
}

void cg_client_header(cg_client *c, const char *header) {
    if (!header) {
        curl_slist_free_all(c->headers);
        c->headers = NULL;
        return;
    }
    c->headers = curl_slist_append(c->headers, header);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    buf_append(ud, p, size * n);
    return size * n;
}

int cg_request(cg_client *c, const char *method, const char *path, const char *content_type,
               const char *body, size_t len, cg_resp *r) {
    buf_init(&r->headers, 1 << 20);
    buf_init(&r->body, 64 << 20);
    r->status = 0;
    char url[4096];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    struct curl_slist *hdrs = NULL;
    for (struct curl_slist *x = c->headers; x; x = x->next) hdrs = curl_slist_append(hdrs, x->data);
    char ct[256];
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, ct);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        if (strcmp(method, "HEAD") == 0) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        fprintf(stderr, "harness: %s %s: %s\n", method, path, curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    return 0;
}

int cg_get(cg_client *c, const char *path, cg_resp *r) {
    return cg_request(c, "GET", path, NULL, NULL, 0, r);
}

int cg_head(cg_client *c, const char *path, cg_resp *r) {
    return cg_request(c, "HEAD", path, NULL, NULL, 0, r);
}

int cg_post_form(cg_client *c, const char *path, cg_resp *r, ...) {
    buf body;
    buf_init(&body, 64 << 20);
    va_list ap;
    va_start(ap, r);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        char *enc = curl_easy_escape(c->curl, value, 0);
        buf_printf(&body, "%s%s=%s", body.len ? "&" : "", name, enc);
        curl_free(enc);
    }
    va_end(ap);
    int rc = cg_request(c, "POST", path, "application/x-www-form-urlencoded", buf_cstr(&body),
                        buf_len(&body), r);
    buf_free(&body);
    return rc;
}

void cg_resp_free(cg_resp *r) {
    buf_free(&r->headers);
    buf_free(&r->body);
}

const char *cg_resp_header(const cg_resp *r, const char *name, char *out, size_t outlen) {
    const char *h = buf_cstr(&r->headers);
    size_t nl = strlen(name);
    while (*h) {
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ') v++;
            size_t n = strcspn(v, "\r\n");
            if (n >= outlen) n = outlen - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
        h = strchr(h, '\n');
        if (!h) break;
        h++;
    }
    return NULL;
}

const char *cg_csrf(const cg_resp *r, char out[65]) {
    const char *p = strstr(buf_cstr(&r->body), "name=\"csrf_token\" value=\"");
    if (!p) return NULL;
    p += strlen("name=\"csrf_token\" value=\"");
    size_t n = strcspn(p, "\"");
    if (n != 64) return NULL;
    memcpy(out, p, 64);
    out[64] = '\0';
    return out;
}

const char *cg_csrf_from(cg_client *c, const char *path, char out[65]) {
    cg_resp r;
    const char *tok = NULL;
    if (cg_get(c, path, &r) == 0) tok = cg_csrf(&r, out);
    cg_resp_free(&r);
    return tok;
}

long cg_signup(cg_client *c, const char *name, const char *email, const char *password) {
    char csrf[65];
    if (!cg_csrf_from(c, "/signup", csrf)) return -1;
    cg_resp r;
    long status = -1;
    if (cg_post_form(c, "/signup", &r, "csrf_token", csrf, "display_name", name, "email", email,
                     "password", password, NULL) == 0)
        status = r.status;
    cg_resp_free(&r);
    return status;
}

long cg_change_password(cg_client *c, const char *current, const char *password) {
    char csrf[65];
    if (!cg_csrf_from(c, "/account/password", csrf)) return -1;
    cg_resp r;
    long status = -1;
    if (cg_post_form(c, "/account/password", &r, "csrf_token", csrf, "current", current, "password",
                     password, NULL) == 0)
        status = r.status;
    cg_resp_free(&r);
    return status;
}

long cg_signin(cg_client *c, const char *email, const char *password) {
    char csrf[65];
    if (!cg_csrf_from(c, "/signin", csrf)) return -1;
    cg_resp r;
    long status = -1;
    if (cg_post_form(c, "/signin", &r, "csrf_token", csrf, "email", email, "password", password,
                     NULL) == 0)
        status = r.status;
    cg_resp_free(&r);
    return status;
}
