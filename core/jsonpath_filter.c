/*
 * jsonpath_filter.c — RFC 9535 filter selectors: [?logical-expr].
 *
 * Grammar (RFC 9535 §2.3.5.1), lowest precedence first:
 *   or     = and *("||" and)
 *   and    = basic *("&&" basic)
 *   basic  = ["!"] "(" or ")" / ["!"] test / comparable op comparable
 *   test   = query (existence: does it select anything?)
 *   comparable = literal / singular query / function returning a value
 * RFC 9535 allows "!" only before a test or a parenthesis, so "!@.a == 1"
 * is an error, and a literal or a value-returning function on its own is not
 * a test. Types are checked while parsing (§2.4.3 "well-typedness"), so a
 * compiled filter cannot fail at evaluation.
 *
 * Values under comparison are "Nothing" (NULL) when a query selects nothing
 * or a function has no result; §2.3.5.2.2 then gives Nothing == Nothing, and
 * Nothing unequal to every value. Of the RFC's function extensions, length(),
 * count() and value() are implemented; match() and search() need I-Regexp
 * (RFC 9485) and are refused at compile time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonpath_internal.h"

typedef enum { EXPR_OR, EXPR_AND, EXPR_NOT, EXPR_EXISTS, EXPR_COMPARE } expr_kind;
typedef enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE } cmp_op;
typedef enum { OPERAND_LITERAL, OPERAND_QUERY, OPERAND_FUNCTION } operand_kind;
typedef enum { FN_LENGTH, FN_COUNT, FN_VALUE } function_id;

typedef struct operand {
    operand_kind kind;
    size_t pos;          /* where it starts, for messages */
    json_t *literal;     /* OPERAND_LITERAL */
    jp_query *query;     /* OPERAND_QUERY */
    function_id fn;      /* OPERAND_FUNCTION ... */
    struct operand *arg; /* ... and its one argument */
} operand;

struct jp_expr {
    expr_kind kind;
    jp_expr *lhs, *rhs; /* OR, AND; NOT uses lhs */
    jp_query *query;    /* EXISTS */
    cmp_op op;          /* COMPARE */
    operand a, b;
};

static const struct {
    const char *name;
    function_id id;
    bool takes_nodes; /* NodesType parameter (a query), else ValueType */
} functions[] = {
    {"length", FN_LENGTH, false},
    {"count", FN_COUNT, true},
    {"value", FN_VALUE, true},
};

static void operand_clear(operand *o)
{
    json_decref(o->literal);
    jp_query_free(o->query);
    if (o->arg != NULL) {
        operand_clear(o->arg);
        free(o->arg);
    }
    memset(o, 0, sizeof *o);
}

void jp_expr_free(jp_expr *e)
{
    if (e == NULL)
        return;
    jp_expr_free(e->lhs);
    jp_expr_free(e->rhs);
    jp_query_free(e->query);
    operand_clear(&e->a);
    operand_clear(&e->b);
    free(e);
}

static jp_expr *new_expr(jp_parser *p, expr_kind kind, jp_expr *lhs, jp_expr *rhs)
{
    jp_expr *e = calloc(1, sizeof *e);
    if (e == NULL) {
        jp_fail(p, p->pos, "out of memory");
        jp_expr_free(lhs);
        jp_expr_free(rhs);
        return NULL;
    }
    e->kind = kind;
    e->lhs = lhs;
    e->rhs = rhs;
    return e;
}

static bool enter(jp_parser *p)
{
    if (++p->depth > JP_MAX_NESTING) {
        jp_fail(p, p->pos, "filters, parentheses and calls nested more than %d deep",
                JP_MAX_NESTING);
        return false;
    }
    return true;
}

/* ---- literals ---- */

/* RFC 9535 number: (int / "-0") [ "." 1*DIGIT ] [ ("e"/"E") ["-"/"+"] 1*DIGIT ],
 * which is JSON's number grammar, so jansson converts it. */
