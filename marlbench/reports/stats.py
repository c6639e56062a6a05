"""Statistics across seeds, as in rliable (Agarwal et al. 2021), in NumPy with SciPy's definitions.

* :func:`iqm`: interquartile mean, the mean of the middle 50% of the scores (``scipy.stats.trim_mean``
  with 25% cut from each end, exactly rliable's ``aggregate_iqm``).
* :func:`bootstrap_ci`: percentile confidence interval from a stratified bootstrap (what
  ``scipy.stats.bootstrap`` with one sample per stratum, ``paired=False`` and ``method="percentile"``
  computes, draw for draw: each stratum, e.g. each environment, is resampled on its own, which is
  rliable's ``StratifiedBootstrap``). Seeded, so a table is the same every time it is printed.
* :func:`probability_of_improvement`: P(X > Y) for a score of X and one of Y drawn at random, ties
  counting one half (the Mann-Whitney U statistic over ``n_x * n_y``, rliable's definition), averaged
  over strata.

SciPy is not imported here: ``scipy.stats`` takes over a second to import, which ``marlbench compare``
would pay on every call; the tests check these functions against SciPy's and hand-worked values.
rliable itself is not imported: its bootstrap module needs ``arch``, whose current release does not
import with pandas 3.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
"""Confidence level of every interval marlbench reports."""
RESAMPLES = 10_000
"""Bootstrap resamples per interval."""
BOOTSTRAP_SEED = 0
"""Seed of the bootstrap's random generator (intervals are reproducible)."""

STATISTICS = ("mean", "iqm")


def iqm(scores: Sequence[float] | np.ndarray, axis: int | None = None) -> float | np.ndarray:
    """Interquartile mean: the mean after cutting 25% of the scores from each end (NaN when empty).

    ``scipy.stats.trim_mean(scores, 0.25, axis)``: ``int(n / 4)`` values cut from each end.
    """
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        return float("nan")
    if axis is None:
        values, axis = values.ravel(), 0
    n = values.shape[axis]
    cut = int(0.25 * n)
    ordered = np.partition(values, (cut, n - cut - 1), axis)
    kept = np.take(ordered, np.arange(cut, n - cut), axis=axis)
    result = np.mean(kept, axis=axis)
    return float(result) if np.ndim(result) == 0 else result


