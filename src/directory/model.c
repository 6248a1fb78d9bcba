/*
 * model: the pure parts of the directory's model — checks of the values people type
 * into forms and feeds, opening times in words, and the iCalendar file of a service's
 * schedule (RFC 5545). No HTTP and no storage here, so all of it is unit-tested alone.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/parse.h"
#include "directory/directory.h"
#include "web/i18n.h"

/* ---- Checks --------------------------------------------------------------------- */

char *directory_postcode_format(const char *s, char *out, size_t outlen) {
    char k[16];
    size_t n = 0;
    if (!s) return NULL;
    for (; *s; s++) {
        if (*s == ' ') continue;
        if (n >= 8 || !isalnum((unsigned char)*s)) return NULL;
        k[n++] = (char)toupper((unsigned char)*s);
    }
    k[n] = 0;
    if (n < 5 || n > 7 || outlen < 9) return NULL;
    /* inward code: digit, letter, letter */
    const char *in = k + n - 3;
    if (!isdigit((unsigned char)in[0]) || !isalpha((unsigned char)in[1]) ||
        !isalpha((unsigned char)in[2]))
        return NULL;
    /* outward code: A9, A99, AA9, AA99, A9A, AA9A */
    size_t on = n - 3;
    const char *o = k;
    int ok = 0;
    if (!isalpha((unsigned char)o[0])) return NULL;
    if (on == 2)
        ok = isdigit((unsigned char)o[1]);
    else if (on == 3)
        ok = (isdigit((unsigned char)o[1]) && isalnum((unsigned char)o[2])) ||
             (isalpha((unsigned char)o[1]) && isdigit((unsigned char)o[2]));
    else if (on == 4)
        ok = isalpha((unsigned char)o[1]) && isdigit((unsigned char)o[2]) &&
             isalnum((unsigned char)o[3]);
    if (!ok) return NULL;
    snprintf(out, outlen, "%.*s %s", (int)on, o, in);
    return out;
}

const char *directory_postcode_problem(const char *s) {
    char tmp[16];
    if (!s || !*s) return NULL;
    if (!directory_postcode_format(s, tmp, sizeof tmp))
        return N_("Enter a real postcode, like BN11 1HA");
    return NULL;
}

const char *directory_url_problem(const char *s) {
    if (!s || !*s) return NULL;
    const char *rest = NULL;
    if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    if (!rest) return N_("Enter a web address starting with https:// or http://");
    if (!*rest || *rest == '/' || *rest == '.' || *rest == ':')
        return N_("Enter a web address with a site name, like https://example.org");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
            return N_("A web address cannot contain spaces or quotes");
    const char *end = strpbrk(rest, "/?#:");
    size_t hostlen = end ? (size_t)(end - rest) : strlen(rest);
    if (!memchr(rest, '.', hostlen) && !(hostlen == 9 && strncmp(rest, "localhost", 9) == 0))
        return N_("Enter a web address with a site name, like https://example.org");
    return NULL;
}

const char *directory_email_problem(const char *s) {
    if (!s || !*s) return NULL;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return N_("Enter an email address in the correct format, like name@example.org");
    const char *dot = strrchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == 0)
        return N_("Enter an email address in the correct format, like name@example.org");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == ',' || *p == ';' || *p == '<' || *p == '>' ||
            *p == '"')
            return N_("Enter an email address in the correct format, like name@example.org");
    return NULL;
}

/* Minutes since midnight of "HH:MM" or "HH:MM:SS", or -1. */
static int time_minutes(const char *s) {
    if (!s) return -1;
    size_t n = strlen(s);
    if (n != 5 && n != 8) return -1;
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return -1;
    if (n == 8 && (s[5] != ':' || !isdigit((unsigned char)s[6]) || !isdigit((unsigned char)s[7]) ||
                   s[6] > '5'))
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59) return -1;
    return h * 60 + m;
}

const char *directory_time_problem(const char *s) {
    if (!s || !*s) return NULL;
    return time_minutes(s) < 0 ? N_("Enter a time in 24-hour format, like 09:30") : NULL;
}

