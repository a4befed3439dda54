/*
 * json_read.c — qx_json_read: JSON objects and arrays scanned in place,
 * built with jansson's constructors (see qx_json_read.h for what is handed
 * back to json_loadb).
 *
 * The grammar is jansson's lexer's: numbers are -?(0|[1-9][0-9]*) with an
 * optional fraction .[0-9]+ and exponent [eE][+-]?[0-9]+, an integer when it
 * has neither (strtoll, as jansson), else a real (strtod, as jansson);
 * literals are true, false and null followed by no letter; strings are
 * UTF-8 without control characters, with the two-character escapes.
 */
#include "qx_json_read.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "qx_utf8.h"

typedef struct reader {
    const char *p, *end;
    int depth;
    char *scratch; /* a string with escapes, unescaped */
    size_t scratch_cap;
} reader;

static json_t *read_value(reader *r);

static void skip_space(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* Bytes that stand for themselves in a string: printable ASCII but '"' and
 * the backslash. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Appends n bytes at s to the scratch buffer (used bytes so far). */
static bool scratch_add(reader *r, size_t *used, const void *s, size_t n)
{
    if (*used + n > r->scratch_cap) {
        size_t cap = (*used + n) * 2 + 64;
        char *b = realloc(r->scratch, cap);
        if (b == NULL)
            return false;
        r->scratch = b;
        r->scratch_cap = cap;
    }
    if (n > 0) /* never memcpy from or to NULL, even 0 bytes */
        memcpy(r->scratch + *used, s, n);
    *used += n;
    return true;
}

/* A string's text (r->p just after its opening quote): *out points at it —
 * into the input, or into the scratch buffer when it had escapes (*scratch
 * tells) —, *n is its length; r->p ends after the closing quote. Returns
 * false to hand back. */
static bool read_string(reader *r, const char **out, size_t *n, bool *scratch)
{
    const unsigned char *s = (const unsigned char *)r->p, *e = (const unsigned char *)r->end;
    const unsigned char *seg = s; /* the text not yet copied, once an escape was met */
    size_t used = 0;
    bool escaped = false;
    for (;;) {
        while (s < e && plain[*s])
            s++;
        if (s >= e)
            return false; /* unterminated */
        unsigned char c = *s;
        if (c == '"')
            break;
        if (c < 0x20)
            return false; /* a control character */
        if (c < 0x80 && c != '\\') {
            s++;
            continue;
        }
        if (c >= 0x80) { /* UTF-8, checked */
            size_t len = qx_utf8_char_len(s, (size_t)(e - s));
            if (len == 0)
                return false;
            s += len;
            continue;
        }
        /* a backslash: the two-character escapes; \u is handed back */
        if (s + 1 >= e)
            return false;
        char x;
        switch (s[1]) {
        case '"':
            x = '"';
            break;
        case '\\':
            x = '\\';
            break;
        case '/':
            x = '/';
            break;
        case 'b':
            x = '\b';
            break;
        case 'f':
            x = '\f';
            break;
        case 'n':
            x = '\n';
            break;
        case 'r':
            x = '\r';
            break;
        case 't':
            x = '\t';
            break;
        default:
            return false;
        }
        if (!scratch_add(r, &used, seg, (size_t)(s - seg)) || !scratch_add(r, &used, &x, 1))
            return false;
        escaped = true;
        s += 2;
        seg = s;
    }
    if (escaped) {
        if (!scratch_add(r, &used, seg, (size_t)(s - seg)))
            return false;
        *out = r->scratch;
        *n = used;
    } else {
        *out = r->p;
        *n = (size_t)(s - (const unsigned char *)r->p);
    }
    *scratch = escaped;
    r->p = (const char *)s + 1;
    return true;
}

static json_t *read_number(reader *r)
{
    const char *s = r->p, *e = r->end, *start = s;
    bool real = false;
    if (s < e && *s == '-')
        s++;
    if (s >= e || *s < '0' || *s > '9')
        return NULL;
    if (*s == '0') {
        s++;
        if (s < e && *s >= '0' && *s <= '9')
            return NULL; /* a leading zero: jansson's error */
    } else {
        while (s < e && *s >= '0' && *s <= '9')
            s++;
    }
    if (s < e && *s == '.') {
        real = true;
        s++;
        if (s >= e || *s < '0' || *s > '9')
            return NULL;
        while (s < e && *s >= '0' && *s <= '9')
            s++;
    }
    if (s < e && (*s == 'e' || *s == 'E')) {
        real = true;
        s++;
        if (s < e && (*s == '+' || *s == '-'))
            s++;
        if (s >= e || *s < '0' || *s > '9')
            return NULL;
        while (s < e && *s >= '0' && *s <= '9')
            s++;
    }
    /* strtoll and strtod read the token from a copy: in place they would
     * read on past it for as long as they like what they see ("0123": the
     * grammar's token is "0", strtoll's goes on), and the text is not
     * terminated where the caller's length ends. A longer token is handed
     * back. */
    char tmp[64];
    const char *text = tmp;
    size_t n = (size_t)(s - start);
    if (n >= sizeof tmp)
        return NULL;
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    char *stop;
    errno = 0;
    json_t *v;
    if (real) {
        double d = strtod(text, &stop);
        if (errno == ERANGE && (d > 1.0 || d < -1.0))
            return NULL; /* overflow: jansson's "real number overflow" */
        v = json_real(d);
    } else {
        long long i = strtoll(text, &stop, 10);
        if (errno == ERANGE)
            return NULL; /* jansson's "too big integer" */
        v = json_integer((json_int_t)i);
    }
    if ((size_t)(stop - text) != n) { /* a locale whose decimal point is not '.' */
        json_decref(v);
        return NULL;
    }
    r->p = s;
    return v;
}

/* true, false or null, not followed by a letter (jansson reads a whole word). */
static json_t *read_literal(reader *r)
{
    static const struct {
        const char *word;
        size_t len;
    } words[] = {{"true", 4}, {"false", 5}, {"null", 4}};
    for (size_t i = 0; i < 3; i++) {
        size_t len = words[i].len;
        if ((size_t)(r->end - r->p) >= len && memcmp(r->p, words[i].word, len) == 0) {
            const char *after = r->p + len;
            if (after < r->end &&
                ((*after >= 'a' && *after <= 'z') || (*after >= 'A' && *after <= 'Z')))
                return NULL;
            r->p = after;
            return i == 0 ? json_true() : i == 1 ? json_false() : json_null();
        }
    }
    return NULL;
}

static json_t *read_object(reader *r)
{
    json_t *obj = json_object();
    if (obj == NULL)
        return NULL;
    r->p++; /* '{' */
    skip_space(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return obj;
    }
    for (;;) {
        const char *key;
        size_t key_len;
        bool in_scratch;
        if (r->p >= r->end || *r->p != '"')
            goto fail;
        r->p++;
        if (!read_string(r, &key, &key_len, &in_scratch))
            goto fail;
        /* a key with escapes sits in the scratch buffer, which the value
         * may use again: copied first */
        char small[128], *copy = NULL;
        if (in_scratch) {
            copy = key_len < sizeof small ? small : malloc(key_len);
            if (copy == NULL)
                goto fail;
            memcpy(copy, key, key_len);
            key = copy;
        }
        skip_space(r);
        json_t *v = NULL;
        if (r->p < r->end && *r->p == ':') {
            r->p++;
            skip_space(r);
            v = read_value(r);
        }
        /* jansson's parser sets members so too: a repeated key keeps its
         * place and takes the last value; a key holds no NUL (only \u0000
         * makes one, and that is handed back) */
        int rc = v != NULL ? json_object_setn_new_nocheck(obj, key, key_len, v) : -1;
        if (copy != NULL && copy != small)
            free(copy);
        if (rc != 0)
            goto fail;
        skip_space(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            skip_space(r);
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return obj;
        }
        goto fail;
    }
fail:
    json_decref(obj);
    return NULL;
}

static json_t *read_array(reader *r)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    r->p++; /* '[' */
    skip_space(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return arr;
    }
    for (;;) {
        json_t *v = read_value(r);
        if (v == NULL || json_array_append_new(arr, v) != 0)
            goto fail;
        skip_space(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            skip_space(r);
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return arr;
        }
        goto fail;
    }
fail:
    json_decref(arr);
    return NULL;
}

