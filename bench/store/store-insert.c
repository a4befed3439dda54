/*
 * store-insert.c — the run store alone: qxm_store_insert_runs on a file
 * store, in batches as the committer makes them, without HTTP or the
 * workflow. It isolates what the schema and the commit cost per run, which
 * the whole-server benchmarks (mock-ingest.sh) cannot tell apart from
 * parsing, the workflow and the network.
 *
 *   qxm-store-bench [--runs N] [--batch B] [--distinct] [--dup-window MS]
 *                   [--random-ids] DB
 *
 * Each run is a copy of a document as qx-mock stores it for the benchmark
 * workflow (bench/lib.sh), with its own id (in order, as the engine draws
 * them; --random-ids: 15 random characters) and request id and, with
 * --distinct, its own email (else every payload is the same, the seed
 * payload's case). Prints, per run: the caller's preparation (the document
 * form's: serialising the tree and hashing it, qxm_run_insert_prepare;
 * qx-mock's engine writes a run's text directly on its HTTP threads, which
 * costs less, see event.c) and the insert (the
 * committer's work: SQLite's row, its indexes and the commit), as CPU time
 * of this thread and as wall time; the CPU time of the store's other
 * threads (the checkpointer); and the file sizes after. DB must not
 * exist (a fresh store: what a benchmark run starts from).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "qx_clock.h"
#include "qx_rng.h"
#include "qxm_store.h"

static const char TEMPLATE[] =
    "{\"id\":\"RUN_x\",\"workflowId\":\"WF_bench\",\"workflowName\":\"Benchmark workflow\","
    "\"requestId\":\"r\",\"receivedAt\":\"2026-12-01T21:34:15.613Z\","
    "\"payload\":{\"person\":{\"name\":{\"firstName\":\"Dave\"}},\"mobilePhone\":{\"number\":"
    "\"0123456789\"},\"identityMap\":{\"Email\":[{\"id\":\"dave@example.com\"}]},"
    "\"segmentMembership\":{\"ups\":{\"046456e3b-18e1-48a6-9bda-d68547861283\":{"
    "\"lastQualificationTime\":\"2023-09-05T10:43:55.602687Z\",\"status\":\"realized\"},"
    "\"007844dd1-9e5d-4531-a4ee-05470doe759dd\":{\"lastQualificationTime\":"
    "\"2023-09-05T10:43:55.602689Z\",\"status\":\"realized\"}}}},\"delayMs\":0,"
    "\"user\":\"api-user@example.com\",\"eventData\":{\"email\":\"dave@example.com\","
    "\"firstName\":\"Dave\"},\"conditionsMet\":true,\"conditions\":[{\"field\":\"email\","
    "\"op\":\"exists\",\"actual\":\"dave@example.com\",\"met\":true}],\"tasks\":[{\"type\":"
    "\"xm_directory_contact\",\"status\":\"SUCCESS\",\"inputs\":{\"email\":\"dave@example.com\","
    "\"firstName\":\"Dave\"},\"error\":null,\"result\":{\"contactId\":\"CID_NIOWp9AFBpFKZSO\","
    "\"action\":\"created\"}},{\"type\":\"email_distribution\",\"status\":\"SUCCESS\","
    "\"inputs\":{\"email\":\"dave@example.com\",\"subject\":\"Hi Dave\"},\"error\":null,"
    "\"result\":{\"distributionId\":\"EMD_WQS01ZMWsTgZFW8\",\"surveyId\":\"SV_bench\","
    "\"email\":\"dave@example.com\",\"subject\":\"Hi Dave\"}}],\"error\":null,"
    "\"status\":\"SUCCESS\"}";

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long file_size(const char *db, const char *suffix)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s%s", db, suffix);
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* A whole number from lo to hi for option name, else a message and exit 2. */
static long number(const char *name, const char *text, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "qxm-store-bench: --%s wants a whole number from %ld to %ld, not \"%s\"\n",
                name, lo, hi, text);
        exit(2);
    }
    return v;
}

static void usage(FILE *f)
{
    fputs("usage: qxm-store-bench [--runs N] [--batch B] [--distinct] [--dup-window MS]\n"
          "                       [--random-ids] DB\n"
          "Inserts N runs (default 100000) into a new file store DB, B at a time (default 8),\n"
          "and prints the CPU and wall time per run of preparing and of inserting them.\n",
          f);
}

