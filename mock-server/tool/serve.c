/*
 * serve.c — `qx-mock --config FILE [options]`: one emulator, until SIGINT or
 * SIGTERM stops it gracefully.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_buf.h"
#include "qx_log.h"
#include "qxm_config.h"
#include "tool.h"

/* Reads a whole (small) file; malloc'd text or NULL with a message. */
static char *read_text_file(const char *opt, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "qx-mock: %s %s: %s\n", opt, path, strerror(errno));
        return NULL;
    }
    qx_buf text = {0};
    char chunk[4096];
    size_t n;
    int rc = qx_buf_add(&text, "", 0); /* an empty file is an empty text */
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = qx_buf_add(&text, chunk, n);
    fclose(f);
    if (rc != 0) {
        fprintf(stderr, "qx-mock: %s %s: out of memory\n", opt, path);
        qx_buf_free(&text);
        return NULL;
    }
    return qx_buf_take(&text, NULL);
}

/* The value of the environment variable var named by option opt into
 * *token (NULL when var is). Returns 0, or EXIT_USAGE with a message. */
static int token_from_env(const char *opt, const char *var, const char **token)
{
    if (var == NULL)
        return 0;
    *token = getenv(var);
    if (*token == NULL || **token == '\0') {
        fprintf(stderr, "qx-mock: %s %s: the variable is not set or empty\n", opt, var);
        return EXIT_USAGE;
    }
    return 0;
}

/* The admin and metrics tokens and the TLS PEM texts into *mo (the PEM
 * texts malloc'd: *cert, *key). Returns 0, or EXIT_USAGE with a message. */
static int load_secrets(const serve_options *o, qxm_options *mo, char **cert, char **key)
{
    *cert = *key = NULL;
    if (token_from_env("--admin-token-env", o->admin_env, &mo->admin_token) != 0 ||
        token_from_env("--metrics-token-env", o->metrics_env, &mo->metrics_token) != 0)
        return EXIT_USAGE;
    if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
        fputs("qx-mock: --tls-cert and --tls-key go together\n", stderr);
        return EXIT_USAGE;
    }
    if (o->tls_cert == NULL)
        return 0;
    *cert = read_text_file("--tls-cert", o->tls_cert);
    *key = read_text_file("--tls-key", o->tls_key);
    if (*cert == NULL || *key == NULL)
        return EXIT_USAGE;
    mo->tls_cert_pem = *cert;
    mo->tls_key_pem = *key;
    return 0;
}

static void free_secret(char *text)
{
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
}

/* The emulator for o, with its history loaded, not started yet. NULL with
 * *status the exit status after a message. */
static qxm_mock *create(const serve_options *o, int *status)
{
    qxm_options mo = o->mock;
    char *cert, *key;
    if ((*status = load_secrets(o, &mo, &cert, &key)) != 0) {
        free(cert);
        free_secret(key);
        return NULL;
    }
    qx_error err;
    qxm_config *cfg = qxm_config_load_file(o->config_path, &err);
    qxm_mock *m = cfg != NULL ? qxm_mock_new(cfg, &mo, &err) : NULL;
    free(cert);
    free_secret(key);
    if (m == NULL) {
        fprintf(stderr, "qx-mock: %s\n", err.text);
        *status = cfg == NULL ? EXIT_USAGE : 1;
        return NULL;
    }
    if (o->history != NULL) {
        int64_t n = qxm_mock_import_file(m, o->history, &err);
        if (n < 0) {
            fprintf(stderr, "qx-mock: --history %s\n", err.text);
            qxm_mock_free(m);
            *status = EXIT_USAGE;
            return NULL;
        }
        qx_log(QX_LOG_INFO, "loaded %" PRId64 " runs from %s", n, o->history);
    }
    return m;
}

int tool_serve(const serve_options *o)
{
    qx_log_init(stderr, o->verbose >= 2   ? QX_LOG_DEBUG
                        : o->verbose == 1 ? QX_LOG_INFO
                                          : QX_LOG_WARN);
    /* Signals are taken by sigwait below: block them before any thread
     * starts so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 0;
    qxm_mock *m = create(o, &status);
    if (m == NULL)
        return status;
    qx_error err;
    if (qxm_mock_start(m, &err) != 0) {
        fprintf(stderr, "qx-mock: %s\n", err.text);
        qxm_mock_free(m);
        return 1;
    }
    if (!qxm_mock_is_loopback(m) && o->admin_env == NULL)
        fprintf(stderr,
                "qx-mock: warning: listening beyond loopback with an open admin API; "
                "anyone who can reach %s can read and clear the run history "
                "(set --admin-token-env)\n",
                qxm_mock_url(m));
    printf("qx-mock listening on %s\n", qxm_mock_url(m));
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    qx_log(QX_LOG_INFO, "%s received: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    qxm_mock_free(m);
    return 0;
}
