"""`branching check` of a 10,000-scene story against a bare C-loader `yaml.load`.

Whole process against whole process, as a user meets them. Generates a
realistic story (about 3 MB of YAML over a story.yaml and nine chapter files:
prose of a few sentences per scene, two or three labelled choices, conditions,
interpolations, `set`/`add`, text variants, routes, endings) under
benchmarks/data/, then runs in paired rounds (alternating which goes first),
each command in a fresh process from the same interpreter and environment:

- A: `python -c "import yaml; yaml.load(open(f), Loader=yaml.CSafeLoader)"`
  over every file of the story (the default garbage collector, as a user
  would run it);
- B: `python -m branching check STORY` (load, build, check, print the report).

Prints the median of the per-round ratios B/A with min and max (wall clock;
CPU time for information) and judges it: target at most 1.5. Exit status 1
when the target is missed. Writes benchmarks/results/load.json
(load-quick.json with --quick: the same story, 5 rounds instead of 21).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
from pathlib import Path

from _pairs import (
    ROOT,
    Timed,
    Verdicts,
    child_env,
    fmt_ratio,
    paired,
    python,
    ratio_summary,
    run_process,
    write_results,
)

HERE = Path(__file__).resolve().parent
TARGET = 1.5
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


def bare_argv(files: list[Path]) -> list[str]:
    code = (
        "import sys, yaml\n"
        "for f in sys.argv[1:]:\n"
        "    with open(f, encoding='utf-8') as fh:\n"
        "        yaml.load(fh, Loader=yaml.CSafeLoader)\n"
    )
    return [python(), "-c", code, *map(str, files)]


def check_argv(folder: Path) -> list[str]:
    return [python(), "-m", "branching", "check", str(folder)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 21")
    parser.add_argument("--scenes", type=int, default=10_000, help="story size (default 10,000)")
    parser.add_argument("--rounds", type=int, default=None, help="paired rounds (default 21)")
    args = parser.parse_args()
    total = args.scenes
    rounds = args.rounds or (5 if args.quick else 21)
    folder = HERE / "data" / f"load_{total}"
    files = generate(folder, total)
    size = sum(f.stat().st_size for f in files)
    env = child_env()

    # Warm up both sides (page cache, bytecode caches) and make sure the check
    # really checks: it must read the whole story and find no error.
    done = subprocess.run(
        check_argv(folder), cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode != 0 or not summary.startswith("0 error(s)"):
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
        print("FAIL: the generated story does not check cleanly")
        return 1
    if run_process(bare_argv(files), env).code != 0:
        print("FAIL: the bare yaml.load baseline does not run")
        return 1
    floor = [run_process([python(), "-c", "pass"], env).wall_s for _ in range(5)]

    bare: list[Timed] = []
    ours: list[Timed] = []

    def run_bare() -> float:
        bare.append(run_process(bare_argv(files), env))
        return bare[-1].wall_s

    def run_ours() -> float:
        ours.append(run_process(check_argv(folder), env))
        return ours[-1].wall_s

    paired(run_bare, run_ours, rounds)
    if any(t.code for t in bare) or any(t.code for t in ours):
        print("FAIL: a run exited with an error")
        return 1
    wall = ratio_summary([o.wall_s / b.wall_s for b, o in zip(bare, ours, strict=True)])
    cpu = ratio_summary([o.cpu_s / b.cpu_s for b, o in zip(bare, ours, strict=True)])
    figures = {
        "scenes": total,
        "files": len(files),
        "bytes": size,
        "check_summary": summary,
        "bare_yaml_load_median_s": round(statistics.median(t.wall_s for t in bare), 4),
        "branching_check_median_s": round(statistics.median(t.wall_s for t in ours), 4),
        "python_startup_median_s": round(statistics.median(floor), 4),
        "ratio_wall": wall,
        "ratio_cpu_for_information": cpu,
        "target_ratio": TARGET,
    }
    print(f"story: {total:,} scenes in {len(files)} files, {size / 1e6:.2f} MB ({summary})")
    for what, key in (
        ("bare yaml.load (CSafeLoader)", "bare_yaml_load_median_s"),
        ("branching check", "branching_check_median_s"),
        ("python -c pass (the interpreter alone)", "python_startup_median_s"),
    ):
        print(f"{what + ', whole process:':48} median {figures[key]:.3f} s")
    print(f"ratio check / bare, wall clock: {fmt_ratio(wall)}")
    print(f"ratio check / bare, CPU time (information): {fmt_ratio(cpu)}")
    verdicts = Verdicts()
    verdicts.judge(
        "check vs bare yaml.load, whole processes",
        wall["median"] <= TARGET,
        f"median paired ratio {fmt_ratio(wall)}, target <= {TARGET}",
    )
    write_results("load", args.quick, figures, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    sys.exit(main())