def _percentile_bootstrap(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of ``statistic(*resampled, axis=-1)``, each sample resampled on its own
    along its last axis; the same draws and quantiles as ``scipy.stats.bootstrap(..., method="percentile",
    paired=False, vectorized=True, rng=np.random.default_rng(seed))``."""
    rng = np.random.default_rng(seed)
    resampled = []
    for sample in samples:
        n = sample.shape[-1]
        resampled.append(sample[..., rng.integers(0, n, (resamples, n))])
    distribution = np.sort(statistic(*resampled, axis=-1), axis=-1)
    alpha = (1 - confidence) / 2
    return _linear_quantile(distribution, alpha), _linear_quantile(distribution, 1 - alpha)


def _linear_quantile(ordered: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` along the last axis of sorted values, as ``scipy.stats.quantile``'s "linear"
    (Hyndman-Fan 7, written as SciPy does, so the floats agree to the last bit); NaN where NaN."""
    n = ordered.shape[-1]
    position = q * n + (1 - q)
    upper = position // 1
    below = int(min(max(upper - 1, 0), n - 1))
    above = int(min(max(upper, 0), n - 1))
    fraction = 0.0 if upper - 1 < 0 else position % 1
    value = (1 - fraction) * ordered[..., below] + fraction * ordered[..., above]
    return np.where(np.isnan(ordered).any(axis=-1), np.nan, value)


def _statistic(name: str) -> Callable[..., np.ndarray]:
    """A vectorized ``statistic(*strata, axis)`` over the strata pooled together."""
    if name not in STATISTICS:
        raise ValueError(f"unknown statistic {name!r}; valid: {STATISTICS}")

    def pooled(*strata: np.ndarray, axis: int = -1) -> np.ndarray:
        joined = np.concatenate(strata, axis=axis)
        if name == "mean":
            return np.mean(joined, axis=axis)
        return iqm(joined, axis=axis)

    return pooled


def bootstrap_ci(
    strata: Sequence[Sequence[float] | np.ndarray],
    statistic: str = "mean",
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile CI of ``statistic`` ("mean" or "iqm") over the pooled scores, resampled per stratum.

    ``strata`` holds one array of per-seed scores per stratum (one environment, usually just one
    array). Returns ``(nan, nan)`` when no stratum has two scores: one seed gives no interval.
    """
    arrays = [np.asarray(s, dtype=float) for s in strata]
    arrays = [a[np.isfinite(a)] for a in arrays]
    arrays = [a for a in arrays if a.size]
    if not arrays or max(a.size for a in arrays) < 2:
        return (float("nan"), float("nan"))
    # A stratum of one score is constant under resampling: it joins every resample as it is.
    fixed = [a for a in arrays if a.size == 1]
    varied = [a for a in arrays if a.size > 1]
    pooled = _statistic(statistic)

    def with_fixed(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        moved = [np.moveaxis(s, axis, -1) for s in samples]
        shape = moved[0].shape[:-1]
        consts = [np.broadcast_to(f, (*shape, 1)) for f in fixed]
        return pooled(*moved, *consts, axis=-1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # degenerate (constant) data: the CI is the value
        low, high = _percentile_bootstrap(
            varied, with_fixed, resamples=resamples, confidence=confidence, seed=seed
        )
    return (float(low), float(high))


def bootstrap_band(
    matrix: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = 2_000,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column percentile CI of the mean over rows (seeds) of ``matrix`` (seeds x points).

    NaN entries (a seed without data at that point) are left out of that point's mean. Columns
    with fewer than two finite values get NaN bounds. One vectorized bootstrap serves every column.
    """
    values = np.asarray(matrix, dtype=float)
    low = np.full(values.shape[1], np.nan)
    high = np.full(values.shape[1], np.nan)
    if values.shape[0] < 2:
        return low, high
    enough = np.sum(np.isfinite(values), axis=0) >= 2
    if not enough.any():
        return low, high

    def nanmean(sample: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.nanmean(sample, axis=axis)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # seeds on the last axis: one row of resamples per column
        low[enough], high[enough] = _percentile_bootstrap(
            [values[:, enough].T], nanmean, resamples=resamples, confidence=confidence, seed=seed
        )
    return low, high


def probability_of_improvement(
    x: Sequence[float] | np.ndarray | Sequence[np.ndarray],
    y: Sequence[float] | np.ndarray | Sequence[np.ndarray],
) -> float:
    """P(X > Y), ties counting 1/2; ``x`` and ``y`` are score arrays, or lists of them (one per stratum).

    With strata, the probability is computed within each stratum and averaged (rliable's definition).
    NaN when a stratum of either side is empty.
    """
    xs = _as_strata(x)
    ys = _as_strata(y)
    if len(xs) != len(ys):
        raise ValueError(f"x has {len(xs)} strata and y {len(ys)}")
    probabilities = []
    for a, b in zip(xs, ys, strict=True):
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size == 0 or b.size == 0:
            return float("nan")
        diff = a[:, None] - b[None, :]  # the Mann-Whitney U of a over b, divided by n_a * n_b
        probabilities.append(float(np.mean((diff > 0) + 0.5 * (diff == 0))))
    return float(np.mean(probabilities))


def _as_strata(values: Sequence[float] | np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return [values.astype(float)]
    items = list(values)
    if items and all(np.ndim(v) == 0 for v in items):
        return [np.asarray(items, dtype=float)]
    return [np.asarray(v, dtype=float) for v in items]


@dataclass(frozen=True)
class Summary:
    """Scores of one group across seeds."""

    n: int
    mean: float
    iqm: float
    ci_low: float
    ci_high: float
    std: float

    @classmethod
    def of(cls, scores: Sequence[float] | np.ndarray, statistic: str = "mean") -> Summary:
        """Mean, IQM, sample std and the bootstrap CI of ``statistic`` for one stratum of scores."""
        values = np.asarray(scores, dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        low, high = bootstrap_ci([values], statistic)
        std = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
        return cls(int(values.size), float(np.mean(values)), float(iqm(values)), low, high, std)


# ---------------------------------------------------------------------------------------------
# statistics with a stratified bootstrap
# ---------------------------------------------------------------------------------------------
def _poi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(A > B), ties 1/2, of resampled scores ``a`` (R, n) and ``b`` (R, m): shape (R,)."""
    diff = a[:, :, None] - b[:, None, :]
    return np.mean((diff > 0) + 0.5 * (diff == 0), axis=(1, 2))


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(a, axis=1) / np.mean(b, axis=1)


def _mean(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    return np.mean(a, axis=1)


STATISTIC_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "probability-of-improvement": _poi,
    "per-agent": _poi,
    "ratio": _ratio,
    "threshold": _mean,
    "describe": _mean,
}


def stratified_statistic(
    strata: Sequence[tuple[np.ndarray, np.ndarray | None]],
    function: Callable[..., np.ndarray],
    *,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """``(value, low, high)``: ``function`` averaged over strata, with its percentile bootstrap CI.

    Each arm of each stratum is resampled with replacement on its own. The CI is NaN when some arm
    has fewer than 2 scores (nothing to resample).
    """
    rng = np.random.default_rng(seed)
    point, draws = [], []
    enough = True
    for a, b in strata:
        arms = [np.asarray(a, float)] + ([] if b is None else [np.asarray(b, float)])
        point.append(function(*(x[None, :] for x in arms))[0])
        enough &= all(x.size >= 2 for x in arms)
        draws.append(function(*(x[rng.integers(x.size, size=(resamples, x.size))] for x in arms)))
    value = float(np.mean(point))
    if not enough:
        return value, float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(np.mean(draws, axis=0), [tail, 100 - tail])
    return value, float(low), float(high)
