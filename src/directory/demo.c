/*
 * demo: the default taxonomy and the demo directory of `commonground init --demo` — a
 * dozen invented but plausible community organisations in Adur and Worthing with their
 * services, places and opening times. Every organisation's name ends in "(demo)" and
 * its description says it is invented, so nobody mistakes them for real ones. Ids are
 * fixed so that tests and screenshots can name them.
 */
#include <stdio.h>
#include <string.h>

#include "core/rand.h"
#include "directory/directory.h"

#define TERM_UUID(n) "6d1c3b1e-6a53-4c1e-9a43-0000000000" n
#define ORG_UUID(n) "4f0a8c52-1b7e-4d29-8e61-0000000000" n
#define SVC_UUID(n) "9b2e6d14-3c8f-4a57-b0d2-0000000000" n

/* The default taxonomy: broad enough for community activity, small enough to browse. */
static const struct {
    const char *uuid, *code, *name, *description, *parent;
} terms[] = {
    {TERM_UUID("01"), "food", "Food", "Food banks, community meals, pantries and growing", NULL},
    {TERM_UUID("02"), "money-advice", "Money advice", "Debt, benefits and budgeting help", NULL},
    {TERM_UUID("03"), "health-wellbeing", "Health and wellbeing", "Physical and mental health",
     NULL},
    {TERM_UUID("04"), "mental-health", "Mental health", "Peer support, talking groups",
     TERM_UUID("03")},
    {TERM_UUID("05"), "youth", "Youth", "Activities and support for young people", NULL},
    {TERM_UUID("06"), "older-people", "Older people", "Company, lunch clubs, help at home", NULL},
    {TERM_UUID("07"), "sport", "Sport and exercise", "Clubs, walks and classes", NULL},
    {TERM_UUID("08"), "arts", "Arts and culture", "Music, drama, crafts, heritage", NULL},
    {TERM_UUID("09"), "environment", "Environment", "Green spaces, litter picks, repair", NULL},
    {TERM_UUID("10"), "housing", "Housing", "Housing advice and homelessness support", NULL},
    {TERM_UUID("11"), "digital-inclusion", "Digital inclusion", "Help getting online, devices",
     NULL},
    {TERM_UUID("12"), "children-families", "Children and families", "Parents, toddlers, play",
     NULL},
    {TERM_UUID("13"), "disability", "Disability", "Support and activities for disabled people",
     NULL},
    {TERM_UUID("14"), "volunteering", "Volunteering", "Ways to give time", NULL},
    {TERM_UUID("15"), "food-bank", "Food bank", "Emergency food parcels", TERM_UUID("01")},
    {TERM_UUID("16"), "community-meals", "Community meals", "Shared meals and cafés",
     TERM_UUID("01")},
};

static const struct {
    const char *uuid, *name, *description, *website, *email, *phone, *charity;
} orgs[] = {
    {ORG_UUID("01"), "Worthing Community Food Bank (demo)",
     "Demo data: an invented organisation. Emergency food parcels and signposting for "
     "households in Worthing.",
     "https://foodbank.example.org", "hello@foodbank.example.org", "01903 000001", "1100001"},
    {ORG_UUID("02"), "Shoreham and Southwick Pantry (demo)",
     "Demo data: an invented organisation. A membership pantry with low-cost groceries.",
     "https://pantry.example.org", "pantry@example.org", "01273 000002", "1100002"},
    {ORG_UUID("03"), "Adur Money Matters (demo)",
     "Demo data: an invented organisation. Free, confidential money and benefits advice.",
     "https://money.example.org", "advice@money.example.org", "01273 000003", "1100003"},
    {ORG_UUID("04"), "Lancing Youth Project (demo)",
     "Demo data: an invented organisation. Youth clubs and mentoring for 11 to 18 year olds.",
     "https://lancingyouth.example.org", "team@lancingyouth.example.org", "01903 000004",
     "1100004"},
    {ORG_UUID("05"), "Worthing Seafront Runners (demo)",
     "Demo data: an invented organisation. A friendly running club for all paces.",
     "https://runners.example.org", "run@runners.example.org", "", ""},
    {ORG_UUID("06"), "Broadwater Good Neighbours (demo)",
     "Demo data: an invented organisation. Volunteers who visit, phone and help older "
     "neighbours.",
     "https://goodneighbours.example.org", "help@goodneighbours.example.org", "01903 000006",
     "1100006"},
    {ORG_UUID("07"), "Sompting Digital Drop-in (demo)",
     "Demo data: an invented organisation. Help with phones, tablets and online forms.", "",
     "digital@example.org", "", ""},
    {ORG_UUID("08"), "Adur Green Spaces Volunteers (demo)",
     "Demo data: an invented organisation. Practical conservation in parks and on the "
     "Downs.",
     "https://greenspaces.example.org", "volunteer@greenspaces.example.org", "", ""},
    {ORG_UUID("09"), "Worthing Youth Arts Collective (demo)",
     "Demo data: an invented organisation. Drama, music and film-making for young people.",
     "https://youtharts.example.org", "create@youtharts.example.org", "01903 000009", "1100009"},
    {ORG_UUID("10"), "Durrington Community Café (demo)",
     "Demo data: an invented organisation. A pay-as-you-feel café and community meals.",
     "https://durringtoncafe.example.org", "cafe@durringtoncafe.example.org", "01903 000010", ""},
};

