/*
 * qx_suggest.h — "did you mean" for command lines: the edit distance
 * between two words, the closest of a list of candidates, and the one-line
 * message both programs print for an option getopt_long refused (unknown,
 * ambiguous prefix, missing or unwanted argument).
 *
 * Owns: nothing; pure functions over the caller's strings.
 * Locks: none; no state, safe from any thread.
 * Fails: never; a message that does not fit in the caller's buffer is cut
 * (snprintf's truncation).
 */
#ifndef QX_SUGGEST_H
#define QX_SUGGEST_H

#include <getopt.h>
#include <stddef.h>

/* The words compared are cut to this many bytes: no option is longer. */
#define QX_SUGGEST_MAX_WORD 64

/* The optimal-string-alignment (restricted Damerau–Levenshtein) distance
 * between a and b: insertions, deletions, substitutions and transpositions
 * of two neighbours each count 1. Case matters. Words longer than
 * QX_SUGGEST_MAX_WORD are compared by their first QX_SUGGEST_MAX_WORD bytes. */
size_t qx_edit_distance(const char *a, const char *b);

/* The candidate closest to word, when close enough to be what was meant:
 * a distance of at most 2, and at most a third of word's length (rounded
 * up, so "confg" may miss "config" by 1 or 2, but "x" is no typo of "db").
 * On a tie the earlier candidate wins. Returns a borrowed pointer into
 * candidates (n of them, NULL entries skipped), or NULL when none is close. */
const char *qx_suggest(const char *word, const char *const *candidates, size_t n);

/* The one line for an option getopt_long refused, without a newline, into
 * out: "PROG: unknown option '--confg' (did you mean '--config'?); try
 * 'PROG --help'", "... option '--t' is ambiguous (--threads, --tls-cert);
 * ...", "... option '--config' needs an argument; ...", "... option '--help'
 * takes no argument; ..." or "... unknown option '-Z'; ...".
 * prog names the command as the help does ("qx-mock suite"); got is what
 * getopt_long returned ('?' or ':', with a leading ':' in its optstring);
 * arg is argv[optind - 1] after the call; short_opt is getopt's optopt;
 * longopts is the table given to getopt_long. Returns out (borrowed). */
char *qx_option_error(char *out, size_t size, const char *prog, int got, const char *arg,
                      int short_opt, const struct option *longopts);

#endif
