"""How much a perturbation changed the model: next-token KL and distances between residuals."""

from __future__ import annotations

import torch


def kl_from_base(base_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(P_base || P) in nats for each row of `logits` [B, V] against `base_logits` [V] or [B, V].

    Computed in float64 from log-softmax, so tiny perturbations give tiny (not negative) values.
    """
    base = torch.log_softmax(base_logits.double(), dim=-1)
    other = torch.log_softmax(logits.double(), dim=-1)
    base = base.expand_as(other)
    return (base.exp() * (base - other)).sum(-1).clamp_min(0.0)


def l2_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.double() - b.double()).norm(dim=-1)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1)
