"""Targets as a column (m, 1), the shape neural-tangents' users pass, are the targets (m,) for
every model with one output: the same losses, gradients, training runs and checks, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import widenet

X = np.random.default_rng(0).standard_normal((6, 3))
Y = np.sin(X[:, 0])


def shallow():
    return widenet.ShallowNetwork(3, 32, "tanh", "ntk", seed=1)


def deep():
    return widenet.Network(3, [16, 16], "tanh", "ntk", seed=2)


CALLS = {
    "loss": lambda y: shallow().loss(X, y, loss="mean"),
    "loss_grad": lambda y: shallow().loss_grad(X, y)[1].to_vector(),
    "train": lambda y: shallow().train(X, y, lr=0.01, steps=5).losses,
    "train-numpy": lambda y: shallow().train(X, y, lr=0.01, steps=5, backend="numpy").losses,
    "deep-train": lambda y: deep().train(X, y, lr=0.01, steps=5).losses,
    "ensemble-train": lambda y: widenet.ShallowEnsemble(3, 3, 16, seed=3).train(X, y, lr=0.01, steps=5).losses,
    "deep-ensemble-train": lambda y: widenet.DeepEnsemble(2, 3, [8, 8], seed=4).train(X, y, lr=0.01, steps=5).losses,
    "linearized-train": lambda y: widenet.linearize(shallow()).train(X, y, lr=0.01, steps=5).losses,
    "movement": lambda y: widenet.parameter_movement(shallow(), X, y, lr=0.01, steps=5).relative_movement,
}


@pytest.mark.parametrize("call", list(CALLS))
def test_a_column_of_targets_is_the_same_as_a_vector(call):
    vector, column = CALLS[call](Y), CALLS[call](Y[:, None])
    np.testing.assert_array_equal(np.asarray(column), np.asarray(vector))
    perturbed = CALLS[call](Y * 1.01)  # the comparison sees a 1% change of the targets
    assert not np.array_equal(np.asarray(perturbed), np.asarray(vector))


def test_several_columns_are_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"^y: expected shape \(6,\) or \(6, 1\).*one output takes one column"):
        shallow().train(X, np.column_stack([Y, Y]), lr=0.01, steps=5)