typedef struct {
    const char *uuid;
    int org;
    const char *name, *description, *eligibility, *fees;
    const char *terms[3]; /* term codes */
    const char *areas[3]; /* GSS codes */
    const char *loc_name, *address, *city, *postcode;
    double lat, lon;
    const char *access;
    const char *freq, *byday, *opens, *closes;
    int interval;
} demo_service;

static const demo_service services[] = {
    {SVC_UUID("01"),
     0,
     "Food bank distribution",
     "Emergency food parcels for three days, with referral from a support agency. We also "
     "help with energy top-ups and signpost to money advice.",
     "Anyone in Worthing with a referral",
     "Free",
     {"food-bank", "money-advice"},
     {"E07000229"},
     "St Botolph's Hall",
     "1 Heene Road",
     "Worthing",
     "BN11 3RG",
     50.8130,
     -0.3830,
     "Step-free access; accessible toilet",
     "WEEKLY",
     "TU,FR",
     "10:00",
     "12:00",
     1},
    {SVC_UUID("02"),
     1,
     "Community pantry",
     "Low-cost groceries for members: a weekly shop of fresh and store-cupboard food for a "
     "small fee. Open to anyone living locally.",
     "Residents of Shoreham and Southwick",
     "£5 a week for about £20 of food",
     {"food-bank", "community-meals"},
     {"E05007574", "E05007568"},
     "Southwick Community Centre",
     "24 Southwick Street",
     "Southwick",
     "BN42 4TE",
     50.8350,
     -0.2370,
     "Step-free access",
     "WEEKLY",
     "WE",
     "14:00",
     "16:00",
     1},
    {SVC_UUID("03"),
     2,
     "Money and benefits advice",
     "Free confidential help with debt, benefits, budgeting and energy bills, by "
     "appointment or drop-in.",
     "Anyone living in Adur",
     "Free",
     {"money-advice"},
     {"E07000223"},
     "Shoreham Centre",
     "2 Pond Road",
     "Shoreham-by-Sea",
     "BN43 5WU",
     50.8327,
     -0.2740,
     "Lift to all floors; hearing loop",
     "WEEKLY",
     "MO,TH",
     "09:30",
     "13:00",
     1},
    {SVC_UUID("04"),
     3,
     "Friday youth club",
     "Games, cooking, sport and a safe space to hang out with youth workers on Friday "
     "evenings.",
     "Young people aged 11 to 18",
     "£1 a session",
     {"youth", "sport"},
     {"E05007567", "E05007564"},
     "Lancing Parish Hall",
     "South Street",
     "Lancing",
     "BN15 8AJ",
     50.8290,
     -0.3240,
     "Step-free access",
     "WEEKLY",
     "FR",
     "18:30",
     "21:00",
     1},
    {SVC_UUID("05"),
     3,
     "Youth mentoring",
     "One-to-one mentoring for young people who are finding school or home life hard.",
     "Young people aged 11 to 18, by referral",
     "Free",
     {"youth", "mental-health"},
     {"E07000223"},
     "Lancing Youth Project office",
     "12 North Road",
     "Lancing",
     "BN15 9AB",
     50.8305,
     -0.3225,
     "",
     "WEEKLY",
     "TU,WE,TH",
     "15:30",
     "18:00",
     1},
    {SVC_UUID("06"),
     4,
     "Saturday seafront run",
     "A free 5 km social run along the seafront, every pace welcome, coffee afterwards.",
     "Adults and over-16s",
     "Free",
     {"sport", "health-wellbeing"},
     {"E05007696", "E05007701"},
     "Worthing Pier",
     "Marine Parade",
     "Worthing",
     "BN11 3PX",
     50.8093,
     -0.3706,
     "Flat route; accessible toilets on the pier",
     "WEEKLY",
     "SA",
     "09:00",
     "10:00",
     1},
    {SVC_UUID("07"),
     5,
     "Befriending visits",
     "Weekly visits and phone calls from a friendly volunteer for older people who live "
     "alone.",
     "People over 65 in Worthing",
     "Free",
     {"older-people", "volunteering"},
     {"E05007694", "E05007705"},
     "Broadwater Methodist Church",
     "Dominion Road",
     "Worthing",
     "BN14 8JL",
     50.8290,
     -0.3740,
     "Step-free access",
     "WEEKLY",
     "MO,TU,WE,TH,FR",
     "10:00",
     "16:00",
     1},
    {SVC_UUID("08"),
     5,
     "Tuesday lunch club",
     "A hot two-course lunch and good company for older people; transport can be arranged.",
     "People over 65",
     "£6 a meal",
     {"older-people", "community-meals"},
     {"E05007694"},
     "Broadwater Methodist Church",
     "Dominion Road",
     "Worthing",
     "BN14 8JL",
     50.8290,
     -0.3740,
     "Step-free access",
     "WEEKLY",
     "TU",
     "12:00",
     "14:00",
     1},
    {SVC_UUID("09"),
     6,
     "Digital help drop-in",
     "Bring your phone, tablet or laptop and get help with apps, online forms, video calls "
     "and staying safe online. Free data SIMs for people on low incomes.",
     "Anyone",
     "Free",
     {"digital-inclusion", "older-people"},
     {"E05007571", "E05007573"},
     "Sompting Village Hall",
     "West Street",
     "Sompting",
     "BN15 0AX",
     50.8370,
     -0.3480,
     "Step-free access",
     "WEEKLY",
     "TH",
     "10:00",
     "12:00",
     1},
    {SVC_UUID("10"),
     7,
     "Conservation volunteering",
     "Hedge-laying, scrub clearance and wildflower planting on the Downs and in local "
     "parks; tools and training provided.",
     "Anyone over 16",
     "Free",
     {"environment", "volunteering"},
     {"E07000223", "E07000229"},
     "Mill Hill car park",
     "Mill Hill",
     "Shoreham-by-Sea",
     "BN43 5FF",
     50.8430,
     -0.2830,
     "",
     "MONTHLY",
     "1SA,3SA",
     "10:00",
     "13:00",
     1},
    {SVC_UUID("11"),
     8,
     "Youth theatre",
     "Weekly drama sessions and two shows a year at the Connaught.",
     "Ages 11 to 18",
     "£3 a session; free places available",
     {"youth", "arts"},
     {"E05007696"},
     "Worthing Youth Arts studio",
     "3 Chapel Road",
     "Worthing",
     "BN11 1HA",
     50.8140,
     -0.3710,
     "Step-free access to the studio",
     "WEEKLY",
     "WE",
     "17:00",
     "19:00",
     1},
    {SVC_UUID("12"),
     9,
     "Pay-as-you-feel community lunch",
     "A hot lunch cooked with surplus food, pay what you can; everyone welcome.",
     "Anyone",
     "Pay as you feel",
     {"community-meals", "food"},
     {"E05007697"},
     "Durrington Community Café",
     "Strand Parade",
     "Worthing",
     "BN12 6DL",
     50.8290,
     -0.4170,
     "Step-free access",
     "WEEKLY",
     "WE,SA",
     "12:00",
     "14:00",
     1},
    {SVC_UUID("13"),
     9,
     "Warm space",
     "A warm, friendly place with hot drinks, newspapers and board games during the "
     "winter.",
     "Anyone",
     "Free",
     {"community-meals", "older-people"},
     {"E05007697"},
     "Durrington Community Café",
     "Strand Parade",
     "Worthing",
     "BN12 6DL",
     50.8290,
     -0.4170,
     "Step-free access",
     "WEEKLY",
     "MO,TU,WE,TH,FR",
     "10:00",
     "16:00",
     1},
    {SVC_UUID("14"),
     0,
     "Food bank in Lancing",
     "Emergency food parcels with a referral, and a listening ear.",
     "Anyone with a referral",
     "Free",
     {"food-bank"},
     {"E05007564", "E05007567"},
     "Lancing Parish Hall",
     "South Street",
     "Lancing",
     "BN15 8AJ",
     50.8290,
     -0.3240,
     "Step-free access",
     "WEEKLY",
     "MO",
     "13:00",
     "15:00",
     1},
};

