/*
 * pb_parse: reads pabulib `.pb` text (pabulib.org/format) into a pb_election.
 *
 * A file is three sections, each introduced by a line holding only its name and then a
 * header line: META (key;value), PROJECTS (project_id;cost;...) and VOTES
 * (voter_id;vote;[points;]...). Fields are ';'-separated with CSV quoting (the core csv
 * reader, which also accepts CRLF or LF and a missing final newline). Budgets and costs
 * may be written as floats ("4000.0") but must be whole currency units. Every rejection
 * names the line and what was expected; nothing is guessed.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/parse.h"
#include "core/xalloc.h"
#include "engine/pb/pb.h"
#include "engine/pb/pb_internal.h"

enum { SEC_NONE, SEC_META, SEC_PROJECTS, SEC_VOTES };

typedef struct parser {
    csv_reader *r;
    const char *name;
    char *err;
    size_t errlen;
    pb_election *e;
    int section;
    int want_header;
    int have_budget, have_type, seen_projects, seen_votes;
    pb_vote_type type;
    int64_t budget, threshold;
    char *description, *currency;
    size_t col_id, col_cost, col_name, col_vote, col_points, ncols;
    int has_name, has_points;
    /* Scratch for one ballot, grown as needed and reused: no allocation per vote. */
    uint32_t *tmp_proj, *tmp_pts;
    const char **items, **pitems;
    size_t *lens, *plens;
    size_t tmp_cap;
} parser;

static int fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parser *ps, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "%s: line %ld: %s", ps->name, csv_line(ps->r), msg);
    return -1;
}

/* A whole, non-negative amount written as an integer or a float with zero fraction. */
static int parse_amount(const char *s, int64_t *out) {
    double d;
    if (parse_double(s, &d)) return -1;
    if (d < 0 || d != floor(d) || d > 9007199254740992.0) return -1;
    *out = (int64_t)d;
    return 0;
}

static void trim(const char *s, char *out, size_t outlen) { str_trim_copy(s, out, outlen); }

static int find_col(parser *ps, const char *want, size_t *out) {
    char f[128];
    for (size_t i = 0; i < csv_nfields(ps->r); i++) {
        trim(csv_field(ps->r, i), f, sizeof f);
        if (str_ieq(f, want)) {
            *out = i;
            return 1;
        }
    }
    return 0;
}

static int parse_vote_type(const char *s, pb_vote_type *out) {
    static const struct {
        const char *name;
        pb_vote_type t;
    } types[] = {{"approval", PB_VOTE_APPROVAL},
                 {"choose-1", PB_VOTE_CHOOSE1},
                 {"cumulative", PB_VOTE_CUMULATIVE},
                 {"scoring", PB_VOTE_SCORING},
                 {"ordinal", PB_VOTE_ORDINAL}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (str_ieq(s, types[i].name)) {
            *out = types[i].t;
            return 0;
        }
    return -1;
}

static int meta_row(parser *ps) {
    if (csv_nfields(ps->r) < 2) return fail(ps, "META row needs 'key;value'");
    char key[128], val[256];
    trim(csv_field(ps->r, 0), key, sizeof key);
    trim(csv_field(ps->r, 1), val, sizeof val);
    if (str_ieq(key, "budget")) {
        if (parse_amount(val, &ps->budget))
            return fail(ps, "budget '%s' is not a whole non-negative amount", val);
        ps->have_budget = 1;
    } else if (str_ieq(key, "vote_type")) {
        if (parse_vote_type(val, &ps->type))
            return fail(ps,
                        "vote_type '%s' is not approval, choose-1, cumulative, scoring "
                        "or ordinal",
                        val);
        ps->have_type = 1;
    } else if (str_ieq(key, "min_project_score_threshold")) {
        if (parse_amount(val, &ps->threshold))
            return fail(ps, "min_project_score_threshold '%s' is not a whole number", val);
    } else if (str_ieq(key, "description")) {
        free(ps->description);
        ps->description = xstrdup(val);
    } else if (str_ieq(key, "currency")) {
        free(ps->currency);
        ps->currency = xstrdup(val);
    }
    return 0;
}

static int start_projects(parser *ps) {
    if (!ps->have_budget) return fail(ps, "META has no 'budget' before PROJECTS");
    if (!ps->have_type) return fail(ps, "META has no 'vote_type' before PROJECTS");
    pb_election_init(ps->e, ps->type, ps->budget);
    ps->e->threshold = ps->threshold;
    ps->e->description = arena_strdup(&ps->e->mem, ps->description ? ps->description : "");
    ps->e->currency = arena_strdup(&ps->e->mem, ps->currency ? ps->currency : "");
    return 0;
}

static int projects_header(parser *ps) {
    if (!find_col(ps, "project_id", &ps->col_id))
        return fail(ps, "PROJECTS header has no 'project_id' column");
    if (!find_col(ps, "cost", &ps->col_cost))
        return fail(ps, "PROJECTS header has no 'cost' column");
    ps->has_name = find_col(ps, "name", &ps->col_name);
    ps->ncols = csv_nfields(ps->r);
    return 0;
}

static int project_row(parser *ps) {
    size_t nf = csv_nfields(ps->r);
    if (nf <= ps->col_id || nf <= ps->col_cost)
        return fail(ps, "expected %zu fields as in the PROJECTS header, found %zu", ps->ncols, nf);
    char id[256], cost[64];
    if (csv_field_len(ps->r, ps->col_id) >= sizeof id) return fail(ps, "project_id is too long");
    trim(csv_field(ps->r, ps->col_id), id, sizeof id);
    if (!id[0]) return fail(ps, "project_id is empty");
    trim(csv_field(ps->r, ps->col_cost), cost, sizeof cost);
    int64_t c;
    if (parse_amount(cost, &c))
        return fail(ps, "cost '%s' of project '%s' is not a whole non-negative amount", cost, id);
    const char *name = ps->has_name && nf > ps->col_name ? csv_field(ps->r, ps->col_name) : "";
    if (pb_election_add_project(ps->e, id, name, c) < 0)
        return fail(ps, "project '%s' is listed twice", id);
    return 0;
}

static int votes_header(parser *ps) {
    if (!find_col(ps, "vote", &ps->col_vote)) return fail(ps, "VOTES header has no 'vote' column");
    ps->has_points = find_col(ps, "points", &ps->col_points);
    if (ps->e->uses_points && !ps->has_points)
        return fail(ps, "vote_type %s needs a 'points' column in VOTES",
                    pb_vote_type_name(ps->e->vote_type));
    ps->ncols = csv_nfields(ps->r);
    return 0;
}

static int is_sp(char c) { return c == ' ' || c == '\t'; }

/* Splits a comma-separated list in place: calls back with each trimmed item. */
static size_t split_items(const char *s, size_t len, const char **items, size_t *lens, size_t max) {
    size_t n = 0, i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && s[j] != ',') j++;
        size_t a = i, b = j;
        while (a < b && is_sp(s[a])) a++;
        while (b > a && is_sp(s[b - 1])) b--;
        if (n < max) {
            items[n] = s + a;
            lens[n] = b - a;
        }
        n++;
        if (j >= len) break;
        i = j + 1;
    }
    return n;
}

