"""Variant names: `<rule>[_L<a>[-<b>]][_zero]`.

rule: `all`, `tails` or `std<k>` (see score.py); `_L<a>` scores with layer a alone, `_L<a>-<b>`
with layers a..b inclusive (default: every layer); `_zero` reads the density as ~0 outside the
training range instead of the edge density (the study). Examples: `tails`, `std2_L12`,
`all_L10-19`, `tails_zero`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from resid_atlas.core.errors import AtlasError

VARIANT = re.compile(
    r"^(?P<rule>all|tails|std\d+(?:\.\d+)?)(?:_L(?P<a>\d+)(?:-(?P<b>\d+))?)?(?:_(?P<ex>zero))?$"
)


@dataclass(frozen=True)
class Variant:
    name: str
    rule: str
    layers: tuple[int, ...]  # model layer numbers
    extrapolation: str


def parse_variant(name: str, n_layers: int, where: str = "classifier.variants") -> Variant:
    m = VARIANT.match(name)
    if m is None:
        raise AtlasError(
            f"{where}: '{name}' is not a variant name; use <rule>[_L<a>[-<b>]][_zero] with rule "
            "all, tails or std<k>, e.g. tails, std2_L12, all_L10-19, tails_zero."
        )
    if m["a"] is None:
        layers = tuple(range(n_layers))
    else:
        a = int(m["a"])
        b = int(m["b"]) if m["b"] is not None else a
        if not a <= b < n_layers:
            raise AtlasError(
                f"{where}: '{name}' asks for layers {a}..{b} but the model has layers "
                f"0..{n_layers - 1}; pick a window inside that range."
            )
        layers = tuple(range(a, b + 1))
    return Variant(name, m["rule"], layers, m["ex"] or "edge")