static const char *term_uuid(const char *code) {
    for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++)
        if (strcmp(terms[i].code, code) == 0) return terms[i].uuid;
    return NULL;
}

int directory_seed_demo(store *s, const store_actor *actor, char *err, size_t errlen) {
    arena a;
    arena_init(&a, 16384);
    store_dir_taxonomy existing;
    int result = -1;
    if (store_dir_taxonomy_by_uuid(s, DIRECTORY_TAXONOMY_UUID, &a, &existing) == STORE_OK) {
        result = 0; /* already seeded */
        goto out;
    }
    store_dir_taxonomy tax = {.uuid = DIRECTORY_TAXONOMY_UUID,
                              .name = "Common Ground community activity",
                              .description = "The default categories of the community directory",
                              .version = "1"};
    store_dir_feed feed = {0};
    feed.taxonomies = &tax;
    feed.n_taxonomies = 1;
    size_t nt = sizeof terms / sizeof terms[0];
    feed.terms = arena_calloc(&a, nt, sizeof *feed.terms);
    for (size_t i = 0; i < nt; i++) {
        store_dir_term *t = &feed.terms[feed.n_terms++];
        t->uuid = terms[i].uuid;
        t->taxonomy_uuid = DIRECTORY_TAXONOMY_UUID;
        t->parent_uuid = terms[i].parent;
        t->code = terms[i].code;
        t->name = terms[i].name;
        t->description = terms[i].description;
    }
    size_t no = sizeof orgs / sizeof orgs[0];
    feed.orgs = arena_calloc(&a, no, sizeof *feed.orgs);
    for (size_t i = 0; i < no; i++) {
        store_dir_org *o = &feed.orgs[feed.n_orgs++];
        o->uuid = orgs[i].uuid;
        o->name = orgs[i].name;
        o->description = orgs[i].description;
        o->website = orgs[i].website;
        o->email = orgs[i].email;
        o->phone = orgs[i].phone;
        o->identifier = orgs[i].charity;
        o->identifier_type = *orgs[i].charity ? "charity_number" : "";
    }
    size_t ns = sizeof services / sizeof services[0];
    feed.services = arena_calloc(&a, ns, sizeof *feed.services);
    for (size_t i = 0; i < ns; i++) {
        const demo_service *d = &services[i];
        store_dir_service *v = &feed.services[feed.n_services++];
        v->uuid = d->uuid;
        v->org_uuid = orgs[d->org].uuid;
        v->name = d->name;
        v->description = d->description;
        v->eligibility = d->eligibility;
        v->fees = d->fees;
        v->email = orgs[d->org].email;
        v->phone = orgs[d->org].phone;
        v->url = orgs[d->org].website;
        v->terms = arena_calloc(&a, 3, sizeof *v->terms);
        for (int k = 0; k < 3 && d->terms[k]; k++)
            v->terms[v->n_terms++].uuid = term_uuid(d->terms[k]);
        v->areas = arena_calloc(&a, 3, sizeof *v->areas);
        for (int k = 0; k < 3 && d->areas[k]; k++) {
            store_place p;
            if (store_place_by_gss(s, d->areas[k], &a, &p) != STORE_OK) {
                snprintf(err, errlen, "the demo directory needs the demo places (%s is missing)",
                         d->areas[k]);
                goto out;
            }
            v->areas[v->n_areas++].place_id = p.id;
        }
        store_dir_location *l = arena_calloc(&a, 1, sizeof *l);
        l->name = d->loc_name;
        l->address_1 = d->address;
        l->city = d->city;
        l->postcode = d->postcode;
        l->country = "GB";
        l->has_coords = 1;
        l->latitude = d->lat;
        l->longitude = d->lon;
        l->accessibility = d->access;
        /* one location per distinct address: services in the same hall share it */
        for (size_t k = 0; k < i; k++)
            if (strcmp(services[k].postcode, d->postcode) == 0 &&
                strcmp(services[k].loc_name, d->loc_name) == 0 && feed.services[k].n_locations)
                l->uuid = feed.services[k].locations[0].uuid;
        if (!l->uuid) {
            char u[UUID_STR_LEN];
            snprintf(u, sizeof u, "7c4d2a90-5e1b-4f36-a8c7-0000000000%02zu", i + 1);
            l->uuid = arena_strdup(&a, u);
        }
        v->locations = l;
        v->n_locations = 1;
        store_dir_schedule *h = arena_calloc(&a, 1, sizeof *h);
        h->freq = d->freq;
        h->interval = d->interval;
        h->byday = d->byday;
        h->opens_at = d->opens;
        h->closes_at = d->closes;
        v->schedules = h;
        v->n_schedules = 1;
        store_dir_language *g = arena_calloc(&a, 1, sizeof *g);
        g->name = "English";
        g->code = "en";
        v->languages = g;
        v->n_languages = 1;
    }
    feed.source = "demo";
    store_dir_import_result res;
    int rc = store_dir_import(s, actor, &feed, &res);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "could not add the demo directory: %s (item %lld)",
                 store_strerror(rc), (long long)res.bad_index);
        goto out;
    }
    result = 0;
out:
    arena_free(&a);
    return result;
}