static int vote_row(parser *ps) {
    size_t nf = csv_nfields(ps->r);
    if (nf <= ps->col_vote || (ps->e->uses_points && nf <= ps->col_points))
        return fail(ps, "expected %zu fields as in the VOTES header, found %zu", ps->ncols, nf);
    const char *v = csv_field(ps->r, ps->col_vote);
    size_t vlen = csv_field_len(ps->r, ps->col_vote);
    size_t a = 0;
    while (a < vlen && is_sp(v[a])) a++;
    while (vlen > a && is_sp(v[vlen - 1])) vlen--;
    v += a;
    vlen -= a;
    size_t cap = vlen / 2 + 2; /* items are separated by commas: at most this many */
    if (ps->e->uses_points) {
        size_t pc = csv_field_len(ps->r, ps->col_points) / 2 + 2;
        if (pc > cap) cap = pc;
    }
    if (cap > ps->tmp_cap) {
        ps->tmp_cap = cap * 2;
        ps->tmp_proj = xreallocarray(ps->tmp_proj, ps->tmp_cap, sizeof *ps->tmp_proj);
        ps->tmp_pts = xreallocarray(ps->tmp_pts, ps->tmp_cap, sizeof *ps->tmp_pts);
        ps->items = (const char **)xreallocarray(ps->items, ps->tmp_cap, sizeof *ps->items);
        ps->pitems = (const char **)xreallocarray(ps->pitems, ps->tmp_cap, sizeof *ps->pitems);
        ps->lens = xreallocarray(ps->lens, ps->tmp_cap, sizeof *ps->lens);
        ps->plens = xreallocarray(ps->plens, ps->tmp_cap, sizeof *ps->plens);
    }
    const char **items = ps->items;
    size_t *lens = ps->lens;
    int rc = 0;
    size_t n = vlen ? split_items(v, vlen, items, lens, cap) : 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 0) {
            rc = fail(ps, "vote list has an empty project id");
            goto out;
        }
        int64_t p = pb_election_find_n(ps->e, items[i], lens[i]);
        if (p < 0) {
            rc = fail(ps, "vote names project '%.*s' that PROJECTS does not list", (int)lens[i],
                      items[i]);
            goto out;
        }
        ps->tmp_proj[i] = (uint32_t)p;
        ps->tmp_pts[i] = 1;
    }
    if (ps->e->uses_points) {
        const char *pt = csv_field(ps->r, ps->col_points);
        size_t plen = csv_field_len(ps->r, ps->col_points);
        size_t pcap = plen / 2 + 2;
        const char **pitems = ps->pitems;
        size_t *plens = ps->plens;
        size_t np = 0;
        size_t b = 0;
        while (b < plen && is_sp(pt[b])) b++;
        if (plen > b) np = split_items(pt, plen, pitems, plens, pcap);
        if (np != n) {
            rc = fail(ps, "ballot names %zu projects but gives %zu points", n, np);
        } else {
            for (size_t i = 0; i < np && !rc; i++) {
                char num[32];
                int64_t w;
                if (plens[i] >= sizeof num) {
                    rc = fail(ps, "points value is too long");
                    break;
                }
                memcpy(num, pitems[i], plens[i]);
                num[plens[i]] = '\0';
                if (parse_amount(num, &w) || w > UINT32_MAX)
                    rc = fail(ps, "points '%s' is not a whole non-negative number", num);
                else
                    ps->tmp_pts[i] = (uint32_t)w;
            }
        }
        if (rc) goto out;
    }
    if (pb_election_add_ballot(ps->e, n, ps->tmp_proj, ps->e->uses_points ? ps->tmp_pts : NULL)) {
        /* The only failure left is a project named twice; find it for the message. */
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (ps->tmp_proj[i] == ps->tmp_proj[j]) {
                    rc = fail(ps, "ballot names project '%.*s' twice", (int)lens[i], items[i]);
                    goto out;
                }
        rc = fail(ps, "ballot rejected");
    }
