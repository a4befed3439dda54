/*
 * tool_deliver.h — what `send` and `replay` share in the tool: checking
 * their options, opening every file before anything is sent, the terminal's
 * progress line, SIGINT/SIGTERM, the report and the exit status.
 *
 * Owns: for the length of one call, the mapping, destination, input
 * descriptor, dead-letter and trace files, report and state it opens; all
 * are closed or freed before it returns.
 * Locks: none. Shared state: one signal self-pipe (static), written only by
 * the SIGINT/SIGTERM handler (async-signal-safe) and read by the delivery
 * loop through qxs_send_options.stop_fd; one run per process.
 * Fails: by its exit status, after printing why: 2 for bad usage or
 * configuration (a file that cannot be read or written), 1 when something
 * failed, 3 when a --state run stopped with lines pending.
 */
#ifndef TOOL_DELIVER_H
#define TOOL_DELIVER_H

#include "tool_options.h"

/* Runs cmd, send or replay (told apart by cmd->name), on its argv (argv[0]
 * is the command's name). Returns the exit status. */
int tool_deliver(const tool_command *cmd, int argc, char **argv);

#endif
