/*
 * cmd_replay.c — `qx-send replay`: its --help text and options; the run
 * itself is tool_deliver's (shared with send).
 */
#include "tool_cmds.h"
#include "tool_deliver.h"

static const char usage_replay[] =
    "Usage: qx-send replay --destination DEST.json [OPTIONS] FILE|-\n"
    "\n"
    "Re-sends the \"payload\" of every line of FILE, in file order: a dead-letter\n"
    "file written by 'send --dead-letter', or a qx-mock history export\n"
    "(GET /_qx/v1/export). Payloads are sent as recorded, not re-rendered.\n"
    "\n"
    "  -d, --destination FILE   destination file\n"
    "  -c, --concurrency N      requests in flight at most (default 1: original order)\n"
    "      --cacert FILE        CA certificates (PEM) for an https destination\n"
    "      --dead-letter FILE   append payloads that failed again\n"
    "      --from-line N        start at line N of FILE (not with --state)\n"
    "      --progress WHEN      auto (a live line on a terminal, else a summary at\n"
    "                           the end), always or never\n"
    "      --rate N/min|N/s     pace the calls (default: the destination's\n"
    "                           rateLimitPerMinute, else not paced)\n"
    "      --report FILE        write the JSON report\n"
    "      --retry-schedule L   retry delays (default 15s,30s)\n"
    "      --state FILE         checkpoint progress; run again with it to resume\n"
    "      --timeout-ms N       time limit of one HTTP call (default 2000)\n"
    "      --trace FILE         write every HTTP call as NDJSON\n"
    "  -v, --verbose / -q, --quiet / -h, --help\n";

int tool_cmd_replay(int argc, char **argv)
{
    static const tool_command cmd = {
        .name = "replay",
        .usage = usage_replay,
        .shortopts = "d:c:vqh",
        .accepts = TOOL_OPTS_DELIVERY,
    };
    return tool_deliver(&cmd, argc, argv);
}