static int parse_number(jp_parser *p, operand *o)
{
    size_t start = p->pos;
    char buf[64];
    if (jp_peek(p, 0) == '-')
        p->pos++;
    if (jp_peek(p, 0) == '0') {
        p->pos++;
        if (jp_peek(p, 0) >= '0' && jp_peek(p, 0) <= '9') {
            jp_fail(p, start, "number with a leading zero");
            return -1;
        }
    } else if (jp_peek(p, 0) >= '1' && jp_peek(p, 0) <= '9') {
        while (jp_peek(p, 0) >= '0' && jp_peek(p, 0) <= '9')
            p->pos++;
    } else {
        jp_fail_expected(p, "a digit");
        return -1;
    }
    if (jp_peek(p, 0) == '.') {
        p->pos++;
        if (!(jp_peek(p, 0) >= '0' && jp_peek(p, 0) <= '9')) {
            jp_fail_expected(p, "a digit after '.'");
            return -1;
        }
        while (jp_peek(p, 0) >= '0' && jp_peek(p, 0) <= '9')
            p->pos++;
    }
    if (jp_peek(p, 0) == 'e' || jp_peek(p, 0) == 'E') {
        p->pos++;
        if (jp_peek(p, 0) == '+' || jp_peek(p, 0) == '-')
            p->pos++;
        if (!(jp_peek(p, 0) >= '0' && jp_peek(p, 0) <= '9')) {
            jp_fail_expected(p, "a digit in the exponent");
            return -1;
        }
        while (jp_peek(p, 0) >= '0' && jp_peek(p, 0) <= '9')
            p->pos++;
    }
    /* Integers too big for json_int_t become reals, as JSON numbers may. */
    size_t len = p->pos - start;
    if (len < sizeof buf) {
        memcpy(buf, p->s + start, len);
        o->literal = json_loadb(buf, len, JSON_DECODE_ANY, NULL);
    }
    if (o->literal == NULL)
        o->literal = json_loadb(p->s + start, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    if (o->literal == NULL) {
        jp_fail(p, start, "number out of range");
        return -1;
    }
    return 0;
}

static size_t scan_identifier(const jp_parser *p)
{
    size_t n = 0;
    int c;
    while ((c = jp_peek(p, n)) >= 0 &&
           ((c >= 'a' && c <= 'z') || (n > 0 && ((c >= '0' && c <= '9') || c == '_'))))
        n++;
    return n;
}

static int parse_operand(jp_parser *p, operand *o);

/* function-expr: name "(" S [argument] S ")" with name at pos. */
static int parse_function(jp_parser *p, operand *o, size_t name_len)
{
    const char *name = p->s + p->pos;
    size_t i, n_functions = sizeof functions / sizeof functions[0];
    for (i = 0; i < n_functions; i++)
        if (strlen(functions[i].name) == name_len && memcmp(functions[i].name, name, name_len) == 0)
            break;
    if (i == n_functions) {
        bool known = (name_len == 5 && memcmp(name, "match", 5) == 0) ||
                     (name_len == 6 && memcmp(name, "search", 6) == 0);
        jp_fail(p, p->pos, "function %.*s() is %s", (int)name_len, name,
                known ? "not supported (only length, count and value are)" : "unknown");
        return -1;
    }
    o->kind = OPERAND_FUNCTION;
    o->fn = functions[i].id;
    p->pos += name_len + 1;
    if (!enter(p))
        return -1;
    jp_skip_blank(p);
    o->arg = calloc(1, sizeof *o->arg);
    if (o->arg == NULL) {
        jp_fail(p, p->pos, "out of memory");
        return -1;
    }
    if (parse_operand(p, o->arg) < 0)
        return -1;
    /* RFC 9535 §2.4.3: a NodesType parameter takes a query; a ValueType one
     * a literal, a singular query or a function returning a value. */
    if (functions[i].takes_nodes && o->arg->kind != OPERAND_QUERY) {
        jp_fail(p, o->arg->pos, "%s() takes a query", functions[i].name);
        return -1;
    }
    if (!functions[i].takes_nodes && o->arg->kind == OPERAND_QUERY &&
        !jp_query_is_singular(o->arg->query)) {
        jp_fail(p, o->arg->pos, "%s() takes a value: the query must be singular",
                functions[i].name);
        return -1;
    }
    jp_skip_blank(p);
    if (jp_peek(p, 0) != ')') {
        jp_fail_expected(p, jp_peek(p, 0) == ',' ? "')' (one argument only)" : "')'");
        return -1;
    }
    p->pos++;
    p->depth--;
    return 0;
}

/* A query, a literal or a function call. */
static int parse_operand(jp_parser *p, operand *o)
{
    int c = jp_peek(p, 0);
    o->pos = p->pos;
    if (c == '@' || c == '$') {
        o->kind = OPERAND_QUERY;
        o->query = jp_parse_query(p);
        return o->query != NULL ? 0 : -1;
    }
    o->kind = OPERAND_LITERAL;
    if (c == '\'' || c == '"') {
        char *s;
        size_t len;
        if (jp_parse_string(p, &s, &len) < 0)
            return -1;
        o->literal = json_stringn(s, len);
        free(s);
        if (o->literal == NULL)
            jp_fail(p, o->pos, "out of memory");
        return o->literal != NULL ? 0 : -1;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p, o);
    size_t n = scan_identifier(p);
    if (n > 0 && jp_peek(p, n) == '(')
        return parse_function(p, o, n);
    if (n == 4 && memcmp(p->s + p->pos, "true", 4) == 0)
        o->literal = json_true();
    else if (n == 5 && memcmp(p->s + p->pos, "false", 5) == 0)
        o->literal = json_false();
    else if (n == 4 && memcmp(p->s + p->pos, "null", 4) == 0)
        o->literal = json_null();
    else {
        jp_fail_expected(p, "a query (@ or $), a literal, a function or '('");
        return -1;
    }
    p->pos += n;
    return 0;
}

static bool parse_cmp_op(jp_parser *p, cmp_op *op)
{
    int c = jp_peek(p, 0), d = jp_peek(p, 1);
    if ((c == '=' || c == '!') && d == '=')
        *op = c == '=' ? CMP_EQ : CMP_NE;
    else if (c == '<' || c == '>')
        *op = c == '<' ? (d == '=' ? CMP_LE : CMP_LT) : (d == '=' ? CMP_GE : CMP_GT);
    else
        return false;
    p->pos += d == '=' ? 2 : 1;
    return true;
}

/* A side of a comparison must be a value: no non-singular query. */
static bool is_comparable(jp_parser *p, const operand *o)
{
    if (o->kind == OPERAND_QUERY && !jp_query_is_singular(o->query)) {
        jp_fail(p, o->pos, "a comparison needs a singular query (names and indexes only)");
        return false;
    }
    return true;
}

static jp_expr *parse_or(jp_parser *p);

static jp_expr *parse_basic(jp_parser *p)
{
    bool negated = jp_peek(p, 0) == '!';
    jp_expr *e = NULL;
    if (negated) {
        p->pos++;
        jp_skip_blank(p);
    }
    if (jp_peek(p, 0) == '(') {
        p->pos++;
        jp_skip_blank(p);
        e = parse_or(p);
        if (e == NULL)
            return NULL;
        jp_skip_blank(p);
        if (jp_peek(p, 0) != ')') {
            jp_fail_expected(p, "')'");
            goto fail;
        }
        p->pos++;
        return negated ? new_expr(p, EXPR_NOT, e, NULL) : e;
    }
    e = new_expr(p, EXPR_COMPARE, NULL, NULL);
    if (e == NULL || parse_operand(p, &e->a) < 0)
        goto fail;
    size_t after = p->pos;
    jp_skip_blank(p);
    size_t op_pos = p->pos;
    if (parse_cmp_op(p, &e->op)) {
        if (negated) {
            jp_fail(p, op_pos,
                    "'!' applies to a test or a parenthesised expression: "
                    "write !(a == b) or a != b");
            goto fail;
        }
        jp_skip_blank(p);
        if (!is_comparable(p, &e->a) || parse_operand(p, &e->b) < 0 || !is_comparable(p, &e->b))
            goto fail;
        return e;
    }
    p->pos = after;
    if (e->a.kind == OPERAND_LITERAL) {
        jp_fail(p, e->a.pos, "a literal is not a test: compare it with something");
        goto fail;
    }
    if (e->a.kind == OPERAND_FUNCTION) {
        jp_fail(p, e->a.pos, "a function returning a value is not a test: compare it");
        goto fail;
    }
    e->kind = EXPR_EXISTS;
    e->query = e->a.query;
    e->a.query = NULL;
    return negated ? new_expr(p, EXPR_NOT, e, NULL) : e;
fail:
    jp_expr_free(e);
    return NULL;
}

/* and = basic *(S "&&" S basic); or = and *(S "||" S and) */
static jp_expr *parse_chain(jp_parser *p, char op_char)
{
    jp_expr *lhs = op_char == '|' ? parse_chain(p, '&') : parse_basic(p);
    while (lhs != NULL) {
        size_t before = p->pos;
        jp_skip_blank(p);
        if (jp_peek(p, 0) != op_char || jp_peek(p, 1) != op_char) {
            p->pos = before;
            break;
        }
        p->pos += 2;
        jp_skip_blank(p);
        jp_expr *rhs = op_char == '|' ? parse_chain(p, '&') : parse_basic(p);
        if (rhs == NULL) {
            jp_expr_free(lhs);
            return NULL;
        }
        lhs = new_expr(p, op_char == '|' ? EXPR_OR : EXPR_AND, lhs, rhs);
    }
    return lhs;
}

static jp_expr *parse_or(jp_parser *p)
{
    if (!enter(p))
        return NULL;
    jp_expr *e = parse_chain(p, '|');
    p->depth--;
    return e;
}

jp_expr *jp_parse_filter(jp_parser *p)
{
    return parse_or(p);
}

/* ---- evaluation ---- */

static int number_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    /* Mixed integer/real compares as doubles, exact up to 2^53. */
    double x = json_number_value(a), y = json_number_value(b);
    return (x > y) - (x < y);
}

