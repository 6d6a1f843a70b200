"""L2-regularised logistic regression by Newton's method (IRLS), in numpy (pure).

Minimises  sum_i logloss(y_i, sigmoid(b + w . z_i)) + (l2 / 2) * |w|^2
(the intercept b is not penalised). The objective is strictly convex for
l2 > 0, so Newton converges in a handful of steps; a step-halving line search
guards the first steps from overshooting on near-separable data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tickcast.predict.linear import standardise

MAX_ITER = 50
TOL = 1e-10


@dataclass(frozen=True, eq=False)
class Fit:
    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    std: np.ndarray
    iterations: int

    def logit(self, x_raw: np.ndarray) -> np.ndarray:
        out: np.ndarray = standardise(x_raw, self.mean, self.std) @ self.coef + self.intercept
        return out

    def p_up(self, x_raw: np.ndarray) -> np.ndarray:
        return _sigmoid(self.logit(x_raw))


def normalisation(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per column of the TRAINING rows only, NaN-aware; std 0 -> 1."""
    finite = ~np.isnan(x_train)
    n = finite.sum(axis=0)
    mean = np.where(n > 0, np.nansum(x_train, axis=0) / np.maximum(n, 1), 0.0)
    dev = np.where(finite, x_train - mean, 0.0)
    std = np.sqrt((dev**2).sum(axis=0) / np.maximum(n - 1, 1))
    std = np.where(std > 1e-12, std, 1.0)
    return mean, std


def fit(x_raw: np.ndarray, y: np.ndarray, l2: float) -> Fit:
    """Fit on raw inputs (rows = samples); normalisation comes from these rows alone."""
    if x_raw.ndim != 2 or len(x_raw) != len(y) or len(y) == 0:
        raise ValueError("x must be (n, k) and y (n,) with n > 0")
    if l2 <= 0:
        raise ValueError("l2 must be positive")
    mean, std = normalisation(x_raw)
    z = standardise(x_raw, mean, std)
    a = np.hstack([np.ones((len(z), 1)), z])  # column 0: intercept
    penalty = np.full(a.shape[1], l2)
    penalty[0] = 0.0
    beta = np.zeros(a.shape[1])
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    beta[0] = np.log(rate / (1 - rate))  # start at the base rate
    loss = _objective(a, y, beta, penalty)
    iterations = 0
    while iterations < MAX_ITER:
        iterations += 1
        p = _sigmoid(a @ beta)
        grad = a.T @ (p - y) + penalty * beta
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(penalty)
        step = np.linalg.solve(hess + 1e-12 * np.eye(len(beta)), grad)
        t = 1.0
        while True:
            candidate = beta - t * step
            new_loss = _objective(a, y, candidate, penalty)
            if new_loss <= loss or t < 1e-8:
                break
            t /= 2
        beta, loss = candidate, new_loss
        if float(np.max(np.abs(t * step))) < TOL:
            break
    return Fit(
        coef=beta[1:].copy(), intercept=float(beta[0]), mean=mean, std=std, iterations=iterations
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free
    return out


def _objective(a: np.ndarray, y: np.ndarray, beta: np.ndarray, penalty: np.ndarray) -> float:
    z = a @ beta
    # log(1 + e^z) - y z, computed without overflow
    nll = np.logaddexp(0.0, z) - y * z
    return float(nll.sum() + 0.5 * (penalty * beta**2).sum())
