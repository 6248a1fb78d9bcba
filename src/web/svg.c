/*
 * svg: accessible inline SVG written into a capped buffer (see svg.h).
 *
 * Only numbers formatted here and escaped strings reach the output: class names and
 * ids go through html_escape_attr, text through html_escape, so nothing a caller
 * passes can open an element or an attribute.
 */
#include "web/svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "web/escape.h"

/* Formats v with at most two decimals and no trailing zeros ("12", "0.5", "-3.25");
 * non-finite values as "0". */
static const char *num(char *dst, size_t len, double v) {
    if (!isfinite(v)) v = 0;
    snprintf(dst, len, "%.2f", v);
    char *dot = strchr(dst, '.');
    if (dot) {
        char *e = dst + strlen(dst) - 1;
        while (e > dot && *e == '0') *e-- = '\0';
        if (e == dot) *e = '\0';
    }
    if (strcmp(dst, "-0") == 0) strcpy(dst, "0");
    return dst;
}

/* Appends ` name="v"` with v numeric. */
static int attr_num(buf *b, const char *name, double v) {
    char n[64];
    return buf_printf(b, " %s=\"%s\"", name, num(n, sizeof n, v));
}

/* Appends ` name="escaped s"`, or nothing when s is NULL. */
static int attr_str(buf *b, const char *name, const char *s) {
    if (!s) return BUF_OK;
    if (buf_printf(b, " %s=\"", name) != BUF_OK || html_escape_attr(b, s) != BUF_OK)
        return BUF_TOO_BIG;
    return buf_putc(b, '"');
}

int svg_begin(buf *b, const char *id, double width, double height, const char *title,
              const char *desc) {
    char w[64], h[64];
    int rc = buf_printf(b,
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %s %s\" "
                        "width=\"%s\" height=\"%s\" role=\"img\"",
                        num(w, sizeof w, width), num(h, sizeof h, height), w, h);
    rc |= attr_str(b, "id", id);
    rc |= buf_puts(b, " aria-labelledby=\"");
    rc |= html_escape_attr(b, id);
    rc |= buf_puts(b, "-title");
    if (desc) {
        rc |= buf_putc(b, ' ');
        rc |= html_escape_attr(b, id);
        rc |= buf_puts(b, "-desc");
    }
    rc |= buf_puts(b, "\"><title id=\"");
    rc |= html_escape_attr(b, id);
    rc |= buf_puts(b, "-title\">");
    rc |= html_escape(b, title);
    rc |= buf_puts(b, "</title>");
    if (desc) {
        rc |= buf_puts(b, "<desc id=\"");
        rc |= html_escape_attr(b, id);
        rc |= buf_puts(b, "-desc\">");
        rc |= html_escape(b, desc);
        rc |= buf_puts(b, "</desc>");
    }
    return rc ? BUF_TOO_BIG : BUF_OK;
}

int svg_end(buf *b) { return buf_puts(b, "</svg>"); }

int svg_rect(buf *b, double x, double y, double w, double h, const char *cls) {
    int rc = buf_puts(b, "<rect");
    rc |= attr_num(b, "x", x);
    rc |= attr_num(b, "y", y);
    rc |= attr_num(b, "width", w < 0 ? 0 : w);
    rc |= attr_num(b, "height", h < 0 ? 0 : h);
    rc |= attr_str(b, "class", cls);
    rc |= buf_puts(b, "/>");
    return rc ? BUF_TOO_BIG : BUF_OK;
}

int svg_circle(buf *b, double cx, double cy, double r, const char *cls) {
    int rc = buf_puts(b, "<circle");
    rc |= attr_num(b, "cx", cx);
    rc |= attr_num(b, "cy", cy);
    rc |= attr_num(b, "r", r < 0 ? 0 : r);
    rc |= attr_str(b, "class", cls);
    rc |= buf_puts(b, "/>");
    return rc ? BUF_TOO_BIG : BUF_OK;
}

int svg_line(buf *b, double x1, double y1, double x2, double y2, const char *cls) {
    int rc = buf_puts(b, "<line");
    rc |= attr_num(b, "x1", x1);
    rc |= attr_num(b, "y1", y1);
    rc |= attr_num(b, "x2", x2);
    rc |= attr_num(b, "y2", y2);
    rc |= attr_str(b, "class", cls);
    rc |= buf_puts(b, "/>");
    return rc ? BUF_TOO_BIG : BUF_OK;
}

int svg_text(buf *b, double x, double y, const char *anchor, const char *cls, const char *text) {
    if (anchor && strcmp(anchor, "start") != 0 && strcmp(anchor, "middle") != 0 &&
        strcmp(anchor, "end") != 0)
        anchor = NULL;
    int rc = buf_puts(b, "<text");
    rc |= attr_num(b, "x", x);
    rc |= attr_num(b, "y", y);
    rc |= attr_str(b, "text-anchor", anchor);
    rc |= attr_str(b, "class", cls);
    rc |= buf_putc(b, '>');
    rc |= html_escape(b, text);
    rc |= buf_puts(b, "</text>");
    return rc ? BUF_TOO_BIG : BUF_OK;
}

