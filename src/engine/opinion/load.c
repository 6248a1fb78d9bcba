/*
 * opinion/load: reading conversations in the formats people already have — a Pol.is
 * export directory (comments.csv with votes.csv, or participants-votes.csv) or a raw
 * pol.is API dump (comments.json, votes.json) — and the --groups CSV. Every rejection
 * names the file, the line and the reason.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/csv.h"
#include "core/parse.h"
#include "core/xalloc.h"
#include "engine/opinion/internal.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Column of the header named name, or -1. */
static long column(csv_reader *r, const char *name) {
    for (size_t i = 0; i < csv_nfields(r); i++)
        if (strcmp(csv_field(r, i), name) == 0) return (long)i;
    return -1;
}

static int open_csv(const char *path, csv_reader **out, char *err, size_t errlen) {
    *out = csv_open_file(path, ',', err, errlen);
    if (!*out) return -1;
    int rc = csv_next(*out);
    if (rc <= 0) {
        if (rc < 0) fail(err, errlen, "%s: %s", path, csv_error(*out));
        else fail(err, errlen, "%s: empty file (no header)", path);
        csv_free(*out);
        return -1;
    }
    return 0;
}

static int need_columns(csv_reader *r, const char *path, const char **names, long *cols, size_t n,
                        char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        cols[i] = column(r, names[i]);
        if (cols[i] < 0) return fail(err, errlen, "%s: line 1: no '%s' column in the header", path, names[i]);
    }
    return 0;
}

static int field_i64(csv_reader *r, long col, const char *path, const char *what, int64_t *out,
                     char *err, size_t errlen) {
    if ((size_t)col >= csv_nfields(r))
        return fail(err, errlen, "%s: line %ld: too few fields (no %s)", path, csv_line(r), what);
    if (parse_i64(csv_field(r, (size_t)col), out) != 0)
        return fail(err, errlen, "%s: line %ld: %s '%s' is not an integer", path, csv_line(r), what,
                    csv_field(r, (size_t)col));
    return 0;
}

static int read_comments_csv(opinion_conv *c, const char *path, char *err, size_t errlen) {
    csv_reader *r;
    if (open_csv(path, &r, err, errlen)) return -1;
    const char *names[] = {"comment-id"};
    long col[1];
    int rc = need_columns(r, path, names, col, 1, err, errlen);
    long modcol = column(r, "moderated"), metacol = column(r, "is-meta");
    while (rc == 0) {
        int n = csv_next(r);
        if (n == 0) break;
        if (n < 0) {
            rc = fail(err, errlen, "%s: %s", path, csv_error(r));
            break;
        }
        if (csv_blank(r)) continue;
        int64_t tid, mod = 0, meta = 0;
        if (field_i64(r, col[0], path, "comment-id", &tid, err, errlen) ||
            (modcol >= 0 && field_i64(r, modcol, path, "moderated", &mod, err, errlen)) ||
            (metacol >= 0 && csv_field(r, (size_t)metacol)[0] &&
             strcmp(csv_field(r, (size_t)metacol), "false") != 0 &&
             strcmp(csv_field(r, (size_t)metacol), "true") != 0 &&
             field_i64(r, metacol, path, "is-meta", &meta, err, errlen))) {
            rc = -1;
            break;
        }
        if (metacol >= 0 && strcmp(csv_field(r, (size_t)metacol), "true") == 0) meta = 1;
        if (mod < -1 || mod > 1 || tid < 0) {
            rc = fail(err, errlen, "%s: line %ld: %s out of range", path, csv_line(r),
                      tid < 0 ? "comment-id" : "moderated (must be -1, 0 or 1)");
            break;
        }
        opinion_comment(c, tid, (int)mod, meta != 0);
    }
    csv_free(r);
    return rc;
}

typedef struct tvote {
    int64_t ts, pid, tid;
    long line;
    int vote;
} tvote;

