/*
 * harness.c — start the real binaries on loopback and talk HTTP to them,
 * in the manner of libmicrohttpd's src/testcurl: port 0, the real port read
 * back, a timeout and NOSIGNAL on every curl handle.
 */
#include "harness.h"
#include "qx_buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HTTP_TIMEOUT_S 60
/* A deadline, not a wait: a qx-mock that fails exits at once (EOF on its
 * stdout); one that starts slowly (under valgrind on a loaded machine) is
 * given time. */
#define START_TIMEOUT_MS 60000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int qxt_mock_start(qxt_mock *m, const char *config_path, const char *const *extra_args)
{
    int out[2];
    memset(m, 0, sizeof *m);
    if (pipe(out) != 0)
        return -1;
    const char *argv[64];
    size_t n = 0;
    argv[n++] = QX_BIN_DIR "/qx-mock";
    argv[n++] = "--config";
    argv[n++] = config_path;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && n < 62; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    m->pid = pid;
    char line[256];
    size_t len = 0;
    int64_t deadline = now_ms() + START_TIMEOUT_MS;
    while (len + 1 < sizeof line) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(out[0], line + len, 1);
        if (r <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    const char *prefix = "qx-mock listening on ";
    if (strncmp(line, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "harness: qx-mock did not start (got \"%s\")\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        m->pid = 0;
        return -1;
    }
    snprintf(m->base_url, sizeof m->base_url, "%s", line + strlen(prefix));
    const char *colon = strrchr(m->base_url, ':');
    m->port = colon != NULL ? (int)strtol(colon + 1, NULL, 10) : 0;
    return 0;
}

bool qxt_wait_pid(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = now_ms() + timeout_ms;
    /* A pidfd becomes readable when the child ends: no polling. Where the
     * kernel (or valgrind) has no pidfd_open, it is not asked again. */
    static _Atomic bool no_pidfd;
    int fd = no_pidfd ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0 && errno == ENOSYS)
        no_pidfd = true;
    if (fd >= 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        for (;;) {
            int64_t left = deadline - now_ms();
            int r = poll(&p, 1, left > 0 ? (int)left : 0);
            if (r < 0 && errno == EINTR)
                continue;
            break;
        }
        close(fd);
        return waitpid(pid, status, WNOHANG) == pid;
    }
    /* Kernels before 5.3 have no pidfd: ask every 10 ms instead. */
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 || now_ms() > deadline)
            return false;
        struct timespec ten_ms = {0, 10 * 1000000L};
        nanosleep(&ten_ms, NULL);
    }
}

int qxt_mock_stop(qxt_mock *m, int sig)
{
    int status = -1;
    if (m->pid <= 0)
        return -1;
    kill(m->pid, sig);
    if (!qxt_wait_pid(m->pid, 30000, &status)) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, &status, 0);
    }
    m->pid = 0;
    return status;
}

int qxt_wait_exit(pid_t pid, int timeout_ms)
{
    int status = 0;
    if (!qxt_wait_pid(pid, timeout_ms, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Adds the sockets of one /proc/net/tcp{,6} table on local port `port`. */
static void scan_tcp_table(const char *path, int port, qxt_tcp_view *v)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[512];
    if (fgets(line, sizeof line, f) == NULL) { /* the header */
        fclose(f);
        return;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char local[64];
        unsigned st = 0;
        unsigned long txq = 0, rxq = 0;
        if (sscanf(line, " %*u: %63s %*s %x %lx:%lx", local, &st, &txq, &rxq) != 4)
            continue;
        const char *colon = strrchr(local, ':');
        if (colon == NULL || (int)strtol(colon + 1, NULL, 16) != port)
            continue;
        if (st == 0x0A) { /* LISTEN: rx_queue is the accept backlog */
            v->listening++;
            v->backlog += (int)rxq;
        } else if (st == 0x01) { /* ESTABLISHED */
            v->established++;
            if (rxq > 0)
                v->unread++;
        }
    }
    fclose(f);
}

int qxt_tcp_sockets(int port, qxt_tcp_view *out)
{
    memset(out, 0, sizeof *out);
    scan_tcp_table("/proc/net/tcp", port, out);
    scan_tcp_table("/proc/net/tcp6", port, out);
    return out->listening > 0 ? 0 : -1;
}

bool qxt_wait_tcp(int port, bool (*cond)(const qxt_tcp_view *, const void *), const void *arg,
                  int timeout_ms, qxt_tcp_view *last)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (qxt_tcp_sockets(port, last) == 0 && cond(last, arg))
            return true;
        if (now_ms() > deadline)
            return false;
        struct timespec two_ms = {0, 2 * 1000000L};
        nanosleep(&two_ms, NULL);
    }
}

/* libcurl write callback: appends to a qx_buf; 0 (an error) when memory runs out. */
static size_t collect(char *data, size_t size, size_t nmemb, void *ud)
{
    size_t n = size * nmemb;
    return qx_buf_add(ud, data, n) == 0 ? n : 0;
}

/* What b holds as a NUL-terminated malloc'd string ("" when nothing was added);
 * b is left empty. */
