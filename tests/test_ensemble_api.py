"""An ensemble answers every method it offers for all its members, from their current
parameters: per-member arrays with a leading member axis, checked against the numpy
reference evaluated on the stacked parameters directly. Network methods it does not
offer raise AttributeError; the configuration reads as a network's."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import widenet
from widenet import ShallowEnsemble, StackedParameters, reference

from conftest import assert_close, random_data

SIZE, D, WIDTH, M = 3, 3, 24, 7
CONFIG = dict(activation="tanh", parametrization="ntk", bias_var=0.5, output_bias_var=0.3)


def trained_ensemble(dtype=np.float64) -> tuple:
    """An ensemble moved away from its initialization, and its data."""
    ensemble = ShallowEnsemble(SIZE, D, WIDTH, seed=40, dtype=dtype, **CONFIG)
    X, y, X_test = random_data(41, M, D, dtype, m_test=5)
    ensemble.train(X, y, 0.05, 30, loss="mean")
    return ensemble, X, y, X_test


def member_arrays(params: StackedParameters, r: int) -> tuple:
    return params.U[r], params.b[r], params.v[r], params.c[r]


def member_network(ensemble, r: int) -> reference.Network:
    """Member ``r`` as the twins take it, from the stacked parameters."""
    return reference.Network(*member_arrays(ensemble.params, r), ensemble.activation, ensemble.parametrization)


def reference_per_member(ensemble, function, *args) -> np.ndarray:
    """``function(network_r, *args)`` for every member, from the stacked parameters (never
    through the ensemble's own methods)."""
    return np.stack([function(member_network(ensemble, r), *args) for r in range(ensemble.size)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_compute_method_answers_for_every_member_from_its_trained_parameters(dtype):
    ensemble, X, y, X_test = trained_ensemble(dtype)
    size = WIDTH * D
    assert_close(ensemble.forward(X), reference_per_member(ensemble, reference.forward, X), dtype, size)

    losses = ensemble.loss(X, y, "mean")
    expected = reference_per_member(ensemble, reference.loss, X, y)
    assert losses.shape == (SIZE,)
    assert_close(losses, expected / M, dtype, size)

    values, gradients = ensemble.loss_grad(X, y, "mean")
    assert isinstance(gradients, StackedParameters) and gradients.U.shape == (SIZE, WIDTH, D)
    for r in range(SIZE):
        value, ((gU, gb), (gv, gc)) = reference.loss_grad(member_network(ensemble, r), X, y, 1.0 / M)
        assert_close(values[r], value, dtype, size)
        for name, ours, theirs in zip("Ubvc", member_arrays(gradients, r), (gU, gb, gv, gc)):
            assert_close(ours, theirs, dtype, size, err_msg=name)

    J = ensemble.jacobian(X)
    assert J.shape == (SIZE, M, ensemble.num_params)
    assert_close(J, reference_per_member(ensemble, reference.jacobian, X), dtype, size)

    gram = ensemble.ntk(X)
    assert gram.shape == (SIZE, M, M)
    assert_close(gram, reference_per_member(ensemble, reference.ntk_gram, X, X), dtype, size)
    cross = ensemble.ntk(X, X_test)
    assert cross.shape == (SIZE, M, len(X_test))
    assert_close(cross, reference_per_member(ensemble, reference.ntk_gram, X, X_test), dtype, size)
    assert_close(ensemble.ntk_diag(X), reference_per_member(ensemble, reference.ntk_diag, X), dtype, size)


def test_per_member_methods_agree_with_the_members_as_networks():
    ensemble, X, y, X_test = trained_ensemble()
    for r in range(SIZE):
        member = ensemble.member(r)
        assert ensemble.loss(X, y)[r] == member.loss(X, y)
        np.testing.assert_array_equal(ensemble.ntk(X, X_test)[r], member.ntk(X, X_test))
        np.testing.assert_array_equal(ensemble.jacobian(X)[r], member.jacobian(X))


def test_reset_returns_every_member_to_its_initial_parameters():
    ensemble, X, y, _ = trained_ensemble()
    assert not np.array_equal(ensemble.params.U, ensemble.initial_params.U)
    returned = ensemble.reset()
    for field, initial in zip(ensemble.params, ensemble.initial_params):
        np.testing.assert_array_equal(field, initial)
    assert returned is ensemble
    assert_close(ensemble.forward(X), reference_per_member(ensemble, reference.forward, X), np.float64, WIDTH)
    # training again from the reset point repeats the first run exactly
    again = ShallowEnsemble(SIZE, D, WIDTH, seed=40, **CONFIG)
    again.train(X, y, 0.05, 30, loss="mean")
    ensemble.train(X, y, 0.05, 30, loss="mean")
    np.testing.assert_array_equal(ensemble.params.U, again.params.U)


def test_methods_it_does_not_offer_raise_attribute_error():
    ensemble = ShallowEnsemble(SIZE, D, WIDTH, seed=42)
    for name in ("jacobian_chunks", "no_such_method", "_kernel_args", "_data"):
        with pytest.raises(AttributeError):
            getattr(ensemble, name)
    assert not hasattr(ensemble, "jacobian_chunks")


def test_the_configuration_reads_as_the_members():
    ensemble = ShallowEnsemble(SIZE, D, WIDTH, seed=43, dtype=np.float32, distribution="uniform", weight_var=2.0,
                               **CONFIG)
    member = ensemble.member(1)
    for name in ("input_dim", "width", "activation", "parametrization", "weight_var", "bias_var", "output_var",
                 "output_bias_var", "distribution", "dtype", "num_params"):
        assert getattr(ensemble, name) == getattr(member, name), name
    assert ensemble.num_params == WIDTH * (D + 2) + 1
    with pytest.raises(AttributeError):
        ensemble.width = 5  # the configuration is fixed


def test_limit_kernel_is_the_configurations_kernel():
    ensemble = ShallowEnsemble(SIZE, D, WIDTH, seed=44, **CONFIG)
    X, _, X_test = random_data(45, M, D, m_test=4)
    np.testing.assert_array_equal(ensemble.limit_kernel(X, X_test),
                                  widenet.limit_kernel(X, X_test, activation="tanh", parametrization="ntk",
                                                       bias_var=0.5, output_bias_var=0.3))


def test_copies_and_pickles_train_independently():
    ensemble, X, y, _ = trained_ensemble()
    for twin in (copy.deepcopy(ensemble), pickle.loads(pickle.dumps(ensemble))):
        before = ensemble.params.U.copy()
        twin.train(X, y, 0.05, 5)
        np.testing.assert_array_equal(ensemble.params.U, before)
        assert not np.array_equal(twin.params.U, before)
