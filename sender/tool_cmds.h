/*
 * tool_cmds.h — qx-send's commands, one file each (cmd_<name>.c), which
 * main.c dispatches to.
 *
 * Each takes its own argv (argv[0] is the command's name), parses it with
 * tool_parse_options, runs, and returns the process's exit status (see
 * tool_options.h): it prints its own messages and frees all it took.
 * Owns: nothing after it returns.
 * Locks: none; no shared state (one command per process, one thread; send
 * and replay keep a signal self-pipe, see tool_deliver.h).
 * Fails: by its exit status; curl_global_init must have been called.
 */
#ifndef TOOL_CMDS_H
#define TOOL_CMDS_H

/* qx-send send: render profiles and deliver the payloads (cmd_send.c). */
int tool_cmd_send(int argc, char **argv);

/* qx-send replay: re-send recorded payloads (cmd_replay.c). */
int tool_cmd_replay(int argc, char **argv);

/* qx-send render: print the payloads, send nothing (cmd_render.c). */
int tool_cmd_render(int argc, char **argv);

/* qx-send validate: check a mapping (cmd_validate.c). */
int tool_cmd_validate(int argc, char **argv);

#endif
