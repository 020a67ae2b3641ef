"""Search for the fastest (or smallest) model within an accuracy budget: ``st.optimize``."""

from .optimize import OBJECTIVES, optimize
from .result import OptimizeResult

__all__ = ["OBJECTIVES", "OptimizeResult", "optimize"]
