/*
 * ready.c — time from process start to the first accepted request.
 *
 *   ready PORT REQUEST_FILE TIMEOUT_MS COMMAND [ARG...]
 *
 * Starts COMMAND (its standard output to /dev/null), then sends the raw HTTP request
 * in REQUEST_FILE to 127.0.0.1:PORT over and over, a fresh connection each
 * time, until an answer starts "HTTP/1.x 200". Prints the milliseconds from
 * just before fork() to that answer, then stops COMMAND (SIGTERM, SIGKILL
 * after 20 s). A bash loop of curl would add several milliseconds per try;
 * here a try costs tens of microseconds, so the result is the server's.
 *
 * Exit status: 0 measured, 1 timed out or COMMAND died, 2 bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST_BYTES 65536
#define POLL_PAUSE_NS 200000L /* 0.2 ms between tries */
#define STOP_GRACE_MS 20000
#define ANSWER_TIMEOUT_S 5

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void pause_ns(long ns)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
    nanosleep(&ts, NULL);
}

/* One try: 1 when the server answered 200, else 0. */
static int try_request(int port, const char *req, size_t len)
{
    int ok = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        goto out;
    struct timeval tv = {.tv_sec = ANSWER_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, req + off, len - off);
        if (n <= 0)
            goto out;
        off += (size_t)n;
    }
    char buf[16];
    size_t got = 0;
    while (got < 12) {
        ssize_t n = read(fd, buf + got, 12 - got);
        if (n <= 0)
            goto out;
        got += (size_t)n;
    }
    ok = memcmp(buf, "HTTP/1.1 200", 12) == 0 || memcmp(buf, "HTTP/1.0 200", 12) == 0;
out:
    close(fd);
    return ok;
}

static void stop_child(pid_t pid)
{
    kill(pid, SIGTERM);
    double give_up = now_ms() + STOP_GRACE_MS;
    while (waitpid(pid, NULL, WNOHANG) == 0) {
        if (now_ms() > give_up) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return;
        }
        pause_ns(1000000L);
    }
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: ready PORT REQUEST_FILE TIMEOUT_MS COMMAND [ARG...]\n");
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535) {
        fprintf(stderr, "ready: bad port %s\n", argv[1]);
        return 2;
    }
    long timeout = strtol(argv[3], &end, 10);
    if (*end != '\0' || timeout <= 0) {
        fprintf(stderr, "ready: bad timeout %s\n", argv[3]);
        return 2;
    }
    static char req[MAX_REQUEST_BYTES];
    FILE *f = fopen(argv[2], "rb");
    if (f == NULL) {
        fprintf(stderr, "ready: %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    size_t len = fread(req, 1, sizeof req, f);
    fclose(f);

    double start = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        perror("ready: fork");
        return 1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execvp(argv[4], argv + 4);
        _exit(127);
    }
    int rc = 1;
    while (now_ms() - start < (double)timeout) {
        if (try_request((int)port, req, len)) {
            printf("%.2f\n", now_ms() - start);
            rc = 0;
            break;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (WIFSIGNALED(status))
                fprintf(stderr, "ready: %s died of signal %d before answering\n", argv[4],
                        WTERMSIG(status));
            else
                fprintf(stderr, "ready: %s exited with status %d before answering\n", argv[4],
                        WEXITSTATUS(status));
            return 1;
        }
        pause_ns(POLL_PAUSE_NS);
    }
    if (rc != 0)
        fprintf(stderr, "ready: no 200 from port %ld within %ld ms\n", port, timeout);
    stop_child(pid);
    return rc;
}