int svg_polyline(buf *b, const double *xs, const double *ys, size_t n, const char *cls) {
    if (n == 0) return BUF_OK;
    int rc = buf_puts(b, "<polyline points=\"");
    for (size_t i = 0; i < n && !rc; i++) {
        char x[64], y[64];
        rc |= buf_printf(b, "%s%s,%s", i ? " " : "", num(x, sizeof x, xs[i]),
                         num(y, sizeof y, ys[i]));
    }
    rc |= buf_putc(b, '"');
    rc |= attr_str(b, "class", cls);
    rc |= buf_puts(b, "/>");
    return rc ? BUF_TOO_BIG : BUF_OK;
}

int svg_group_begin(buf *b, const char *cls, const char *label) {
    int rc = buf_puts(b, "<g");
    rc |= attr_str(b, "class", cls);
    if (label) {
        rc |= buf_puts(b, " role=\"group\"");
        rc |= attr_str(b, "aria-label", label);
    }
    rc |= buf_putc(b, '>');
    return rc ? BUF_TOO_BIG : BUF_OK;
}

int svg_group_end(buf *b) { return buf_puts(b, "</g>"); }

/* Layout of svg_bar_chart, in user units. */
enum {
    BAR_ROW = 28,       /* height of one row */
    BAR_THICK = 18,     /* height of a bar */
    BAR_AREA = 300,     /* width of the longest bar */
    BAR_VALUE = 110,    /* room for the value text */
    BAR_CHAR = 8,       /* assumed width of one label character */
    BAR_LABEL_MIN = 60, /* label column bounds */
    BAR_LABEL_MAX = 240,
    BAR_PAD = 8,
};

int svg_bar_chart(buf *b, const char *id, const char *title, const char *const *labels,
                  const double *values, size_t n, const char *unit) {
    const char *u = unit ? unit : "";
    double max = 0;
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        double v = isfinite(values[i]) ? values[i] : 0;
        if (v > max) max = v;
        const char *l = labels[i] ? labels[i] : "";
        size_t len = utf8_valid(l, strlen(l)) ? utf8_length(l, strlen(l)) : strlen(l);
        if (len > longest) longest = len;
    }
    double label_w = (double)longest * BAR_CHAR + BAR_PAD;
    if (label_w < BAR_LABEL_MIN) label_w = BAR_LABEL_MIN;
    if (label_w > BAR_LABEL_MAX) label_w = BAR_LABEL_MAX;
    double width = label_w + BAR_AREA + BAR_VALUE;
    double height = (double)n * BAR_ROW + BAR_PAD;

    /* The description reads the whole chart: "Adur: 12 votes; Worthing: 30 votes". */
    buf desc;
    buf_init(&desc, b->max);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char v[64];
        rc |= buf_printf(&desc, "%s%s: %s%s", i ? "; " : "", labels[i] ? labels[i] : "",
                         num(v, sizeof v, values[i]), u);
    }
    if (!rc) rc |= svg_begin(b, id, width, height, title, n ? buf_cstr(&desc) : NULL);
    buf_free(&desc);
    if (rc) return BUF_TOO_BIG;
    rc |= svg_group_begin(b, "cg-chart", NULL);
    for (size_t i = 0; i < n && !rc; i++) {
        char v[64], text[128];
        double val = isfinite(values[i]) ? values[i] : 0;
        double y = BAR_PAD / 2.0 + (double)i * BAR_ROW;
        double bw = (max > 0 && val > 0) ? val / max * BAR_AREA : 0;
        snprintf(text, sizeof text, "%s", num(v, sizeof v, values[i]));
        rc |= svg_text(b, label_w - BAR_PAD, y + BAR_THICK - 4, "end", "cg-chart__label",
                       labels[i] ? labels[i] : "");
        rc |= svg_rect(b, label_w, y, bw, BAR_THICK, "cg-chart__bar");
        /* value text, the unit escaped separately since it is caller-supplied */
        rc |= buf_puts(b, "<text");
        rc |= attr_num(b, "x", label_w + bw + BAR_PAD / 2.0);
        rc |= attr_num(b, "y", y + BAR_THICK - 4);
        rc |= buf_puts(b, " class=\"cg-chart__value\">");
        rc |= buf_puts(b, text);
        rc |= html_escape(b, u);
        rc |= buf_puts(b, "</text>");
    }
    rc |= svg_group_end(b);
    rc |= svg_end(b);
    return rc ? BUF_TOO_BIG : BUF_OK;
}
