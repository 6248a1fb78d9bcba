/*
 * csv: a strict reader for delimiter-separated files (RFC 4180 and its common variants).
 *
 * One reader serves every file format practitioners bring: Pol.is exports, Sortition
 * Foundation pools, survey responses and census margins (comma), pabulib files
 * (semicolon), directory imports. It accepts CRLF or LF line ends, a missing final
 * newline, a UTF-8 byte-order mark, and double-quoted fields with "" escapes and
 * embedded separators or newlines. It rejects, with the line number, an unterminated
 * quote, text after a closing quote, invalid UTF-8 and a field over the size cap.
 *
 * Ownership: the reader owns its input copy and the current record; the pointers from
 * csv_field() are valid until the next csv_next() or csv_free(). Fields are
 * NUL-terminated.
 */
#ifndef CG_CORE_CSV_H
#define CG_CORE_CSV_H

#include <stddef.h>

typedef struct csv_reader csv_reader;

enum { CSV_MAX_FIELD = 1 << 20, CSV_MAX_FIELDS = 1 << 16 };

/* Opens path for reading with separator sep. On failure returns NULL and writes a
 * message naming the file into err. */
csv_reader *csv_open_file(const char *path, char sep, char *err, size_t errlen);
/* Reads from a copy of data[0..len). Never fails. */
csv_reader *csv_open_mem(const char *data, size_t len, char sep);
void csv_free(csv_reader *r);

/* Reads the next record. Returns 1 when a record was read, 0 at end of input, -1 on a
 * malformed record (csv_error() says why and where; reading cannot continue). A blank
 * line is returned as a record with one empty field; csv_blank() tells. */
int csv_next(csv_reader *r);
size_t csv_nfields(const csv_reader *r);
/* Field i of the current record ("" when i is out of range). */
const char *csv_field(const csv_reader *r, size_t i);
size_t csv_field_len(const csv_reader *r, size_t i);
/* True when the current record is an empty line. */
int csv_blank(const csv_reader *r);
/* 1-based line on which the current record starts. */
long csv_line(const csv_reader *r);
/* The message for the last -1 from csv_next, e.g. "line 12: unterminated quoted field". */
const char *csv_error(const csv_reader *r);
/* The name given at open (the path, or "<memory>"). */
const char *csv_name(const csv_reader *r);

#endif
