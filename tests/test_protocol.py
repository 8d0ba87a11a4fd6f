"""Only data crosses from a worker: arrays without pickle, plain containers, nothing else."""

import os

import numpy as np
import pytest

from grader import protocol
from grader.npy_bytes import load_array


def test_round_trip_of_data():
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, 2.5, None, "x", (True, 3)], "c": float("nan")}
    back = protocol.decode(protocol.encode(value))
    assert np.array_equal(back["a"], value["a"]) and back["a"].dtype == np.float32
    assert back["b"] == [1, 2.5, None, "x", (True, 3)] and np.isnan(back["c"])


@pytest.mark.parametrize("value", [object(), np.array([object()]), {1: 2}, lambda: 1, os])
def test_non_data_is_refused(value):
    with pytest.raises(protocol.Unsendable):
        protocol.encode(value)


def test_pickled_array_is_not_loaded():
    import base64
    import io
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    buf = io.BytesIO()
    np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        protocol.decode({"$array": base64.b64encode(buf.getvalue()).decode()})
    assert pickle  # imported only to build the attack


@pytest.mark.parametrize("dtype", ["<f4", "<f8", ">f8", "<f2", "<i8", "|i1", "|u1", "<u2", "|b1"])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (0, 3), (4, 1, 28, 28)])
def test_arrays_read_by_the_header_reader_are_numpys(dtype, shape, monkeypatch):
    import io

    value = (np.random.default_rng(0).standard_normal(shape) * 5).astype(dtype)
    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=False)
    numpys = np.load(io.BytesIO(buf.getvalue()), allow_pickle=False)
    monkeypatch.setattr(np, "load", None)  # what encode() writes is read without numpy's reader
    ours = load_array(buf.getvalue())
    assert ours.dtype == numpys.dtype and ours.shape == numpys.shape and ours.flags.writeable
    assert np.array_equal(ours, numpys, equal_nan=True)


def test_arrays_the_header_reader_does_not_know_are_numpys_to_refuse():
    import io

    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    assert np.array_equal(load_array(buf.getvalue()), np.arange(6.0).reshape(2, 3))
    buf = io.BytesIO()
    np.save(buf, np.arange(10.0))
    with pytest.raises(ValueError):  # cut short: numpy's reader says so
        load_array(buf.getvalue()[:-8])


def test_frames_round_trip_over_a_pipe():
    r, w = os.pipe()
    protocol.send(w, {"op": "x", "v": protocol.encode(np.ones(3))})
    msg = protocol.recv(r)
    assert msg["op"] == "x" and protocol.decode(msg["v"]).sum() == 3
