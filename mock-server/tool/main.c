/*
 * qx-mock — a Qualtrics JSON-event emulator that records every workflow run.
 *
 * This file only picks the command; options are read in options.c, and
 * each command has its file (serve.c, suite.c, conform.c, whatif.c,
 * capture.c). The emulator itself is the
 * libraries under mock-server/ (qxm_mock.h, qxm_suite.h).
 */
#include <string.h>

#include "tool.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "suite") == 0)
        return tool_suite(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "conform") == 0)
        return tool_conform(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "capture") == 0)
        return tool_capture(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "whatif") == 0)
        return tool_whatif(argc - 1, argv + 1);
    serve_options o;
    int status = tool_parse_serve(argc, argv, &o);
    if (status >= 0)
        return status;
    return tool_serve(&o);
}
