/*
 * cmd_opinion: `commonground opinion DIR` — maps the opinion groups and common ground
 * of a Pol.is export with the opinion engine and prints them as text, as JSON in
 * Pol.is's math-pca2 shapes, and optionally as an accessible SVG map. The engine does
 * the computing; this file only reads arguments and formats results.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "core/csv.h"
#include "core/parse.h"
#include "core/xalloc.h"
#include "engine/opinion/opinion.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: commonground opinion DIR [--groups FILE] [--format text|json] [--svg FILE]\n"
            "                                [--cluster-push P] [--ari] [--timing] [--updates N]\n\n"
            "Maps opinion groups and common ground in a Pol.is export directory (comments.csv\n"
            "with votes.csv, or participants-votes.csv; or a pol.is API dump with comments.json\n"
            "and votes.json).\n\n"
            "  --groups FILE   fix the opinion groups from a CSV with header participant,group\n"
            "  --format F      text (default) or json (Pol.is math-pca2 key names and shapes)\n"
            "  --svg FILE      also draw the opinion map as an accessible SVG\n"
            "  --cluster-push P  push sparse voters out by (comments/votes)^(P/2) when\n"
            "                  clustering: 1 = exactly Pol.is's map (default)\n"
            "  --ari           compare the groups with participants-votes.csv's group-id\n"
            "                  (adjusted Rand index, on stderr)\n"
            "  --timing        print load / compute / output times on stderr\n"
            "  --updates N     after the analysis, add N votes one at a time, recomputing\n"
            "                  warm-started after each; print the update times on stderr\n");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static json_t *id_key_object(void) { return json_object(); }

static void set_by_id(json_t *o, int64_t id, json_t *v) {
    char k[32];
    snprintf(k, sizeof k, "%lld", (long long)id);
    json_object_set_new(o, k, v);
}

static json_t *rep_json(const opinion_rep *r) {
    json_t *o = json_object();
    json_object_set_new(o, "tid", json_integer(r->tid));
    json_object_set_new(o, "n-success", json_integer(r->n_success));
    json_object_set_new(o, "n-trials", json_integer(r->n_trials));
    json_object_set_new(o, "p-success", json_real(r->p_success));
    json_object_set_new(o, "p-test", json_real(r->p_test));
    json_object_set_new(o, "repness", json_real(r->repness));
    json_object_set_new(o, "repness-test", json_real(r->repness_test));
    json_object_set_new(o, "repful-for", json_string(r->repful_for > 0 ? "agree" : "disagree"));
    if (r->best_agree) {
        json_object_set_new(o, "n-agree", json_integer(r->n_agree));
        json_object_set_new(o, "best-agree", json_true());
    }
    return o;
}

static json_t *cons_json(const opinion_cons *c, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "tid", json_integer(c[i].tid));
        json_object_set_new(o, "n-success", json_integer(c[i].n_success));
        json_object_set_new(o, "n-trials", json_integer(c[i].n_trials));
        json_object_set_new(o, "p-success", json_real(c[i].p_success));
        json_object_set_new(o, "p-test", json_real(c[i].p_test));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *reals(const double *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *result_json(const opinion_result *R) {
    json_t *root = json_object();
    json_object_set_new(root, "n", json_integer((json_int_t)R->n_ptpt));
    json_object_set_new(root, "n-cmts", json_integer((json_int_t)R->n_cmt));
    json_t *tids = json_array(), *modout = json_array(), *meta = json_array();
    for (size_t j = 0; j < R->n_cmt; j++) {
        json_array_append_new(tids, json_integer(R->tid[j]));
        if (R->mod_out[j]) json_array_append_new(modout, json_integer(R->tid[j]));
        if (R->meta[j]) json_array_append_new(meta, json_integer(R->tid[j]));
    }
    json_object_set_new(root, "tids", tids);
    json_object_set_new(root, "mod-out", modout);
    json_object_set_new(root, "meta-tids", meta);
    json_t *inconv = json_array(), *uvc = id_key_object();
    for (size_t r = 0; r < R->n_ptpt; r++) {
        if (R->in_conv[r]) json_array_append_new(inconv, json_integer(R->pid[r]));
        set_by_id(uvc, R->pid[r], json_integer(R->n_votes[r]));
    }
    json_object_set_new(root, "in-conv", inconv);
    json_object_set_new(root, "user-vote-counts", uvc);

    json_t *pca = json_object();
    json_object_set_new(pca, "center", reals(R->center, R->n_cmt));
    json_t *comps = json_array(), *cproj = json_array();
    for (int k = 0; k < R->n_comps; k++) json_array_append_new(comps, reals(R->comp[k], R->n_cmt));
    for (int k = 0; k < 2; k++) json_array_append_new(cproj, reals(R->cproj[k], R->n_cmt));
    json_object_set_new(pca, "comps", comps);
    json_object_set_new(pca, "comment-projection", cproj);
    json_object_set_new(pca, "comment-extremity", reals(R->extremity, R->n_cmt));
    json_object_set_new(root, "pca", pca);

    json_t *bc = json_object(), *bid = json_array(), *bmem = json_array(), *bcount = json_array();
    for (size_t b = 0; b < R->n_base; b++) {
        json_array_append_new(bid, json_integer((json_int_t)b));
        json_t *m = json_array();
        for (size_t i = R->base_off[b]; i < R->base_off[b + 1]; i++)
            json_array_append_new(m, json_integer(R->base_member[i]));
        json_array_append_new(bmem, m);
        json_array_append_new(bcount, json_integer((json_int_t)(R->base_off[b + 1] - R->base_off[b])));
    }
    json_object_set_new(bc, "id", bid);
    json_object_set_new(bc, "members", bmem);
    json_object_set_new(bc, "x", reals(R->base_x, R->n_base));
    json_object_set_new(bc, "y", reals(R->base_y, R->n_base));
    json_object_set_new(bc, "count", bcount);
    json_object_set_new(root, "base-clusters", bc);

    json_t *gc = json_array(), *rep = json_object(), *gv = json_object(), *groups = json_array();
    for (size_t g = 0; g < R->n_groups; g++) {
        const opinion_group *G = &R->groups[g];
        json_t *o = json_object(), *m = json_array();
        json_object_set_new(o, "id", json_integer(G->id));
        for (size_t i = 0; i < G->n_base; i++) json_array_append_new(m, json_integer(G->base_ids[i]));
        json_object_set_new(o, "members", m);
        json_object_set_new(o, "center", reals(G->center, 2));
        json_array_append_new(gc, o);
        json_t *rs = json_array();
        for (size_t i = 0; i < G->n_reps; i++) json_array_append_new(rs, rep_json(&G->reps[i]));
        set_by_id(rep, G->id, rs);
        json_t *gvo = json_object(), *votes = json_object();
        json_object_set_new(gvo, "n-members", json_integer((json_int_t)G->n_members));
        for (size_t j = 0; j < R->n_cmt; j++) {
            json_t *c = json_object();
            size_t at = g * R->n_cmt + j;
            json_object_set_new(c, "A", json_integer(R->votes_a[at]));
            json_object_set_new(c, "D", json_integer(R->votes_d[at]));
            json_object_set_new(c, "S", json_integer(R->votes_s[at]));
            set_by_id(votes, R->tid[j], c);
        }
        json_object_set_new(gvo, "votes", votes);
        set_by_id(gv, G->id, gvo);
        json_t *go = json_object(), *gm = json_array();
        json_object_set_new(go, "id", json_integer(G->id));
        for (size_t i = 0; i < G->n_members; i++) json_array_append_new(gm, json_integer(G->members[i]));
        json_object_set_new(go, "members", gm);
        json_array_append_new(groups, go);
    }
    json_object_set_new(root, "group-clusters", gc);
    json_object_set_new(root, "repness", rep);
    json_t *cons = json_object();
    json_object_set_new(cons, "agree", cons_json(R->cons_agree, R->n_cons_agree));
    json_object_set_new(cons, "disagree", cons_json(R->cons_disagree, R->n_cons_disagree));
    json_object_set_new(root, "consensus", cons);
    json_t *gac = json_object(), *prio = json_object();
    for (size_t j = 0; j < R->n_cmt; j++) {
        if (R->n_groups > 0) set_by_id(gac, R->tid[j], json_real(R->gac[j]));
        set_by_id(prio, R->tid[j], json_real(R->priority[j]));
    }
    json_object_set_new(root, "group-aware-consensus", gac);
    json_object_set_new(root, "comment-priorities", prio);
    json_object_set_new(root, "group-votes", gv);
    if (!R->groups_fixed) {
        json_t *sil = json_object();
        for (int k = 2; k <= 5; k++)
            if (R->silhouette[k] != 0) set_by_id(sil, k, json_real(R->silhouette[k]));
        json_object_set_new(root, "group-k-silhouettes", sil);
    }
    json_object_set_new(root, "groups", groups);
    json_t *pt = json_array();
    for (size_t r = 0; r < R->n_ptpt; r++) {
        json_t *o = json_object();
        json_object_set_new(o, "pid", json_integer(R->pid[r]));
        json_object_set_new(o, "x", json_real(R->x[r]));
        json_object_set_new(o, "y", json_real(R->y[r]));
        json_object_set_new(o, "group", R->group[r] >= 0 ? json_integer(R->groups[R->group[r]].id) : json_null());
        json_object_set_new(o, "in-conv", json_boolean(R->in_conv[r]));
        json_array_append_new(pt, o);
    }
    json_object_set_new(root, "participants", pt);
    return root;
}

/* Comment texts from DIR/comments.csv for the text and SVG output (absent: none). */
typedef struct texts {
    size_t n;
    int64_t *tid;
    char **body;
} texts;

