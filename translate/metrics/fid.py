"""Fréchet Inception Distance and Kernel Inception Distance from feature matrices (N×D).

* FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule...", eq. 6): the Fréchet
  distance between Gaussians fitted to the two feature sets,
  ``‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1 Σ2)^½``.
* KID (Bińkowski et al. 2018, "Demystifying MMD GANs", §4): the unbiased estimator of MMD² with
  the cubic polynomial kernel ``k(x, y) = (x·y / d + 1)³``, averaged over random subsets, as
  torch-fidelity and clean-fid report it (100 subsets of 1,000 by default; the subset size is
  capped at the smaller set). Unlike FID it is unbiased, so small sets can be compared.

Everything here is float64 NumPy; the features come from ``translate.metrics.inception``.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError

KID_SUBSETS = 100  # Bińkowski et al. 2018, as in torch-fidelity / clean-fid
KID_SUBSET_SIZE = 1000
# shown beside a KID below 0, which its unbiased estimate gives about half the time on indistinguishable sets
NEGATIVE_KID = ("below 0 because KID is an unbiased estimate: the two sets cannot be told apart at this many "
                "images, so read it as 0")
# Up to this many kernel entries (n_real × n_fake etc.) the full kernel matrices are computed once
# and subsets index into them; above it each subset computes its own (bounded memory).
_KERNEL_CACHE_ENTRIES = 16_000_000


def feature_statistics(features: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D) and unbiased covariance (D×D, ``np.cov`` with N − 1) of N×D features, in
    float64, accumulated over row chunks so that a large N never needs an N×D float64 copy."""
    n = len(features)
    if n < 2:
        raise UserError(f"FID needs at least 2 images per set (got {n})")
    mu = np.zeros(features.shape[1])
    for start in range(0, n, chunk):
        mu += features[start:start + chunk].sum(axis=0, dtype=np.float64)
    mu /= n
    scatter = np.zeros((features.shape[1], features.shape[1]))
    for start in range(0, n, chunk):
        centred = features[start:start + chunk].astype(np.float64) - mu
        scatter += centred.T @ centred
    return mu, scatter / (n - 1)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a (numerically) positive semi-definite matrix."""
    eigval, eigvec = np.linalg.eigh((sigma + sigma.T) / 2)
    return (eigvec * np.sqrt(np.clip(eigval, 0.0, None))) @ eigvec.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr (Σ1 Σ2)^½ for positive semi-definite Σ1, Σ2, without scipy.

    Σ1 Σ2 is not symmetric, but with A = Σ1^½ it has the same eigenvalues as the symmetric PSD
    matrix A Σ2 A (Σ1 Σ2 = A (A Σ2) and A Σ2 A = (A Σ2) A, and XY and YX share their eigenvalues).
    So tr (Σ1 Σ2)^½ = Σᵢ √λᵢ(A Σ2 A), computed with two symmetric eigendecompositions (``eigh``),
    which stay real and stable when Σ1 or Σ2 are singular (fewer images than feature dimensions).
    Eigenvalues that round-off pushes slightly below 0 are clamped to 0; since √ is steep near 0,
    each near-zero eigenvalue can still carry an error of about √(ε·λmax), far below the precision
    FID is reported with. scipy's ``sqrtm`` (used
    by pytorch-fid) works on the non-symmetric product, can return complex parts and needs an ε·I
    offset for singular inputs; the values agree to round-off otherwise.
    """
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eigval = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigval, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein) distance² between N(μ1, Σ1) and N(μ2, Σ2), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics of different dimensions: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return max(float(value), 0.0)  # a distance; round-off can leave -1e-12 for identical sets


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two N×D feature matrices."""
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x·y / d + 1)³ between the rows of x and y (Bińkowski et al. 2018, §4), float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD² from m×m kernel matrices: within-set means leave out the diagonal
    (i = j pairs), the cross term keeps every pair since x and y are independent."""
    m = k_xx.shape[0]
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, subsets: int = KID_SUBSETS,
                              subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> tuple[float, float, int]:
    """(mean, std, subset size used) of unbiased MMD² over ``subsets`` random subsets drawn
    without replacement from each set; the subset size is capped at the smaller set. The std
    (over subsets, ddof 0, as torch-fidelity) is the spread of the estimate, not a standard error."""
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise UserError(f"KID needs at least 2 images per set (got {len(real)} and {len(fake)})")
    if subsets < 1:
        raise UserError(f"KID needs at least one subset (got {subsets})")
    if m == len(real) == len(fake):  # every subset is a permutation of both whole sets: one value
        return mmd2_unbiased(polynomial_kernel(real, real), polynomial_kernel(fake, fake),
                             polynomial_kernel(real, fake)), 0.0, m
    rng = np.random.default_rng(seed)
    cached = max(len(real), len(fake)) ** 2 <= _KERNEL_CACHE_ENTRIES
    if cached:  # three matrix products in all instead of three per subset
        k_rr, k_ff, k_rf = polynomial_kernel(real, real), polynomial_kernel(fake, fake), polynomial_kernel(real, fake)
    values = np.empty(subsets)
    for i in range(subsets):
        r = rng.choice(len(real), m, replace=False)
        f = rng.choice(len(fake), m, replace=False)
        if cached:
            values[i] = mmd2_unbiased(k_rr[np.ix_(r, r)], k_ff[np.ix_(f, f)], k_rf[np.ix_(r, f)])
        else:
            x, y = real[r], fake[f]
            values[i] = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    return float(values.mean()), float(values.std()), m
