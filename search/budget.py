"""Cost budgets: target parsing, the lambda controller and the discrete repair (exact MCKP).

A target is ``metric=VALUE``: relative (``0.5x``: the searched layers at half their cost at
uniform 8/8 on that accelerator, float first/last layers at their fixed 8/8 cost, see
:meth:`search.cost.HardwareCost.from_relative`) or absolute with a unit. The metrics, their
units (latency s/ms/us/ns; energy J/mJ/uJ/nJ/pJ; edp Js/mJs/uJs/pJs; dram B/KB/MB/GB (powers of
1000) or KiB/MiB/GiB; lut/dsp/bram/bitops plain counts with an optional k/M/G suffix) and how
they print are the records of :mod:`hwsim.metrics`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from hwsim.metrics import SI_COUNT

from .cost import METRICS, HardwareCost, metric_spec
from .errors import SearchError

_NUM = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class Target:
    """A budget on ``metric``: ``value`` is a fraction of uniform 8/8 when ``relative``, else in
    the metric's table unit (s, pJ, pJ*s, bytes, counts)."""

    metric: str
    value: float
    relative: bool
    text: str

    def resolve(self, cost: HardwareCost) -> float:
        """The absolute budget in the metric's units (see :meth:`HardwareCost.from_relative`)."""
        return cost.from_relative(self.value) if self.relative else self.value


def parse_target(text: str) -> Target:
    """Parse ``latency=0.5x``, ``latency=2ms``, ``energy=3mJ``, ``lut=60000``, ``bitops=1.5G``."""
    if "=" not in str(text):
        raise SearchError(
            f"--target '{text}': expected METRIC=VALUE, e.g. latency=0.5x or energy=3mJ"
        )
    metric, _, val = str(text).partition("=")
    metric = metric.strip()
    if metric not in METRICS:
        raise SearchError(
            f"--target '{text}': unknown metric '{metric}' (known: {', '.join(METRICS)})"
        )
    val = val.strip()
    if val.endswith("x"):
        try:
            frac = float(val[:-1])
        except ValueError:
            raise SearchError(f"--target '{text}': '{val}' is not a number followed by x") from None
        if not 0 < frac < math.inf:
            raise SearchError(f"--target '{text}': the fraction must be positive")
        return Target(metric, frac, True, str(text))
    m = _NUM.match(val)
    if not m:
        raise SearchError(f"--target '{text}': '{val}' is not a number with an optional unit")
    num, unit = float(m.group(1)), m.group(2)
    spec = METRICS[metric]
    if spec.target_units:
        units = spec.target_units
        if unit == "" and spec.default_unit is not None:
            unit = spec.default_unit
        if unit not in units:
            raise SearchError(
                f"--target '{text}': unit '{unit}' is not one of {', '.join(units)} (or use a fraction like 0.5x)"
            )
        value = num * units[unit]
    else:
        if unit not in SI_COUNT:
            raise SearchError(
                f"--target '{text}': '{metric}' is a count; suffix must be one of k, M, G"
            )
        value = num * SI_COUNT[unit]
    if value <= 0:
        raise SearchError(f"--target '{text}': the budget must be positive")
    return Target(metric, value, False, str(text))


def format_cost(metric: str, value: float) -> str:
    """Human units: ``1.23 ms``, ``4.5 uJ``, ``60000 LUTs`` (see ``hwsim.metrics.Metric.format``)."""
    return metric_spec(metric).format(value)


