"""What every registry backend records about a model version, and the aliases the gate uses."""

from __future__ import annotations

from dataclasses import dataclass, field


class NoModelError(LookupError):
    """No model has the requested alias yet: a normal state before the first training."""


CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass
class ModelVersion:
    """A registered model version and what is known about it."""

    name: str
    version: int
    metrics: dict[str, float]
    metadata: dict[str, object] = field(default_factory=dict)
    created_at: str = ""