static int cmp_tvote(const void *a, const void *b) {
    const tvote *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* Applies votes in time order (file order on equal times): the last one counts. */
static int apply_votes(opinion_conv *c, tvote *v, size_t n, const char *path, char *err,
                       size_t errlen) {
    int sorted = 1; /* exports are usually in time order already */
    for (size_t i = 1; i < n && sorted; i++) sorted = cmp_tvote(&v[i - 1], &v[i]) <= 0;
    if (!sorted) qsort(v, n, sizeof *v, cmp_tvote);
    for (size_t i = 0; i < n; i++) {
        int rc = opinion_vote(c, v[i].pid, v[i].tid, v[i].vote);
        if (rc == OPINION_EUNKNOWN)
            return fail(err, errlen, "%s: line %ld: vote for unknown comment %lld", path, v[i].line,
                        (long long)v[i].tid);
        if (rc != OPINION_OK)
            return fail(err, errlen, "%s: line %ld: invalid vote (participant %lld, vote %d)", path,
                        v[i].line, (long long)v[i].pid, v[i].vote);
    }
    return 0;
}

static int read_votes_csv(opinion_conv *c, const char *path, char *err, size_t errlen) {
    csv_reader *r;
    if (open_csv(path, &r, err, errlen)) return -1;
    const char *names[] = {"timestamp", "comment-id", "voter-id", "vote"};
    long col[4];
    int rc = need_columns(r, path, names, col, 4, err, errlen);
    size_t n = 0, cap = 1024;
    tvote *v = xmalloc(cap * sizeof *v);
    while (rc == 0) {
        int k = csv_next(r);
        if (k == 0) break;
        if (k < 0) {
            rc = fail(err, errlen, "%s: %s", path, csv_error(r));
            break;
        }
        if (csv_blank(r)) continue;
        tvote t = {.line = csv_line(r)};
        int64_t vote;
        if (field_i64(r, col[0], path, "timestamp", &t.ts, err, errlen) ||
            field_i64(r, col[1], path, "comment-id", &t.tid, err, errlen) ||
            field_i64(r, col[2], path, "voter-id", &t.pid, err, errlen) ||
            field_i64(r, col[3], path, "vote", &vote, err, errlen)) {
            rc = -1;
            break;
        }
        if (vote < -1 || vote > 1 || t.pid < 0) {
            rc = fail(err, errlen, "%s: line %ld: %s", path, t.line,
                      t.pid < 0 ? "negative voter-id" : "vote must be -1, 0 or 1");
            break;
        }
        t.vote = (int)vote;
        if (n == cap) v = xreallocarray(v, cap *= 2, sizeof *v);
        v[n++] = t;
    }
    csv_free(r);
    if (rc == 0) rc = apply_votes(c, v, n, path, err, errlen);
    free(v);
    return rc;
}

static int read_participants_votes(opinion_conv *c, const char *path, int declare, int64_t **ref_pid,
                                   int **ref_gid, size_t *ref_n, char *err, size_t errlen) {
    csv_reader *r;
    if (open_csv(path, &r, err, errlen)) return -1;
    const char *names[] = {"participant", "group-id"};
    long col[2];
    if (need_columns(r, path, names, col, 2, err, errlen)) {
        csv_free(r);
        return -1;
    }
    /* Comment columns: every header after the fixed ones that is an integer. */
    size_t nf = csv_nfields(r), first = 0;
    for (size_t i = 0; i < nf; i++) {
        int64_t t;
        if (parse_i64(csv_field(r, i), &t) == 0) {
            first = i;
            break;
        }
        first = i + 1;
    }
    int64_t *tids = xmalloc((nf + 1) * sizeof *tids);
    int rc = 0;
    for (size_t i = first; i < nf && rc == 0; i++) {
        if (parse_i64(csv_field(r, i), &tids[i]) != 0 || tids[i] < 0) {
            rc = fail(err, errlen, "%s: line 1: column %zu header '%s' is not a comment id", path,
                      i + 1, csv_field(r, i));
            break;
        }
        if (declare) opinion_comment(c, tids[i], 0, 0);
        else if (op_idmap_get(&c->cmap, tids[i]) < 0)
            rc = fail(err, errlen, "%s: line 1: column for unknown comment %lld (not in comments.csv)",
                      path, (long long)tids[i]);
    }
    size_t cap = 256, n = 0;
    int64_t *rp = NULL;
    int *rg = NULL;
    if (ref_pid) {
        rp = xmalloc(cap * sizeof *rp);
        rg = xmalloc(cap * sizeof *rg);
    }
    while (rc == 0) {
        int k = csv_next(r);
        if (k == 0) break;
        if (k < 0) {
            rc = fail(err, errlen, "%s: %s", path, csv_error(r));
            break;
        }
        if (csv_blank(r)) continue;
        if (csv_nfields(r) != nf) {
            rc = fail(err, errlen, "%s: line %ld: %zu fields, the header has %zu", path, csv_line(r),
                      csv_nfields(r), nf);
            break;
        }
        int64_t pid, g = -1;
        if (field_i64(r, col[0], path, "participant", &pid, err, errlen)) {
            rc = -1;
            break;
        }
        if (pid < 0) {
            rc = fail(err, errlen, "%s: line %ld: negative participant id", path, csv_line(r));
            break;
        }
        if (csv_field(r, (size_t)col[1])[0] && field_i64(r, col[1], path, "group-id", &g, err, errlen)) {
            rc = -1;
            break;
        }
        for (size_t i = first; i < nf; i++) {
            const char *f = csv_field(r, i);
            if (!f[0]) continue;
            int64_t v;
            if (parse_i64(f, &v) != 0 || v < -1 || v > 1) {
                rc = fail(err, errlen, "%s: line %ld: vote '%s' for comment %lld must be -1, 0, 1 or empty",
                          path, csv_line(r), f, (long long)tids[i]);
                break;
            }
            opinion_vote(c, pid, tids[i], (int)v);
        }
        if (rp) {
            if (n == cap) {
                cap *= 2;
                rp = xreallocarray(rp, cap, sizeof *rp);
                rg = xreallocarray(rg, cap, sizeof *rg);
            }
            rp[n] = pid;
            rg[n] = (int)g;
            n++;
        }
    }
    csv_free(r);
    free(tids);
    if (rp && rc == 0) {
        *ref_pid = rp;
        *ref_gid = rg;
        *ref_n = n;
    } else {
        free(rp);
        free(rg);
    }
    return rc;
}

/* Integer member of a JSON object under either of two names (numbers or numeric
 * strings, as pol.is dumps vary). */
static int json_int(json_t *o, const char *a, const char *b, int64_t *out) {
    json_t *v = json_object_get(o, a);
    if (!v && b) v = json_object_get(o, b);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != (double)(int64_t)d) return -1;
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v)) return parse_i64(json_string_value(v), out);
    return -1;
}