/* Unicode scalar value order is UTF-8 byte order. */
static int string_cmp(const json_t *a, const json_t *b)
{
    size_t la = json_string_length(a), lb = json_string_length(b);
    int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
    return c != 0 ? c : (la > lb) - (la < lb);
}

/* RFC 9535 §2.3.5.2.2 equality: numbers by value (1 == 1.0, which
 * json_equal denies), arrays and objects deeply. Recursion depth is the
 * document's, which jansson's parser bounds (as its own json_equal does). */
static bool values_equal(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return number_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_string(a))
        return string_cmp(a, b) == 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        const char *key;
        size_t key_len;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_keylen_foreach(a, key, key_len, v)
        {
            json_t *w = json_object_getn(b, key, key_len);
            if (w == NULL || !values_equal(v, w))
                return false;
        }
        return true;
    }
    return true; /* true, false, null */
}

static bool equal_or_nothing(json_t *a, json_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return values_equal(a, b);
}

/* "<" holds only between two numbers or two strings. */
static bool less(const json_t *a, const json_t *b)
{
    if (a == NULL || b == NULL)
        return false;
    if (json_is_number(a) && json_is_number(b))
        return number_cmp(a, b) < 0;
    if (json_is_string(a) && json_is_string(b))
        return string_cmp(a, b) < 0;
    return false;
}

