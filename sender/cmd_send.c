/*
 * cmd_send.c — `qx-send send`: its --help text and options; the run itself
 * is tool_deliver's (shared with replay).
 */
#include "tool_cmds.h"
#include "tool_deliver.h"

static const char usage_send[] =
    "Usage: qx-send send --destination DEST.json --mapping MAP.json [OPTIONS] [FILE|-]\n"
    "\n"
    "Reads profiles as NDJSON from FILE or standard input (a stream: each line is\n"
    "sent as soon as it arrives), renders each with the mapping and POSTs the\n"
    "payload to the destination's URL with Basic auth (username, API token).\n"
    "\n"
    "  -d, --destination FILE   destination file (name, url, username, passwordEnv|passwordFile,\n"
    "                           optional rateLimitPerMinute)\n"
    "  -m, --mapping FILE       mapping file (audiences, identities, attributes)\n"
    "  -c, --concurrency N      requests in flight at most (default 8, 1..256)\n"
    "      --cacert FILE        CA certificates (PEM) to verify an https destination with,\n"
    "                           instead of the system's; certificates are always verified\n"
    "      --dead-letter FILE   append payloads that finally failed, as NDJSON\n"
    "      --alert-skipped-rate PCT  raise activationSkippedRateExceeded when more than\n"
    "                           PCT % of the activations are skipped (default 1, as the\n"
    "                           platform; 0: never): a warning, an entry in the report\n"
    "      --alert-webhook URL  POST each alert there as JSON (3 attempts)\n"
    "      --alert-token-env VAR  send 'Authorization: Bearer' with $VAR to the webhook\n"
    "      --from-line N        start at input line N: lines 1..N-1 are read and\n"
    "                           skipped, neither sent nor counted (not with --state)\n"
    "      --progress WHEN      auto: on a terminal a live line (share of FILE, rate, ETA,\n"
    "                           throttling), else one summary line at the end; always:\n"
    "                           the line even when not a terminal; never (on stderr)\n"
    "      --rate N/min|N/s     pace the calls (retries too) to at most N a minute or a\n"
    "                           second, spaced evenly (one call at a time); overrides\n"
    "                           the destination's rateLimitPerMinute; default: not paced\n"
    "                           (Qualtrics allows 3,000 API calls a minute per user)\n"
    "      --policy FILE        data usage and consent policy (instead of the destination's\n"
    "                           \"policy\"), for the destination's marketingActions: a\n"
    "                           profile whose consent denies them is excluded\n"
    "                           (consentDenied); labelled attributes a rule forbids stop\n"
    "                           the send before anything is read (exit 2)\n"
    "      --report FILE        write the JSON report (counts, retries, latency, throughput)\n"
    "      --retry-schedule L   retry delays, e.g. 100ms,200ms (units ms, s; 'none': no\n"
    "                           retries); default 15s,30s, the platform's policy\n"
    "      --state FILE         checkpoint progress in FILE; run again with the same FILE\n"
    "                           (and input FILE) to resume after a crash or a signal\n"
    "      --timeout-ms N       time limit of one HTTP call (default 2000)\n"
    "      --trace FILE         write every HTTP call as NDJSON (Authorization redacted)\n"
    "  -v, --verbose            log retries and exclusions too (twice: every delivery)\n"
    "  -q, --quiet              log errors only\n"
    "  -h, --help               this text\n"
    "\n"
    "Exit status: 0 when every line was activated or excluded, 1 when any failed,\n"
    "2 on bad usage or configuration, 3 when a --state run was stopped with lines\n"
    "pending. A 429 with Retry-After pauses every request to the destination\n"
    "(retries too) until it has passed; requests in flight go on.\n"
    "SIGINT/SIGTERM stop reading, finish the requests in flight,\n"
    "dead-letter the rest (with --state: keep it pending) and write the report;\n"
    "its resumeFromLine is the first line not read, for --from-line.\n";

int tool_cmd_send(int argc, char **argv)
{
    static const tool_command cmd = {
        .name = "send",
        .usage = usage_send,
        .shortopts = "d:m:c:vqh",
        .accepts = TOOL_OPTS_MAPPING | TOOL_OPTS_DELIVERY | TOOL_OPTS_POLICY | TOOL_OPTS_ALERTS,
    };
    return tool_deliver(&cmd, argc, argv);
}
