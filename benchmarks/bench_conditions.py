"""Time compiling a large story's worth of templates and expressions (information only).

Compiles 30,000 text templates (one in ten interpolates a variable) and
10,000 distinct expressions with the expression cache cleared, then the same
expressions again (from the cache), and times evaluating one compiled
condition. There is no target here: the whole-process cost of checking a
large story, compilation included, is judged by bench_load.py. Each figure
is the median of several runs. `--quick` compiles a tenth as many.

Writes benchmarks/results/conditions.json (conditions-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pairs import Verdicts, write_results  # noqa: E402

from branching.expr.conditions import (  # noqa: E402
    _compile_cached,
    compile_expression,
    compile_template,
)

WORDS = "the quick brown fox jumps over lazy dog while bus leaves in ten minutes".split()


class Env:
    def var(self, name: str) -> object:
        return {"gold": 5, "name": "x"}[name]


def material(scale: int) -> tuple[dict[str, type], list[str], list[str]]:
    rng = random.Random(1)
    variables: dict[str, type] = {f"v{i}": rng.choice([int, float, str, bool]) for i in range(60)}
    variables.update(gold=int, name=str, trust=int)
    templates = []
    for i in range(3 * scale):
        text = " ".join(rng.choice(WORDS) for _ in range(40))[:200]
        if i % 10 == 0:
            k = rng.randrange(len(text))
            text = text[:k] + " {" + rng.choice(["name", "gold", "trust"]) + "} " + text[k:]
        templates.append(text)
    exprs = [f'gold >= {i} and name != "y{i}"' for i in range(scale)]
    return variables, templates, exprs


def once(variables: dict[str, type], templates: list[str], exprs: list[str]) -> dict[str, float]:
    _compile_cached.cache_clear()
    t0 = time.perf_counter()
    for text in templates:
        _, problems = compile_template(text, variables)
        assert not problems
    t1 = time.perf_counter()
    for text in exprs:
        compiled, _ = compile_expression(text, variables)
        assert compiled is not None
    t2 = time.perf_counter()
    for text in exprs:
        compile_expression(text, variables)
    t3 = time.perf_counter()
    compiled, _ = compile_expression('gold >= 2 and name != "y"', variables)
    assert compiled is not None
    env = Env()
    calls = 100_000
    t4 = time.perf_counter()
    for _ in range(calls):
        compiled.holds(env)
    t5 = time.perf_counter()
    return {
        "templates_s": t1 - t0,
        "expressions_distinct_s": t2 - t1,
        "expressions_cached_s": t3 - t2,
        "holds_per_call_us": (t5 - t4) / calls * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the material, 3 runs")
    args = parser.parse_args()
    scale, runs = (1_000, 3) if args.quick else (10_000, 5)
    variables, templates, exprs = material(scale)
    all_runs = [once(variables, templates, exprs) for _ in range(runs)]
    result: dict[str, object] = {
        "templates": len(templates),
        "expressions": len(exprs),
        "runs": runs,
        **{
            f"{key}_median": round(statistics.median(r[key] for r in all_runs), 4)
            for key in all_runs[0]
        },
    }
    for key, value in result.items():
        print(f"{key:34} {value}")
    print("no target: information only (bench_load.py judges checking a large story)")
    write_results("conditions", args.quick, result, Verdicts())
    return 0


if __name__ == "__main__":
    sys.exit(main())
