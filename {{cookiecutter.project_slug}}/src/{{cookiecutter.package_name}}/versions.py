"""What every registry backend records about a model version, and the aliases the gate uses."""

from __future__ import annotations

from dataclasses import dataclass, field


class NoModelError(LookupError):
    """No model has the requested alias yet: a normal state before the first training."""


class RegistryError(Exception):
    """The registry cannot give a usable model; ``exit_code`` is the commands' exit status."""

    exit_code = 6


class RegistryUnavailableError(RegistryError):
    """The registry's server cannot be reached (a retry later may work)."""

    exit_code = 7


class AliasConflictError(RegistryError):
    """Another job moved the same alias at the same moment, in a store without a lock (a registry
    server answers with its database's unique-key violation): read the alias again and retry."""


class ModelLoadError(RegistryError):
    """A registered model's file is missing, unreadable, changed since registration or invalid.

    The message is one line naming the alias (when known), the version and the file, so that an
    operator knows what to restore or retrain without reading a traceback.
    """

    def __init__(self, version: int, path: object, reason: str, alias: str | None = None) -> None:
        self.version, self.path, self.reason, self.alias = version, path, reason, alias
        super().__init__()

    def __str__(self) -> str:
        which = f"version {self.version}"
        if self.alias is not None:
            which = f"{self.alias!r} ({which})"
        return f"model {which} cannot be loaded: {self.path}: {self.reason}"


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


# What moved an alias: the training job's quality gate, or a person with `promote`/`rollback`.
TRAIN = "train"
PROMOTE = "promote"
ROLLBACK = "rollback"


@dataclass
class AliasEvent:
    """One move of an alias, as the registry's append-only history keeps it.

    ``previous`` is the version the alias named before (None when it named none): replaying the
    champion's events gives the line of champions that ``rollback`` walks back along.
    """

    action: str
    alias: str
    version: int
    previous: int | None
    reason: str
    at: str
    evidence: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "alias": self.alias,
            "version": self.version,
            "previous": self.previous,
            "reason": self.reason,
            "at": self.at,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AliasEvent:
        previous = data.get("previous")
        evidence = data.get("evidence")
        return cls(
            action=str(data["action"]),
            alias=str(data["alias"]),
            version=int(str(data["version"])),
            previous=None if previous is None else int(str(previous)),
            reason=str(data.get("reason", "")),
            at=str(data.get("at", "")),
            evidence=dict(evidence) if isinstance(evidence, dict) else {},
        )
