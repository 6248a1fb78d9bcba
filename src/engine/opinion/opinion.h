/*
 * opinion: the opinion-mapping engine — Pol.is's conversation math, exact where Pol.is
 * defines it, deterministic, and cheap enough to rerun after every vote.
 *
 * A conversation (opinion_conv) holds comments and the latest vote of each participant
 * on each comment. opinion_compute() turns it into a result (opinion_result): the PCA
 * map of participants, about 100 base clusters, the opinion groups chosen by
 * silhouette (or groups fixed by the caller), each group's representative comments,
 * the consensus comments, group-aware consensus and the comment priorities. The
 * formulas and their sources are in docs/engines/opinion.md.
 *
 * Votes: +1 agree, -1 disagree, 0 pass (the Pol.is export convention). Comments
 * moderated out (moderated = -1) or marked meta take no part in the PCA, the
 * clustering, the representative comments or consensus.
 *
 * Incremental use: a conversation remembers the PCA components and base clusters of
 * its last opinion_compute() and starts the next one from them, so adding one vote
 * and recomputing costs a few sparse passes over the votes.
 *
 * Memory is proportional to the number of votes (sparse rows; never participants x
 * comments). No global state: separate conversations may be used from separate
 * threads; one conversation is not safe to share between threads.
 *
 * Ownership: the caller owns an opinion_conv (opinion_conv_free) and every
 * opinion_result returned to it (opinion_result_free); a result does not point into
 * the conversation, which may change or be freed while the result lives.
 */
#ifndef CG_ENGINE_OPINION_H
#define CG_ENGINE_OPINION_H

#include <stddef.h>
#include <stdint.h>

typedef struct opinion_conv opinion_conv;

enum {
    OPINION_OK = 0,
    OPINION_EINVAL = 1,      /* an argument out of range (vote not -1/0/1, negative id) */
    OPINION_EUNKNOWN = 2,    /* a vote for a comment never declared, a group for a
                                participant who never voted */
};

/* Tunables; opinion_opts_default() gives Pol.is's values where Pol.is has the same
 * setting, and ours (documented below) where it does not. */
typedef struct opinion_opts {
    int base_k;    /* base clusters (Pol.is: 100) */
    int max_k;     /* largest number of opinion groups tried (Pol.is: 5) */
    int min_votes; /* votes needed to be in the analysis (Pol.is: 7, or all comments) */
    int greedy_n;  /* top up the analysis to this many participants (Pol.is: 15) */
    /* Clustering uses each participant's projection pushed out by
     * (comments / votes)^(cluster_push / 2), votes counted as Pol.is counts them
     * (inactive comments included, see docs/engines/opinion.md): the default 1
     * clusters exactly the map Pol.is draws, as Pol.is does; smaller values push
     * sparse voters out less (kept for experiments). The map (x, y) always uses
     * Pol.is's full push. */
    double cluster_push;
    /* Smallest opinion group allowed, as a share of the clustered participants
     * (default 0.02); clusterings with a smaller group are not considered, so a few
     * outliers are never reported as an opinion group. */
    double min_group_share;
} opinion_opts;

void opinion_opts_default(opinion_opts *o);

/* A new, empty conversation. Never NULL (aborts on out-of-memory). */
opinion_conv *opinion_conv_new(void);
void opinion_conv_free(opinion_conv *c);

/* Declares comment tid (>= 0) or updates its moderation (-1 out, 0 unmoderated, 1 in)
 * and meta flag. Returns OPINION_OK or OPINION_EINVAL. */
int opinion_comment(opinion_conv *c, int64_t tid, int moderated, int is_meta);

/* Records participant pid's vote (+1, -1, 0) on comment tid, replacing any earlier
 * vote of pid on tid (the last vote counts). Returns OPINION_OK, OPINION_EINVAL, or
 * OPINION_EUNKNOWN when tid was never declared. */
int opinion_vote(opinion_conv *c, int64_t pid, int64_t tid, int vote);

/* Fixes participant pid's opinion group to gid (>= 0) instead of computing groups;
 * once any participant is fixed, opinion_compute() uses the fixed groups only and
 * leaves everyone else ungrouped. Returns OPINION_OK, OPINION_EINVAL, or
 * OPINION_EUNKNOWN when pid has cast no vote. */
int opinion_fix_group(opinion_conv *c, int64_t pid, int gid);
/* Returns to computed groups. */
void opinion_unfix_groups(opinion_conv *c);

/* Forgets the warm start, so the next opinion_compute() starts cold (its result is
 * then a function of the votes alone, byte for byte). */
void opinion_forget_warm_start(opinion_conv *c);

size_t opinion_n_participants(const opinion_conv *c);
size_t opinion_n_comments(const opinion_conv *c);
size_t opinion_n_votes(const opinion_conv *c); /* distinct (participant, comment) votes */