static int read_json_dump(opinion_conv *c, const char *cpath, const char *vpath, char *err,
                          size_t errlen) {
    json_error_t je;
    json_t *cm = json_load_file(cpath, 0, &je);
    if (!cm) return fail(err, errlen, "%s: line %d: %s", cpath, je.line, je.text);
    if (!json_is_array(cm)) {
        json_decref(cm);
        return fail(err, errlen, "%s: not a JSON array of comments", cpath);
    }
    int rc = 0;
    for (size_t i = 0; i < json_array_size(cm) && rc == 0; i++) {
        json_t *o = json_array_get(cm, i);
        int64_t tid, mod = 0;
        if (json_int(o, "tid", "statement_id", &tid) != 0) {
            rc = fail(err, errlen, "%s: comment %zu: no integer tid", cpath, i + 1);
            break;
        }
        if (json_object_get(o, "mod") || json_object_get(o, "moderated"))
            if (json_int(o, "mod", "moderated", &mod) != 0 || mod < -1 || mod > 1)
                rc = fail(err, errlen, "%s: comment %zu: moderation must be -1, 0 or 1", cpath, i + 1);
        if (rc == 0 && opinion_comment(c, tid, (int)mod, json_is_true(json_object_get(o, "is_meta"))) != 0)
            rc = fail(err, errlen, "%s: comment %zu: invalid tid", cpath, i + 1);
    }
    json_decref(cm);
    if (rc) return rc;
    json_t *vs = json_load_file(vpath, 0, &je);
    if (!vs) return fail(err, errlen, "%s: line %d: %s", vpath, je.line, je.text);
    if (!json_is_array(vs)) {
        json_decref(vs);
        return fail(err, errlen, "%s: not a JSON array of votes", vpath);
    }
    size_t n = json_array_size(vs);
    tvote *v = xmalloc((n + 1) * sizeof *v);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *o = json_array_get(vs, i);
        int64_t vote;
        v[i].line = (long)i + 1;
        if (json_int(o, "pid", "participant_id", &v[i].pid) || json_int(o, "tid", "statement_id", &v[i].tid) ||
            json_int(o, "vote", NULL, &vote) || json_int(o, "modified", NULL, &v[i].ts) || vote < -1 ||
            vote > 1)
            rc = fail(err, errlen, "%s: vote %zu: needs integer pid, tid, modified and a vote of -1, 0 or 1",
                      vpath, i + 1);
        v[i].vote = (int)vote;
    }
    json_decref(vs);
    if (rc == 0) rc = apply_votes(c, v, n, vpath, err, errlen);
    free(v);
    return rc;
}

