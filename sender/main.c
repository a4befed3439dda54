/*
 * main.c — qx-send, the streaming destination: the process (libcurl,
 * SIGPIPE) and the dispatch to one command. Each command is a file of its
 * own (cmd_*.c, tool_cmds.h); option parsing is tool_options.c; everything
 * else is the qxsend library.
 *
 * Exit status: 0 nothing failed; 1 something failed (a payload, a validation
 * error, a malformed line); 2 bad usage or configuration; 3 a --state run
 * stopped by a signal with lines still pending.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "qx_suggest.h"
#include "tool_cmds.h"
#include "tool_options.h"

static const char usage_main[] =
    "Usage: qx-send COMMAND [OPTIONS] [FILE]\n"
    "\n"
    "The streaming destination of qxharness: maps customer profiles to Qualtrics\n"
    "JSON-event payloads and delivers them, as the platform's Qualtrics Automations\n"
    "destination does.\n"
    "\n"
    "Commands:\n"
    "  send      map profiles (NDJSON) and deliver them to the destination\n"
    "  render    print the payloads that would be sent; send nothing\n"
    "  validate  check a mapping against sample profiles and a workflow\n"
    "  replay    re-send the payloads of a dead-letter file or a qx-mock history export\n"
    "\n"
    "Run 'qx-send COMMAND --help' for a command's options, 'qx-send --version' for\n"
    "the version.\n"
    "Exit status: 0 nothing failed, 1 something failed, 2 bad usage or configuration,\n"
    "3 stopped with lines pending in a --state file.\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"send", tool_cmd_send},
    {"replay", tool_cmd_replay},
    {"render", tool_cmd_render},
    {"validate", tool_cmd_validate},
};

/* One line for a command that is none: "qx-send: unknown command 'sned'
 * (did you mean 'send'?); try 'qx-send --help'". Returns TOOL_EXIT_USAGE. */
static int unknown_command(const char *cmd)
{
    const char *names[sizeof commands / sizeof commands[0]];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        names[i] = commands[i].name;
    const char *best = qx_suggest(cmd, names, sizeof names / sizeof names[0]);
    if (cmd[0] == '-')
        fprintf(stderr,
                "qx-send: unknown option '%s'; a command comes first; try 'qx-send --help'\n", cmd);
    else if (best != NULL)
        fprintf(stderr,
                "qx-send: unknown command '%s' (did you mean '%s'?); try 'qx-send --help'\n", cmd,
                best);
    else
        fprintf(stderr, "qx-send: unknown command '%s'; try 'qx-send --help'\n", cmd);
    return TOOL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return TOOL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("qx-send %s (%s)\n", QX_VERSION, curl_version());
        return 0;
    }
    /* SIGPIPE: a closed stdout (render | head) is an error return, not death */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "qx-send: libcurl cannot start\n");
        return TOOL_EXIT_FAILED;
    }
    int rc = -1;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            rc = commands[i].run(argc - 1, argv + 1);
    if (rc < 0)
        rc = unknown_command(cmd);
    curl_global_cleanup();
    return rc;
}
