/*
 * jsonpath.c — RFC 9535 JSONPath: parsing of paths, segments and selectors,
 * and their evaluation over jansson values. Filter expressions ([?...]) live
 * in jsonpath_filter.c; the two share jsonpath_internal.h.
 *
 * Compilation is recursive descent over RFC 9535's ABNF. The expression is
 * first checked to be UTF-8, so that names and string literals can become
 * jansson strings and error positions can be counted in characters.
 *
 * Evaluation follows the RFC literally: a query is a sequence of segments,
 * each turning a nodelist into the next one. Nodes are borrowed pointers into
 * the document; only the final result takes references. Object members are
 * visited in jansson's insertion order — one of the orders RFC 9535 allows —
 * so results are deterministic and in document order. The descendant segment
 * walks the tree with an explicit stack: filters nest up to JP_MAX_NESTING
 * levels and documents up to jansson's JSON_PARSER_MAX_DEPTH, and the product
 * of the two would be too deep for the C stack.
 */
#include "qx_jsonpath.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonpath_internal.h"

/* RFC 9535 §2.1: indexes and slice bounds are I-JSON integers. */
#define JP_MAX_INT ((int64_t)9007199254740991) /* 2^53 - 1 */

/* Error messages quote at most this many bytes of the expression. */
#define JP_SHOWN_MAX 120

typedef enum { SEL_NAME, SEL_WILDCARD, SEL_INDEX, SEL_SLICE, SEL_FILTER } sel_kind;

typedef struct selector {
    sel_kind kind;
    char *name; /* SEL_NAME: decoded, may contain NULs */
    size_t name_len;
    int64_t index;            /* SEL_INDEX */
    int64_t start, end, step; /* SEL_SLICE */
    bool has_start, has_end;
    jp_expr *filter; /* SEL_FILTER */
} selector;

typedef struct segment {
    bool descendant; /* ..[sel] rather than [sel] */
    selector *sels;
    size_t n_sels;
} segment;

struct jp_query {
    bool absolute;  /* starts at $ (else @) */
    int cache_slot; /* >= 0: an absolute query inside a filter, evaluated once */
    segment *segs;
    size_t n_segs;
};

struct qx_jsonpath {
    char *text;
    jp_query *query;
    int n_cached;
};

/* ---- parser helpers ---- */

int jp_peek(const jp_parser *p, size_t ahead)
{
    if (ahead >= p->len || p->pos >= p->len - ahead)
        return -1;
    return (unsigned char)p->s[p->pos + ahead];
}

