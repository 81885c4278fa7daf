"""Time compiling a large story's worth of templates and expressions.

Prints the figures and writes them to benchmarks/results/conditions.json.
"""

import json
import random
import time
from pathlib import Path

from branching.expr.conditions import _compile_cached, compile_expression, compile_template

rng = random.Random(1)
variables = {f"v{i}": rng.choice([int, float, str, bool]) for i in range(60)}
variables.update(gold=int, name=str, trust=int)
words = "the quick brown fox jumps over lazy dog while bus leaves in ten minutes".split()


def text():
    return " ".join(rng.choice(words) for _ in range(40))[:200]


templates = []
for i in range(30_000):
    t = text()
    if i % 10 == 0:
        k = rng.randrange(len(t))
        t = t[:k] + " {" + rng.choice(["name", "gold", "trust"]) + "} " + t[k:]
    templates.append(t)
exprs = [f'gold >= {i} and name != "y{i}"' for i in range(10_000)]
_compile_cached.cache_clear()
t0 = time.perf_counter()
for t in templates:
    tpl, probs = compile_template(t, variables)
    assert not probs
t1 = time.perf_counter()
for e in exprs:
    ex, probs = compile_expression(e, variables)
    assert ex is not None
t2 = time.perf_counter()
for e in exprs:
    compile_expression(e, variables)
t3 = time.perf_counter()


class Env:
    def var(self, n):
        return {"gold": 5, "name": "x"}[n]


ex, _ = compile_expression('gold >= 2 and name != "y"', variables)
env = Env()
t4 = time.perf_counter()
for _ in range(100_000):
    ex.holds(env)
t5 = time.perf_counter()
res = {
    "templates_30k_s": round(t1 - t0, 4),
    "expressions_10k_distinct_s": round(t2 - t1, 4),
    "expressions_10k_cached_s": round(t3 - t2, 4),
    "holds_per_call_us": round((t5 - t4) * 10, 3),
}
print(json.dumps(res, indent=1))
out = Path(__file__).parent / "results" / "conditions.json"
out.parent.mkdir(exist_ok=True)
out.write_text(json.dumps(res, indent=1) + "\n")
