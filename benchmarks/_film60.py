"""A generated story of film shape with 60 variables, for measuring event sizes.

Until the film fixture (`tests/fixtures/film/`) exists, `bench_events.py` plays
this one: 24 chapters of five scenes each (a choice point, a pass-through, a
choice point reading flags set chapters earlier, a `random` scene, a choice
point), 56 booleans and 4 small enums set by choices and read by conditions
many scenes later, and four endings offering rewinds.
"""

from __future__ import annotations

import random
from pathlib import Path

CHAPTERS = 24
FLAGS = 56
ENUMS = {"mood": ["calm", "tense", "angry"], "ally": ["none", "kit", "ray", "lou"]}
COUNTERS = ("trust", "heat")


def film_yaml(seed: int = 7) -> str:
    """The story as YAML text (deterministic for a seed)."""
    rng = random.Random(seed)
    lines = ["branching: 1", "id: film60", "title: Film Sixty", "start: c0s0", "timer: 8", "state:"]
    lines += [f"  f{i}: false" for i in range(FLAGS)]
    lines += [f"  {name}: {values[0]}" for name, values in ENUMS.items()]
    lines += [f"  {name}: 0" for name in COUNTERS]
    lines.append("scenes:")

    def flag_set() -> str:
        return f"f{rng.randrange(FLAGS)}: true"

    for c in range(CHAPTERS):
        nxt = f"c{c + 1}s0" if c + 1 < CHAPTERS else "end_pick"
        ch = f"Chapter {c + 1}"
        enum, values = rng.choice(list(ENUMS.items()))
        old = rng.randrange(FLAGS)
        lines += [
            f"  c{c}s0:",
            f"    chapter: {ch}",
            "    text: A choice at the start of the chapter.",
            "    choices:",
            f"      - {{label: Go left, goto: c{c}s1, set: {{{flag_set()}}}, default: true}}",
            f"      - {{label: Go right, goto: c{c}s1, "
            f"set: {{{flag_set()}, {enum}: {values[1]}}}}}",
            f"      - {{label: Wait, goto: c{c}s2, add: {{trust: 1}}}}",
            f"  c{c}s1:",
            f"    chapter: {ch}",
            "    text: Passing through.",
            f"    next: c{c}s2",
            f"  c{c}s2:",
            f"    chapter: {ch}",
            "    text: Something you did earlier matters here.",
            "    choices:",
            f"      - {{label: Trust them, goto: c{c}s3, set: {{{flag_set()}}}, default: true}}",
            f"      - {{label: Refuse, goto: c{c}s3, add: {{heat: 1}}, "
            f"set: {{{enum}: {values[-1]}}}}}",
            f"      - {{label: Remember, goto: c{c}s3, if: f{old}, set: {{{flag_set()}}}}}",
            f"      - {{label: Insist, goto: c{c}s4, "
            f"requires: f{(old + 7) % FLAGS} or trust >= 2}}",
            f"  c{c}s3:",
            f"    chapter: {ch}",
            "    text: Fate decides.",
            "    random:",
            f"      - {{goto: c{c}s4, weight: 3}}",
            f"      - {{goto: {nxt}, weight: 1}}",
            f"  c{c}s4:",
            f"    chapter: {ch}",
            "    text: The chapter closes.",
            "    choices:",
            f"      - {{label: Move on, goto: {nxt}, default: true}}",
            f"      - {{label: Look back, goto: {nxt}, set: {{{flag_set()}}}}}",
        ]
    lines += [
        "  end_pick:",
        "    text: The end approaches.",
        "    next:",
        "      - {if: f1 and f2, goto: end_a}",
        "      - {if: trust >= 8, goto: end_b}",
        "      - {if: heat >= 6, goto: end_c}",
        "      - {goto: end_d}",
    ]
    for name, kind in (("end_a", "good"), ("end_b", "good"), ("end_c", "bad"), ("end_d", "bad")):
        lines += [
            f"  {name}:",
            "    text: It ends.",
            f"    ending: {{kind: {kind}, title: Ending {name[-1].upper()}}}",
            f"    rewind: [c{CHAPTERS - 1}s0, c{CHAPTERS // 2}s2]",
        ]
    return "\n".join(lines) + "\n"


def write_film(folder: Path) -> Path:
    """Write the story into `folder` and return its path."""
    path = folder / "film60.yaml"
    path.write_text(film_yaml(), encoding="utf-8")
    return path
