"""Odd files and option values a new user passes to st.data.load: one ValueError naming the option, never a
TypeError from deep inside, never a hang."""

import numpy as np
import pytest

import slimtorch as st


@pytest.fixture()
def table(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("".join(f"{i},{i * 2},{i % 2}\n" for i in range(10)))
    return f


@pytest.mark.parametrize("fraction", [1.5, -0.2, 1.0])
def test_text_with_a_test_fraction_outside_0_1_is_refused_not_a_hang(tmp_path, fraction):
    from slimtorch.data.split import min_rows

    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        min_rows(fraction)  # looped forever for fractions outside (0, 1)


@pytest.mark.parametrize(
    "opts, match",
    [
        ({"test_fraction": "0.5"}, r"test_fraction must be a number in \(0, 1\), got '0.5'"),
        ({"test_fraction": True}, r"test_fraction must be a number in \(0, 1\), got True"),
        ({"delimiter": ""}, r"delimiter must be one character, got ''"),
        ({"delimiter": ";;"}, r"delimiter must be one character, got ';;'"),
        ({"limit": True}, r"limit must be a positive integer, got True"),
        ({"seed": -1}, r"seed must be a non-negative integer, got -1"),
        ({"seed": "0"}, r"seed must be a non-negative integer, got '0'"),
    ],
)
def test_bad_option_values_are_one_value_error_naming_the_option(table, opts, match):
    with pytest.raises(ValueError, match=match):
        st.data.load(f"csv:{table}", **opts)


def test_an_npz_whose_x_is_a_scalar_is_one_line(tmp_path):
    f = tmp_path / "s.npz"
    np.savez(f, x=np.float32(3.0), y=np.float32(1.0))
    with pytest.raises(ValueError, match=r"npz:\S+s.npz: 'x' is a scalar; allowed: arrays with one row per sample"):
        st.data.load(f"npz:{f}")


def test_an_npz_whose_test_rows_differ_in_shape_names_both_shapes(tmp_path):
    f = tmp_path / "t.npz"
    np.savez(f, x=np.zeros((10, 3)), y=np.arange(10) % 2, x_test=np.zeros((4, 5)), y_test=np.arange(4) % 2)
    with pytest.raises(ValueError, match=r"'x_test' rows have shape \(5,\) but 'x' rows have \(3,\)"):
        st.data.load(f"npz:{f}")