int main(int argc, char **argv)
{
    long runs = 100000, batch = 8, dup_window = 0;
    int distinct = 0, random_ids = 0;
    static const struct option opts[] = {{"runs", required_argument, NULL, 'n'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"distinct", no_argument, NULL, 'd'},
                                         {"dup-window", required_argument, NULL, 'w'},
                                         {"random-ids", no_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'n':
            runs = number("runs", optarg, 1, 100000000);
            break;
        case 'b':
            batch = number("batch", optarg, 1, 4096);
            break;
        case 'd':
            distinct = 1;
            break;
        case 'w':
            dup_window = number("dup-window", optarg, 0, 86400000);
            break;
        case 'r':
            random_ids = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *db = argv[optind];
    struct stat st;
    if (stat(db, &st) == 0) {
        fprintf(stderr, "qxm-store-bench: %s exists; give a new file\n", db);
        return 2;
    }
    qx_error err;
    qxm_store *s = qxm_store_open(db, &err);
    if (s == NULL) {
        fprintf(stderr, "qxm-store-bench: %s\n", err.text);
        return 1;
    }
    json_t *tmpl = json_loads(TEMPLATE, 0, NULL);
    qx_rng *rng = qx_rng_new(42);
    qxm_run_insert *b = calloc((size_t)batch, sizeof *b);
    if (tmpl == NULL || rng == NULL || b == NULL) {
        fprintf(stderr, "qxm-store-bench: out of memory\n");
        return 1;
    }
    double prep_cpu = 0, prep_wall = 0, ins_cpu = 0, ins_wall = 0;
    double proc0 = now_s(CLOCK_PROCESS_CPUTIME_ID), main0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    int rc = 1;
    for (long done = 0; done < runs;) {
        size_t n = (size_t)(runs - done < batch ? runs - done : batch);
        for (size_t i = 0; i < n; i++) {
            char id[40], email[64];
            json_t *doc = json_deep_copy(tmpl);
            qx_rng_id(rng, "RUN_", 15, id, sizeof id);
            if (!random_ids) { /* as the engine draws them (event.c) */
                static const char d62[] =
                    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
                unsigned long long k = (unsigned long long)(done + (long)i);
                for (int c = 9; c >= 4; c--, k /= 62)
                    id[c] = d62[k % 62];
            }
            json_object_set_new(doc, "id", json_string(id));
            qx_rng_uuid(rng, id);
            json_object_set_new(doc, "requestId", json_string(id));
            if (distinct) {
                snprintf(email, sizeof email, "u%ld@example.com", done + (long)i);
                json_t *e0 = json_array_get(
                    json_object_get(json_object_get(json_object_get(doc, "payload"), "identityMap"),
                                    "Email"),
                    0);
                json_object_set_new(e0, "id", json_string(email));
                json_object_set_new(json_object_get(doc, "eventData"), "email", json_string(email));
            }
            int64_t now = qx_now_ms();
            b[i] = (qxm_run_insert){.doc = doc,
                                    .received_ms = now,
                                    .due_ms = now,
                                    .mark_duplicate = dup_window > 0,
                                    .duplicate_since_ms = now - dup_window};
        }
        double c0 = now_s(CLOCK_THREAD_CPUTIME_ID), w0 = now_s(CLOCK_MONOTONIC);
        for (size_t i = 0; i < n; i++)
            if (qxm_run_insert_prepare(&b[i], &err) != 0) {
                fprintf(stderr, "qxm-store-bench: %s\n", err.text);
                goto out;
            }
        double c1 = now_s(CLOCK_THREAD_CPUTIME_ID), w1 = now_s(CLOCK_MONOTONIC);
        if (qxm_store_insert_runs(s, b, n, &err) != 0) {
            fprintf(stderr, "qxm-store-bench: %s\n", err.text);
            goto out;
        }
        double c2 = now_s(CLOCK_THREAD_CPUTIME_ID), w2 = now_s(CLOCK_MONOTONIC);
        prep_cpu += c1 - c0;
        prep_wall += w1 - w0;
        ins_cpu += c2 - c1;
        ins_wall += w2 - w1;
        for (size_t i = 0; i < n; i++) {
            json_decref(b[i].doc);
            free(b[i].text);
        }
        done += (long)n;
    }
    printf("runs %ld batch %ld%s%s dup-window %ld ms\n", runs, batch, distinct ? " distinct" : "",
           random_ids ? " random-ids" : "", dup_window);
    printf("prepare µs/run cpu %.2f wall %.2f\n", prep_cpu * 1e6 / (double)runs,
           prep_wall * 1e6 / (double)runs);
    printf("insert  µs/run cpu %.2f wall %.2f\n", ins_cpu * 1e6 / (double)runs,
           ins_wall * 1e6 / (double)runs);
    double others =
        (now_s(CLOCK_PROCESS_CPUTIME_ID) - proc0) - (now_s(CLOCK_THREAD_CPUTIME_ID) - main0);
    printf("other threads µs/run cpu %.2f (the checkpointer's copies and syncs)\n",
           others * 1e6 / (double)runs);
    printf("file %lld bytes, WAL %lld bytes\n", file_size(db, ""), file_size(db, "-wal"));
    rc = 0;
out:
    free(b);
    qx_rng_free(rng);
    json_decref(tmpl);
    qxm_store_close(s);
    return rc;
}
