/* bench/mhd-bare.c — the ceiling of any server built on libmicrohttpd: the
 * daemon qx-mock starts (same flags, thread pool of one thread per CPU,
 * connection limit, timeout and per-connection memory), reading each POST's
 * body and answering a constant JSON document of the size of qx-mock's
 * answer. No auth, no parsing, no store.
 *
 *   mhd-bare PORT [THREADS]     (serves on 127.0.0.1 until SIGTERM/SIGINT)
 *
 * Built by bench/mock-ingest.sh (cc ... -lmicrohttpd); keep the flags in step
 * with qxm_server_start in mock-server/http/server.c. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char ANSWER[] =
    "{\"result\":{\"runId\":\"RUN_000000000000000\",\"workflowId\":\"WF_bench\"},"
    "\"meta\":{\"httpStatus\":\"200 - "
    "OK\",\"requestId\":\"00000000-0000-4000-8000-000000000000\"}}";

static struct MHD_Response *answer;
static int body_seen; /* address used as the per-request marker */

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *size, void **ctx)
{
    (void)cls, (void)url, (void)method, (void)version, (void)data;
    if (*ctx == NULL) { /* headers only: the body follows */
        *ctx = &body_seen;
        return MHD_YES;
    }
    if (*size > 0) { /* a chunk of the body, consumed */
        *size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(c, MHD_HTTP_OK, answer);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mhd-bare PORT [THREADS]\n");
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[1]);
    long n = argc > 2 ? atol(argv[2]) : sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = n > 0 ? (unsigned)n : 1;
    answer =
        MHD_create_response_from_buffer(sizeof ANSWER - 1, (void *)ANSWER, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(answer, "Content-Type", "application/json");
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (getenv("QXB_MHD_TURBO") != NULL)
        flags |= MHD_USE_TURBO;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_access, NULL, MHD_OPTION_SOCK_ADDR,
                         &sa, MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
                         512u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "mhd-bare: cannot serve on 127.0.0.1:%u\n", port);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop)
        pause();
    MHD_stop_daemon(d);
    MHD_destroy_response(answer);
    return 0;
}
