/*
 * Tests for src/cli: the operator's subcommands run as a real process (init, user,
 * backup, version, help, bad usage, Ctrl-C on a long sortition run), as scripts will
 * run them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"

static char dir[64], db[128];

/* Runs the binary with args; output (stdout+stderr) into out; returns exit status. */
static int run(buf *out, const char *stdin_text, const char *const *args) {
    const char *bin = getenv("CG_TEST_BIN");
    if (!bin || !*bin) bin = "build/test/commonground";
    int outp[2], inp[2];
    if (pipe(outp) != 0 || pipe(inp) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(outp[1], 1);
        dup2(outp[1], 2);
        dup2(inp[0], 0);
        close(outp[0]);
        close(inp[1]);
        const char *argv[24];
        size_t n = 0;
        argv[n++] = bin;
        for (size_t i = 0; args[i] && n < 23; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(outp[1]);
    close(inp[0]);
    if (stdin_text && write(inp[1], stdin_text, strlen(stdin_text)) < 0) return -1;
    close(inp[1]);
    char chunk[4096];
    ssize_t got;
    buf_reset(out);
    while ((got = read(outp[0], chunk, sizeof chunk)) > 0) buf_append(out, chunk, (size_t)got);
    close(outp[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define RUN(out, in, ...) run(out, in, (const char *const[]){__VA_ARGS__, NULL})

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cg-cli-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(db, sizeof db, "%s/cli.db", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void init_creates_admin_once(void **state) {
    (void)state;
    buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(RUN(&out, NULL, "init", "--db", db, "--demo"), 0);
    assert_non_null(strstr(buf_cstr(&out), "First administrator: admin@example.org"));
    const char *pw = strstr(buf_cstr(&out), "One-time password:");
    assert_non_null(pw);
    assert_non_null(strstr(buf_cstr(&out), "Demo data"));
    /* Again: the schema is current, no second admin, demo data not duplicated. */
    assert_int_equal(RUN(&out, NULL, "init", "--db", db, "--demo"), 0);
    assert_null(strstr(buf_cstr(&out), "One-time password:"));
    assert_non_null(strstr(buf_cstr(&out), "already has 1 user"));
    buf_free(&out);
}

static void user_add_role_list(void **state) {
    (void)state;
    buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(RUN(&out, NULL, "user", "add", "--db", db, "--email", "Officer@Example.org",
                         "--name", "Olwen", "--role", "officer"), 0);
    assert_non_null(strstr(buf_cstr(&out), "Created officer@example.org"));
    assert_non_null(strstr(buf_cstr(&out), "Password: "));
    assert_int_equal(RUN(&out, "typed password 123\n", "user", "add", "--db", db, "--email",
                         "res@example.org", "--name", "Rhys", "--password-stdin"), 0);
    assert_null(strstr(buf_cstr(&out), "Password: "));
    /* Duplicates, bad roles, bad emails, short passwords: refused with the field named. */
    assert_int_equal(RUN(&out, NULL, "user", "add", "--db", db, "--email", "res@example.org", "--name", "X"), 1);
    assert_non_null(strstr(buf_cstr(&out), "--email"));
    assert_int_equal(RUN(&out, NULL, "user", "add", "--db", db, "--email", "a@example.org", "--name", "X", "--role", "king"), 2);
    assert_non_null(strstr(buf_cstr(&out), "--role"));
    assert_int_equal(RUN(&out, NULL, "user", "add", "--db", db, "--email", "nope", "--name", "X"), 2);
    assert_non_null(strstr(buf_cstr(&out), "--email"));
    assert_int_equal(RUN(&out, "short\n", "user", "add", "--db", db, "--email", "b@example.org", "--name", "X", "--password-stdin"), 2);
    assert_non_null(strstr(buf_cstr(&out), "password"));
    assert_int_equal(RUN(&out, NULL, "user", "role", "--db", db, "--email", "res@example.org", "--role", "organiser"), 0);
    assert_int_equal(RUN(&out, NULL, "user", "role", "--db", db, "--email", "ghost@example.org", "--role", "admin"), 1);
    assert_int_equal(RUN(&out, NULL, "user", "role", "--db", db, "--email", "admin@example.org", "--role", "officer"), 1);
    assert_non_null(strstr(buf_cstr(&out), "last administrator"));
    assert_int_equal(RUN(&out, NULL, "user", "list", "--db", db), 0);
    assert_non_null(strstr(buf_cstr(&out), "res@example.org\torganiser\tRhys"));
    assert_non_null(strstr(buf_cstr(&out), "officer@example.org\tofficer\tOlwen"));
    buf_free(&out);
}

static void backup_is_a_usable_database(void **state) {
    (void)state;
    buf out;
    buf_init(&out, 1 << 20);
    char copy[160];
    snprintf(copy, sizeof copy, "%s/copy.db", dir);
    assert_int_equal(RUN(&out, NULL, "backup", "--db", db, copy), 0);
    struct stat st;
    assert_int_equal(stat(copy, &st), 0);
    assert_int_equal(RUN(&out, NULL, "user", "list", "--db", copy), 0);
    assert_non_null(strstr(buf_cstr(&out), "res@example.org"));
    assert_int_equal(RUN(&out, NULL, "backup", "--db", db), 2);
    assert_int_equal(RUN(&out, NULL, "backup", "--db", db, "/nonexistent-dir/x.db"), 1);
    buf_free(&out);
}

/* A pool like the realistic benchmark's (1,727 people, 7 categories, k = 110, volunteers
 * skewed against the quotas) whose LEXIMIN run lasts minutes, so a Ctrl-C lands in the
 * middle of column generation. */
static void write_large_pool(const char *people, const char *cats) {
    static const int nf[] = {3, 4, 8, 3, 5, 2, 2};
    static const double share[][8] = {{0.49, 0.5, 0.01},
                                      {0.22, 0.25, 0.24, 0.29},
                                      {0.08, 0.15, 0.12, 0.11, 0.14, 0.13, 0.17, 0.10},
                                      {0.18, 0.38, 0.44},
                                      {0.25, 0.45, 0.22, 0.04, 0.04},
                                      {0.9, 0.1},
                                      {0.75, 0.25}};
    const int k = 110, n = 1727;
    FILE *c = fopen(cats, "w"), *p = fopen(people, "w");
    assert_non_null(c);
    assert_non_null(p);
    fprintf(c, "category,feature,min,max\n");
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < nf[i]; j++) {
            int lo = (int)(share[i][j] * k);
            fprintf(c, "%c,%c%d,%d,%d\n", 'a' + i, 'a' + i, j + 1, lo, lo + 1);
        }
    fprintf(p, "a,b,c,d,e,f,g\n");
    uint64_t x = 20211;
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < 7; i++) {
            double tot = 0;
            for (int j = 0; j < nf[i]; j++) tot += share[i][j] * (j % 2 ? 0.6 : 1.4);
            x = x * 6364136223846793005u + 1442695040888963407u;
            double u = (double)(x >> 11) / 9007199254740992.0 * tot, acc = 0;
            int pick = nf[i];
            for (int j = 0; j < nf[i]; j++) {
                acc += share[i][j] * (j % 2 ? 0.6 : 1.4);
                if (u < acc) {
                    pick = j + 1;
                    break;
                }
            }
            fprintf(p, "%s%c%d", i ? "," : "", 'a' + i, pick);
        }
        fprintf(p, "\n");
    }
    fclose(c);
    fclose(p);
}

/* Ctrl-C during a long LEXIMIN run stops it within seconds, with "interrupted" and exit
 * status 130 (the MIP solver installs its own SIGINT handler; it must not swallow this). */
static void sortition_stops_on_ctrl_c(void **state) {
    (void)state;
    char people[160], cats[160], log[160];
    snprintf(people, sizeof people, "%s/people.csv", dir);
    snprintf(cats, sizeof cats, "%s/categories.csv", dir);
    snprintf(log, sizeof log, "%s/sortition.log", dir);
    write_large_pool(people, cats);
    const char *bin = getenv("CG_TEST_BIN");
    if (!bin || !*bin) bin = "build/test/commonground";
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, bin, "sortition", "--people", people, "--categories", cats, "--panel", "110",
              (char *)NULL);
        _exit(127);
    }
    /* let it reach column generation: several MIP solves have run after 4 s */
    struct timespec pause = {4, 0};
    nanosleep(&pause, NULL);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, WNOHANG), 0); /* still running */
    kill(pid, SIGINT);
    pid_t done = 0;
    for (int i = 0; i < 300 && done == 0; i++) { /* up to 30 s */
        struct timespec tick = {0, 100 * 1000 * 1000};
        nanosleep(&tick, NULL);
        done = waitpid(pid, &st, WNOHANG);
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("sortition ignored SIGINT for 30 s");
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 130);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char text[8192];
    size_t got = fread(text, 1, sizeof text - 1, f);
    text[got] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "interrupted"));
}