out:
    return rc;
}

static int section_of(const char *f) {
    char s[32];
    str_trim_copy(f, s, sizeof s);
    if (str_ieq(s, "META")) return SEC_META;
    if (str_ieq(s, "PROJECTS")) return SEC_PROJECTS;
    if (str_ieq(s, "VOTES")) return SEC_VOTES;
    return SEC_NONE;
}

static int run_parser(parser *ps) {
    int rc;
    while ((rc = csv_next(ps->r)) == 1) {
        if (csv_blank(ps->r)) continue;
        if (csv_nfields(ps->r) == 1 || (csv_nfields(ps->r) == 2 && csv_field_len(ps->r, 1) == 0)) {
            int s = section_of(csv_field(ps->r, 0));
            if (s != SEC_NONE) {
                if (s == SEC_META && ps->section != SEC_NONE)
                    return fail(ps, "META must be the first section");
                if (s == SEC_PROJECTS) {
                    if (ps->section != SEC_META) return fail(ps, "PROJECTS must follow META");
                    if (start_projects(ps)) return -1;
                    ps->seen_projects = 1;
                }
                if (s == SEC_VOTES) {
                    if (ps->section != SEC_PROJECTS) return fail(ps, "VOTES must follow PROJECTS");
                    ps->seen_votes = 1;
                }
                ps->section = s;
                ps->want_header = 1;
                continue;
            }
        }
        switch (ps->section) {
        case SEC_NONE:
            return fail(ps, "expected the section name META");
        case SEC_META:
            if (ps->want_header) {
                ps->want_header = 0;
                char k[32];
                trim(csv_field(ps->r, 0), k, sizeof k);
                if (str_ieq(k, "key")) continue; /* the usual 'key;value' header */
            }
            if (meta_row(ps)) return -1;
            break;
        case SEC_PROJECTS:
            if (ps->want_header) {
                ps->want_header = 0;
                if (projects_header(ps)) return -1;
                continue;
            }
            if (project_row(ps)) return -1;
            break;
        case SEC_VOTES:
            if (ps->want_header) {
                ps->want_header = 0;
                if (votes_header(ps)) return -1;
                continue;
            }
            if (vote_row(ps)) return -1;
            break;
        }
    }
    if (rc < 0) {
        snprintf(ps->err, ps->errlen, "%s: %s", ps->name, csv_error(ps->r));
        return -1;
    }
    if (!ps->seen_projects) {
        snprintf(ps->err, ps->errlen, "%s: no PROJECTS section", ps->name);
        return -1;
    }
    if (!ps->seen_votes) {
        snprintf(ps->err, ps->errlen, "%s: no VOTES section", ps->name);
        return -1;
    }
    if (ps->want_header) {
        snprintf(ps->err, ps->errlen, "%s: the VOTES section has no header line", ps->name);
        return -1;
    }
    return 0;
}

static int parse_reader(csv_reader *r, const char *name, pb_election *out, char *err,
                        size_t errlen) {
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.r = r;
    ps.name = name;
    ps.err = err;
    ps.errlen = errlen;
    ps.e = out;
    ps.threshold = -1;
    memset(out, 0, sizeof *out);
    int rc = run_parser(&ps);
    free(ps.tmp_proj);
    free(ps.tmp_pts);
    free(ps.items);
    free(ps.pitems);
    free(ps.lens);
    free(ps.plens);
    free(ps.description);
    free(ps.currency);
    if (rc) {
        if (ps.seen_projects) pb_election_free(out);
        memset(out, 0, sizeof *out);
        return -1;
    }
    pb_election_finish(out);
    return 0;
}

int pb_election_parse(const char *data, size_t len, const char *name, pb_election *out, char *err,
                      size_t errlen) {
    csv_reader *r = csv_open_mem(data, len, ';');
    int rc = parse_reader(r, name ? name : "<memory>", out, err, errlen);
    csv_free(r);
    return rc;
}

int pb_election_load(const char *path, pb_election *out, char *err, size_t errlen) {
    csv_reader *r = csv_open_file(path, ';', err, errlen);
    if (!r) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    int rc = parse_reader(r, path, out, err, errlen);
    csv_free(r);
    return rc;
}
