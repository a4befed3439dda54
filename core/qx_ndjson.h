/*
 * qx_ndjson.h — reading newline-delimited JSON as a stream.
 *
 * Each line is parsed as soon as it has arrived (a pipe fed by `tail -f` is
 * processed line by line, never only at EOF). Blank lines are skipped; a
 * malformed line is reported with its number and the stream goes on.
 */
#ifndef QX_NDJSON_H
#define QX_NDJSON_H

#include <jansson.h>
#include <stdio.h>

#include "qx_error.h"

typedef struct qx_ndjson_reader qx_ndjson_reader;

/* Reads from f (not owned, not closed). Returns a new reader (owned), NULL
 * when memory runs out. */
QX_MUST_CHECK qx_ndjson_reader *qx_ndjson_open(FILE *f);

/* Frees r; NULL is a no-op. */
void qx_ndjson_close(qx_ndjson_reader *r);

/* Reads the next non-blank line.
 * Returns 1 with *out a new reference (owned) to the parsed value,
 *         0 at end of input,
 *        -1 when the line is not valid JSON (err: "line N: ..."; *out NULL;
 *           the next call reads the line after it),
 *        -2 on a read error (err set).
 * *line_no (may be NULL) receives the 1-based number of the line read. */
QX_MUST_CHECK int qx_ndjson_next(qx_ndjson_reader *r, json_t **out, size_t *line_no, qx_error *err);

/* Appends value to f as one compact JSON line. Returns 0, or -1 on error. */
QX_MUST_CHECK int qx_ndjson_write(FILE *f, const json_t *value);

#endif