static const char *const day_codes[7] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};

static int day_index(const char *two) {
    for (int i = 0; i < 7; i++)
        if (two[0] == day_codes[i][0] && two[1] == day_codes[i][1]) return i;
    return -1;
}

/* Parses byday into up to 14 (ordinal, day) pairs; ordinal 0 = every. Returns the count
 * or -1 when malformed. */
static int byday_parse(const char *s, int *ord, int *day, int max) {
    int n = 0;
    const char *p = s;
    if (!s || !*s) return 0;
    while (*p) {
        while (*p == ' ') p++;
        int o = 0, sign = 1;
        if (*p == '-') {
            sign = -1;
            p++;
        } else if (*p == '+') {
            p++;
        }
        if (isdigit((unsigned char)*p)) {
            o = *p++ - '0';
            if (o < 1 || o > 5) return -1;
        } else if (sign < 0) {
            return -1;
        }
        char two[3] = {0, 0, 0};
        if (!p[0] || !p[1]) return -1;
        two[0] = (char)toupper((unsigned char)p[0]);
        two[1] = (char)toupper((unsigned char)p[1]);
        int d = day_index(two);
        if (d < 0 || n >= max) return -1;
        ord[n] = o * sign;
        day[n] = d;
        n++;
        p += 2;
        while (*p == ' ') p++;
        if (*p == ',') {
            p++;
            if (!*p) return -1;
        } else if (*p) {
            return -1;
        }
    }
    return n;
}

const char *directory_byday_problem(const char *s) {
    int o[14], d[14];
    if (!s || !*s) return NULL;
    return byday_parse(s, o, d, 14) < 0
               ? N_("Enter days as two-letter codes separated by commas, like MO,TH")
               : NULL;
}

/* ---- Opening times in words ----------------------------------------------------- */

static const char *const day_plural_en[7] = {"Mondays", "Tuesdays",  "Wednesdays", "Thursdays",
                                             "Fridays", "Saturdays", "Sundays"};
static const char *const day_en[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                      "Friday", "Saturday", "Sunday"};
/* Welsh day names take "dydd"; to be checked by a Welsh speaker. */
static const char *const day_cy[7] = {"dydd Llun",   "dydd Mawrth", "dydd Mercher", "dydd Iau",
                                      "dydd Gwener", "dydd Sadwrn", "dydd Sul"};
static const char *const ord_en[6] = {"last", "first", "second", "third", "fourth", "fifth"};
static const char *const ord_cy[6] = {"olaf", "cyntaf", "ail", "trydydd", "pedwerydd", "pumed"};

/* Appends a list "A, B and C" ("A, B a C" in Welsh). */
static void list_words(buf *b, const char *const *items, int n, int cy) {
    for (int i = 0; i < n; i++) {
        if (i > 0) buf_puts(b, i == n - 1 ? (cy ? " a " : " and ") : ", ");
        buf_puts(b, items[i]);
    }
}

static void hhmm(buf *b, const char *t) { buf_printf(b, "%.5s", t); }