static void texts_load(texts *t, const char *dir) {
    memset(t, 0, sizeof *t);
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/comments.csv", dir);
    csv_reader *r = csv_open_file(path, ',', err, sizeof err);
    if (!r) return;
    long ci = -1, bi = -1;
    if (csv_next(r) == 1)
        for (size_t i = 0; i < csv_nfields(r); i++) {
            if (strcmp(csv_field(r, i), "comment-id") == 0) ci = (long)i;
            if (strcmp(csv_field(r, i), "comment-body") == 0) bi = (long)i;
        }
    size_t cap = 0;
    while (ci >= 0 && bi >= 0 && csv_next(r) == 1) {
        int64_t id;
        if (parse_i64(csv_field(r, (size_t)ci), &id) != 0) continue;
        if (t->n == cap) {
            cap = cap ? 2 * cap : 64;
            t->tid = xreallocarray(t->tid, cap, sizeof *t->tid);
            t->body = xreallocarray(t->body, cap, sizeof *t->body);
        }
        t->tid[t->n] = id;
        t->body[t->n++] = xstrdup(csv_field(r, (size_t)bi));
    }
    csv_free(r);
}

static const char *texts_get(const texts *t, int64_t tid) {
    for (size_t i = 0; i < t->n; i++)
        if (t->tid[i] == tid) return t->body[i];
    return NULL;
}