static bool is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void jp_skip_blank(jp_parser *p)
{
    while (is_blank(jp_peek(p, 0)))
        p->pos++;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* RFC 9535 name-first: ALPHA / "_" / any non-ASCII character. */
static bool is_name_first(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Characters (not bytes) before byte offset at. */
static size_t char_position(const char *s, size_t at)
{
    size_t n = 0;
    for (size_t i = 0; i < at; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The expression as it goes into a message: control characters and quotes
 * escaped, cut (at a character boundary) after JP_SHOWN_MAX bytes. */
static void show_expr(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= JP_SHOWN_MAX && (c & 0xC0) != 0x80) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, size - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

void jp_fail(jp_parser *p, size_t at, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    char msg[256];
    char shown[JP_SHOWN_MAX * 2 + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    show_expr(p->s, p->len, shown, sizeof shown);
    qx_error_set(p->err, "jsonpath \"%s\": %s at position %zu", shown, msg,
                 char_position(p->s, at));
}

void jp_fail_expected(jp_parser *p, const char *expected)
{
    int c = jp_peek(p, 0);
    if (c < 0)
        jp_fail(p, p->pos, "unexpected end of expression");
    else if (c > 0x20 && c < 0x7F)
        jp_fail(p, p->pos, "expected %s, found '%c'", expected, c);
    else if (c >= 0x80)
        jp_fail(p, p->pos, "expected %s, found '%.*s'", expected,
                (int)utf8_seq_len((const unsigned char *)p->s + p->pos, p->len - p->pos),
                p->s + p->pos);
    else
        jp_fail(p, p->pos, "expected %s, found %s", expected,
                is_blank(c) ? "blank space" : "a control character");
}

/* ---- string literals (RFC 9535 §2.3.1.1) ---- */

/* The 4 hex digits (either case) after "\u" at pos, which points at the
 * backslash; -1 if they are not there. */
static long hex4_at(const jp_parser *p)
{
    static const char digits[] = "0123456789abcdef";
    long v = 0;
    if (jp_peek(p, 1) != 'u')
        return -1;
    for (size_t i = 2; i < 6; i++) {
        int c = jp_peek(p, i);
        const char *d = c > 0 ? strchr(digits, c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c) : NULL;
        if (d == NULL)
            return -1;
        v = v * 16 + (d - digits);
    }
    return v;
}

static size_t utf8_encode(unsigned long cp, char *out)
{
    static const unsigned char lead[] = {0, 0x00, 0xC0, 0xE0, 0xF0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (size_t i = n - 1; i > 0; i--, cp >>= 6)
        out[i] = (char)(0x80 | (cp & 0x3F));
    out[0] = (char)(lead[n] | cp);
    return n;
}

/* Decodes the escape at pos (a backslash) into out; advances pos. */
static int parse_escape(jp_parser *p, int quote, char *out, size_t *o)
{
    size_t at = p->pos;
    int e = jp_peek(p, 1);
    const char *from = "bfnrt/\\", *to = "\b\f\n\r\t/\\";
    const char *hit = e > 0 ? strchr(from, e) : NULL;
    if (e < 0) {
        p->pos++;
        jp_fail(p, p->pos, "unexpected end of expression");
        return -1;
    }
    if (hit != NULL || e == quote) {
        out[(*o)++] = hit != NULL ? to[hit - from] : (char)quote;
        p->pos += 2;
        return 0;
    }
    if (e != 'u') {
        jp_fail(p, at, "invalid escape '\\%c' in string literal", e > 0x20 && e < 0x7F ? e : '?');
        return -1;
    }
    long cp = hex4_at(p);
    if (cp < 0) {
        jp_fail(p, at, "\\u needs 4 hexadecimal digits");
        return -1;
    }
    p->pos += 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        jp_fail(p, at, "unpaired surrogate \\u%04lX in string literal", (unsigned long)cp);
        return -1;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = jp_peek(p, 0) == '\\' ? hex4_at(p) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF) {
            jp_fail(p, at, "unpaired surrogate \\u%04lX in string literal", (unsigned long)cp);
            return -1;
        }
        p->pos += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    *o += utf8_encode((unsigned long)cp, out + *o);
    return 0;
}

int jp_parse_string(jp_parser *p, char **out, size_t *out_len)
{
    int quote = jp_peek(p, 0);
    assert(quote == '\'' || quote == '"');
    p->pos++;
    /* Decoding never lengthens: every escape is at least as long as its UTF-8. */
    char *buf = malloc(p->len - p->pos + 1);
    size_t o = 0;
    if (buf == NULL) {
        jp_fail(p, p->pos, "out of memory");
        return -1;
    }
    for (;;) {
        int c = jp_peek(p, 0);
        if (c < 0) {
            jp_fail(p, p->pos, "unexpected end of expression");
            goto fail;
        }
        if (c == quote) {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            jp_fail(p, p->pos, "control character in string literal (write it as an escape)");
            goto fail;
        }
        if (c == '\\') {
            if (parse_escape(p, quote, buf, &o) < 0)
                goto fail;
            continue;
        }
        buf[o++] = (char)c;
        p->pos++;
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
fail:
    free(buf);
    return -1;
}

/* ---- selectors and segments ---- */

/* RFC 9535 int: "0" / ["-"] DIGIT1 *DIGIT, within ±(2^53 - 1). */
static int parse_int(jp_parser *p, int64_t *out)
{
    size_t at = p->pos;
    bool negative = jp_peek(p, 0) == '-';
    int64_t v = 0;
    if (negative)
        p->pos++;
    if (jp_peek(p, 0) == '0') {
        p->pos++;
        if (negative || is_digit(jp_peek(p, 0))) {
            jp_fail(p, at,
                    negative ? "\"-0\" is not an integer here" : "integer with a leading zero");
            return -1;
        }
        *out = 0;
        return 0;
    }
    if (!is_digit(jp_peek(p, 0))) {
        jp_fail_expected(p, "a digit");
        return -1;
    }
    while (is_digit(jp_peek(p, 0))) {
        int d = jp_peek(p, 0) - '0';
        if (v > (JP_MAX_INT - d) / 10) {
            jp_fail(p, at, "integer out of range (at most 2^53-1 in magnitude)");
            return -1;
        }
        v = v * 10 + d;
        p->pos++;
    }
    *out = negative ? -v : v;
    return 0;
}

static bool starts_int(int c)
{
    return c == '-' || is_digit(c);
}

/* index-selector / slice-selector at pos. */
static int parse_index_or_slice(jp_parser *p, selector *sel)
{
    sel->kind = SEL_INDEX;
    if (jp_peek(p, 0) != ':') {
        if (parse_int(p, &sel->start) < 0)
            return -1;
        sel->has_start = true;
        size_t after = p->pos;
        jp_skip_blank(p);
        if (jp_peek(p, 0) != ':') {
            p->pos = after;
            sel->index = sel->start;
            return 0;
        }
    }
    sel->kind = SEL_SLICE;
    sel->step = 1;
    p->pos++; /* ':' */
    jp_skip_blank(p);
    if (starts_int(jp_peek(p, 0))) {
        if (parse_int(p, &sel->end) < 0)
            return -1;
        sel->has_end = true;
        jp_skip_blank(p);
    }
    if (jp_peek(p, 0) == ':') {
        size_t after = ++p->pos;
        jp_skip_blank(p);
        if (starts_int(jp_peek(p, 0)))
            return parse_int(p, &sel->step);
        p->pos = after;
    }
    return 0;
}

static int parse_selector(jp_parser *p, selector *sel)
{
    int c = jp_peek(p, 0);
    if (c == '\'' || c == '"') {
        sel->kind = SEL_NAME;
        return jp_parse_string(p, &sel->name, &sel->name_len);
    }
    if (c == '*') {
        sel->kind = SEL_WILDCARD;
        p->pos++;
        return 0;
    }
    if (c == '?') {
        sel->kind = SEL_FILTER;
        p->pos++;
        jp_skip_blank(p);
        sel->filter = jp_parse_filter(p);
        return sel->filter != NULL ? 0 : -1;
    }
    if (c == ':' || starts_int(c))
        return parse_index_or_slice(p, sel);
    jp_fail_expected(p, "a selector (name, *, index, slice or ?filter)");
    return -1;
}

static selector *add_selector(jp_parser *p, segment *seg)
{
    selector *grown = realloc(seg->sels, (seg->n_sels + 1) * sizeof *grown);
    if (grown == NULL) {
        jp_fail(p, p->pos, "out of memory");
        return NULL;
    }
    seg->sels = grown;
    selector *sel = &seg->sels[seg->n_sels++];
    memset(sel, 0, sizeof *sel);
    return sel;
}

/* bracketed-selection: "[" S selector *(S "," S selector) S "]" */
static int parse_bracketed(jp_parser *p, segment *seg)
{
    p->pos++; /* '[' */
    for (;;) {
        jp_skip_blank(p);
        selector *sel = add_selector(p, seg);
        if (sel == NULL || parse_selector(p, sel) < 0)
            return -1;
        jp_skip_blank(p);
        if (jp_peek(p, 0) == ']') {
            p->pos++;
            return 0;
        }
        if (jp_peek(p, 0) != ',') {
            jp_fail_expected(p, "',' or ']'");
            return -1;
        }
        p->pos++;
    }
}

/* What follows "." or "..": a member-name-shorthand or "*". */
static int parse_shorthand(jp_parser *p, segment *seg, const char *after)
{
    selector *sel = add_selector(p, seg);
    if (sel == NULL)
        return -1;
    if (jp_peek(p, 0) == '*') {
        sel->kind = SEL_WILDCARD;
        p->pos++;
        return 0;
    }
    if (!is_name_first(jp_peek(p, 0))) {
        char what[64];
        snprintf(what, sizeof what, "a member name or '*'%s after '%s'",
                 after[1] != '\0' ? " or '['" : "", after);
        jp_fail_expected(p, what);
        return -1;
    }
    size_t start = p->pos;
    while (is_name_first(jp_peek(p, 0)) || is_digit(jp_peek(p, 0)))
        p->pos++;
    sel->kind = SEL_NAME;
    sel->name_len = p->pos - start;
    sel->name = strndup(p->s + start, sel->name_len);
    if (sel->name == NULL) {
        jp_fail(p, start, "out of memory");
        return -1;
    }
    return 0;
}

static int parse_segment(jp_parser *p, segment *seg)
{
    if (jp_peek(p, 0) == '[')
        return parse_bracketed(p, seg);
    /* '.' */
    if (jp_peek(p, 1) == '.') {
        seg->descendant = true;
        p->pos += 2;
        if (jp_peek(p, 0) == '[')
            return parse_bracketed(p, seg);
        return parse_shorthand(p, seg, "..");
    }
    p->pos++;
    return parse_shorthand(p, seg, ".");
}

jp_query *jp_parse_query(jp_parser *p)
{
    jp_query *q = calloc(1, sizeof *q);
    if (q == NULL) {
        jp_fail(p, p->pos, "out of memory");
        return NULL;
    }
    q->absolute = jp_peek(p, 0) == '$';
    assert(q->absolute || jp_peek(p, 0) == '@');
    /* Inside a filter an absolute query gives the same nodes for every
     * candidate: number it so evaluation can compute it once. */
    q->cache_slot = q->absolute && p->depth > 0 ? p->n_cached++ : -1;
    p->pos++;
    for (;;) {
        size_t before = p->pos;
        jp_skip_blank(p);
        int c = jp_peek(p, 0);
        if (c != '.' && c != '[') {
            p->pos = before;
            return q;
        }
        segment *grown = realloc(q->segs, (q->n_segs + 1) * sizeof *grown);
        if (grown == NULL) {
            jp_fail(p, p->pos, "out of memory");
            goto fail;
        }
        q->segs = grown;
        segment *seg = &q->segs[q->n_segs++];
        memset(seg, 0, sizeof *seg);
        if (parse_segment(p, seg) < 0)
            goto fail;
    }
fail:
    jp_query_free(q);
    return NULL;
}

void jp_query_free(jp_query *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->n_segs; i++) {
        for (size_t j = 0; j < q->segs[i].n_sels; j++) {
            free(q->segs[i].sels[j].name);
            jp_expr_free(q->segs[i].sels[j].filter);
        }
        free(q->segs[i].sels);
    }
    free(q->segs);
    free(q);
}

bool jp_query_is_singular(const jp_query *q)
{
    for (size_t i = 0; i < q->n_segs; i++) {
        const segment *seg = &q->segs[i];
        if (seg->descendant || seg->n_sels != 1 ||
            (seg->sels[0].kind != SEL_NAME && seg->sels[0].kind != SEL_INDEX))
            return false;
    }
    return true;
}

/* ---- evaluation ---- */

bool jp_tick(jp_eval *ev)
{
    if (ev->failed)
        return false;
    if (++ev->steps > JP_MAX_STEPS) {
        ev->failed = true;
        return false;
    }
    return true;
}

int jp_nodes_push(jp_eval *ev, jp_nodes *l, json_t *v)
{
    if (!jp_tick(ev))
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap != 0 ? l->cap * 2 : 8;
        json_t **grown = realloc(l->v, cap * sizeof *grown);
        if (grown == NULL) {
            ev->failed = true;
            return -1;
        }
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

void jp_nodes_clear(jp_nodes *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* RFC 9535 §2.3.3.2: a negative index counts from the end. */
static json_t *array_at(const json_t *a, int64_t i)
{
    int64_t n = (int64_t)json_array_size(a);
    if (i < 0)
        i += n;
    return i >= 0 && i < n ? json_array_get(a, (size_t)i) : NULL;
}

/* RFC 9535 §2.3.4.2.2: Normalize and Bounds, then step through. */
static void select_slice(jp_eval *ev, const selector *sel, json_t *a, jp_nodes *out)
{
    int64_t len = (int64_t)json_array_size(a), step = sel->step, lower, upper;
    if (step == 0)
        return;
    int64_t start = sel->has_start ? sel->start : step > 0 ? 0 : len - 1;
    int64_t end = sel->has_end ? sel->end : step > 0 ? len : -len - 1;
    start = start >= 0 ? start : len + start;
    end = end >= 0 ? end : len + end;
    if (step > 0) {
        lower = start < 0 ? 0 : start > len ? len : start;
        upper = end < 0 ? 0 : end > len ? len : end;
        for (int64_t i = lower; i < upper && !ev->failed; i += step)
            jp_nodes_push(ev, out, json_array_get(a, (size_t)i));
    } else {
        upper = start < -1 ? -1 : start > len - 1 ? len - 1 : start;
        lower = end < -1 ? -1 : end > len - 1 ? len - 1 : end;
        for (int64_t i = upper; lower < i && !ev->failed; i += step)
            jp_nodes_push(ev, out, json_array_get(a, (size_t)i));
    }
}

/* The children of v in order, array elements or member values: start with
 * *i = 0; NULL when there are no more (or v is not a container). */
static json_t *next_child(json_t *v, size_t *i, void **iter)
{
    if (json_is_array(v))
        return json_array_get(v, (*i)++);
    if (!json_is_object(v))
        return NULL;
    *iter = *i == 0 ? json_object_iter(v) : json_object_iter_next(v, *iter);
    (*i)++;
    return *iter != NULL ? json_object_iter_value(*iter) : NULL;
}

/* Appends the children of v that sel selects. */
static void select_children(jp_eval *ev, const selector *sel, json_t *v, jp_nodes *out)
{
    size_t i = 0;
    void *iter = NULL;
    json_t *child;
    switch (sel->kind) {
    case SEL_NAME:
        child = json_is_object(v) ? json_object_getn(v, sel->name, sel->name_len) : NULL;
        if (child != NULL)
            jp_nodes_push(ev, out, child);
        break;
    case SEL_INDEX:
        child = json_is_array(v) ? array_at(v, sel->index) : NULL;
        if (child != NULL)
            jp_nodes_push(ev, out, child);
        break;
    case SEL_SLICE:
        if (json_is_array(v))
            select_slice(ev, sel, v, out);
        break;
    case SEL_WILDCARD:
    case SEL_FILTER:
        while (!ev->failed && (child = next_child(v, &i, &iter)) != NULL)
            if (sel->kind == SEL_WILDCARD ||
                (jp_tick(ev) && jp_filter_test(ev, sel->filter, child)))
                jp_nodes_push(ev, out, child);
        break;
    }
}

static void apply_selectors(jp_eval *ev, const segment *seg, json_t *v, jp_nodes *out)
{
    for (size_t i = 0; i < seg->n_sels && !ev->failed; i++)
        select_children(ev, &seg->sels[i], v, out);
}

typedef struct walk_frame {
    json_t *v;
    size_t i; /* next_child() state */
    void *iter;
} walk_frame;

/* RFC 9535 §2.5.2.2: the selectors applied to v and each of its descendants,
 * in pre-order (a node before its children). */
static void apply_descendant(jp_eval *ev, const segment *seg, json_t *v, jp_nodes *out)
{
    walk_frame *stack = NULL;
    size_t n = 0, cap = 0;
    apply_selectors(ev, seg, v, out);
    json_t *child = v;
    while (!ev->failed) {
        if ((json_is_array(child) && json_array_size(child) > 0) ||
            (json_is_object(child) && json_object_size(child) > 0)) {
            if (n == cap) {
                cap = cap != 0 ? cap * 2 : 16;
                walk_frame *grown = realloc(stack, cap * sizeof *grown);
                if (grown == NULL) {
                    ev->failed = true;
                    break;
                }
                stack = grown;
            }
            stack[n++] = (walk_frame){.v = child};
        }
        /* The next child of the innermost container that has one left. */
        child = NULL;
        while (n > 0 &&
               (child = next_child(stack[n - 1].v, &stack[n - 1].i, &stack[n - 1].iter)) == NULL)
            n--;
        if (child == NULL || !jp_tick(ev))
            break;
        apply_selectors(ev, seg, child, out);
    }
    free(stack);
}

/* The nodelist q selects, built from scratch into *out. */
static void eval_segments(jp_eval *ev, const jp_query *q, json_t *current, jp_nodes *out)
{
    jp_nodes cur = {0}, next = {0};
    if (jp_nodes_push(ev, &cur, q->absolute ? ev->root : current) < 0)
        goto out;
    for (size_t s = 0; s < q->n_segs && !ev->failed; s++) {
        const segment *seg = &q->segs[s];
        for (size_t i = 0; i < cur.n && !ev->failed; i++) {
            if (seg->descendant)
                apply_descendant(ev, seg, cur.v[i], &next);
            else
                apply_selectors(ev, seg, cur.v[i], &next);
        }
        jp_nodes_clear(&cur);
        cur = next;
        memset(&next, 0, sizeof next);
    }
out:
    jp_nodes_clear(&next);
    *out = cur;
}

const jp_nodes *jp_query_nodes(jp_eval *ev, const jp_query *q, json_t *current, jp_nodes *scratch)
{
    if (q->cache_slot < 0 || ev->cache == NULL) {
        eval_segments(ev, q, current, scratch);
        return scratch;
    }
    size_t slot = (size_t)q->cache_slot;
    if (!ev->cached[slot]) {
        eval_segments(ev, q, current, &ev->cache[slot]);
        ev->cached[slot] = true;
    }
    return &ev->cache[slot];
}

json_t *jp_singular_value(const jp_query *q, json_t *root, json_t *current)
{
    json_t *v = q->absolute ? root : current;
    for (size_t i = 0; i < q->n_segs && v != NULL; i++) {
        const selector *sel = &q->segs[i].sels[0];
        if (sel->kind == SEL_NAME)
            v = json_is_object(v) ? json_object_getn(v, sel->name, sel->name_len) : NULL;
        else
            v = json_is_array(v) ? array_at(v, sel->index) : NULL;
    }
    return v;
}

/* ---- public API ---- */

qx_jsonpath *qx_jsonpath_compile(const char *expr, qx_error *err)
{
    if (expr == NULL) {
        qx_error_set(err, "jsonpath: no expression");
        return NULL;
    }
    jp_parser p = {.s = expr, .len = strlen(expr), .err = err};
    qx_jsonpath *path = NULL;
    jp_query *q = NULL;
    for (size_t i = 0; i < p.len;) {
        size_t n = utf8_seq_len((const unsigned char *)expr + i, p.len - i);
        if (n == 0) {
            jp_fail(&p, i, "invalid UTF-8");
            return NULL;
        }
        i += n;
    }
    if (jp_peek(&p, 0) != '$') {
        jp_fail_expected(&p, "'$'");
        return NULL;
    }
    q = jp_parse_query(&p);
    if (q == NULL)
        goto fail;
    if (p.pos != p.len) {
        jp_fail_expected(&p, "'.', '[' or the end of the expression");
        goto fail;
    }
    path = calloc(1, sizeof *path);
    if (path == NULL || (path->text = strdup(expr)) == NULL) {
        jp_fail(&p, 0, "out of memory");
        goto fail;
    }
    path->query = q;
    path->n_cached = p.n_cached;
    return path;
fail:
    free(path);
    jp_query_free(q);
    return NULL;
}

void qx_jsonpath_free(qx_jsonpath *p)
{
    if (p == NULL)
        return;
    jp_query_free(p->query);
    free(p->text);
    free(p);
}

const char *qx_jsonpath_text(const qx_jsonpath *p)
{
    return p != NULL ? p->text : "";
}

bool qx_jsonpath_is_singular(const qx_jsonpath *p)
{
    return p != NULL && jp_query_is_singular(p->query);
}

json_t *qx_jsonpath_query(const qx_jsonpath *p, json_t *root)
{
    json_t *result = json_array();
    jp_eval ev = {.root = root};
    jp_nodes nodes = {0};
    if (result == NULL || p == NULL || root == NULL)
        return result;
    if (p->n_cached > 0) {
        ev.cache = calloc((size_t)p->n_cached, sizeof *ev.cache);
        ev.cached = calloc((size_t)p->n_cached, sizeof *ev.cached);
        ev.failed = ev.cache == NULL || ev.cached == NULL;
    }
    if (!ev.failed)
        eval_segments(&ev, p->query, root, &nodes);
    for (size_t i = 0; i < nodes.n && !ev.failed; i++)
        ev.failed = json_array_append(result, nodes.v[i]) != 0;
    if (ev.failed) {
        json_decref(result);
        result = NULL;
    }
    jp_nodes_clear(&nodes);
    for (int i = 0; ev.cache != NULL && i < p->n_cached; i++)
        jp_nodes_clear(&ev.cache[i]);
    free(ev.cache);
    free(ev.cached);
    return result;
}

json_t *qx_jsonpath_extract(const qx_jsonpath *p, json_t *root)
{
    if (p != NULL && root != NULL && jp_query_is_singular(p->query)) {
        json_t *v = jp_singular_value(p->query, root, root);
        return v != NULL ? json_incref(v) : json_null();
    }
    json_t *all = qx_jsonpath_query(p, root);
    if (all != NULL && json_array_size(all) == 0) {
        json_decref(all);
        return json_null();
    }
    return all;
}
