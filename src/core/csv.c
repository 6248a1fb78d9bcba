/*
 * csv: strict delimiter-separated reader (see csv.h). The whole input is held in memory:
 * the files handled are at most tens of megabytes, and one pass over a flat buffer is
 * much faster than stdio.
 */
#include "core/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xalloc.h"

struct csv_reader {
    char *data;
    size_t len, pos;
    char sep;
    long line;        /* line of the next unread byte */
    long record_line; /* line the current record started on */
    buf fields;       /* field bytes, each NUL-terminated */
    size_t *offs;     /* start offset of each field in fields */
    size_t *lens;
    size_t nfields, cap;
    int blank;
    size_t mapped; /* > 0: data is a read-only mapping of the file, this long */
    char name[256];
    char err[512];
};

static csv_reader *reader_new(char *data, size_t len, char sep, const char *name) {
    csv_reader *r = xcalloc(1, sizeof *r);
    r->data = data;
    r->len = len;
    r->sep = sep;
    r->line = 1;
    buf_init(&r->fields, (size_t)CSV_MAX_FIELD * 4);
    snprintf(r->name, sizeof r->name, "%s", name);
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
    return r;
}

csv_reader *csv_open_mem(const char *data, size_t len, char sep) {
    char *copy = xmalloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';
    return reader_new(copy, len, sep, "<memory>");
}

csv_reader *csv_open_file(const char *path, char sep, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    /* A regular file is mapped rather than copied: reading a 20 MB survey file into fresh
     * heap pages cost more than parsing it. Nothing writes through the mapping (the
     * parser copies fields out), and files handled here are not changed while read. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (unsigned long long)st.st_size < ((size_t)1 << 31)) {
        size_t len = (size_t)st.st_size;
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fileno(f), 0);
        if (m != MAP_FAILED) {
            fclose(f);
            csv_reader *r = reader_new(m, len, sep, path);
            r->mapped = len;
            return r;
        }
    }
    buf b;
    buf_init(&b, (size_t)1 << 31);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(&b, chunk, n)) {
            snprintf(err, errlen, "%s: file is larger than 2 GiB", path);
            buf_free(&b);
            fclose(f);
            return NULL;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        buf_free(&b);
        fclose(f);
        return NULL;
    }
    fclose(f);
    size_t len;
    char *data = buf_detach(&b, &len);
    return reader_new(data, len, sep, path);
}

void csv_free(csv_reader *r) {
    if (!r) return;
    if (r->mapped)
        munmap(r->data, r->mapped);
    else
        free(r->data);
    buf_free(&r->fields);
    free(r->offs);
    free(r->lens);
    free(r);
}

static int fail(csv_reader *r, long line, const char *what) {
    snprintf(r->err, sizeof r->err, "line %ld: %s", line, what);
    return -1;
}

static int end_field(csv_reader *r, size_t start) {
    if (r->nfields >= CSV_MAX_FIELDS) return fail(r, r->record_line, "too many fields in one record");
    size_t flen = r->fields.len - start;
    if (!utf8_valid(r->fields.data ? r->fields.data + start : "", flen))
        return fail(r, r->record_line, "field is not valid UTF-8");
    if (r->nfields == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->offs = xreallocarray(r->offs, r->cap, sizeof *r->offs);
        r->lens = xreallocarray(r->lens, r->cap, sizeof *r->lens);
    }
    r->offs[r->nfields] = start;
    r->lens[r->nfields] = flen;
    r->nfields++;
    if (buf_putc(&r->fields, '\0')) return fail(r, r->record_line, "record too large");
    return 0;
}

int csv_next(csv_reader *r) {
    buf_reset(&r->fields);
    r->nfields = 0;
    r->blank = 0;
    if (r->pos >= r->len) return 0;
    r->record_line = r->line;
    const char *d = r->data;
    size_t start = 0;
    int quoted = 0, after_quote = 0;
    size_t fstart = 0;
    for (;;) {
        if (r->pos >= r->len) {
            if (quoted) return fail(r, r->record_line, "unterminated quoted field");
            if (end_field(r, fstart)) return -1;
            break;
        }
        char c = d[r->pos];
        if (quoted) {
            if (c == '"') {
                if (r->pos + 1 < r->len && d[r->pos + 1] == '"') {
                    if (buf_putc(&r->fields, '"')) return fail(r, r->record_line, "record too large");
                    r->pos += 2;
                    continue;
                }
                quoted = 0;
                after_quote = 1;
                r->pos++;
                continue;
            }
            if (c == '\n') r->line++;
            /* Copy a run of ordinary bytes at once. */
            size_t run = r->pos;
            while (run < r->len && d[run] != '"' && d[run] != '\n') run++;
            if (run == r->pos) run++;
            if (r->fields.len - fstart + (run - r->pos) > CSV_MAX_FIELD)
                return fail(r, r->record_line, "field longer than 1 MiB");
            if (buf_append(&r->fields, d + r->pos, run - r->pos))
                return fail(r, r->record_line, "record too large");
            r->pos = run;
            continue;
        }
        if (c == r->sep) {
            if (end_field(r, fstart)) return -1;
            fstart = r->fields.len;
            after_quote = 0;
            r->pos++;
            continue;
        }
        if (c == '\n' || c == '\r') {
            if (c == '\r' && r->pos + 1 < r->len && d[r->pos + 1] == '\n') r->pos++;
            r->pos++;
            r->line++;
            if (end_field(r, fstart)) return -1;
            break;
        }
        if (after_quote) {
            return fail(r, r->record_line, "unexpected character after closing quote");
        }
        if (c == '"' && r->fields.len == fstart) {
            quoted = 1;
            r->pos++;
            continue;
        }
        size_t run = r->pos;
        while (run < r->len && d[run] != r->sep && d[run] != '\n' && d[run] != '\r' &&
               !(d[run] == '"' && run == r->pos && r->fields.len == fstart))
            run++;
        if (run == r->pos) run++;
        if (r->fields.len - fstart + (run - r->pos) > CSV_MAX_FIELD)
            return fail(r, r->record_line, "field longer than 1 MiB");
        if (buf_append(&r->fields, d + r->pos, run - r->pos))
            return fail(r, r->record_line, "record too large");
        r->pos = run;
    }
    (void)start;
    r->blank = (r->nfields == 1 && r->lens[0] == 0);
    return 1;
}

size_t csv_nfields(const csv_reader *r) { return r->nfields; }

const char *csv_field(const csv_reader *r, size_t i) {
    if (i >= r->nfields) return "";
    return r->fields.data + r->offs[i];
}

size_t csv_field_len(const csv_reader *r, size_t i) { return i < r->nfields ? r->lens[i] : 0; }

int csv_blank(const csv_reader *r) { return r->blank; }

long csv_line(const csv_reader *r) { return r->record_line; }

const char *csv_error(const csv_reader *r) { return r->err; }

const char *csv_name(const csv_reader *r) { return r->name; }
