"""The pipeline: run a recipe's stages (train, prune, distill, quantize, export, measure) into a
resumable run directory with a measured report.

Example:
    >>> import slimtorch as st
    >>> result = st.run_recipe("recipes/mnist-demo.yaml", out="runs/demo")  # doctest: +SKIP
    >>> result.metrics["final"]["speedup"]  # doctest: +SKIP
"""

from .runner import RunResult, run, run_recipe

__all__ = ["RunResult", "run", "run_recipe"]