const char *directory_schedule_words(const store_dir_schedule *h, const char *lang, arena *a) {
    int cy = lang && strcmp(lang, "cy") == 0;
    buf b;
    buf_init(&b, 4096);
    int ord[14], day[14];
    int n = byday_parse(h->byday, ord, day, 14);
    if (n < 0) n = 0;
    int monthly = h->freq && strcmp(h->freq, "MONTHLY") == 0;
    int64_t every = h->interval > 1 ? h->interval : 1;
    int has_ord = 0;
    for (int i = 0; i < n; i++)
        if (ord[i]) has_ord = 1;

    if (n > 0 && has_ord) {
        /* "First Tuesday of the month" / "Dydd Mawrth cyntaf y mis" */
        for (int i = 0; i < n; i++) {
            if (i) buf_puts(&b, i == n - 1 ? (cy ? " a " : " and ") : ", ");
            int oi = ord[i] < 0 ? 0 : ord[i];
            if (cy)
                buf_printf(&b, "%s %s", day_cy[day[i]], ord_cy[oi]);
            else
                buf_printf(&b, "%s %s", ord_en[oi], day_en[day[i]]);
        }
        buf_puts(&b, cy ? " y mis" : " of the month");
    } else if (n > 0) {
        int mask = 0;
        for (int i = 0; i < n; i++) mask |= 1 << day[i];
        if (every > 1 && !monthly)
            buf_printf(&b, cy ? "Bob %lld wythnos ar " : "Every %lld weeks on ", (long long)every);
        if (mask == 0x7f) {
            if (every > 1 && !monthly)
                buf_puts(&b, cy ? "bob dydd" : "every day");
            else
                buf_puts(&b, cy ? "Bob dydd" : "Every day");
        } else if (mask == 0x1f) {
            if (every > 1 && !monthly)
                buf_puts(&b, cy ? "ddyddiau'r wythnos" : "weekdays");
            else
                buf_puts(&b, cy ? "Dyddiau'r wythnos" : "Weekdays");
        } else {
            const char *names[7];
            int k = 0;
            for (int d = 0; d < 7; d++)
                if (mask & (1 << d)) names[k++] = cy ? day_cy[d] : day_plural_en[d];
            if (cy && !(every > 1 && !monthly)) buf_puts(&b, "Bob ");
            list_words(&b, names, k, cy);
        }
    } else if (monthly && h->bymonthday && *h->bymonthday) {
        buf_printf(&b, cy ? "Ar ddiwrnod %s o'r mis" : "On day %s of the month", h->bymonthday);
    } else if (monthly) {
        buf_puts(&b, cy ? "Bob mis" : "Every month");
    } else if (h->freq && *h->freq) {
        if (every > 1)
            buf_printf(&b, cy ? "Bob %lld wythnos" : "Every %lld weeks", (long long)every);
        else
            buf_puts(&b, cy ? "Bob wythnos" : "Every week");
    }
    int open_ok = time_minutes(h->opens_at) >= 0, close_ok = time_minutes(h->closes_at) >= 0;
    if (open_ok || close_ok) {
        if (b.len) buf_putc(&b, ' ');
        if (open_ok && close_ok) {
            hhmm(&b, h->opens_at);
            buf_putc(&b, '-');
            hhmm(&b, h->closes_at);
        } else if (open_ok) {
            buf_puts(&b, cy ? "o " : "from ");
            hhmm(&b, h->opens_at);
        } else {
            buf_puts(&b, cy ? "tan " : "until ");
            hhmm(&b, h->closes_at);
        }
    }
    if (b.len && b.data[0] >= 'a' && b.data[0] <= 'z') b.data[0] = (char)(b.data[0] - 32);
    if (!b.len && h->description && *h->description) buf_puts(&b, h->description);
    char *r = arena_strdup(a, buf_cstr(&b));
    buf_free(&b);
    return r;
}

/* ---- iCalendar ------------------------------------------------------------------ */

int directory_ical_line(buf *out, const char *name, const char *value, int escape) {
    buf line;
    buf_init(&line, 1 << 20);
    buf_puts(&line, name);
    buf_putc(&line, ':');
    for (const char *p = value ? value : ""; *p; p++) {
        if (escape && (*p == '\\' || *p == ';' || *p == ',')) {
            buf_putc(&line, '\\');
            buf_putc(&line, *p);
        } else if (escape && *p == '\n') {
            buf_puts(&line, "\\n");
        } else if (*p == '\r') {
            continue;
        } else {
            buf_putc(&line, *p);
        }
    }
    /* Fold: at most 75 octets per line, continuation lines start with one space (which
     * counts), and a UTF-8 sequence is never split. */
    const char *s = buf_cstr(&line);
    size_t n = buf_len(&line), pos = 0;
    int rc = BUF_OK, first = 1;
    while (pos < n && rc == BUF_OK) {
        size_t room = first ? 75 : 74;
        size_t take = n - pos < room ? n - pos : room;
        while (take > 0 && pos + take < n && ((unsigned char)s[pos + take] & 0xC0) == 0x80) take--;
        if (!first) rc |= buf_putc(out, ' ');
        rc |= buf_append(out, s + pos, take);
        rc |= buf_puts(out, "\r\n");
        pos += take;
        first = 0;
    }
    if (n == 0) rc |= buf_puts(out, "\r\n");
    buf_free(&line);
    return rc ? BUF_TOO_BIG : BUF_OK;
}

