/*
 * similar: "who else does this here?" — how alike two services are, and clusters of
 * likely duplicates for officers. Pure functions over store_dir_service values; the
 * formula is in directory.h and docs/directory.md.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "directory/directory.h"

#define W_CAT 0.5
#define W_TEXT 0.3
#define W_NEAR 0.2
#define NEAR_SCALE_M 2000.0

double directory_distance_m(double lat1, double lon1, double lat2, double lon2) {
    const double r = 6371008.8, rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double h = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * r * asin(sqrt(h < 1 ? h : 1));
}

/* Category overlap: |shared| / |union| where a term shared exactly counts 1 and a
 * term of one whose parent (or sibling under the same parent) is a term of the other
 * counts 1/2. */
static double cat_overlap(const store_dir_service *a, const store_dir_service *b) {
    if (a->n_terms == 0 || b->n_terms == 0) return 0;
    double shared = 0;
    size_t exact = 0;
    for (size_t i = 0; i < a->n_terms; i++) {
        double best = 0;
        for (size_t j = 0; j < b->n_terms; j++) {
            const store_dir_term_ref *x = &a->terms[i], *y = &b->terms[j];
            if (x->uuid && y->uuid && strcmp(x->uuid, y->uuid) == 0) {
                best = 1;
                break;
            }
            if ((x->parent_uuid && y->uuid && strcmp(x->parent_uuid, y->uuid) == 0) ||
                (y->parent_uuid && x->uuid && strcmp(y->parent_uuid, x->uuid) == 0) ||
                (x->parent_uuid && y->parent_uuid && strcmp(x->parent_uuid, y->parent_uuid) == 0))
                best = best > 0.5 ? best : 0.5;
        }
        if (best == 1) exact++;
        shared += best;
    }
    double uni = (double)(a->n_terms + b->n_terms) - (double)exact;
    return uni > 0 ? shared / uni : 0;
}

static const char *const stop_words[] = {
    "the",       "and",    "for",    "with",  "our",  "you",     "your",     "are",
    "from",      "who",    "all",    "can",   "this", "that",    "will",     "has",
    "have",      "was",    "not",    "but",   "any",  "into",    "out",      "every",
    "each",      "week",   "weekly", "group", "club", "service", "services", "local",
    "community", "people", "run",    "runs",  NULL};

static int is_stop(const char *w) {
    for (int i = 0; stop_words[i]; i++)
        if (strcmp(w, stop_words[i]) == 0) return 1;
    return 0;
}

/* The distinct words (3+ letters, lowercased, not stop words) of name + description,
 * sorted, into an array in arena a. */
static size_t word_set(const store_dir_service *s, arena *a, char ***out) {
    size_t cap = 64, n = 0;
    char **w = arena_calloc(a, cap, sizeof *w);
    const char *texts[2] = {s->name, s->description};
    for (int t = 0; t < 2; t++) {
        const char *p = texts[t] ? texts[t] : "";
        while (*p) {
            while (*p && !isalnum((unsigned char)*p) && !((unsigned char)*p & 0x80)) p++;
            const char *start = p;
            while (*p && (isalnum((unsigned char)*p) || ((unsigned char)*p & 0x80))) p++;
            size_t len = (size_t)(p - start);
            if (len < 3 || len > 40) continue;
            char *word = arena_strndup(a, start, len);
            for (char *q = word; *q; q++) *q = (char)tolower((unsigned char)*q);
            if (is_stop(word)) continue;
            /* crude plural folding, so "meals" meets "meal" */
            if (len > 4 && word[len - 1] == 's' && word[len - 2] != 's') word[len - 1] = 0;
            int dup = 0;
            for (size_t k = 0; k < n && !dup; k++) dup = strcmp(w[k], word) == 0;
            if (dup) continue;
            if (n == cap) {
                char **bigger = arena_calloc(a, cap * 2, sizeof *bigger);
                memcpy(bigger, w, n * sizeof *w);
                w = bigger;
                cap *= 2;
            }
            w[n++] = word;
        }
    }
    *out = w;
    return n;
}

static double text_overlap(const store_dir_service *a, const store_dir_service *b) {
    arena tmp;
    arena_init(&tmp, 4096);
    char **wa, **wb;
    size_t na = word_set(a, &tmp, &wa), nb = word_set(b, &tmp, &wb), shared = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (strcmp(wa[i], wb[j]) == 0) {
                shared++;
                break;
            }
    arena_free(&tmp);
    size_t uni = na + nb - shared;
    return uni ? (double)shared / (double)uni : 0;
}

static double nearness(const store_dir_service *a, const store_dir_service *b) {
    double best = -1;
    for (size_t i = 0; i < a->n_locations; i++) {
        if (!a->locations[i].has_coords) continue;
        for (size_t j = 0; j < b->n_locations; j++) {
            if (!b->locations[j].has_coords) continue;
            double d = directory_distance_m(a->locations[i].latitude, a->locations[i].longitude,
                                            b->locations[j].latitude, b->locations[j].longitude);
            if (best < 0 || d < best) best = d;
        }
    }
    return best < 0 ? 0.5 : exp(-best / NEAR_SCALE_M);
}

double directory_similarity(const store_dir_service *a, const store_dir_service *b, double *cat,
                            double *text, double *near) {
    double c = cat_overlap(a, b), t = text_overlap(a, b), n = nearness(a, b);
    if (cat) *cat = c;
    if (text) *text = t;
    if (near) *near = n;
    return W_CAT * c + W_TEXT * t + W_NEAR * n;
}

static int uf_find(int *parent, int i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

size_t directory_clusters(const store_dir_service *services, size_t n, double threshold,
                          int *cluster) {
    if (n == 0) return 0;
    int *parent = malloc(n * sizeof *parent);
    int *size = calloc(n, sizeof *size);
    int *label = malloc(n * sizeof *label);
    if (!parent || !size || !label) abort();
    for (size_t i = 0; i < n; i++) parent[i] = (int)i;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (directory_similarity(&services[i], &services[j], NULL, NULL, NULL) >= threshold) {
                int x = uf_find(parent, (int)i), y = uf_find(parent, (int)j);
                if (x != y) parent[y] = x;
            }
    for (size_t i = 0; i < n; i++) size[uf_find(parent, (int)i)]++;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) label[i] = -1;
    for (size_t i = 0; i < n; i++) {
        int r = uf_find(parent, (int)i);
        if (size[r] < 2) {
            cluster[i] = -1;
            continue;
        }
        if (label[r] < 0) label[r] = (int)count++;
        cluster[i] = label[r];
    }
    free(parent);
    free(size);
    free(label);
    return count;
}