static void texts_free(texts *t) {
    for (size_t i = 0; i < t->n; i++) free(t->body[i]);
    free(t->tid);
    free(t->body);
}

static void print_text(FILE *out, const opinion_result *R, const texts *t) {
    fprintf(out, "participants: %zu (%zu in the analysis)\ncomments: %zu (%zu in the PCA)\n",
            R->n_ptpt, R->n_in_conv, R->n_cmt, R->n_active);
    fprintf(out, "opinion groups: %zu%s\n", R->n_groups, R->groups_fixed ? " (fixed by --groups)" : "");
    for (size_t g = 0; g < R->n_groups; g++) {
        const opinion_group *G = &R->groups[g];
        fprintf(out, "\ngroup %d: %zu participants\n", G->id, G->n_members);
        for (size_t i = 0; i < G->n_reps; i++) {
            const opinion_rep *r = &G->reps[i];
            const char *body = texts_get(t, r->tid);
            fprintf(out, "  %3.0f%% %-8s comment %lld%s%s\n", 100.0 * r->n_success / (r->n_trials ? r->n_trials : 1),
                    r->repful_for > 0 ? "agree" : "disagree", (long long)r->tid, body ? ": " : "", body ? body : "");
        }
    }
    fprintf(out, "\nconsensus (agree):\n");
    for (size_t i = 0; i < R->n_cons_agree; i++) {
        const char *body = texts_get(t, R->cons_agree[i].tid);
        fprintf(out, "  %3.0f%% comment %lld%s%s\n", 100.0 * R->cons_agree[i].n_success / R->cons_agree[i].n_trials,
                (long long)R->cons_agree[i].tid, body ? ": " : "", body ? body : "");
    }
    fprintf(out, "consensus (disagree):\n");
    for (size_t i = 0; i < R->n_cons_disagree; i++) {
        const char *body = texts_get(t, R->cons_disagree[i].tid);
        fprintf(out, "  %3.0f%% comment %lld%s%s\n",
                100.0 * R->cons_disagree[i].n_success / R->cons_disagree[i].n_trials,
                (long long)R->cons_disagree[i].tid, body ? ": " : "", body ? body : "");
    }
}

