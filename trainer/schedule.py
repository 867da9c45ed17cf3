"""Learning-rate schedules: the multiplier of the peak ``train.lr`` at each step, as pure functions.

``cosine``, ``linear`` and ``constant`` warm up linearly, then decay over every remaining step.
``wsd`` (warmup-stable-decay, as in MiniCPM and OLMo's annealing runs) holds the peak after warmup and
decays only over the last ``decay_fraction`` of the steps, so a run can be stopped at any point of
the stable phase and annealed later (``train.init_from``) without having committed to a length.
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "linear", "constant", "wsd")
DECAY_SHAPES = ("linear", "cosine", "sqrt")


def decay_steps(total: int, decay_fraction: float) -> int:
    """How many of ``total`` steps a ``wsd`` schedule spends decaying (at least one)."""
    return max(1, round(decay_fraction * total))


def shape(progress: float, decay_shape: str) -> float:
    """Fraction of the way from the floor to the peak, ``progress`` in [0, 1] through a decay."""
    if decay_shape == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if decay_shape == "sqrt":  # MiniCPM's 1 - sqrt: falls fast at first, then flattens
        return 1.0 - math.sqrt(progress)
    return 1.0 - progress


def lr_multiplier(i: int, warmup: int, total: int, min_ratio: float, schedule: str,
                  decay_fraction: float = 0.2, decay_shape: str = "linear") -> float:
    """Learning rate of step index ``i`` (0-based) as a fraction of the peak.

    Warmup: ``(i + 1) / warmup``. Then ``min_ratio + (1 - min_ratio) * shape(progress)`` where progress
    runs from 0 at the decay's first index to 1 at ``total``: over all steps after warmup for
    ``cosine``/``linear``, over the last ``decay_steps(total, decay_fraction)`` for ``wsd`` (1.0 before).
    """
    if i < warmup:
        return (i + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    if schedule == "wsd":
        start = total - decay_steps(total, decay_fraction)
        if i < start:
            return 1.0
        progress = min(1.0, (i - start) / (total - start))
    else:
        progress = min(1.0, (i - warmup) / max(1, total - warmup))
        decay_shape = schedule
    return min_ratio + (1.0 - min_ratio) * shape(progress, decay_shape)
