"""ExpectedOutputs: the stored outputs' names are spelled in one place, and read by probe and variant."""

import numpy as np
import pytest

from grader.expected import REFERENCE, ExpectedOutputs, key, parts
from grader.isolation.policy import PROBES_AT_ONCE_ENV, Limits, probes_at_once


def test_a_name_is_its_parts_and_back():
    assert parts(key("forward", REFERENCE, 3)) == ("forward", REFERENCE, 3)


def test_outputs_by_probe_and_variant():
    a, b, c = np.zeros(1), np.ones(1), np.full(1, 2.0)
    expected = ExpectedOutputs({key("p", REFERENCE, 0): a, key("p", REFERENCE, 2): b, key("p", "mistake", 0): c})
    assert set(expected.outputs("p")) == {0, 2} and expected.outputs("p")[2] is b
    assert expected.outputs("p", "mistake") == {0: c}
    assert expected.outputs("q") == {} and expected.output("p", REFERENCE, 1) is None
    assert len(expected) == 3 and key("p", "mistake", 0) in expected
    with pytest.raises(TypeError):
        expected[key("p", REFERENCE, 0)] = c  # read only


def test_probes_at_once(monkeypatch):
    monkeypatch.delenv(PROBES_AT_ONCE_ENV, raising=False)
    assert 1 <= probes_at_once(Limits()) <= 2
    assert probes_at_once(Limits(probes_at_once=3)) == 3
    monkeypatch.setenv(PROBES_AT_ONCE_ENV, "1")
    assert probes_at_once(Limits()) == 1