static bool compare(cmp_op op, json_t *a, json_t *b)
{
    switch (op) {
    case CMP_EQ:
        return equal_or_nothing(a, b);
    case CMP_NE:
        return !equal_or_nothing(a, b);
    case CMP_LT:
        return less(a, b);
    case CMP_LE:
        return less(a, b) || equal_or_nothing(a, b);
    case CMP_GT:
        return less(b, a);
    case CMP_GE:
        return less(b, a) || equal_or_nothing(a, b);
    }
    return false;
}

static size_t utf8_length(const json_t *s)
{
    const char *v = json_string_value(s);
    size_t n = 0, len = json_string_length(s);
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)v[i] & 0xC0) != 0x80;
    return n;
}

/* The value of o with @ = current: a new reference, or NULL for Nothing
 * (and for failures, which set ev->failed). */
static json_t *operand_value(jp_eval *ev, const operand *o, json_t *current)
{
    json_t *v, *result = NULL;
    jp_nodes scratch = {0};
    const jp_nodes *nodes;
    switch (o->kind) {
    case OPERAND_LITERAL:
        return json_incref(o->literal);
    case OPERAND_QUERY:
        return json_incref(jp_singular_value(o->query, ev->root, current));
    case OPERAND_FUNCTION:
        break;
    }
    if (o->fn == FN_LENGTH) {
        /* §2.4.4: characters of a string, members of an array or object. */
        json_int_t n = -1; /* Nothing for other values */
        v = operand_value(ev, o->arg, current);
        if (json_is_string(v))
            n = (json_int_t)utf8_length(v);
        else if (json_is_array(v))
            n = (json_int_t)json_array_size(v);
        else if (json_is_object(v))
            n = (json_int_t)json_object_size(v);
        if (n >= 0 && (result = json_integer(n)) == NULL)
            ev->failed = true;
        json_decref(v);
        return result;
    }
    nodes = jp_query_nodes(ev, o->arg->query, current, &scratch);
    if (o->fn == FN_COUNT) {
        result = json_integer((json_int_t)nodes->n);
        if (result == NULL)
            ev->failed = true;
    } else if (nodes->n == 1) { /* FN_VALUE, §2.4.8 */
        result = json_incref(nodes->v[0]);
    }
    jp_nodes_clear(&scratch);
    return result;
}

bool jp_filter_test(jp_eval *ev, const jp_expr *e, json_t *current)
{
    bool result = false;
    jp_nodes scratch = {0};
    json_t *a, *b;
    if (ev->failed)
        return false;
    switch (e->kind) {
    case EXPR_OR:
        return jp_filter_test(ev, e->lhs, current) || jp_filter_test(ev, e->rhs, current);
    case EXPR_AND:
        return jp_filter_test(ev, e->lhs, current) && jp_filter_test(ev, e->rhs, current);
    case EXPR_NOT:
        return !jp_filter_test(ev, e->lhs, current) && !ev->failed;
    case EXPR_EXISTS:
        if (jp_query_is_singular(e->query))
            return jp_singular_value(e->query, ev->root, current) != NULL;
        result = jp_query_nodes(ev, e->query, current, &scratch)->n > 0;
        jp_nodes_clear(&scratch);
        return result && !ev->failed;
    case EXPR_COMPARE:
        a = operand_value(ev, &e->a, current);
        b = operand_value(ev, &e->b, current);
        result = compare(e->op, a, b);
        json_decref(a);
        json_decref(b);
        return result && !ev->failed;
    }
    return false;
}
