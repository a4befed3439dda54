"""What the built programs say about themselves: their commands and options,
read from their --help output (shared by check_man_pages.py and
check_ci_examples.py).

Nothing here knows the programs' options: commands are discovered from the
top-level help (a line "PROG WORD ..." or an entry of a "Commands:" list,
kept when "PROG WORD --help" answers "Usage: PROG WORD"), and options are the
long options each help text prints. A command or option added to a program
is picked up by both checks without editing them.
"""

import os
import re
import subprocess

PROGRAMS = ("qx-mock", "qx-send")

# --name, not part of a longer word, not a bare "--"
LONG_OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
# An option table's entry: "  -c, --config FILE   text" or "      --db FILE".
# Continuation lines of a description are indented further than this.
DEFINITION = re.compile(r"^ {0,8}(?:-[A-Za-z0-9], )?--[a-z]")


class HelpError(Exception):
    pass


def run_help(bin_dir, prog, *args):
    """The text of `prog args... --help` and its exit status."""
    path = os.path.join(bin_dir, prog)
    try:
        done = subprocess.run(
            [path, *args, "--help"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HelpError(f"{path} {' '.join(args)} --help: {e}") from e
    return done.returncode, done.stdout + done.stderr


def mentioned_options(text):
    """Every long option a help text names, in its prose or its table."""
    return set(LONG_OPTION.findall(text))


def defined_options(text):
    """The long options of a help text's option table (its entries, not
    options named inside a description)."""
    found = set()
    for line in text.splitlines():
        if DEFINITION.match(line):
            head = re.split(r"(?<=\S) {2,}", line.strip(), maxsplit=1)[0]
            found |= set(LONG_OPTION.findall(head))
    return found


def discover_commands(bin_dir, prog, top_help):
    """Commands of prog named by its top-level help that answer --help."""
    candidates = set(re.findall(rf"(?<![\w-]){re.escape(prog)} ([a-z][a-z0-9-]*)", top_help))
    in_list = False
    for line in top_help.splitlines():
        if re.match(r"^Commands:\s*$", line):
            in_list = True
            continue
        if in_list:
            m = re.match(r"^ {1,8}([a-z][a-z0-9-]*)(?: {2,}|$)", line)
            if m:
                candidates.add(m.group(1))
            elif line.strip() == "" or not line.startswith(" "):
                in_list = False
    commands = {}
    for cand in sorted(candidates):
        rc, text = run_help(bin_dir, prog, cand)
        if rc == 0 and text.startswith(f"Usage: {prog} {cand}"):
            commands[cand] = text
    return commands


def program_help(bin_dir, prog):
    """{None: top-level help, command: its help, ...} for prog."""
    rc, top = run_help(bin_dir, prog)
    if rc != 0:
        raise HelpError(f"{prog} --help exited {rc}")
    helps = {None: top}
    helps.update(discover_commands(bin_dir, prog, top))
    return helps
