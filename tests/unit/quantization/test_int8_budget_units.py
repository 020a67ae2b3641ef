"""``Int8.max_accuracy_drop`` is a fraction while ``st.optimize``'s is in points: a budget written in points
(``Int8(max_accuracy_drop=2)``, "a 5-point budget" in the README) is refused with the unit and the conversion,
not a bare range."""

import pytest

import slimtorch as st
from slimtorch.config import ConfigError


def test_points_are_refused_with_the_unit():
    with pytest.raises(ConfigError) as err:
        st.Int8(max_accuracy_drop=2)
    assert str(err.value) == ("max_accuracy_drop: got 2; allowed range [0, 1]: a fraction (0.02 = 2 points; "
                              "st.optimize's max_accuracy_drop is in points)")


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.02"])
def test_other_bad_values_keep_their_messages(bad):
    with pytest.raises(ConfigError, match="max_accuracy_drop: "):
        st.Int8(max_accuracy_drop=bad)
    with pytest.raises(ConfigError) as err:
        st.Int8(max_accuracy_drop=bad)
    assert "a fraction" not in str(err.value)


def test_fractions_pass():
    assert st.Int8(max_accuracy_drop=1).max_accuracy_drop == 1
    assert st.Int8(max_accuracy_drop=0.02).max_accuracy_drop == 0.02
