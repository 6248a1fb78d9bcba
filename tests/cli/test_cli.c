/*
 * Tests for src/cli: the operator's subcommands run as a real process (init, user,
 * backup, version, help, bad usage), as scripts will run them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
