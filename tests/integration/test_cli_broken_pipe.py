"""`slimtorch ... | head`: a reader that leaves early ends the command quietly, never with a traceback."""

import os
import subprocess
import sys


def test_output_into_a_closed_pipe_is_not_a_traceback():
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    proc = subprocess.run([sys.executable, "-m", "slimtorch.cli", "list"], stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    os.close(write)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.returncode == 141