static char *take_text(qx_buf *b)
{
    char *p = qx_buf_take(b, NULL);
    return p != NULL ? p : strdup("");
}

int qxt_http(const char *method, const char *url, const char *body, size_t body_len,
             const char *const *headers, const char *userpwd, qxt_response *out)
{
    memset(out, 0, sizeof *out);
    CURL *h = curl_easy_init();
    if (h == NULL)
        return -1;
    qx_buf b = {0}, hb = {0};
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)HTTP_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hb);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (hl != NULL)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (userpwd != NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    out->body_len = b.len;
    out->body = take_text(&b);
    out->headers = take_text(&hb);
    if (rc != CURLE_OK) {
        fprintf(stderr, "harness: %s %s: %s\n", method, url, curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

void qxt_response_free(qxt_response *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

json_t *qxt_response_json(const qxt_response *r)
{
    json_error_t e;
    return json_loadb(r->body, r->body_len, 0, &e);
}

bool qxt_response_header(const qxt_response *r, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = r->headers; p != NULL && *p;
         p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            if (vl >= size)
                vl = size - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
    }
    return false;
}

char *qxt_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/qxtest.XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(tmpl) == NULL)
        return NULL;
    return strdup(tmpl);
}

void qxt_remove_dir(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: could not remove %s\n", dir);
}

char *qxt_write_file(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (path == NULL)
        return NULL;
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        free(path);
        return NULL;
    }
    fputs(text, f);
    fclose(f);
    return path;
}

char *qxt_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    qx_buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (qx_buf_add(&b, chunk, n) != 0)
            break; /* out of memory: what was read so far */
    fclose(f);
    return take_text(&b);
}

static void drain(int fd, qx_buf *b, bool *open)
{
    char chunk[4096];
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r > 0) {
        if (qx_buf_add(b, chunk, (size_t)r) != 0) /* the child is not blocked on it */
            fprintf(stderr, "harness: out of memory: %zd bytes of output dropped\n", r);
    } else if (r == 0 || (errno != EINTR && errno != EAGAIN))
        *open = false;
}

int qxt_run(const char *const *argv, const char *stdin_text, const char *const *env, char **out,
            char **err, int timeout_ms)
{
    int in_p[2], out_p[2], err_p[2];
    if (pipe(in_p) || pipe(out_p) || pipe(err_p))
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in_p[0], 0);
        dup2(out_p[1], 1);
        dup2(err_p[1], 2);
        close(in_p[1]);
        close(out_p[0]);
        close(err_p[0]);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in_p[0]);
    close(out_p[1]);
    close(err_p[1]);
    signal(SIGPIPE, SIG_IGN);
    if (stdin_text != NULL) {
        size_t n = strlen(stdin_text), off = 0;
        while (off < n) {
            ssize_t w = write(in_p[1], stdin_text + off, n - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    close(in_p[1]);
    qx_buf ob = {0}, eb = {0};
    bool o_open = true, e_open = true;
    int64_t deadline = now_ms() + timeout_ms;
    while (o_open || e_open) {
        struct pollfd p[2] = {{.fd = o_open ? out_p[0] : -1, .events = POLLIN},
                              {.fd = e_open ? err_p[0] : -1, .events = POLLIN}};
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(p, 2, (int)left) <= 0)
            continue;
        if (p[0].revents)
            drain(out_p[0], &ob, &o_open);
        if (p[1].revents)
            drain(err_p[0], &eb, &e_open);
    }
    close(out_p[0]);
    close(err_p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (out != NULL)
        *out = take_text(&ob);
    qx_buf_free(&ob);
    if (err != NULL)
        *err = take_text(&eb);
    qx_buf_free(&eb);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int qxt_fixture_setup(void **state)
{
    qxt_fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->dir = qxt_tempdir();
    *state = f;
    return 0;
}

int qxt_fixture_launch(qxt_fixture *f, const char *config_text, const char *const *extra)
{
    free(f->config);
    f->config = qxt_write_file(f->dir, "config.json", config_text);
    return qxt_mock_start(&f->mock, f->config, extra);
}

int qxt_fixture_start(void **state, const char *config_text, const char *const *extra)
{
    if (qxt_fixture_setup(state) != 0)
        return -1;
    return qxt_fixture_launch(*state, config_text, extra);
}

void qxt_fixture_stop(qxt_fixture *f)
{
    if (f->mock.pid > 0) {
        int st = qxt_mock_stop(&f->mock, SIGTERM);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

int qxt_fixture_teardown(void **state)
{
    qxt_fixture *f = *state;
    qxt_fixture_stop(f);
    qxt_remove_dir(f->dir);
    free(f->config);
    free(f->dir);
    free(f);
    return 0;
}

const char *qxt_url(const qxt_fixture *f, const char *path)
{
    static char buf[8][1024];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s%s", f->mock.base_url, path);
    return buf[i];
}

int qxt_raw_connect(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    return s;
}

bool qxt_raw_send(int fd, const char *text, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, text + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        off += (size_t)w;
    }
    return true;
}

int qxt_status_code(const char *text)
{
    int code = 0;
    return sscanf(text, "HTTP/1.%*d %d", &code) == 1 ? code : 0;
}