/* One representative comment of a group (Pol.is repness entry). */
typedef struct opinion_rep {
    int64_t tid;
    int n_success, n_trials;
    double p_success, p_test;   /* (n+1)/(trials+2), one-proportion z */
    double repness, repness_test; /* ratio to the rest, two-proportion z (rounded to a
                                     float and printed as Pol.is prints it: the shortest
                                     decimal of that float) */
    int repful_for;             /* +1 agree, -1 disagree */
    int best_agree;             /* 1 for the group's best-agree comment */
    int n_agree;                /* agrees, set when best_agree */
} opinion_rep;

/* One consensus comment (Pol.is consensus entry). */
typedef struct opinion_cons {
    int64_t tid;
    int n_success, n_trials;
    double p_success, p_test;
} opinion_cons;

typedef struct opinion_group {
    int id;
    size_t n_members;
    int64_t *members; /* participant ids, ascending */
    size_t n_base;
    int *base_ids;    /* ids of the base clusters in this group, ascending */
    double center[2]; /* member-weighted mean of the base cluster centres */
    size_t n_reps;
    opinion_rep reps[5];
} opinion_group;

typedef struct opinion_result {
    /* Participants (everyone who voted), ascending by pid. */
    size_t n_ptpt;
    int64_t *pid;
    double *x, *y;     /* PCA projection, scaled by sqrt(comments / votes cast) */
    int *n_votes;      /* votes cast (all comments, as Pol.is's user-vote-counts) */
    int *in_conv;      /* 1 when in the analysis (clustered) */
    int *group;        /* index into groups[], -1 when in no group */
    int *base;         /* index into the base clusters, -1 when not clustered */
    size_t n_in_conv;

    /* Comments that received a vote, ascending by tid. */
    size_t n_cmt;
    int64_t *tid;
    int *mod_out;      /* moderated out */
    int *meta;
    int *active;       /* in the PCA: not moderated out, not meta */
    double *center;    /* mean vote (active comments; 0 otherwise) */
    double *comp[2];   /* PCA components (0 for inactive comments) */
    double *cproj[2];  /* projection of an agree vote on the comment alone */
    double *extremity; /* length of (cproj[0], cproj[1]) */
    double *gac;       /* group-aware consensus */
    double *priority;  /* comment priority, from the previous computation's group
                        * votes as in Pol.is (a cold computation: its own) */
    int *votes_a, *votes_d, *votes_s; /* n_groups x n_cmt: agrees, disagrees, seen */
    size_t n_active;
    int n_comps;       /* components found (2 unless fewer comments/participants) */
    double eigenvalue[2];
    int pca_steps;     /* Lanczos steps taken */

    /* Base clusters, ids 0..n_base-1. */
    size_t n_base;
    double *base_x, *base_y;
    size_t *base_off;     /* members of base b: base_member[base_off[b] .. base_off[b+1]) */
    int64_t *base_member; /* participant ids */

    size_t n_groups;
    opinion_group *groups;
    int groups_fixed;
    double silhouette[6]; /* silhouette for k = 2..5 when groups were computed (else 0) */

    size_t n_cons_agree, n_cons_disagree;
    opinion_cons cons_agree[5], cons_disagree[5];
} opinion_result;

/* Runs the whole analysis on the current votes. opts may be NULL for the defaults.
 * Never NULL. The first call (or the first after opinion_forget_warm_start) is cold
 * and converges fully; later calls start from the previous components and base
 * centres and take a few refining steps each (at most 4 Lanczos steps, 3 k-means
 * passes), so an update after one vote costs a few passes over the votes. Comment
 * priorities use the previous computation's group vote counts, as Pol.is's do (a cold
 * computation uses its own). */
opinion_result *opinion_compute(opinion_conv *c, const opinion_opts *opts);
void opinion_result_free(opinion_result *r);

/* Adjusted Rand index (Hubert & Arabie 1985) of two labelings of n items; labels < 0
 * mark items left out of both. Returns 1 when both labelings have a single cluster. */
double opinion_ari(const int *a, const int *b, size_t n);

/* Loading Pol.is exports (load.c). On failure these return nonzero and write a message
 * naming the file, the line and the reason into err. */

/* Reads a Pol.is export directory into c: comments.csv (optional when
 * participants-votes.csv is used) and votes.csv, or participants-votes.csv when there
 * is no votes.csv; or a raw API dump (comments.json and votes.json). When ref is not
 * NULL and participants-votes.csv is present, its group-id column is stored there:
 * *ref_pid / *ref_gid arrays of *ref_n entries (gid -1 when blank; caller frees). */
int opinion_load_dir(opinion_conv *c, const char *dir, int64_t **ref_pid, int **ref_gid,
                     size_t *ref_n, char *err, size_t errlen);

/* Reads a CSV with header participant,group and fixes those groups in c. */
int opinion_load_groups(opinion_conv *c, const char *path, char *err, size_t errlen);

#endif
