/*
 * sender.c — running the sender for one destination of a scenario: the
 * project's qx-send, or a team's own command through /bin/sh -c, as a child
 * process whose only view of the emulator is its URL and credentials,
 * passed through the environment (QX_URL, QX_USERNAME, QX_API_TOKEN,
 * QX_PROFILES, QX_MAPPING, QX_RATE_LIMIT_PER_MINUTE, and QX_POLICY with a
 * policy): the token never appears on a command line. A scenario's policy
 * and marketing actions go into the destination file qx-send is given.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qx_clock.h"
#include "suite_internal.h"

extern char **environ;

/* Runs the sender for one destination; returns its exit status or -1. */
int suite_run_sender(const qxm_suite_options *opt, const scenario *sc, const destination *d,
                     const char *url, const char *username, const char *token,
                     unsigned rate_limit_per_minute, const char *workdir, size_t index,
                     int64_t timeout_ms, char *why, size_t why_size)
{
    char dest_path[PATH_MAX], report[PATH_MAX], out_path[PATH_MAX], err_path[PATH_MAX], conc[16];
    suite_text_set(dest_path, sizeof dest_path, "%s/destination-%zu.json", workdir, index);
    suite_text_set(report, sizeof report, "%s/report-%zu.json", workdir, index);
    suite_text_set(out_path, sizeof out_path, "%s/sender-%zu.out", workdir, index);
    suite_text_set(err_path, sizeof err_path, "%s/sender-%zu.err", workdir, index);
    suite_text_set(conc, sizeof conc, "%d", sc->concurrency);

    json_t *dj =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", sc->name, "description", "qx-mock suite",
                  "url", url, "username", username, "passwordEnv", "QX_API_TOKEN");
    if (dj != NULL && sc->policy[0] != '\0') {
        json_t *actions = json_array();
        for (size_t i = 0; actions != NULL && i < sc->n_actions; i++)
            json_array_append_new(actions, json_string(sc->actions[i]));
        if (json_object_set_new(dj, "policy", json_string(sc->policy)) != 0 ||
            json_object_set_new(dj, "marketingActions", actions) != 0) {
            json_decref(dj);
            dj = NULL;
        }
    }
    int wrc = dj != NULL ? json_dump_file(dj, dest_path, JSON_INDENT(2)) : -1;
    json_decref(dj);
    if (wrc != 0) {
        suite_text_set(why, why_size, "cannot write %s", dest_path);
        return -1;
    }

    char e_url[2048], e_user[512], e_tok[512], e_prof[PATH_MAX + 16], e_map[PATH_MAX + 16];
    char e_rate[64], e_pol[PATH_MAX + 16];
    suite_text_set(e_url, sizeof e_url, "QX_URL=%s", url);
    suite_text_set(e_user, sizeof e_user, "QX_USERNAME=%s", username);
    suite_text_set(e_tok, sizeof e_tok, "QX_API_TOKEN=%s", token);
    suite_text_set(e_prof, sizeof e_prof, "QX_PROFILES=%s", sc->profiles);
    suite_text_set(e_map, sizeof e_map, "QX_MAPPING=%s", d->mapping);
    suite_text_set(e_rate, sizeof e_rate, "QX_RATE_LIMIT_PER_MINUTE=%u", rate_limit_per_minute);
    suite_text_set(e_pol, sizeof e_pol, "QX_POLICY=%s", sc->policy);
    const char *extra_env[] = {
        e_url, e_user, e_tok, e_prof, e_map, e_rate, sc->policy[0] != '\0' ? e_pol : NULL, NULL};

    const char *argv_default[] = {opt->sender_path,   "send",       "--destination", dest_path,
                                  "--mapping",        d->mapping,   "--concurrency", conc,
                                  "--retry-schedule", "50ms,100ms", "--report",      report,
                                  sc->profiles,       NULL};
    const char *argv_cmd[] = {"/bin/sh", "-c", opt->sender_cmd, NULL};
    const char *const *argv = opt->sender_cmd != NULL ? argv_cmd : argv_default;
    return qxm_run_sender_process(argv, extra_env, out_path, err_path, timeout_ms, why, why_size);
}

const char *qxm_sender_exit_text(int status, char *buf, size_t size)
{
    if (status == 127)
        suite_text_set(buf, size, "command not found (exit status 127)");
    else if (status == 126)
        suite_text_set(buf, size, "command found but not executable (exit status 126)");
    else
        suite_text_set(buf, size, "exited with status %d", status);
    return buf;
}

int qxm_run_sender_process(const char *const *argv, const char *const *extra_env,
                           const char *out_path, const char *err_path, int64_t timeout_ms,
                           char *why, size_t why_size)
{
    /* Environment: ours without any QX_ variable, plus extra_env. */
    size_t n_env = 0, n_extra = 0;
    while (environ[n_env] != NULL)
        n_env++;
    while (extra_env[n_extra] != NULL)
        n_extra++;
    char **env = calloc(n_env + n_extra + 1, sizeof *env);
    if (env == NULL) {
        suite_text_set(why, why_size, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        if (strncmp(environ[i], "QX_", 3) != 0)
            env[k++] = environ[i];
    }
    for (size_t i = 0; i < n_extra; i++)
        env[k++] = (char *)extra_env[i];
    env[k] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    if (err_path != NULL)
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path, O_WRONLY | O_CREAT | O_TRUNC,
                                         0600);
    else
        posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (rc != 0) {
        suite_text_set(why, why_size, "cannot start the sender %s: %s", argv[0], strerror(rc));
        return -1;
    }
    int status = 0;
    int64_t deadline = qx_mono_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (qx_mono_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            suite_text_set(why, why_size, "the sender did not finish within %lld ms",
                           (long long)timeout_ms);
            return -1;
        }
        qx_sleep_ms(5); /* polling a child's exit, not waiting for runs */
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    suite_text_set(why, why_size, "killed by signal %d (%s)", sig, strsignal(sig));
    return -1;
}
