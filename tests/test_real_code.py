"""Real code that takes a map function or a pool, run unchanged with
pp.Executor and compared with a serial run: scipy's differential evolution
(workers=executor.map) and emcee's ensemble sampler (pool=executor)."""

from __future__ import annotations

import pytest

import pp

pytestmark = pytest.mark.ppgo_only


def log_prob(theta):
    """A correlated Gaussian, for emcee."""
    import numpy as np
    cov = np.array([[1.0, 0.5], [0.5, 2.0]])
    return -0.5 * float(theta @ np.linalg.solve(cov, theta))


def test_scipy_differential_evolution_with_executor_map():
    optimize = pytest.importorskip("scipy.optimize")
    options = dict(bounds=[(-2, 2)] * 4, seed=7, maxiter=40, tol=0, polish=False,
                   updating="deferred")
    serial = optimize.differential_evolution(optimize.rosen, workers=1, **options)
    with pp.Executor(2) as executor:
        parallel = optimize.differential_evolution(optimize.rosen, workers=executor.map,
                                                   **options)
    assert parallel.nfev == serial.nfev
    assert parallel.fun == serial.fun
    assert list(parallel.x) == list(serial.x)


def test_emcee_with_executor_as_its_pool():
    emcee = pytest.importorskip("emcee")
    import numpy as np

    def run(pool):
        start = np.random.default_rng(3).normal(size=(8, 2))
        sampler = emcee.EnsembleSampler(8, 2, log_prob, pool=pool)
        sampler.random_state = np.random.RandomState(11).get_state()
        sampler.run_mcmc(start, 30, progress=False)
        return sampler.get_chain()

    serial = run(None)
    with pp.Executor(2) as executor:
        parallel = run(executor)
    assert np.array_equal(parallel, serial)
