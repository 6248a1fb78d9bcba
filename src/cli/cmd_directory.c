/*
 * cmd_directory: `commonground directory import FILE [--db PATH]` reads an Open Referral
 * UK / HSDS JSON feed or the directory CSV template into the database, all or nothing,
 * printing every refused row and why; `commonground directory export [--format json|csv]
 * [--output FILE] [--db PATH]` writes the whole directory (to standard output by
 * default).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/arena.h"
#include "core/buf.h"
#include "directory/directory.h"

#define MAX_FILE ((size_t)512 << 20)

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: commonground directory import FILE [--db PATH]\n"
        "       commonground directory export [--format json|csv] [--output FILE] [--db PATH]\n\n"
        "import  reads an Open Referral UK (HSDS 3.0) JSON feed or the CSV template\n"
        "        (docs/directory.md); nothing is saved unless every row is right, and\n"
        "        every refused row is listed with the reason. Importing the same file\n"
        "        again updates what it imported before instead of duplicating it.\n"
        "export  writes the whole directory as ORUK JSON (default) or CSV.\n\n"
        "  --db PATH        database file (default $CG_DB or var/commonground.db)\n"
        "  --format FORMAT  json or csv (export)\n"
        "  --output FILE    write to FILE instead of standard output (export)\n"
        "  --base-url URL   public address used in exported links (default none)\n");
}

/* Reads a whole file into a malloc'd buffer; NULL with a message on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "commonground directory: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf b;
    buf_init(&b, MAX_FILE);
    char chunk[65536];
    size_t n;
    int rc = BUF_OK;
    while (rc == BUF_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buf_append(&b, chunk, n);
    int err = ferror(f);
    fclose(f);
    if (rc != BUF_OK || err) {
        fprintf(stderr, "commonground directory: %s: %s\n", path,
                rc != BUF_OK ? "file too large (over 512 MiB)" : "read error");
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, len);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cmd_directory(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},     {"format", required_argument, 0, 'f'},
        {"output", required_argument, 0, 'o'}, {"base-url", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *db = NULL, *format = "json", *output = NULL, *base_url = "";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'b':
            base_url = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "commonground directory: say import or export\n");
        usage(stderr);
        return 2;
    }
    const char *verb = argv[optind];
    int is_import = strcmp(verb, "import") == 0, is_export = strcmp(verb, "export") == 0;
    if (!is_import && !is_export) {
        fprintf(stderr, "commonground directory: unknown action '%s'\n", verb);
        usage(stderr);
        return 2;
    }
    if (is_import && optind + 2 != argc) {
        fprintf(stderr, "commonground directory import: give exactly one FILE\n");
        usage(stderr);
        return 2;
    }
    if (is_export &&
        (optind + 1 != argc || (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0))) {
        fprintf(stderr, "commonground directory export: --format must be json or csv, and no FILE "
                        "argument (use --output)\n");
        usage(stderr);
        return 2;
    }
    char *data = NULL;
    size_t len = 0;
    if (is_import && !(data = read_file(argv[optind + 1], &len))) return 1;
    store *s = cli_open_store("directory", cli_db_path(db));
    if (!s) {
        free(data);
        return 1;
    }
    arena a;
    arena_init(&a, 1 << 20);
    int status = 0;
    if (is_import) {
        store_actor system = {0, NULL};
        directory_import_report rep;
        double t0 = now_seconds();
        int rc = directory_import(s, &system, data, len, argv[optind + 1], &a, &rep);
        double took = now_seconds() - t0;
        if (rc == 0) {
            printf("Imported %s: %lld new, %lld updated, %lld unchanged (%zu organisations, %zu "
                   "services read) in %.2f s\n",
                   argv[optind + 1], (long long)rep.result.created, (long long)rep.result.updated,
                   (long long)rep.result.unchanged, rep.n_orgs, rep.n_services, took);
            if (rep.n_notes) printf("%zu note%s (imported with a change):\n", rep.n_notes, rep.n_notes == 1 ? "" : "s");
            for (size_t i = 0; i < rep.n_notes; i++) printf("  %s: %s\n", rep.notes[i].where, rep.notes[i].why);
        } else if (rc == -1) {
            fprintf(stderr,
                    "commonground directory import: nothing imported from %s; %zu problem%s:\n",
                    argv[optind + 1], rep.n_problems, rep.n_problems == 1 ? "" : "s");
            for (size_t i = 0; i < rep.n_problems; i++)
                fprintf(stderr, "  %s: %s\n", rep.problems[i].where, rep.problems[i].why);
            status = 1;
        } else {
            fprintf(stderr,
                    "commonground directory import: the database failed; nothing imported\n");
            status = 1;
        }
    } else {
        FILE *out = output ? fopen(output, "wb") : stdout;
        if (!out) {
            fprintf(stderr, "commonground directory export: cannot write %s: %s\n", output,
                    strerror(errno));
            status = 1;
        } else {
            int rc;
            if (strcmp(format, "json") == 0) {
                json_t *j = NULL;
                rc = directory_export_json(s, base_url, &a, &j);
                if (rc == 0) {
                    rc = json_dumpf(j, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0 ? 0 : -1;
                    fputc('\n', out);
                }
                json_decref(j);
            } else {
                buf b;
                buf_init(&b, (size_t)1 << 31);
                rc = directory_export_csv(s, &a, &b);
                if (rc == 0 && fwrite(buf_cstr(&b), 1, buf_len(&b), out) != buf_len(&b)) rc = -1;
                buf_free(&b);
            }
            if (out != stdout && fclose(out) != 0)
                rc = -1;
            else if (out == stdout)
                fflush(stdout);
            if (rc != 0) {
                fprintf(stderr, "commonground directory export: failed\n");
                status = 1;
            }
        }
    }
    arena_free(&a);
    store_close(s);
    free(data);
    return status;
}
