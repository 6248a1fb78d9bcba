/*
 * svg: small writer for accessible inline SVG (charts and diagrams in pages).
 *
 * Every picture gets role="img", a <title> and a <desc> wired up with aria-labelledby,
 * and every string written (titles, labels, class names) is escaped, so a ward called
 * "<script>" is drawn as text. Styling is by class name (the site's CSS), because the
 * Content-Security-Policy forbids inline styles; no colours are needed to read a chart,
 * since values are always written as text too.
 *
 * All functions append to a capped buf and return BUF_OK (0) or BUF_TOO_BIG (the
 * picture is then incomplete: discard the buffer). Coordinates are user units of the
 * viewBox; numbers are written with at most 2 decimals, non-finite numbers as 0. cls
 * may be NULL (no class attribute). The result is trusted HTML (tv_set_html).
 */
#ifndef CG_WEB_SVG_H
#define CG_WEB_SVG_H

#include <stddef.h>

#include "core/buf.h"

/* Opens <svg> with viewBox 0 0 width height. id must be unique within the page (it
 * prefixes the ids of <title> and <desc>); title is required, desc may be NULL. */
int svg_begin(buf *b, const char *id, double width, double height, const char *title,
              const char *desc);
int svg_end(buf *b);

int svg_rect(buf *b, double x, double y, double w, double h, const char *cls);
int svg_circle(buf *b, double cx, double cy, double r, const char *cls);
int svg_line(buf *b, double x1, double y1, double x2, double y2, const char *cls);
/* anchor: "start", "middle" or "end" (NULL = start). */
int svg_text(buf *b, double x, double y, const char *anchor, const char *cls, const char *text);
/* n points (xs[i], ys[i]); n 0 writes nothing. */
int svg_polyline(buf *b, const double *xs, const double *ys, size_t n, const char *cls);
/* <g>, optionally labelled for assistive technology (label NULL = none). */
int svg_group_begin(buf *b, const char *cls, const char *label);
int svg_group_end(buf *b);

/* A complete horizontal bar chart: one row per item with its label on the left, a bar
 * scaled to the largest value, and the value (with unit, e.g. "%" or " votes"; NULL =
 * none) written after the bar. Negative values draw no bar but still show their value.
 * The <desc> lists every label and value, so the chart reads without sight. Classes:
 * cg-chart, cg-chart__label, cg-chart__bar, cg-chart__value. */
int svg_bar_chart(buf *b, const char *id, const char *title, const char *const *labels,
                  const double *values, size_t n, const char *unit);

#endif