static json_t *read_value(reader *r)
{
    if (r->p >= r->end)
        return NULL;
    char c = *r->p;
    if (c == '"') {
        const char *s;
        size_t n;
        bool in_scratch;
        r->p++;
        return read_string(r, &s, &n, &in_scratch) ? json_stringn_nocheck(s, n) : NULL;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return read_number(r);
    if (c == '{' || c == '[') {
        if (r->depth >= QX_JSON_READ_DEPTH)
            return NULL;
        r->depth++;
        json_t *v = c == '{' ? read_object(r) : read_array(r);
        r->depth--;
        return v;
    }
    return read_literal(r);
}

json_t *qx_json_read(const char *buf, size_t len)
{
    reader r = {.p = buf, .end = buf + len};
    skip_space(&r);
    if (r.p >= r.end || (*r.p != '{' && *r.p != '['))
        return NULL; /* jansson's "'[' or '{' expected" and the like */
    json_t *v = read_value(&r);
    free(r.scratch);
    if (v == NULL)
        return NULL;
    skip_space(&r);
    if (r.p != r.end) {
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *qx_json_parse(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    const size_t unchecked =
        JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK | JSON_DECODE_INT_AS_REAL;
    json_t *v = (flags & unchecked) == 0 ? qx_json_read(buf, len) : NULL;
    return v != NULL ? v : json_loadb(buf, len, flags, err);
}
