"""The spike test of the digest and the alerts: a Poisson upper tail against the previous 7 days."""

from __future__ import annotations

import math
from dataclasses import dataclass

BASELINE_DAYS = 7


def poisson_upper_tail(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    term = math.exp(-lam)
    below = term
    for i in range(1, k):
        term *= lam / i
        below += term
    return max(0.0, 1.0 - below)


@dataclass(frozen=True, slots=True)
class SpikeTest:
    min_count: int = 3
    p_value: float = 0.01

    def baseline(self, previous_total: int) -> float:
        """Daily rate from the previous 7 days, add-one smoothed so that an institution never seen before is
        not a spike on its first item."""
        return (previous_total + 1) / BASELINE_DAYS

    def check(self, today: int, previous_total: int) -> tuple[bool, float, float]:
        """(is_spike, lambda, p) for ``today`` items against ``previous_total`` over the 7 days before."""
        lam = self.baseline(previous_total)
        p = poisson_upper_tail(today, lam)
        return (today >= self.min_count and p < self.p_value), lam, p

    def sentence(self) -> str:
        """The test in one Chinese sentence, as the digest states it."""
        return (
            f"负面舆情突增的判定：以该机构前 {BASELINE_DAYS} 天的负面舆情日均条数（加 1 平滑）为泊松分布均值 λ，"
            f"当日新增条数 k 不少于 {self.min_count} 且 P(X≥k) < {self.p_value:g} 时判为突增。"
        )
