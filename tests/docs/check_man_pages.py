#!/usr/bin/env python3
"""The man pages (man/qx-mock.1, man/qx-send.1) against the programs' --help.

Usage: check_man_pages.py BIN_DIR MAN_DIR

For each program, its commands are discovered from its --help (qxhelp.py), and:
  - every command has a section ".SS COMMAND" under ".SH COMMANDS", and every
    such section is a command the program has;
  - every option in the top-level help's option table is an entry (.TP) of
    ".SH OPTIONS", and every long option the top-level help names appears in
    the page;
  - every long option a command's --help names appears in that command's
    section, and every option of its option table is an entry (.TP) there;
  - every entry (.TP) of ".SH OPTIONS" or of a command's section is an option
    its --help prints, so a removed option cannot linger in the page.
A new option or command is documented by adding its lines to the page; this
script needs no change. Exits 1 naming each difference, 0 when none.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qxhelp  # noqa: E402


def plain(line):
    """A roff line without its escapes for fonts, dashes and spacing."""
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\%", "").replace("\\&", "")
    return line.replace("\\|", "")


class ManPage:
    """The parts of a man page the check needs: its text, the text and .TP
    entries of .SH OPTIONS, and those of each .SS section of .SH COMMANDS."""

    def __init__(self, path):
        self.text = ""
        self.sections = {}  # None: .SH OPTIONS; name: .SS name under COMMANDS
        self.entries = {}
        sh, key, tag_next = None, "", False  # "": a part the check skips
        with open(path, encoding="utf-8") as f:
            for raw in f:
                line = plain(raw.rstrip("\n"))
                self.text += line + "\n"
                if line.startswith(".SH"):
                    sh = line[3:].strip().strip('"')
                    key = None if sh == "OPTIONS" else ""
                    continue
                if line.startswith(".SS") and sh == "COMMANDS":
                    key = line[3:].strip().strip('"').split()[0]
                    self.sections.setdefault(key, "")
                    self.entries.setdefault(key, set())
                    continue
                if key == "":
                    continue
                self.sections[key] = self.sections.get(key, "") + line + "\n"
                if tag_next:
                    self.entries.setdefault(key, set()).update(qxhelp.LONG_OPTION.findall(line))
                tag_next = line.startswith(".TP")


def has_option(text, name):
    return re.search(rf"(?<![\w-])--{re.escape(name)}(?![\w-])", text) is not None


def check_program(bin_dir, man_dir, prog):
    problems = []
    helps = qxhelp.program_help(bin_dir, prog)
    page_path = os.path.join(man_dir, f"{prog}.1")
    page = ManPage(page_path)
    where = os.path.relpath(page_path)
    commands = [c for c in helps if c is not None]
    if not commands:  # both programs have commands: none found means discovery broke
        problems.append(f"{prog}: no command found in its --help")
    for cmd in commands:
        if cmd not in page.sections:
            problems.append(f"{where}: no section '.SS {cmd}' under '.SH COMMANDS' for '{prog} {cmd}'")
    for name in page.sections:
        if name is not None and name not in helps:
            problems.append(f"{where}: '.SS {name}' is no command of {prog} (its --help names none)")
    if None not in page.sections:
        problems.append(f"{where}: no '.SH OPTIONS' section")
    checked = 0
    for cmd, text in helps.items():
        label = f"{prog} --help" if cmd is None else f"{prog} {cmd} --help"
        section_name = "OPTIONS" if cmd is None else f"'.SS {cmd}'"
        section = page.sections.get(cmd, "")
        entries = page.entries.get(cmd, set())
        scope = page.text if cmd is None else section
        for opt in sorted(qxhelp.mentioned_options(text)):
            checked += 1
            if not has_option(scope, opt):
                problems.append(f"{where}: --{opt} (printed by {label}) is not in {'the page' if cmd is None else section_name}")
        for opt in sorted(qxhelp.defined_options(text)):
            if opt not in entries:
                problems.append(f"{where}: --{opt} (an option of {label}) has no .TP entry in {section_name}")
        if cmd in page.sections:
            for opt in sorted(entries - qxhelp.mentioned_options(text)):
                problems.append(f"{where}: {section_name} has an entry for --{opt}, which {label} does not print")
    print(f"{prog}: {len(commands)} commands ({', '.join(commands)}), {checked} options checked against {where}")
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bin_dir, man_dir = argv[1], argv[2]
    problems = []
    try:
        for prog in qxhelp.PROGRAMS:
            problems += check_program(bin_dir, man_dir, prog)
    except (qxhelp.HelpError, OSError) as e:
        print(f"check_man_pages: {e}", file=sys.stderr)
        return 1
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_man_pages: {len(problems)} difference(s) between the man pages and --help", file=sys.stderr)
        return 1
    print("check_man_pages: the man pages document every command and option --help prints")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
