"""Time loading + checking a 10,000-scene story against a bare C-loader `yaml.load`.

Generates a realistic story (about 2.5 MB of YAML over a story.yaml and ten
chapter files: prose of a few sentences per scene, two or three labelled
choices, conditions, interpolations, `set`/`add`, text variants, routes,
endings) under benchmarks/data/, then times, best of 3 in the same run:

- `branching.story.loader.load` + `branching.verify.check.check` of the story (the
  expression cache is cleared before each run, so every run compiles afresh);
- `yaml.load(..., Loader=yaml.CSafeLoader)` of the same files.

Prints both and their ratio (target: at most 1.5) and writes them to
benchmarks/results/load.json. `--quick` uses 2,000 scenes.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import yaml

from branching.expr import conditions
from branching.story import loader
from branching.verify import check

HERE = Path(__file__).resolve().parent
WORDS = (
    "the harbour lamp rain salt rope door quiet night boat market letter bell "
    "stranger window river smoke coin song lantern shadow bridge tide gull "
    "map clock tower ferry voice"
).split()
STATE = {
    "gold": 0,
    "trust": 0,
    "day": 1,
    "met_anna": False,
    "has_key": False,
    "mood": "calm",
    "name": "Sam",
    "luck": 0.5,
    "debt": 10,
    "lies": 0,
}


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 6))]
    return " ".join(words).capitalize() + rng.choice([".", ".", ".", "!", "?"])


def label(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 3))).capitalize()


def scene_text(rng: random.Random, i: int) -> list[str]:
    body = " ".join(sentence(rng) for _ in range(rng.randint(2, 3)))
    if i % 7 == 0:
        body += " Day {day}, and you have {gold} coins, {name}."
    if i % 11 == 0:
        return [
            "    text:",
            '      - if: mood == "angry"',
            f"        text: {sentence(rng)}",
            f"      - text: {body}",
        ]
    return ["    text: |", f"      {body}"]


def choice(rng: random.Random, target: str, k: int) -> list[str]:
    out = [f"      - label: {label(rng)}", f"        goto: {target}"]
    if k:  # explicit ids keep two similar labels apart
        out.insert(0, f"      - id: option_{k}")
        out[1] = out[1].replace("-", " ", 1)
    roll = rng.random()
    if roll < 0.15:
        out.append(f"        if: trust >= {rng.randint(0, 3)}")
    elif roll < 0.25:
        out.append(f"        requires: gold >= {rng.randint(1, 5)} or has_key")
    elif roll < 0.3:
        out.append(f'        if: visited("s{rng.randrange(10):05d}") and mood != "angry"')
    roll = rng.random()
    if roll < 0.2:
        out.append(f"        add: {{gold: {rng.choice([1, 2, -1])}, trust: 1}}")
    elif roll < 0.3:
        out.append(f"        set: {{mood: {rng.choice(['angry', 'calm'])}, met_anna: true}}")
    elif roll < 0.35:
        out.append("        set: {has_key: true}\n        add: {lies: 1, luck: 0.25, debt: -1}")
    if k == 0 and len(out) == 2 and rng.random() < 0.1:
        out.append("        default: true")
    return out


def scene(rng: random.Random, i: int, total: int) -> list[str]:
    sid = f"s{i:05d}"
    lines = [f"  {sid}:", *scene_text(rng, i)]
    if rng.random() < 0.3:
        lines.insert(1, f"    title: {label(rng)}")
    if i == total - 1 or (i % 97 == 96):
        kind = rng.choice(["good", "bad", "neutral", "secret"])
        lines.append(f"    ending: {{kind: {kind}, title: {label(rng)}}}")
        return lines
    nxt = f"s{i + 1:05d}"
    if i % 13 == 5:
        skip = f"s{min(i + 2, total - 1):05d}"
        lines += [
            "    next:",
            "      - if: trust > 2",
            f"        goto: {skip}",
            f"      - goto: {nxt}",
        ]
        return lines
    if i % 29 == 3:
        lines += [
            "    random:",
            f"      - goto: {nxt}",
            "        weight: 3",
            f"      - goto: s{min(i + 3, total - 1):05d}",
        ]
        return lines
    if i % 50 == 0:
        lines.append("    on_enter: {add: {day: 1}}")
    lines.append("    choices:")
    extra = 2 if rng.random() < 0.3 else 1
    targets = [nxt] + [f"s{rng.randrange(total):05d}" for _ in range(extra)]
    for k, target in enumerate(targets):
        lines += choice(rng, target, k)
    return lines


def generate(folder: Path, total: int, chapters: int = 10) -> list[Path]:
    rng = random.Random(20240601)
    folder.mkdir(parents=True, exist_ok=True)
    per = total // chapters
    files = [folder / "story.yaml"]
    head = [
        "branching: 1",
        "id: bench",
        "title: The Long Harbour",
        "start: s00000",
        "timer: 10",
        "state:",
        *(f"  {k}: {json.dumps(v)}" for k, v in STATE.items()),
        "include:",
        *(f"  - chapters/part{c:02d}.yaml" for c in range(1, chapters)),
        "scenes:",
    ]
    body = [line for i in range(per) for line in scene(rng, i, total)]
    files[0].write_text("\n".join(head + body) + "\n", encoding="utf-8")
    for c in range(1, chapters):
        path = folder / "chapters" / f"part{c:02d}.yaml"
        path.parent.mkdir(exist_ok=True)
        lines = [f"chapter: Part {c}", "scenes:"]
        lines += [line for i in range(c * per, (c + 1) * per) for line in scene(rng, i, total)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(path)
    return files


def time_best(fn: object, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        conditions._compile_cached.cache_clear()
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    total = 2_000 if "--quick" in sys.argv else 10_000
    folder = HERE / "data" / f"load_{total}"
    files = generate(folder, total)
    size = sum(f.stat().st_size for f in files)
    result = loader.load(folder)
    if result.story is None:
        for p in result.errors[:10]:
            print(p)
        return 1
    warnings = check.check(result.story)

    def ours() -> None:
        loaded = loader.load(folder)
        assert loaded.story is not None
        check.check(loaded.story)

    def bare() -> None:
        for f in files:
            yaml.load(f.read_bytes(), Loader=yaml.CSafeLoader)

    t_bare = time_best(bare)
    t_ours = time_best(ours)
    figures = {
        "scenes": len(result.story.scenes),
        "files": len(files),
        "bytes": size,
        "warnings": len(warnings),
        "bare_yaml_load_s": round(t_bare, 4),
        "load_and_check_s": round(t_ours, 4),
        "ratio": round(t_ours / t_bare, 3),
        "target_ratio": 1.5,
    }
    print(f"story: {figures['scenes']:,} scenes in {len(files)} files, {size / 1e6:.2f} MB")
    print(f"bare yaml.load (CSafeLoader): {t_bare:.3f} s")
    print(f"branching load + check:       {t_ours:.3f} s")
    print(f"ratio: {figures['ratio']:.2f} (target <= 1.5)")
    out = HERE / "results" / "load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
