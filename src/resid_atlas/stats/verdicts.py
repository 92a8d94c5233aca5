"""The verdict rules every stage's findings use, each returning the verdict with its evidence: the
effect, an interval or a p-value, n, and a short text naming the rule that decided it.

- `interval`: holds when a confidence interval of the effect lies on the claimed side of a bound,
  does not hold when it lies on the other side, inconclusive when it contains the bound.
- `p_value`: holds when the one-sided test in the claimed direction is significant, does not hold
  when the test in the opposite direction is, inconclusive otherwise.
- `trend`: Spearman's rho of y on x with the `p_value` rule; the p-value is exact (all
  permutations) up to EXACT_MAX points and from PERMUTATIONS seeded random orderings beyond;
  fewer than MIN_TREND_POINTS points are inconclusive whatever the p-value (n too small).
- `share`: a share of n units with its exact (Clopper-Pearson) interval against thresholds.
- `rank`: a rank among n against two cut-offs (holds near the top, does not hold far from it).
- `count`: k of n items meeting a condition against two cut-offs.
- `threshold`: a deterministic check of a number against a threshold (no sampling to speak of:
  counts, ranks, medians of a full set of tensors), the number and the threshold named.
- `all_of`: a claim of several parts holds when every part holds and does not hold when any part
  does not hold; the first part's numbers fill the columns, the rule text gives every part's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import permutations

import numpy as np
from scipy import stats

VERDICTS = ("holds", "does not hold", "inconclusive", "not run")
MIN_TREND_POINTS = 5
EXACT_MAX = 8  # 8! = 40,320 orderings; beyond, PERMUTATIONS random orderings
PERMUTATIONS = 20_000  # smallest p then 1 / 20,001 (a t-approximation reports 1e-60 for n = 10)


@dataclass(frozen=True)
class Evidence:
    verdict: str
    rule: str
    effect: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n: int | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        if not self.rule:
            raise ValueError("a verdict needs the rule that decided it")


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def not_run(reason: str) -> Evidence:
    return Evidence("not run", f"not run: {reason}")


def inconclusive(reason: str, **numbers) -> Evidence:
    return Evidence("inconclusive", f"inconclusive: {reason}", **numbers)


def interval(
    effect, low, high, n: int | None, rule: str, claimed: str = "greater", bound: float = 0.0
) -> Evidence:
    """`claimed` "greater": the claim is effect > bound; "less": effect < bound."""
    effect, low, high = _num(effect), _num(low), _num(high)
    numbers = dict(effect=effect, ci_low=low, ci_high=high, n=n)
    if low is None or high is None:
        return inconclusive(f"no interval ({rule})", **numbers)
    above, below = low > bound, high < bound
    if claimed == "greater":
        verdict = "holds" if above else ("does not hold" if below else "inconclusive")
    elif claimed == "less":
        verdict = "holds" if below else ("does not hold" if above else "inconclusive")
    else:
        raise ValueError(f"claimed must be 'greater' or 'less', not {claimed!r}")
    return Evidence(verdict, rule, **numbers)


def within(effect, low, high, n: int | None, rule: str, tolerance: float) -> Evidence:
    """An equivalence claim (effect about 0): holds when the interval lies inside
    [-tolerance, tolerance], does not hold when it lies wholly outside, inconclusive otherwise."""
    effect, low, high = _num(effect), _num(low), _num(high)
    numbers = dict(effect=effect, ci_low=low, ci_high=high, n=n)
    if low is None or high is None:
        return inconclusive(f"no interval ({rule})", **numbers)
    if -tolerance <= low and high <= tolerance:
        verdict = "holds"
    elif low > tolerance or high < -tolerance:
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    return Evidence(verdict, rule, **numbers)


def p_value(
    effect, p_claimed, p_opposite, n: int | None, rule: str, alpha: float = 0.05
) -> Evidence:
    """One-sided p-values of the claimed direction and of the opposite one."""
    effect, p_c, p_o = _num(effect), _num(p_claimed), _num(p_opposite)
    numbers = dict(effect=effect, p_value=p_c, n=n)
    if p_c is None or p_o is None:
        return inconclusive(f"no test ({rule})", **numbers)
    verdict = "holds" if p_c < alpha else ("does not hold" if p_o < alpha else "inconclusive")
    return Evidence(verdict, rule, **numbers)


def _spearman_rows(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """Pearson correlation of rx with each row of ry (ranks in, Spearman's rho out)."""
    a = rx - rx.mean()
    b = ry - ry.mean(axis=-1, keepdims=True)
    return (b @ a) / (np.sqrt((a * a).sum()) * np.sqrt((b * b).sum(axis=-1)))


def spearman(x, y, seed: int = 0) -> tuple[float, float, float, str]:
    """(rho, p of rho > 0, p of rho < 0, method). Exact over every ordering of y for up to
    EXACT_MAX points (ties kept as average ranks); beyond, (1 + as extreme) / (1 + PERMUTATIONS)
    over seeded random orderings."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan, math.nan, "undefined"
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rho = float(_spearman_rows(rx, ry[None, :])[0])
    if n <= EXACT_MAX:
        perms = ry[np.array(list(permutations(range(n))))]
        null = _spearman_rows(rx, perms)
        eps = 1e-12  # orderings tied with the observed rho count as at least as extreme
        return rho, float(np.mean(null >= rho - eps)), float(np.mean(null <= rho + eps)), "exact"
    rng = np.random.default_rng(seed)
    null = _spearman_rows(rx, rng.permuted(np.tile(ry, (PERMUTATIONS, 1)), axis=1))
    eps = 1e-12
    greater = (1 + np.sum(null >= rho - eps)) / (1 + PERMUTATIONS)
    less = (1 + np.sum(null <= rho + eps)) / (1 + PERMUTATIONS)
    return rho, float(greater), float(less), f"permutation ({PERMUTATIONS:,} orderings)"


def trend(x, y, rule: str, claimed: str = "increasing", alpha: float = 0.05) -> Evidence:
    """Spearman trend of y with x. `rule` names the quantities, e.g. "median sharpness on
    n_parameters"; the rule text adds the test, the p-value's method and the decision."""
    rho, p_up, p_down, method = spearman(x, y)
    n = len(np.asarray(x))
    up = claimed == "increasing"
    p_c, p_o = (p_up, p_down) if up else (p_down, p_up)
    sign = ">" if up else "<"
    how = "" if method == "undefined" else f"{method} "
    text = f"Spearman rho of {rule} {sign} 0, one-sided {how}p < {alpha}"
    if n < MIN_TREND_POINTS:
        return inconclusive(
            f"n too small ({n} < {MIN_TREND_POINTS} points); {text}",
            effect=_num(rho),
            p_value=_num(p_c),
            n=n,
        )
    if method == "undefined":
        return inconclusive(f"rho undefined (constant values); {text}", n=n)
    return p_value(rho, p_c, p_o, n, text, alpha)


def share(k: int, n: int, rule: str, holds_at: float, fails_below: float | None = None) -> Evidence:
    """k of n units: holds when the 95% Clopper-Pearson interval of k/n lies at or above
    `holds_at`, does not hold when it lies below `fails_below` (default `holds_at`)."""
    fails_below = holds_at if fails_below is None else fails_below
    if n == 0:
        return inconclusive(f"no units ({rule})", n=0)
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="exact")
    numbers = dict(effect=k / n, ci_low=float(ci.low), ci_high=float(ci.high), n=int(n))
    if ci.low >= holds_at:
        verdict = "holds"
    elif ci.high < fails_below:
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    return Evidence(verdict, f"95% exact binomial CI of {rule}", **numbers)


