"""Unknown words on the command line are named first: argparse checks required arguments before it looks at
the words it did not recognise, so ``slimtorch --bogus`` said only "arguments are required: command" and
``slimtorch train --bogus-flag 3`` only "required: --model, --data", never naming the typo."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterator
from contextlib import contextmanager

SHOWN = 12  # a parser with more flags than this gets the close matches and a pointer to --help, not all of them


def check_unknown(parser: argparse.ArgumentParser, argv: list[str] | None) -> str | None:
    """The error line for words no (sub)parser of ``parser`` accepts in ``argv`` (or for no command at all),
    or None when there are none.

    Parsed with every argument optional, so that a missing one does not hide an unknown one; any other
    error (a bad value, an unknown command) is raised by the parser as it would be.

    Example:
        >>> check_unknown(build_parser(), ["train", "--bogus-flag", "3"])  # doctest: +SKIP
        'unrecognized arguments: --bogus-flag 3; ...'
    """
    with _all_optional(parser):
        args, extras = parser.parse_known_args(argv)
    command = getattr(args, "command", None)
    if not extras and command is None and _subparsers(parser):  # argparse: "arguments are required: command"
        return f"no command given; allowed: {', '.join(_subparsers(parser))} (`slimtorch COMMAND --help` for each)"
    if not extras:
        return None
    sub = _subparsers(parser).get(command) if command else None
    return f"unrecognized arguments: {' '.join(extras)}; {_allowed(parser, sub, command, extras)}"


def _allowed(parser: argparse.ArgumentParser, sub: argparse.ArgumentParser | None, command: str | None,
             extras: list[str]) -> str:
    if sub is None:
        commands = ", ".join(_subparsers(parser))
        return f"allowed: a command ({commands}) or --help, --version; then `slimtorch COMMAND --help`"
    flags = sorted(o for a in sub._actions for o in a.option_strings if o.startswith("--"))
    if len(flags) <= SHOWN:
        return f"allowed flags of {command}: {', '.join(flags)}"
    typed = [e.split("=", 1)[0] for e in extras if e.startswith("-")]
    near = list(dict.fromkeys(m for t in typed for m in difflib.get_close_matches(t, flags, n=3, cutoff=0.75)))
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    return f"{hint}`slimtorch {command} --help` lists its {len(flags)} flags"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


@contextmanager
def _all_optional(parser: argparse.ArgumentParser) -> Iterator[None]:
    """Every argument of ``parser`` and of its subcommands made optional for the duration (then restored)."""
    actions = [a for p in [parser, *_subparsers(parser).values()] for a in p._actions]
    required = [a.required for a in actions]
    saved_nargs = [a.nargs for a in actions]
    for a in actions:
        a.required = False
        if not a.option_strings and a.nargs is None:  # a positional (a recipe, a model path): may be missing here
            a.nargs = "?"
    try:
        yield
    finally:
        for a, r, n in zip(actions, required, saved_nargs):
            a.required, a.nargs = r, n