/* Writes s escaped for XML text, at most max_cp code points (then an ellipsis): SVG
 * text does not wrap, and a statement longer than the map would run off it. */
static void xml_text(FILE *f, const char *s, size_t max_cp) {
    size_t cp = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80 && cp++ == max_cp) {
            fputs("\xE2\x80\xA6", f);
            return;
        }
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\n': case '\r': case '\t': fputc(' ', f); break;
        default: fputc(*s, f);
        }
    }
}

/* Colours distinguishable with the common colour-vision deficiencies (Okabe-Ito),
 * each paired with a marker shape so colour is never the only cue. */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"};

static int write_svg(const char *path, const opinion_result *R, const texts *t) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const double W = 800, H = 560, M = 40;
    double minx = 0, maxx = 0, miny = 0, maxy = 0;
    for (size_t r = 0; r < R->n_ptpt; r++) {
        if (R->x[r] < minx) minx = R->x[r];
        if (R->x[r] > maxx) maxx = R->x[r];
        if (R->y[r] < miny) miny = R->y[r];
        if (R->y[r] > maxy) maxy = R->y[r];
    }
    double sx = (W - 2 * M) / (maxx - minx > 0 ? maxx - minx : 1);
    double sy = (H - 2 * M) / (maxy - miny > 0 ? maxy - miny : 1);
    size_t ncons = R->n_cons_agree;
    double total_h = H + 40 + 22.0 * (double)(ncons + 1);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "role=\"img\" aria-labelledby=\"title desc\" font-family=\"sans-serif\">\n",
            W, total_h, W, total_h);
    fprintf(f, "<title id=\"title\">Opinion map: %zu participants in %zu opinion groups</title>\n", R->n_ptpt,
            R->n_groups);
    fprintf(f, "<desc id=\"desc\">Each point is a participant placed by how they voted; participants who "
               "voted alike are close together. ");
    for (size_t g = 0; g < R->n_groups; g++)
        fprintf(f, "Group %c has %zu participants. ", 'A' + (int)(g % 26), R->groups[g].n_members);
    fprintf(f, "Statements most participants agreed with are listed below the map.</desc>\n");
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n<g aria-hidden=\"true\">\n");
    for (size_t r = 0; r < R->n_ptpt; r++) {
        double cx = M + (R->x[r] - minx) * sx, cy = M + (R->y[r] - miny) * sy;
        int g = R->group[r];
        if (g < 0) {
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#767676\"/>\n", cx, cy);
        } else if (g % 2 == 0) {
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", cx, cy, palette[g % 5]);
        } else {
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"5\" height=\"5\" fill=\"%s\"/>\n", cx - 2.5, cy - 2.5,
                    palette[g % 5]);
        }
    }
    fprintf(f, "</g>\n");
    for (size_t g = 0; g < R->n_groups; g++) {
        const opinion_group *G = &R->groups[g];
        double cx = M + (G->center[0] - minx) * sx, cy = M + (G->center[1] - miny) * sy;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"16\" font-weight=\"bold\" fill=\"#000000\" "
                   "stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\" text-anchor=\"middle\">"
                   "Group %c (%zu)</text>\n",
                cx, cy, 'A' + (int)(g % 26), G->n_members);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"16\" font-weight=\"bold\" fill=\"#000000\">"
               "Common ground (most participants agree):</text>\n", M, H + 20);
    for (size_t i = 0; i < ncons; i++) {
        const char *body = texts_get(t, R->cons_agree[i].tid);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"14\" fill=\"#000000\">%.0f%% agree: ", M,
                H + 42 + 22.0 * (double)i, 100.0 * R->cons_agree[i].n_success / R->cons_agree[i].n_trials);
        if (body)
            xml_text(f, body, 85);
        else
            fprintf(f, "comment %lld", (long long)R->cons_agree[i].tid);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_opinion(int argc, char **argv) {
    const char *dir = NULL, *groups = NULL, *format = "text", *svg = NULL;
    int ari = 0, timing = 0;
    long updates = 0;
    opinion_opts opts;
    opinion_opts_default(&opts);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--groups") == 0 && i + 1 < argc) {
            groups = argv[++i];
        } else if (strcmp(a, "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (strcmp(a, "--svg") == 0 && i + 1 < argc) {
            svg = argv[++i];
        } else if (strcmp(a, "--cluster-push") == 0 && i + 1 < argc) {
            if (parse_double(argv[++i], &opts.cluster_push) != 0 || opts.cluster_push < 0 ||
                opts.cluster_push > 1) {
                fprintf(stderr, "commonground opinion: --cluster-push needs a number from 0 to 1\n");
                return 2;
            }
        } else if (strcmp(a, "--ari") == 0) {
            ari = 1;
        } else if (strcmp(a, "--timing") == 0) {
            timing = 1;
        } else if (strcmp(a, "--updates") == 0 && i + 1 < argc) {
            int64_t n;
            if (parse_i64(argv[++i], &n) != 0 || n < 0 || n > 1000000) {
                fprintf(stderr, "commonground opinion: --updates needs a count from 0 to 1000000\n");
                return 2;
            }
            updates = (long)n;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "commonground opinion: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        } else if (!dir) {
            dir = a;
        } else {
            fprintf(stderr, "commonground opinion: one directory only ('%s')\n", a);
            return 2;
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "commonground opinion: --format must be text or json, not '%s'\n", format);
        return 2;
    }
    char err[1024];
    double t0 = now_ms(), u0 = cpu_ms();
    opinion_conv *c = opinion_conv_new();
    int64_t *ref_pid = NULL;
    int *ref_gid = NULL;
    size_t ref_n = 0;
    if (opinion_load_dir(c, dir, ari ? &ref_pid : NULL, ari ? &ref_gid : NULL, &ref_n, err, sizeof err) != 0 ||
        (groups && opinion_load_groups(c, groups, err, sizeof err) != 0)) {
        fprintf(stderr, "commonground opinion: %s\n", err);
        opinion_conv_free(c);
        free(ref_pid);
        free(ref_gid);
        return 1;
    }
    double t1 = now_ms(), u1 = cpu_ms();
    opinion_result *R = opinion_compute(c, &opts);
    double t2 = now_ms(), u2 = cpu_ms();
    int status = 0;
    texts t;
    texts_load(&t, dir);
    if (strcmp(format, "json") == 0) {
        json_t *j = result_json(R);
        if (json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0) status = 1;
        fputc('\n', stdout);
        json_decref(j);
    } else {
        print_text(stdout, R, &t);
    }
    if (svg && write_svg(svg, R, &t) != 0) {
        fprintf(stderr, "commonground opinion: cannot write %s\n", svg);
        status = 1;
    }
    double t3 = now_ms(), u3 = cpu_ms();
    if (timing)
        fprintf(stderr, "timing: load %.1f ms, compute %.1f ms, output %.1f ms, total %.1f ms; CPU time: load %.1f ms, "
                        "compute %.1f ms, output %.1f ms (%zu participants, %zu comments, %zu votes, %d Lanczos steps)\n",
                t1 - t0, t2 - t1, t3 - t2, t3 - t0, u1 - u0, u2 - u1, u3 - u2, opinion_n_participants(c),
                opinion_n_comments(c), opinion_n_votes(c), R->pca_steps);
    if (ari) {
        int *a = xmalloc((ref_n + 1) * sizeof *a), *b = xmalloc((ref_n + 1) * sizeof *b);
        size_t m = 0, polis_grouped = 0;
        for (size_t i = 0; i < ref_n; i++) {
            if (ref_gid[i] < 0) continue;
            polis_grouped++;
            /* binary search our participants (ascending pid) */
            size_t lo = 0, hi = R->n_ptpt;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (R->pid[mid] < ref_pid[i]) lo = mid + 1;
                else hi = mid;
            }
            if (lo < R->n_ptpt && R->pid[lo] == ref_pid[i] && R->group[lo] >= 0) {
                a[m] = ref_gid[i];
                b[m] = R->group[lo];
                m++;
            }
        }
        if (ref_n == 0)
            fprintf(stderr, "ari: no participants-votes.csv group-id to compare with\n");
        else
            fprintf(stderr, "ari: %.3f (%zu participants grouped by both; Pol.is grouped %zu; groups: ours %zu)\n",
                    opinion_ari(a, b, m), m, polis_grouped, R->n_groups);
        free(a);
        free(b);
    }
    if (updates > 0 && R->n_ptpt > 0 && R->n_cmt > 0) {
        double *ms = xmalloc((size_t)updates * sizeof *ms), *cpu = xmalloc((size_t)updates * sizeof *cpu);
        uint64_t s = 12345;
        for (long u = 0; u < updates; u++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            int64_t pid = R->pid[(s >> 33) % R->n_ptpt];
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            int64_t tid = R->tid[(s >> 33) % R->n_cmt];
            int vote = (int)((s >> 20) % 3) - 1;
            double a0 = now_ms(), c0 = cpu_ms();
            opinion_vote(c, pid, tid, vote);
            opinion_result *U = opinion_compute(c, &opts);
            ms[u] = now_ms() - a0;
            cpu[u] = cpu_ms() - c0;
            opinion_result_free(U);
        }
        qsort(ms, (size_t)updates, sizeof *ms, cmp_double);
        qsort(cpu, (size_t)updates, sizeof *cpu, cmp_double);
        fprintf(stderr, "updates: %ld one-vote updates, median %.1f ms, max %.1f ms (CPU time: median %.1f ms, "
                        "max %.1f ms)\n", updates, ms[updates / 2], ms[updates - 1], cpu[updates / 2], cpu[updates - 1]);
        free(ms);
        free(cpu);
    }
    texts_free(&t);
    free(ref_pid);
    free(ref_gid);
    opinion_result_free(R);
    opinion_conv_free(c);
    return status;
}