def rank(position: int, n: int, rule: str, holds_at: int, fails_above: float) -> Evidence:
    """A rank among n (1 = first): holds at or above `holds_at`, does not hold past
    `fails_above`, inconclusive between."""
    verdict = (
        "holds"
        if position <= holds_at
        else ("does not hold" if position > fails_above else "inconclusive")
    )
    text = f"{rule}: rank <= {holds_at} of {n} holds, rank > {fails_above:g} does not hold"
    return Evidence(verdict, text, effect=float(position), n=n)


def count(k: int, n: int, rule: str, holds_at: int, fails_below: int) -> Evidence:
    """k of n items meet a condition: holds at k >= holds_at, does not hold at k < fails_below,
    inconclusive between."""
    verdict = "holds" if k >= holds_at else ("does not hold" if k < fails_below else "inconclusive")
    text = f"{rule}: at least {holds_at} of {n} holds, fewer than {fails_below} does not hold"
    return Evidence(verdict, text, effect=float(k), n=n)


def threshold(ok: bool | None, effect, n: int | None, rule: str) -> Evidence:
    """A deterministic check; `ok` None (the number could not be computed) is inconclusive."""
    if ok is None:
        return inconclusive(f"not computable ({rule})", effect=_num(effect), n=n)
    return Evidence("holds" if ok else "does not hold", rule, effect=_num(effect), n=n)


def all_of(*parts: Evidence) -> Evidence:
    """A claim of several parts; the first part's numbers stand for the claim, every part's rule
    is named."""
    verdicts = [p.verdict for p in parts]
    if "does not hold" in verdicts:
        verdict = "does not hold"
    elif all(v == "holds" for v in verdicts):
        verdict = "holds"
    elif all(v == "not run" for v in verdicts):
        verdict = "not run"
    else:
        verdict = "inconclusive"
    rule = " AND ".join(f"[{p.verdict}] {p.rule}{_numbers(p)}" for p in parts)
    return replace(parts[0], verdict=verdict, rule=rule)


def _numbers(e: Evidence) -> str:
    """The numbers of one part of a claim, for the combined rule text."""
    out = []
    if e.effect is not None:
        out.append(f"effect {e.effect:.4g}")
    if e.ci_low is not None and e.ci_high is not None:
        out.append(f"CI [{e.ci_low:.4g}, {e.ci_high:.4g}]")
    if e.p_value is not None:
        out.append(f"p {e.p_value:.3g}")
    if e.n is not None:
        out.append(f"n {e.n}")
    return f" ({', '.join(out)})" if out else ""
