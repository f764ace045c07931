"""Meeting formats: default group sizes, length, minimum oral-Norwegian level and pairing weights."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PairingWeights:
    shared_interest: float = 1.0  # per shared interest
    same_occupation: float = 1.5
    common_language: float = 1.0  # a language in common besides Norwegian
    age_closeness: float = 1.0  # full weight for the same age band, less per band apart


@dataclass(frozen=True)
class MeetingFormat:
    id: str
    newcomers: int
    residents: int
    duration_minutes: int
    min_norwegian_level: str = "A2"
    weights: PairingWeights = field(default_factory=PairingWeights)


FORMATS: dict[str, MeetingFormat] = {
    f.id: f
    for f in (
        MeetingFormat("standard", 10, 10, 105),
        MeetingFormat("50-meets-50", 50, 50, 150),
        MeetingFormat("youth", 10, 10, 105, weights=PairingWeights(age_closeness=3.0)),
        MeetingFormat("professionals", 10, 10, 105, weights=PairingWeights(same_occupation=4.0)),
        MeetingFormat("family", 10, 10, 105, weights=PairingWeights(age_closeness=2.0)),
    )
}