@dataclass
class LambdaController:
    """Drives the expected cost to the budget by a PI update of lambda.

    Every ``interval`` steps, with ``E`` the mean expected cost over the interval:
    ``signed=False`` (the paper preset): ``e = log(E / target)``,
    ``log_lam += kp * (e - e_prev) + ki * e`` (the velocity form of a PI controller), clamped to
    [log_min, log_max]: lambda stays positive, so the cost term only ever pushes costs down.
    ``signed=True`` (the converge preset): ``r = E / target - 1``, ``e = r`` outside a dead band
    ``|r| <= band`` and 0 inside it (shifted to the band's edge), and
    ``lam += kp_signed * (e - e_prev) + ki_signed * (interval / period) * e``, clamped to
    [-exp(log_max), exp(log_max)] (``period`` = steps per epoch, so the integral gain is per epoch
    and the controller's time scale is that of the temperature schedule, whatever the data size):
    the Lagrange multiplier of an equality target, negative while the cost is under the
    target, so the search also spends budget it would leave unused where accuracy does not ask
    for bits (the knapsack repair's ``fill`` rule, learned). Inside the dead band lambda holds
    still, so a distribution that anneals to an allocation in the band stays there. A fixed lambda (the paper's gamma)
    is ``fixed=True``: never updated.
    """

    lam: float = 1.0
    target: float | None = None
    fixed: bool = False
    interval: int = 10
    kp: float = 0.5
    ki: float = 0.3
    log_min: float = -12.0
    log_max: float = 8.0
    signed: bool = False
    kp_signed: float = 2.0
    # per epoch of steps (see ``period``); 40, not 10: at 10 a 20-layer search on Stripes froze
    # at 0.88x the target, lambda moving ~0.3 per epoch while the temperature annealed
    # (bench/search_convergence.py, resnet20_fm_w8/stripes, both seeds)
    ki_signed: float = 40.0
    period: int = 0  # steps per epoch (set by the search loop); 0: ki_signed per interval
    leak: float = 0.5  # inside the dead band lambda decays by this factor per interval
    band: float = 0.042  # with setpoint 0.95: expected cost held in [0.91, 0.99] x budget
    steps: int = 0
    acc: float = 0.0
    count: int = 0
    prev_err: float = 0.0

    def update(self, expected: float) -> float:
        """Feed one step's expected cost (in the units of ``target``; the search loop feeds the
        searched layers' relative cost, x of their uniform 8/8); returns the lambda to use next."""
        if self.fixed or self.target is None:
            return self.lam
        self.steps += 1
        self.acc += float(expected)
        self.count += 1
        if self.count >= self.interval:
            mean = max(self.acc / self.count, 1e-300)
            if self.signed:
                r = mean / self.target - 1.0
                err = r - min(max(r, -self.band), self.band)
                ki = self.ki_signed * (self.interval / self.period if self.period else 1.0)
                lam = self.lam + self.kp_signed * (err - self.prev_err) + ki * err
                if err == 0.0:
                    lam *= self.leak
                bound = math.exp(self.log_max)
                self.lam = min(max(lam, -bound), bound)
                self.prev_err = err
                self.acc, self.count = 0.0, 0
                return self.lam
            err = math.log(mean / self.target)
            log_lam = math.log(self.lam) + self.kp * (err - self.prev_err) + self.ki * err
            self.lam = math.exp(min(max(log_lam, self.log_min), self.log_max))
            self.prev_err = err
            self.acc, self.count = 0.0, 0
        return self.lam

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def _infeasible(cost: HardwareCost, budget: float) -> SearchError:
    low = cost.minimum()
    return SearchError(
        f"{cost.metric} target {format_cost(cost.metric, budget)} is infeasible: the cheapest allocation"
        f" costs {format_cost(cost.metric, low)} ({cost.to_relative(low):.3f}x of uniform 8/8)"
    )


def _mckp(
    scores: np.ndarray, costs: np.ndarray, allowed: np.ndarray, cap: float, floor: float | None
) -> np.ndarray | None:
    """Exact MCKP by MILP: one allowed pair per layer, maximise sum scores, floor <= sum costs <= cap.

    ``scores``/``costs``: ``[L, K]``. Returns the chosen column per layer, or None if infeasible.
    """
    L, K = scores.shape
    mask = allowed.reshape(L, K)
    n = L * K
    c = -np.where(mask, scores, 0.0).ravel()
    ub = mask.ravel().astype(float)
    one = np.zeros((L, n))
    for layer in range(L):
        one[layer, layer * K : (layer + 1) * K] = 1.0
    cons = [LinearConstraint(one, 1.0, 1.0)]
    cvec = np.where(mask, costs, 0.0).ravel()[None, :]
    # scale the budget row to O(1) for numerical robustness
    s = max(float(np.abs(cvec).max()), 1e-300)
    lo = -np.inf if floor is None else floor / s
    cons.append(LinearConstraint(cvec / s, lo, cap / s + 1e-9))
    res = milp(c, constraints=cons, integrality=np.ones(n), bounds=Bounds(np.zeros(n), ub))
    if res.status != 0 or res.x is None:
        return None
    return np.asarray(np.round(res.x).reshape(L, K).argmax(axis=1))


