/*
 * suggest.c — "did you mean" (see qx_suggest.h).
 *
 * getopt_long, with a leading ':' in its optstring and opterr 0, reports
 * every refusal as '?' or ':' and leaves the rest to us: optopt is 0 for an
 * unknown or ambiguous long option, the option's value for a long option
 * missing its argument or given one it does not take, and the character for
 * a short option. The element it refused is argv[optind - 1] for the long
 * ones; a short one is named by optopt alone, since it may sit in a cluster.
 */
#include "qx_suggest.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t qx_edit_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, QX_SUGGEST_MAX_WORD), lb = strnlen(b, QX_SUGGEST_MAX_WORD);
    /* d[i][j]: the distance between the first i bytes of a and j of b */
    size_t d[QX_SUGGEST_MAX_WORD + 1][QX_SUGGEST_MAX_WORD + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    }
    return d[la][lb];
}

const char *qx_suggest(const char *word, const char *const *candidates, size_t n)
{
    size_t len = strnlen(word, QX_SUGGEST_MAX_WORD);
    size_t limit = (len + 2) / 3; /* a third, rounded up */
    if (limit > 2)
        limit = 2;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; i < n; i++) {
        if (candidates[i] == NULL)
            continue;
        size_t d = qx_edit_distance(word, candidates[i]);
        if (d < best_d) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best;
}

/* The name of a long option as typed ("--confg=x" -> "confg"), into name. */
static void typed_name(const char *arg, char *name, size_t size)
{
    const char *s = arg + 2;
    size_t n = strcspn(s, "=");
    if (n >= size)
        n = size - 1;
    memcpy(name, s, n);
    name[n] = '\0';
}

/* The long options whose names start with prefix, as " (--a, --b)", into
 * out. Returns how many there are; an exact match counts alone. */
static size_t list_prefixed(const char *prefix, const struct option *lo, char *out, size_t size)
{
    size_t n = 0, len = strlen(prefix), used = 0;
    out[0] = '\0';
    for (size_t i = 0; lo[i].name != NULL; i++) {
        if (strcmp(lo[i].name, prefix) == 0)
            return 1;
        if (strncmp(lo[i].name, prefix, len) != 0)
            continue;
        int w = snprintf(out + used, size - used, "%s--%s", n == 0 ? " (" : ", ", lo[i].name);
        if (w > 0 && (size_t)w < size - used)
            used += (size_t)w;
        n++;
    }
    if (n > 0 && used + 1 < size)
        memcpy(out + used, ")", 2);
    return n;
}

/* "unknown option '--confg' (did you mean '--config'?)" into what. */
static void unknown_long(const char *name, const struct option *lo, char *what, size_t size)
{
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; lo[i].name != NULL && n < sizeof names / sizeof names[0]; i++)
        names[n++] = lo[i].name;
    const char *best = qx_suggest(name, names, n);
    if (best != NULL)
        snprintf(what, size, "unknown option '--%s' (did you mean '--%s'?)", name, best);
    else
        snprintf(what, size, "unknown option '--%s'", name);
}

/* What is wrong with the long option typed as arg, into what. */
static void long_option_error(int got, const char *arg, const struct option *lo, char *what,
                              size_t size)
{
    char name[QX_SUGGEST_MAX_WORD + 1], list[512];
    typed_name(arg, name, sizeof name);
    size_t matches = list_prefixed(name, lo, list, sizeof list);
    if (got == ':')
        snprintf(what, size, "option '--%s' needs an argument", name);
    else if (matches > 1)
        snprintf(what, size, "option '--%s' is ambiguous%s", name, list);
    else if (matches == 1 && strchr(arg, '=') != NULL)
        snprintf(what, size, "option '--%s' takes no argument", name);
    else
        unknown_long(name, lo, what, size);
}

char *qx_option_error(char *out, size_t size, const char *prog, int got, const char *arg,
                      int short_opt, const struct option *longopts)
{
    char what[768];
    bool is_long = arg != NULL && strncmp(arg, "--", 2) == 0 && arg[2] != '\0';
    /* a short option's error may follow a long option in argv: short_opt tells */
    if (is_long && got == '?' && short_opt != 0 && strchr(arg, '=') == NULL)
        is_long = false;
    if (is_long)
        long_option_error(got, arg, longopts, what, sizeof what);
    else if (short_opt <= 0 || short_opt > 127)
        snprintf(what, sizeof what, "unknown option '%s'", arg != NULL ? arg : "");
    else if (got == ':')
        snprintf(what, sizeof what, "option '-%c' needs an argument", short_opt);
    else
        snprintf(what, sizeof what, "unknown option '-%c'", short_opt);
    snprintf(out, size, "%s: %s; try '%s --help'", prog, what, prog);
    return out;
}
