"""SIGTERM (a scheduler's stop, `kill PID`) stops every command as Ctrl-C does: the command's own cleanup runs
(optimize keeps the best candidate so far, train its checkpoints) and one line says how to go on, exit 130.
Before, only `slimtorch run` did; `slimtorch optimize` died at once (exit 143, nothing said)."""

import subprocess
import sys

SCRIPT = """
import os, signal, sys, time
import slimtorch.cli.optimize as cmd
from slimtorch.cli import main

def run(args):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)  # the signal arrives here
    return 0

cmd.run = run
sys.exit(main(["optimize", "lenet5", "--data", "digits"]))
"""


def test_sigterm_stops_a_command_as_ctrl_c_does():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert done.stderr.strip() == ("slimtorch: interrupted; finished trials are saved: rerun it with --resume to "
                                   "continue the search")
