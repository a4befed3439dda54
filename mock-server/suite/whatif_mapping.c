/*
 * whatif_mapping.c — the mapping side of `qx-mock whatif` (qxm_whatif.h):
 * the profiles rendered with the old and the new mapping by `qx-send
 * render` (a child process, as suite runs the sender: qx-mock never links
 * the sender), lined up profile by profile, and their payloads compared
 * leaf by leaf.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qx_ndjson.h"
#include "whatif_internal.h"

extern char **environ;

/* The line numbers of the non-blank lines of path, as a JSON array. */
static json_t *profile_lines(const char *path, qx_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        qx_error_set(err, "%s: cannot open", path);
        return NULL;
    }
    json_t *lines = json_array();
    char *text = NULL;
    size_t cap = 0, n = 0;
    while (getline(&text, &cap, f) >= 0) {
        n++;
        if (text[strspn(text, " \t\r\n")] != '\0')
            json_array_append_new(lines, json_integer((json_int_t)n));
    }
    free(text);
    fclose(f);
    return lines;
}

/* Runs `sender render --mapping mapping profiles` with its standard output
 * and error to out and errs. Returns its exit status, or -1 with err. */
static int run_render(const char *sender, const char *mapping, const char *profiles, FILE *out,
                      FILE *errs, qx_error *err)
{
    const char *argv[] = {sender, "render", "--mapping", mapping, profiles, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fileno(out), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fileno(errs), STDERR_FILENO);
    pid_t pid;
    int rc = posix_spawn(&pid, sender, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        qx_error_set(err, "cannot start %s: %s", sender, strerror(rc));
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    rewind(out);
    rewind(errs);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Reads the render's standard error: "line N: why" for a profile without
 * payload (warnings aside) into why (object: line -> why). Returns 0, or
 * -1 with err holding qx-send's message when it failed as a whole. */
static int read_exclusions(FILE *errs, const char *mapping, int status, json_t *why, qx_error *err)
{
    char *text = NULL;
    size_t cap = 0;
    unsigned long line;
    int off;
    while (getline(&text, &cap, errs) >= 0) {
        text[strcspn(text, "\n")] = '\0';
        if (sscanf(text, "line %lu: %n", &line, &off) == 1 && off > 0) {
            if (strncmp(text + off, "warning:", 8) != 0) {
                char key[32];
                snprintf(key, sizeof key, "%lu", line);
                json_object_set_new(why, key, json_string(text + off));
            }
        } else if (status > 1) {
            qx_error_set(err, "%s: qx-send render: %s", mapping, text);
            free(text);
            return -1;
        }
    }
    free(text);
    if (status < 0 || status > 1) {
        qx_error_set(err, "%s: qx-send render failed (exit %d)", mapping, status);
        return -1;
    }
    return 0;
}

/* Renders profiles with mapping: a JSON object line -> payload, or line ->
 * {"excluded": why}. NULL with err set. */
static json_t *render(const qxm_whatif_mapping *m, const char *mapping, const json_t *lines,
                      qx_error *err)
{
    FILE *out = tmpfile(), *errs = tmpfile();
    json_t *why = json_object(), *by_line = NULL;
    int status = out != NULL && errs != NULL
                     ? run_render(m->sender, mapping, m->profiles, out, errs, err)
                     : (qx_error_set(err, "cannot make a temporary file"), -1);
    if (status >= 0 && read_exclusions(errs, mapping, status, why, err) == 0) {
        qx_ndjson_reader *rd = qx_ndjson_open(out);
        by_line = json_object();
        size_t i;
        json_t *line;
        json_array_foreach(lines, i, line)
        {
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(line));
            json_t *excluded = json_object_get(why, key), *payload = NULL;
            if (excluded != NULL) {
                json_object_set_new(by_line, key, json_pack("{s:O}", "excluded", excluded));
            } else if (rd != NULL && qx_ndjson_next(rd, &payload, NULL, err) == 1) {
                json_object_set_new(by_line, key, payload);
            } else {
                qx_error_set(err, "%s: qx-send render gave no payload for profile line %s", mapping,
                             key);
                json_decref(by_line);
                by_line = NULL;
                break;
            }
        }
        qx_ndjson_close(rd);
    }
    if (out != NULL)
        fclose(out);
    if (errs != NULL)
        fclose(errs);
    json_decref(why);
    return by_line;
}

/* Adds the differences between two payloads, leaf by leaf, under field. */
static void payload_diff(json_t *diffs, const char *field, const json_t *a, const json_t *b)
{
    char sub[1024];
    if (json_is_object(a) && json_is_object(b)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)a, key, v)
        {
            if (snprintf(sub, sizeof sub, "%s%s%s", field, *field ? "." : "", key) <
                (int)sizeof sub) /* a path of over 1 KiB is not followed */
                payload_diff(diffs, sub, v, json_object_get(b, key));
        }
        json_object_foreach((json_t *)b, key, v)
        {
            if (json_object_get(a, key) == NULL &&
                snprintf(sub, sizeof sub, "%s%s%s", field, *field ? "." : "", key) <
                    (int)sizeof sub)
                payload_diff(diffs, sub, NULL, v);
        }
    } else if (json_is_array(a) && json_is_array(b)) {
        for (size_t i = 0; i < json_array_size(a) || i < json_array_size(b); i++) {
            if (snprintf(sub, sizeof sub, "%s[%zu]", field, i) < (int)sizeof sub)
                payload_diff(diffs, sub, json_array_get(a, i), json_array_get(b, i));
        }
    } else if (a == NULL || b == NULL || !json_equal(a, b)) {
        whatif_add_diff(diffs, QXM_WHATIF_PAYLOAD, field, a, b);
    }
}

/* One profile's payloads compared; appended to payloads when they differ. */
static void compare_profile(json_t *payloads, const char *line, const json_t *old,
                            const json_t *now)
{
    json_t *diffs = json_array();
    const json_t *old_ex = json_object_get(old, "excluded");
    const json_t *new_ex = json_object_get(now, "excluded");
    if (old_ex != NULL || new_ex != NULL) {
        json_t *sent = json_string("sent");
        /* Excluded by both (for whatever reason): nothing sent either way. */
        if (old_ex == NULL || new_ex == NULL)
            whatif_add_diff(diffs, QXM_WHATIF_PAYLOAD, "payload", old_ex != NULL ? old_ex : sent,
                            new_ex != NULL ? new_ex : sent);
        json_decref(sent);
    } else {
        payload_diff(diffs, "", old, now);
    }
    if (json_array_size(diffs) > 0) {
        char *text = whatif_diff_text(diffs);
        json_t *p = json_pack("{s:I, s:s?, s:O, s:O, s:O}", "profileLine",
                              (json_int_t)strtoll(line, NULL, 10), "text", text, "differences",
                              diffs, "old", old, "new", now);
        json_array_append_new(payloads, p);
        free(text);
    }
    json_decref(diffs);
}

int whatif_render_profiles(const qxm_whatif_mapping *m, json_t **old, json_t **now,
                           json_t **payloads, qx_error *err)
{
    *old = *now = *payloads = NULL;
    json_t *lines = profile_lines(m->profiles, err);
    if (lines == NULL || (*old = render(m, m->old_mapping, lines, err)) == NULL ||
        (*now = render(m, m->new_mapping, lines, err)) == NULL) {
        json_decref(lines);
        json_decref(*old);
        *old = NULL;
        return -1;
    }
    *payloads = json_array();
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line)
    {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(line));
        compare_profile(*payloads, key, json_object_get(*old, key), json_object_get(*now, key));
    }
    json_decref(lines);
    return 0;
}
