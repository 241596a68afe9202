"""Predictions of wide networks from their kernels, in neural-tangents' call shapes (docs/theory.md, section 9).

:func:`gradient_descent_mse` gives the outputs of a model trained by gradient flow on the
mean squared error, at any time, from its tangent Gram; :func:`gp_inference` gives the
Gaussian-process posterior of a kernel (exact Bayesian inference, the NNGP's). Both take
precomputed Gram matrices, so they serve any kernel: widenet's limit kernels of any depth,
a network's empirical tangent kernel, or a user's own. :func:`gradient_descent_mse_ensemble`
gives the mean and covariance of an infinite ensemble of trained networks from a
:class:`widenet.LimitKernel` or a network; :func:`sample_prior`, :func:`sample_posterior` and
:func:`sample_gaussian` draw from these Gaussians (stable for singular covariances), and
:func:`max_learning_rate` gives the largest stable step of gradient descent.
"""

from widenet.predict.ensemble import EnsemblePrediction, gradient_descent_mse_ensemble
from widenet.predict.gradient_descent import GradientFlowPrediction, gradient_descent_mse
from widenet.predict.inference import PosteriorPrediction, gp_inference
from widenet.predict.learning_rate import max_learning_rate
from widenet.predict.sampling import sample_gaussian, sample_posterior, sample_prior

__all__ = ["EnsemblePrediction", "GradientFlowPrediction", "PosteriorPrediction", "gp_inference",
           "gradient_descent_mse", "gradient_descent_mse_ensemble", "max_learning_rate", "sample_gaussian",
           "sample_posterior", "sample_prior"]
