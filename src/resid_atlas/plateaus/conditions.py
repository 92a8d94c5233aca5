"""Names of the experimental conditions: `<base>.<direction>.<mode>`, e.g. `real.real-other.sphere`.

- base: the activation perturbed: `real` (a prompt's own), `cov-random` (a sample from the
  multivariate normal with the real mean and covariance), `isotropic` (real mean, isotropic
  covariance of the same total variance);
- direction: `random` (cov-random sample minus base), `real-other` (another prompt's activation
  minus base), `isotropic` (a standard normal vector), `cov-random-mixture` (the difference of two
  cov-random samples: real-activation-difference covariance without the base in it);
- mode: `straight` (x_base + a * dir, a in [0, 1], dir scaled to ||x_base||) or `sphere`
  (rotation towards dir at constant norm, angle 0..pi).
"""

from __future__ import annotations

from dataclasses import dataclass

from resid_atlas.core.errors import AtlasError

BASES = ("real", "cov-random", "isotropic")
DIRECTIONS = ("random", "real-other", "isotropic", "cov-random-mixture")
MODES = ("straight", "sphere")


@dataclass(frozen=True)
class Condition:
    base: str
    direction: str
    mode: str

    @property
    def name(self) -> str:
        return f"{self.base}.{self.direction}.{self.mode}"


def parse(name: str) -> Condition:
    parts = name.split(".")
    if (
        len(parts) != 3
        or parts[0] not in BASES
        or parts[1] not in DIRECTIONS
        or parts[2] not in MODES
    ):
        raise AtlasError(
            f"plateaus.conditions: '{name}' is not <base>.<direction>.<mode> with base in "
            f"{BASES}, direction in {DIRECTIONS}, mode in {MODES}; fix the entry."
        )
    return Condition(*parts)
