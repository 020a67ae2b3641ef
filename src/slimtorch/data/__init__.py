"""Datasets, all local (bundled or generated; never downloaded), as in-memory ArrayDatasets.

Example:
    >>> import slimtorch as st
    >>> train, test = st.data.load("mnist")          # doctest: +SKIP
"""

from .arrays import ArrayDataset
from .catalog import load, names
from .dream import dream
from .mnist import MEAN as MNIST_MEAN
from .mnist import STD as MNIST_STD
from .offline import MissingPackageError, cache_dir, package_file

__all__ = ["MNIST_MEAN", "MNIST_STD", "ArrayDataset", "MissingPackageError", "cache_dir", "dream", "load", "names",
           "package_file"]
