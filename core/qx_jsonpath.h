/*
 * qx_jsonpath.h — JSONPath queries over jansson values (RFC 9535).
 *
 * The emulator extracts a workflow's event data from a JSON-event body with
 * JSONPath, as Qualtrics' "capture event" does; the sender's validate command
 * checks that rendered payloads satisfy those paths. Supported syntax:
 *   $                     the root
 *   .name  ['name'] ["n"] child member (name-selector, with RFC 9535 escapes)
 *   .*  [*]               wildcard
 *   [n]  [-n]             index (negative counts from the end)
 *   [a,b,...]             union of selectors
 *   [start:end:step]      array slice
 *   ..name  ..*  ..[sel]  descendant segment
 *   [?expr]               filter: @ / $ relative paths, existence tests,
 *                         comparisons == != < <= > >= with literals
 *                         (string, number, true, false, null), ! && || ( ),
 *                         and the functions length(), count(), value()
 * Anything else is refused at compile time with a message giving the
 * position; this includes match() and search() (they need I-Regexp, RFC 9485)
 * and filters, parentheses and calls nested more than 64 deep.
 * Results follow RFC 9535 (comparisons, Nothing == Nothing, deep equality);
 * where it leaves object member order open, members come in the order
 * jansson keeps them (insertion order), so results are deterministic.
 */
#ifndef QX_JSONPATH_H
#define QX_JSONPATH_H

#include <jansson.h>
#include <stdbool.h>

#include "qx_error.h"

typedef struct qx_jsonpath qx_jsonpath;

/* Compiles expr. Returns a new path (owned: free with qx_jsonpath_free), or
 * NULL with err naming the expression, the problem and its 0-based character
 * (not byte) position, e.g.
 *   jsonpath "$.a[": unexpected end of expression at position 4 */
QX_MUST_CHECK qx_jsonpath *qx_jsonpath_compile(const char *expr, qx_error *err);

/* Frees p; NULL is a no-op. */
void qx_jsonpath_free(qx_jsonpath *p);

/* The expression text p was compiled from. Borrowed. */
const char *qx_jsonpath_text(const qx_jsonpath *p);

/* True when p can select at most one node (RFC 9535 "singular query":
 * only name and index selectors, no descendants, wildcards, slices,
 * unions or filters). */
bool qx_jsonpath_is_singular(const qx_jsonpath *p);

/* Evaluates p against root. Returns a new JSON array (owned) of the selected
 * nodes in document order (RFC 9535 nodelist order); an empty array when
 * nothing matches (or root is NULL). NULL when memory runs out, or when the
 * evaluation would take more than about 4 million steps: only pathological
 * queries get there (nested descendant filters, [0,0][0,0]... doubling). */
QX_MUST_CHECK json_t *qx_jsonpath_query(const qx_jsonpath *p, json_t *root);

/* Event-data semantics: for a singular path, the selected value or JSON null
 * when nothing matches; for any other path, the array of selected values
 * (null when the array would be empty). Returns a new reference; NULL only
 * when qx_jsonpath_query would return NULL. */
QX_MUST_CHECK json_t *qx_jsonpath_extract(const qx_jsonpath *p, json_t *root);

#endif