static void help_version_and_bad_usage(void **state) {
    (void)state;
    buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(RUN(&out, NULL, "--help"), 0);
    assert_non_null(strstr(buf_cstr(&out), "serve"));
    assert_int_equal(RUN(&out, NULL, "version"), 0);
    assert_non_null(strstr(buf_cstr(&out), "commonground "));
    assert_int_equal(RUN(&out, NULL, "frobnicate"), 2);
    assert_non_null(strstr(buf_cstr(&out), "unknown command 'frobnicate'"));
    const char *cmds[] = {"serve", "init", "user", "backup"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(RUN(&out, NULL, cmds[i], "--help"), 0);
        assert_non_null(strstr(buf_cstr(&out), "usage: commonground"));
    }
    assert_int_equal(RUN(&out, NULL, "serve", "--db", db, "--threads", "zero"), 2);
    assert_non_null(strstr(buf_cstr(&out), "--threads"));
    assert_int_equal(RUN(&out, NULL, "serve", "--db", db, "--log-level", "loud"), 2);
    assert_int_equal(RUN(&out, NULL, "serve", "--db", db, "--listen", "127.0.0.1:0", "--templates", "/nonexistent"), 1);
    assert_non_null(strstr(buf_cstr(&out), "templates"));
    buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_creates_admin_once),
        cmocka_unit_test(user_add_role_list),
        cmocka_unit_test(backup_is_a_usable_database),
        cmocka_unit_test(help_version_and_bad_usage),
        cmocka_unit_test(sortition_stops_on_ctrl_c),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