/* Days since 1970-01-01 of a civil date, and back (Howard Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* "YYYY-MM-DD" to days since the epoch; -1 when malformed. */
static int64_t parse_date(const char *s) {
    int y, m, d;
    char tail;
    if (!s || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return -1;
    if (m < 1 || m > 12 || d < 1 || d > 31) return -1;
    return days_from_civil(y, m, d);
}

static int days_in_month(int y, int m) {
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

/* Does day z match the schedule's days (ignoring interval)? */
static int day_matches(const store_dir_schedule *h, int64_t z) {
    int ord[14], day[14];
    int n = byday_parse(h->byday, ord, day, 14);
    int y, m, d;
    civil_from_days(z, &y, &m, &d);
    int wd = (int)(((z % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday: 0 = Monday */
    if (n > 0) {
        for (int i = 0; i < n; i++) {
            if (day[i] != wd) continue;
            if (ord[i] == 0) return 1;
            if (ord[i] > 0 && (d - 1) / 7 + 1 == ord[i]) return 1;
            if (ord[i] < 0 && d + 7 > days_in_month(y, m)) return 1;
        }
        return 0;
    }
    if (h->bymonthday && *h->bymonthday) {
        const char *p = h->bymonthday;
        while (*p) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) break;
            if (v == d || (v < 0 && d == days_in_month(y, m) + 1 + (int)v)) return 1;
            p = *end == ',' ? end + 1 : end;
            if (*end != ',') break;
        }
        return 0;
    }
    return 1;
}

static void ical_date(char *out, size_t n, int64_t z, const char *hhmm_text) {
    int y, m, d;
    civil_from_days(z, &y, &m, &d);
    int hh = (hhmm_text[0] - '0') * 10 + (hhmm_text[1] - '0');
    int mm = (hhmm_text[3] - '0') * 10 + (hhmm_text[4] - '0');
    snprintf(out, n, "%04d%02d%02dT%02d%02d00", y, m, d, hh, mm);
}

/* The time zone every directory time is in; a VTIMEZONE must accompany TZID. */
static const char *const london_tz[] = {"BEGIN:VTIMEZONE",
                                        "TZID:Europe/London",
                                        "BEGIN:DAYLIGHT",
                                        "TZOFFSETFROM:+0000",
                                        "TZOFFSETTO:+0100",
                                        "TZNAME:BST",
                                        "DTSTART:19700329T010000",
                                        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
                                        "END:DAYLIGHT",
                                        "BEGIN:STANDARD",
                                        "TZOFFSETFROM:+0100",
                                        "TZOFFSETTO:+0000",
                                        "TZNAME:GMT",
                                        "DTSTART:19701025T020000",
                                        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
                                        "END:STANDARD",
                                        "END:VTIMEZONE",
                                        NULL};

int directory_ical(buf *out, const store_dir_service *s, const char *host, int64_t dtstamp) {
    int rc = 0;
    rc |= directory_ical_line(out, "BEGIN", "VCALENDAR", 0);
    rc |= directory_ical_line(out, "VERSION", "2.0", 0);
    rc |= directory_ical_line(out, "PRODID", "-//Common Ground//Community directory//EN", 0);
    rc |= directory_ical_line(out, "CALSCALE", "GREGORIAN", 0);
    for (int i = 0; london_tz[i]; i++) {
        const char *colon = strchr(london_tz[i], ':');
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(colon - london_tz[i]), london_tz[i]);
        rc |= directory_ical_line(out, name, colon + 1, 0);
    }
    time_t ts = (time_t)dtstamp;
    struct tm tmv;
    gmtime_r(&ts, &tmv);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tmv);
    int64_t today = dtstamp / 86400;
    buf loc;
    buf_init(&loc, 4096);
    if (s->n_locations) {
        const store_dir_location *l = &s->locations[0];
        const char *parts[] = {l->name, l->address_1, l->city, l->postcode};
        for (size_t k = 0; k < 4; k++)
            if (parts[k] && *parts[k]) buf_printf(&loc, "%s%s", loc.len ? ", " : "", parts[k]);
    }
    for (size_t i = 0; i < s->n_schedules; i++) {
        const store_dir_schedule *h = &s->schedules[i];
        if (time_minutes(h->opens_at) < 0) continue;
        int64_t start = parse_date(h->dtstart);
        if (start < 0) start = parse_date(h->valid_from);
        if (start < 0) start = today;
        int64_t first = start;
        for (int k = 0; k < 400; k++)
            if (day_matches(h, start + k)) {
                first = start + k;
                break;
            }
        char dt[32], uid[128];
        rc |= directory_ical_line(out, "BEGIN", "VEVENT", 0);
        snprintf(uid, sizeof uid, "%s@%s", h->uuid ? h->uuid : "schedule",
                 host ? host : "localhost");
        rc |= directory_ical_line(out, "UID", uid, 0);
        rc |= directory_ical_line(out, "DTSTAMP", stamp, 0);
        ical_date(dt, sizeof dt, first, h->opens_at);
        rc |= directory_ical_line(out, "DTSTART;TZID=Europe/London", dt, 0);
        const char *end =
            time_minutes(h->closes_at) > time_minutes(h->opens_at) ? h->closes_at : h->opens_at;
        ical_date(dt, sizeof dt, first, end);
        rc |= directory_ical_line(out, "DTEND;TZID=Europe/London", dt, 0);
        if (h->freq && (strcmp(h->freq, "WEEKLY") == 0 || strcmp(h->freq, "MONTHLY") == 0)) {
            buf rr;
            buf_init(&rr, 1024);
            buf_printf(&rr, "FREQ=%s", h->freq);
            if (h->interval > 1) buf_printf(&rr, ";INTERVAL=%lld", (long long)h->interval);
            int ord[14], day[14];
            int n = byday_parse(h->byday, ord, day, 14);
            if (n > 0) {
                buf_puts(&rr, ";BYDAY=");
                for (int k = 0; k < n; k++) {
                    if (k) buf_putc(&rr, ',');
                    if (ord[k]) buf_printf(&rr, "%d", ord[k]);
                    buf_puts(&rr, day_codes[day[k]]);
                }
            } else if (h->bymonthday && *h->bymonthday && strcmp(h->freq, "MONTHLY") == 0) {
                buf_printf(&rr, ";BYMONTHDAY=%s", h->bymonthday);
            }
            int64_t until = parse_date(h->valid_to);
            if (until >= 0) {
                int y, m, d;
                civil_from_days(until, &y, &m, &d);
                buf_printf(&rr, ";UNTIL=%04d%02d%02dT235959Z", y, m, d);
            }
            rc |= directory_ical_line(out, "RRULE", buf_cstr(&rr), 0);
            buf_free(&rr);
        }
        rc |= directory_ical_line(out, "SUMMARY", s->name, 1);
        if (loc.len) rc |= directory_ical_line(out, "LOCATION", buf_cstr(&loc), 1);
        buf desc;
        buf_init(&desc, 1 << 16);
        buf_printf(&desc, "%s", s->org_name ? s->org_name : "");
        if (h->description && *h->description) buf_printf(&desc, "\n%s", h->description);
        rc |= directory_ical_line(out, "DESCRIPTION", buf_cstr(&desc), 1);
        buf_free(&desc);
        rc |= directory_ical_line(out, "END", "VEVENT", 0);
    }
    buf_free(&loc);
    rc |= directory_ical_line(out, "END", "VCALENDAR", 0);
    return rc ? BUF_TOO_BIG : BUF_OK;
}
