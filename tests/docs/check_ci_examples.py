#!/usr/bin/env python3
"""The CI examples of docs/ci/ against the built programs.

Usage: check_ci_examples.py BIN_DIR FILE.yml...

For each file:
  - it parses as YAML (PyYAML's safe loader) into a mapping;
  - every qx-mock / qx-send command line in its scripts (GitHub's `run`,
    GitLab's `script`, `before_script`, `after_script`) names a command the
    program has and only long options that command's --help prints
    (qxhelp.py reads them from the binaries in BIN_DIR);
  - it runs at least one `qx-mock suite ... --junit FILE`, and every such
    JUnit file is published: named by GitLab's `artifacts: reports: junit`,
    or in the `with:` of a GitHub step that `uses` a JUnit reporter.
Exits 1 naming each problem; 77 (skipped) when PyYAML is missing
(Debian: python3-yaml, which ci/deps.sh installs).
"""

import fnmatch
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qxhelp  # noqa: E402

try:
    import yaml
except ImportError:
    print("SKIP: PyYAML missing (apt-get install python3-yaml, or run ci/deps.sh)")
    sys.exit(77)

SCRIPT_KEYS = ("run", "script", "before_script", "after_script")
OPERATORS = {"|", "||", "&", "&&", ";", ";;", ">", ">>", "<", "(", ")"}


def scripts(node):
    """Every shell script text under a script key, anywhere in the file."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SCRIPT_KEYS:
                items = value if isinstance(value, list) else [value]
                yield from (s for s in items if isinstance(s, str))
            else:
                yield from scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from scripts(item)


def command_lines(script):
    """The argument lists of each qx-mock / qx-send invocation in a script."""
    text = script.replace("\\\n", " ")
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes: read it as words
            tokens = line.split()
        for i, token in enumerate(tokens):
            prog = os.path.basename(token)
            if prog in qxhelp.PROGRAMS:
                args = []
                for arg in tokens[i + 1 :]:
                    if arg in OPERATORS:
                        break
                    args.append(arg)
                yield prog, args


def allowed_options(help_text, top_level):
    options = qxhelp.defined_options(help_text)
    if top_level:  # qx-send lists its commands, not a table: --help, --version
        options |= {"help", "version"} & qxhelp.mentioned_options(help_text)
    return options


def check_command(helps, prog, args, where):
    problems = []
    cmd = None
    if args and not args[0].startswith("-"):
        cmd = args[0]
        if cmd not in helps[prog]:
            commands = ", ".join(sorted(c for c in helps[prog] if c))
            return [f"{where}: '{prog} {cmd}': no such command (it has {commands})"]
    allowed = allowed_options(helps[prog][cmd], cmd is None)
    label = prog if cmd is None else f"{prog} {cmd}"
    for arg in args:
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0]
            if name not in allowed:
                problems.append(f"{where}: '{label}' has no option --{name} ({label} --help)")
    return problems


def junit_outputs(prog, args):
    if prog != "qx-mock":
        return []
    outs = []
    for i, arg in enumerate(args):
        if arg == "--junit" and i + 1 < len(args):
            outs.append(args[i + 1])
        elif arg.startswith("--junit="):
            outs.append(arg.split("=", 1)[1])
    return outs


def published_patterns(node):
    """JUnit paths a file hands to its CI: GitLab's reports: junit, and the
    inputs of a GitHub step that uses a JUnit or test reporter."""
    found = []
    if isinstance(node, dict):
        reports = node.get("reports")
        if isinstance(reports, dict) and "junit" in reports:
            junit = reports["junit"]
            found += junit if isinstance(junit, list) else [junit]
        uses = node.get("uses")
        if isinstance(uses, str) and ("junit" in uses.lower() or "test-report" in uses.lower()):
            for value in (node.get("with") or {}).values():
                if isinstance(value, str):
                    found += value.replace(",", "\n").split()
        for value in node.values():
            found += published_patterns(value)
    elif isinstance(node, list):
        for item in node:
            found += published_patterns(item)
    return [p for p in found if isinstance(p, str)]


def check_file(path, helps):
    where = os.path.relpath(path)
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        return [f"{where}: not valid YAML: {e}"], 0
    if not isinstance(doc, dict):
        return [f"{where}: not a YAML mapping"], 0
    problems, count, junits = [], 0, []
    for script in scripts(doc):
        for prog, args in command_lines(script):
            count += 1
            problems += check_command(helps, prog, args, where)
            if args[:1] == ["suite"]:
                junits += junit_outputs(prog, args)
    if not any(True for _ in scripts(doc)):
        problems.append(f"{where}: no run/script entries found")
    if not junits:
        problems.append(f"{where}: no 'qx-mock suite ... --junit FILE' command")
    patterns = published_patterns(doc)
    for junit in junits:
        if not any(fnmatch.fnmatch(junit, p) for p in patterns):
            problems.append(f"{where}: the JUnit file {junit} is not published (published: {patterns})")
    return problems, count


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    bin_dir, files = argv[1], argv[2:]
    try:
        helps = {prog: qxhelp.program_help(bin_dir, prog) for prog in qxhelp.PROGRAMS}
    except qxhelp.HelpError as e:
        print(f"check_ci_examples: {e}", file=sys.stderr)
        return 1
    problems = []
    for path in files:
        found, count = check_file(path, helps)
        problems += found
        print(f"{os.path.relpath(path)}: {count} qx-mock/qx-send command lines checked")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_ci_examples: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check_ci_examples: every example parses and names commands and options that exist")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
