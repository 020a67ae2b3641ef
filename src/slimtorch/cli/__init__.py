"""The ``slimtorch`` command. Each subcommand lives in its own module with
``add_parser(subparsers)`` and ``run(args) -> int``; bad input is one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from .. import __version__
from ..config import ConfigError
from ..training.errors import NonFiniteLossError
from ..untrusted import ModelFileError
from .errors import DEBUG_ENV, debug_on, value_error
from .unknown import check_unknown

SUBCOMMANDS = ["train", "list", "run", "demo", "bench", "prune", "optimize"]


# what an interrupted command kept, and how to go on (a command not named here saves only at its end)
RESUME = {"train": "rerun it with --resume to continue from its last checkpoint",
          "run": "finished stages are saved: rerun the same command to resume",
          "demo": "finished stages are saved: rerun the same command to resume",
          "optimize": "finished trials are saved: rerun it with --resume to continue the search"}


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """slimtorch's own warnings as one line, ``slimtorch: warning: ...`` (Python's format adds the file path and
    the source line of the warn call); another package's keep their origin, which says whose they are."""
    ours = os.path.abspath(filename).startswith(_PACKAGE + os.sep)
    text = f"slimtorch: warning: {message}\n" if ours else warnings.formatwarning(message, category, filename, lineno,
                                                                                    line)
    try:
        (file or sys.stderr).write(text)
    except OSError:  # stderr closed: a warning is not worth a crash
        pass


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="slimtorch", description="Train, prune, distill, quantize and measure PyTorch models.")
    parser.add_argument("--version", action="version", version=f"slimtorch {__version__}")
    debug = f"show the traceback of an error instead of one line (also: {DEBUG_ENV}=1)"
    parser.add_argument("--debug", action="store_true", help=debug)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"slimtorch.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"slimtorch.cli.{name}":
                raise
            continue
        p = mod.add_parser(sub)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug)  # after COMMAND too
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    debug = debug_on(argv)
    try:
        parser = build_parser()
        unknown = check_unknown(parser, argv)
        if unknown:
            raise UsageError(unknown)
        args = parser.parse_args(argv)
        from ..pipeline.runner import interrupts_as_keyboard

        # SIGTERM (a scheduler's stop) as Ctrl-C: each command's cleanup runs and the line below says how to go on
        with warnings.catch_warnings(), interrupts_as_keyboard():  # both restored when the command ends
            if not debug:
                warnings.showwarning = _show_warning
            return int(args._run(args) or 0)
    except (UsageError, ConfigError, FileNotFoundError, ModelFileError) as err:
        if debug:
            raise
        print(f"slimtorch: error: {err}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:  # a run that went wrong, not bad input: exit 1
        if debug:
            raise
        print(f"slimtorch: error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # the library refused an input the CLI passed on unchecked (or a bug: see errors.py)
        if debug:
            raise
        return value_error(err)
    except KeyboardInterrupt:
        command = next((w for w in (sys.argv[1:] if argv is None else argv) if w in SUBCOMMANDS), None)
        print(f"slimtorch: interrupted; {RESUME.get(command, 'nothing was saved')}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `slimtorch bench DIR | head`: the reader left; no traceback, as other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush is quiet
        return 141

if __name__ == "__main__":
    sys.exit(main())