int opinion_load_dir(opinion_conv *c, const char *dir, int64_t **ref_pid, int **ref_gid,
                     size_t *ref_n, char *err, size_t errlen) {
    if (ref_pid) {
        *ref_pid = NULL;
        *ref_gid = NULL;
        *ref_n = 0;
    }
    size_t dl = strlen(dir) + 32;
    char *cpath = xmalloc(dl), *vpath = xmalloc(dl), *ppath = xmalloc(dl);
    char *cjson = xmalloc(dl), *vjson = xmalloc(dl);
    snprintf(cpath, dl, "%s/comments.csv", dir);
    snprintf(vpath, dl, "%s/votes.csv", dir);
    snprintf(ppath, dl, "%s/participants-votes.csv", dir);
    snprintf(cjson, dl, "%s/comments.json", dir);
    snprintf(vjson, dl, "%s/votes.json", dir);
    int rc;
    int have_c = exists(cpath), have_v = exists(vpath), have_p = exists(ppath);
    if (have_v) {
        rc = have_c ? read_comments_csv(c, cpath, err, errlen)
                    : fail(err, errlen, "%s: votes.csv needs comments.csv beside it", dir);
        if (rc == 0) rc = read_votes_csv(c, vpath, err, errlen);
        if (rc == 0 && have_p && ref_pid) { /* only for its group-id column */
            opinion_conv *tmp = opinion_conv_new();
            rc = read_participants_votes(tmp, ppath, 1, ref_pid, ref_gid, ref_n, err, errlen);
            opinion_conv_free(tmp);
        }
    } else if (have_p) {
        rc = have_c ? read_comments_csv(c, cpath, err, errlen) : 0;
        if (rc == 0) rc = read_participants_votes(c, ppath, !have_c, ref_pid, ref_gid, ref_n, err, errlen);
    } else if (exists(cjson) && exists(vjson)) {
        rc = read_json_dump(c, cjson, vjson, err, errlen);
    } else {
        rc = fail(err, errlen, "%s: no votes.csv, participants-votes.csv or votes.json (%s)", dir,
                  strerror(errno ? errno : ENOENT));
    }
    if (rc == 0 && c->nvotes == 0)
        rc = fail(err, errlen, "%s: empty conversation: no votes",
                  have_v ? vpath : have_p ? ppath : vjson);
    free(cpath);
    free(vpath);
    free(ppath);
    free(cjson);
    free(vjson);
    return rc;
}

int opinion_load_groups(opinion_conv *c, const char *path, char *err, size_t errlen) {
    csv_reader *r;
    if (open_csv(path, &r, err, errlen)) return -1;
    const char *names[] = {"participant", "group"};
    long col[2];
    int rc = need_columns(r, path, names, col, 2, err, errlen);
    size_t n = 0;
    while (rc == 0) {
        int k = csv_next(r);
        if (k == 0) break;
        if (k < 0) {
            rc = fail(err, errlen, "%s: %s", path, csv_error(r));
            break;
        }
        if (csv_blank(r)) continue;
        int64_t pid, g;
        if (field_i64(r, col[0], path, "participant", &pid, err, errlen) ||
            field_i64(r, col[1], path, "group", &g, err, errlen)) {
            rc = -1;
            break;
        }
        if (g < 0 || g > 1000000) {
            rc = fail(err, errlen, "%s: line %ld: group %lld out of range (0..1000000)", path, csv_line(r),
                      (long long)g);
            break;
        }
        int e = opinion_fix_group(c, pid, (int)g);
        if (e == OPINION_EUNKNOWN)
            rc = fail(err, errlen, "%s: line %ld: participant %lld has cast no vote", path, csv_line(r),
                      (long long)pid);
        else if (e != OPINION_OK)
            rc = fail(err, errlen, "%s: line %ld: invalid participant id", path, csv_line(r));
        n++;
    }
    csv_free(r);
    if (rc == 0 && n == 0) rc = fail(err, errlen, "%s: no groups listed", path);
    return rc;
}
