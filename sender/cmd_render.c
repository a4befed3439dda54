/*
 * cmd_render.c — `qx-send render`: the payload of each profile on standard
 * output, one compact JSON per line; exclusions and warnings on standard
 * error. Nothing is sent.
 *
 * Output goes out in blocks of RENDER_OUTPUT_BLOCK, and whenever the input
 * has nothing more for now: a file-to-file render makes one write per
 * block, a stream (tail -f | qx-send render) gets each payload as soon as
 * no further line is waiting behind it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qx_buf.h"
#include "qxs_input.h"
#include "qxs_mapping.h"
#include "qxs_render.h"
#include "tool_cmds.h"
#include "tool_governance.h"
#include "tool_options.h"

#define RENDER_OUTPUT_BLOCK 65536

static const char usage_render[] =
    "Usage: qx-send render --mapping MAP.json [--policy FILE --marketing-action NAME]\n"
    "                      [FILE|-]\n"
    "\n"
    "Prints the payload each profile would be sent as, one JSON per line, on\n"
    "standard output; excluded profiles and warnings go to standard error with\n"
    "their line number and reason. Sends nothing. Exit 1 when a line is not a\n"
    "JSON object.\n"
    "\n"
    "  -m, --mapping FILE   mapping file\n"
    "      --policy FILE    data usage and consent policy: profiles whose consent\n"
    "                       denies the marketing actions are excluded (consentDenied);\n"
    "                       labelled attributes a rule forbids: exit 2, nothing read\n"
    "      --marketing-action NAME  a marketing action the destination performs\n"
    "                       (repeatable; required with --policy)\n"
    "  -h, --help           this text\n";

/* What a render applies and has seen so far. */
typedef struct render_counts {
    const qxs_mapping *m;
    const qxs_policy *policy; /* may be NULL */
    size_t sent, excluded, bad;
} render_counts;

/* Waits until the input may have more. Returns 0, or -1 (errno set). */
static int wait_for_input(const qxs_input *in)
{
    struct pollfd p = {.fd = qxs_input_wait_fd(in), .events = POLLIN};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* Renders one profile: its payload to standard output (text is the dump
 * buffer), its warnings or its exclusion to standard error. Returns 0, or
 * TOOL_EXIT_FAILED when the payload cannot be written. */
static int render_profile(const qxs_record *rec, qx_buf *text, render_counts *n)
{
    qx_error err;
    qxs_render_result res;
    int rc = 0;
    if (qxs_render_governed(n->m, n->policy, rec->value, &res, &err) != 0) {
        fprintf(stderr, "line %zu: %s\n", rec->line_no, err.text);
        n->bad++;
        qxs_render_result_clear(&res);
        return 0;
    }
    size_t i;
    json_t *w;
    json_array_foreach(res.warnings, i, w)
        fprintf(stderr, "line %zu: warning: %s\n", rec->line_no, json_string_value(w));
    if (res.payload != NULL) {
        size_t len = qxs_payload_dump(res.payload, text);
        if (len == 0 || fwrite(text->data, 1, len, stdout) != len || putchar('\n') == EOF) {
            fprintf(stderr, "qx-send: writing the payload: %s\n", strerror(errno));
            rc = TOOL_EXIT_FAILED;
        }
        n->sent++;
    } else {
        fprintf(stderr, "line %zu: excluded (%s): %s\n", rec->line_no,
                qxs_exclusion_name(res.excluded), res.detail);
        n->excluded++;
    }
    qxs_render_result_clear(&res);
    return rc;
}

/* Renders every record of in until it ends or an output or read error.
 * Returns 0 or TOOL_EXIT_FAILED. */
static int render_input(qxs_input *in, render_counts *n)
{
    qx_buf text = {0};
    int rc = 0;
    while (rc == 0) {
        qxs_record rec;
        int got = qxs_input_take(in, &rec);
        if (got == 0) {
            /* nothing more for now: what was rendered goes out before waiting */
            if (fflush(stdout) != 0 || wait_for_input(in) != 0) {
                fprintf(stderr, "qx-send: %s\n", strerror(errno));
                rc = TOOL_EXIT_FAILED;
            }
            continue;
        }
        if (got < 0)
            break;
        if (rec.value == NULL && rec.line_no == 0) {
            fprintf(stderr, "qx-send: %s\n", rec.error); /* a read error ends the input */
            rc = TOOL_EXIT_FAILED;
            break;
        }
        if (rec.value == NULL) {
            fprintf(stderr, "%s\n", rec.error);
            n->bad++;
            continue;
        }
        rc = render_profile(&rec, &text, n);
        json_decref(rec.value);
    }
    qx_buf_free(&text);
    return rc;
}

int tool_cmd_render(int argc, char **argv)
{
    static const tool_command cmd = {.name = "render",
                                     .usage = usage_render,
                                     .shortopts = "m:h",
                                     .accepts =
                                         TOOL_OPTS_MAPPING | TOOL_OPTS_POLICY | TOOL_OPTS_ACTION};
    tool_options o = {0};
    int rc = tool_parse_options(&cmd, argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (o.mapping == NULL)
        return tool_usage_error("render", "%s", "--mapping is required");
    render_counts n = {0};
    qxs_policy *policy = NULL;
    qxs_mapping *m = tool_load_mapping(o.mapping);
    if (m == NULL)
        return TOOL_EXIT_USAGE;
    /* a label violation refuses the mapping before any profile is read */
    rc =
        tool_policy_open("render", o.policy, o.actions, o.n_actions, "--marketing-action", &policy);
    if (rc == 0)
        rc = tool_policy_check_labels("render", policy, m);
    int fd = rc == 0 ? tool_open_input(o.input) : -1;
    if (fd < 0) {
        qxs_policy_free(policy);
        qxs_mapping_free(m);
        return TOOL_EXIT_USAGE;
    }
    n.m = m;
    n.policy = policy;
    qx_error err;
    qxs_input *in = qxs_input_open(fd, fd != STDIN_FILENO, NULL, &err);
    if (in == NULL)
        fprintf(stderr, "qx-send: %s\n", err.text);
    /* glibc ignores the size unless it is given the buffer; static: stdout
     * may still use it at exit */
    static char out_block[RENDER_OUTPUT_BLOCK];
    if (!isatty(STDOUT_FILENO))
        setvbuf(stdout, out_block, _IOFBF, sizeof out_block);
    rc = in != NULL ? render_input(in, &n) : TOOL_EXIT_FAILED;
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "qx-send: writing the payload: %s\n", strerror(errno));
        rc = TOOL_EXIT_FAILED;
    }
    qxs_input_free(in);
    qxs_policy_free(policy);
    qxs_mapping_free(m);
    if (rc == 0 && n.bad > 0)
        rc = TOOL_EXIT_FAILED;
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "%zu rendered, %zu excluded, %zu malformed\n", n.sent, n.excluded, n.bad);
    return rc;
}
