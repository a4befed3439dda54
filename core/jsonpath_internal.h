/*
 * jsonpath_internal.h — what jsonpath.c (paths, segments, selectors) and
 * jsonpath_filter.c (the expressions of filter selectors, [?...]) share.
 * Not part of the core API: only those two files include it.
 *
 * The parser is a recursive-descent reader of RFC 9535's ABNF over a UTF-8
 * string whose length is known; every read goes through jp_peek(), which
 * answers -1 past the end, so no input can make it read out of bounds.
 * Evaluation works on nodelists of borrowed values; jp_eval counts steps so
 * that no query, however nested, can run for long or allocate without bound.
 */
#ifndef QX_JSONPATH_INTERNAL_H
#define QX_JSONPATH_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "qx_error.h"

/* RFC 9535 leaves nesting unbounded; we stop at 64 levels of filters,
 * parentheses and function calls so recursion depth is bounded. */
#define JP_MAX_NESTING 64

/* One query evaluation may take at most this many steps (nodes visited,
 * selected or tested); beyond it the evaluation fails as if out of memory.
 * A 100 KB payload has well under 100,000 nodes, so only pathological
 * queries (nested descendant filters, [*,*][*,*]... doubling) reach it. */
#define JP_MAX_STEPS (1u << 22)

typedef struct jp_query jp_query; /* $ or @ followed by segments */
typedef struct jp_expr jp_expr;   /* a filter's logical expression */

typedef struct jp_parser {
    const char *s;  /* the whole expression */
    size_t len;     /* its length in bytes */
    size_t pos;     /* the next byte to read */
    unsigned depth; /* current nesting of filters, parentheses, calls */
    int n_cached;   /* absolute queries inside filters, see jp_query */
    bool failed;    /* an error was reported; unwind */
    qx_error *err;
} jp_parser;

/* The byte at pos + ahead, or -1 past the end. */
int jp_peek(const jp_parser *p, size_t ahead);

/* Skips RFC 9535 blank space (space, tab, LF, CR). */
void jp_skip_blank(jp_parser *p);

/* Reports an error at byte offset at (shown as a character position); only
 * the first error of a compilation is kept. */
void jp_fail(jp_parser *p, size_t at, const char *fmt, ...) QX_PRINTF(3, 4);

/* Reports what was found at pos when `expected` was wanted ("unexpected end
 * of expression" at the end). */
void jp_fail_expected(jp_parser *p, const char *expected);

/* Parses a string literal at pos ('...' or "..."), decoding RFC 9535
 * escapes. Returns 0 and a new malloc'd buffer (NUL-terminated, may contain
 * NULs from \u0000) with its length, or -1 after jp_fail. */
int jp_parse_string(jp_parser *p, char **out, size_t *out_len);

/* Parses a query starting at pos with '$' or '@' and its segments; stops
 * before anything that cannot start a segment. New query, or NULL. */
jp_query *jp_parse_query(jp_parser *p);

void jp_query_free(jp_query *q);

/* True when q is an RFC 9535 singular query (names and indexes only). */
bool jp_query_is_singular(const jp_query *q);

/* ---- evaluation ---- */

typedef struct jp_nodes {
    json_t **v; /* borrowed values */
    size_t n;
    size_t cap;
} jp_nodes;

typedef struct jp_eval {
    json_t *root;
    size_t steps;
    bool failed;     /* out of memory or JP_MAX_STEPS: results are void */
    jp_nodes *cache; /* [n_cached]: nodelists of absolute filter queries */
    bool *cached;    /* [n_cached]: cache[i] is filled */
} jp_eval;

/* Counts one step; false (and ev->failed) once the budget is spent. */
bool jp_tick(jp_eval *ev);

/* Appends v; -1 (and ev->failed) when memory or the step budget runs out. */
int jp_nodes_push(jp_eval *ev, jp_nodes *l, json_t *v);

void jp_nodes_clear(jp_nodes *l);

/* Evaluates q with @ = current. Returns the nodelist: *scratch, filled (the
 * caller clears it), or a cached list for absolute queries, which depend on
 * the root only (borrowed, valid for the whole evaluation). */
const jp_nodes *jp_query_nodes(jp_eval *ev, const jp_query *q, json_t *current, jp_nodes *scratch);

/* The one node a singular query selects, or NULL (Nothing). Borrowed. */
json_t *jp_singular_value(const jp_query *q, json_t *root, json_t *current);

/* ---- filters (jsonpath_filter.c) ---- */

/* Parses a filter's logical expression at pos (after "?" and blanks). New
 * expression, or NULL after jp_fail. */
jp_expr *jp_parse_filter(jp_parser *p);

void jp_expr_free(jp_expr *e);

/* Whether current passes e. False once ev->failed. */
bool jp_filter_test(jp_eval *ev, const jp_expr *e, json_t *current);

#endif