def repair(
    cost: HardwareCost, log_pw: np.ndarray, log_pa: np.ndarray, budget: float, fill: float = 0.9
) -> tuple[np.ndarray, float]:
    """The discrete allocation that maximises ``sum_l log(pw_li * pa_lj)`` with cost <= ``budget``.

    ``log_pw`` ``[L, nW]``, ``log_pa`` ``[L, nA]``: log-probabilities per searched layer. For a
    sum cost this is a multiple-choice knapsack solved exactly with ``scipy.optimize.milp``; when
    possible the searched layers also use at least ``fill`` of their share of the budget (budget
    minus the float layers' fixed cost), else the network at least ``fill`` of the budget
    (unused budget is unused accuracy). For ``smoothmax`` (pipeline) the constraint is per layer
    (every stage <= budget). For a composite of two sums such as EDP (energy x latency) a few
    exact MCKPs on the first part under caps on the second are tried and the best whose product
    meets the budget kept. Returns ``(indices [L, 2], cost)``; raises :class:`SearchError`
    naming the cheapest achievable cost when nothing meets the budget.
    """
    L, nW, nA = cost.shape
    scores = (log_pw[:, :, None] + log_pa[:, None, :]).reshape(L, nW * nA)
    allowed = np.broadcast_to(cost.allowed[None], (L, nW, nA)).reshape(L, -1)

    def to_idx(cols: np.ndarray) -> np.ndarray:
        return np.stack([cols // nA, cols % nA], axis=1)

    if cost.minimum() > budget * (1 + 1e-9):
        raise _infeasible(cost, budget)
    if cost.aggregate == "smoothmax":
        (k,) = cost.keys
        t = cost.np_tables[k].reshape(L, -1)
        ok = allowed & (t <= budget * (1 + 1e-12))
        if cost.np_constant[k].size and cost.np_constant[k].max() > budget:
            raise _infeasible(cost, budget)
        cols = np.where(ok, scores, -np.inf).argmax(axis=1)
        idx = to_idx(cols)
        return idx, cost.discrete(idx)
    if cost.spec.composite:
        return _repair_product(cost, scores, allowed, budget, to_idx)
    (k,) = cost.keys
    t = cost.np_tables[k].reshape(L, -1)
    const = float(cost.np_constant[k].sum())
    cap = budget - const
    cols = None
    # Floors tried in turn: the searched layers use at least ``fill`` of their share of the
    # budget; else the whole network uses at least ``fill`` of the budget; else no floor.
    floors = [fill * cap, fill * budget - const] if fill else []
    for floor in [*floors, None]:
        cols = _mckp(scores, t, allowed, cap, floor)
        if cols is not None:
            break
    if cols is None:
        raise _infeasible(cost, budget)
    idx = to_idx(cols)
    return idx, cost.discrete(idx)


def _repair_product(
    cost: HardwareCost,
    scores: np.ndarray,
    allowed: np.ndarray,
    budget: float,
    to_idx: Any,
) -> tuple[np.ndarray, float]:
    """Repair for a composite ``A x B`` of two per-layer sums (EDP: energy x latency): for 20
    caps on B between its minimum and maximum, an exact MCKP on A with ``A <= budget / cap``."""
    if len(cost.groups) != 2 or any(len(g) != 1 for g in cost.groups):
        raise SearchError(
            f"metric '{cost.metric}': the repair handles a product of two table keys,"
            f" got {cost.groups}"
        )
    (ka,), (kb,) = cost.groups
    L = scores.shape[0]
    e = cost.np_tables[ka].reshape(L, -1)
    lat = cost.np_tables[kb].reshape(L, -1)
    ce, cl = cost.np_constant[ka].sum(), cost.np_constant[kb].sum()
    best = None
    for split in np.linspace(0.0, 1.0, 21)[1:]:
        # try B budgets between the minimum and the all-max B; A gets the rest
        lmin = float(np.where(allowed, lat, np.inf).min(axis=1).sum()) + cl
        lmax = float(np.where(allowed, lat, -np.inf).max(axis=1).sum()) + cl
        lcap = lmin + split * (lmax - lmin)
        cols = _mckp(scores, e, allowed, budget / lcap - ce, None)
        if cols is None:
            continue
        idx = to_idx(cols)
        if cost.discrete(idx) <= budget * (1 + 1e-9):
            sc = float(scores[np.arange(L), cols].sum())
            if best is None or sc > best[0]:
                best = (sc, idx)
    if best is None:
        raise _infeasible(cost, budget)
    return best[1], cost.discrete(best[1])
