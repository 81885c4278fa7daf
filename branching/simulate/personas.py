"""Persona files: kinds of simulated viewers, each with weights on choices, mixed by share.

```yaml
personas:
  - name: believes-adverts
    share: 70                  # percentages or fractions; scaled to add up to 1
    weights:                   # relative weights; a choice not named weighs 1
      kitchen.frosties: 7      # one choice: SCENE.CHOICE
      sugar_puffs: 3           # a choice id, in every scene that has it
      tag:advert: 2            # every choice tagged `advert`
  - name: completionist
    share: 30
    strategy: least-used       # random (default), least-used or default
```

A choice's weight is the most specific rule that names it: `SCENE.CHOICE`,
then the bare choice id, then the largest weight among its tags. Every name is
checked against the story, so a typo is an error naming the persona and the key
instead of a weight silently ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from branching.errors import UsageProblem
from branching.story.model import Choice, Story


@dataclass(frozen=True)
class Persona:
    """One kind of viewer: its share of the audience and how it weighs choices."""

    name: str
    share: float
    strategy: str = "random"
    exact: dict[tuple[str, str], float] = field(default_factory=dict)
    by_id: dict[str, float] = field(default_factory=dict)
    by_tag: dict[str, float] = field(default_factory=dict)

    def weight(self, scene: str, choice: Choice) -> float:
        """The relative weight of `choice` in `scene` for this persona."""
        found = self.exact.get((scene, choice.id))
        if found is not None:
            return found
        found = self.by_id.get(choice.id)
        if found is not None:
            return found
        tagged = [self.by_tag[t] for t in choice.tags if t in self.by_tag]
        return max(tagged) if tagged else 1.0


def load_personas(path: str | Path, story: Story) -> tuple[Persona, ...]:
    """The personas in `path`, checked against `story`; UsageProblem saying what is wrong."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"{where}: cannot read the persona file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageProblem(f"{where}: the persona file is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise UsageProblem(f"{where}{at}: not valid YAML") from None
    except RecursionError:
        raise UsageProblem(f"{where}: nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("personas"), list):
        raise UsageProblem(f"{where}: expected a mapping with a 'personas' list")
    if not data["personas"]:
        raise UsageProblem(f"{where}: the 'personas' list is empty")
    personas = [_persona(where, i, item, story) for i, item in enumerate(data["personas"], 1)]
    names = [p.name for p in personas]
    if len(set(names)) != len(names):
        raise UsageProblem(f"{where}: two personas share a name")
    total = sum(p.share for p in personas)
    if total <= 0:
        raise UsageProblem(f"{where}: the personas' shares add up to 0")
    return tuple(
        Persona(p.name, p.share / total, p.strategy, p.exact, p.by_id, p.by_tag) for p in personas
    )


def _persona(where: str, n: int, item: Any, story: Story) -> Persona:
    from branching.simulate.audience import STRATEGIES

    if not isinstance(item, dict):
        raise UsageProblem(f"{where}: persona {n} must be a mapping")
    name = item.get("name", f"persona {n}")
    if not isinstance(name, str) or not name.strip():
        raise UsageProblem(f"{where}: persona {n}: 'name' must be text")
    label = f"{where}: persona '{name}'"
    unknown = set(item) - {"name", "share", "weights", "strategy"}
    if unknown:
        raise UsageProblem(f"{label}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    share = _number(label, "share", item.get("share", 1))
    strategy = item.get("strategy", "random")
    if strategy not in STRATEGIES:
        raise UsageProblem(f"{label}: strategy must be one of {', '.join(STRATEGIES)}")
    weights = item.get("weights", {}) or {}
    if not isinstance(weights, dict):
        raise UsageProblem(f"{label}: 'weights' must map choices or tags to numbers")
    ids = {c.id for s in story.scenes.values() for c in s.choices}
    tags = {t for s in story.scenes.values() for c in s.choices for t in c.tags}
    exact: dict[tuple[str, str], float] = {}
    by_id: dict[str, float] = {}
    by_tag: dict[str, float] = {}
    for key, raw in weights.items():
        key = str(key)
        value = _number(label, key, raw)
        if key.startswith("tag:"):
            if key[4:] not in tags:
                raise UsageProblem(f"{label}: no choice of the story has the tag '{key[4:]}'")
            by_tag[key[4:]] = value
        elif "." in key and key.rsplit(".", 1)[0] in story.scenes:
            scene, choice = key.rsplit(".", 1)
            if story.scenes[scene].choice(choice) is None:
                raise UsageProblem(f"{label}: scene '{scene}' has no choice '{choice}'")
            exact[(scene, choice)] = value
        elif key in ids:
            by_id[key] = value
        else:
            raise UsageProblem(
                f"{label}: '{key}' is neither SCENE.CHOICE, a choice id nor tag:NAME of the story"
            )
    return Persona(str(name), share, strategy, exact, by_id, by_tag)


def _number(label: str, key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise UsageProblem(f"{label}: '{key}' must be a number, not {raw!r}")
    if raw < 0:
        raise UsageProblem(f"{label}: '{key}' must not be negative")
    return float(raw)
