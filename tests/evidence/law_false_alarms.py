"""How often each statistical law rejects a correct source: every scaling-limit law at its ci
plan, on the streaming Monte Carlo kernel (correct by construction, tests/kernels/scaling_limits)
or on a correct kernel (--kernel reference-dense: the law of finite inputs needs one),
over run seeds 0..N-1 (--seed), each law at its stated false-alarm rate (1e-6, Bonferroni-split
over its tests). With a true rate of 1e-6 per run, 50 runs reject nothing with probability
1 - 5e-5; a law that rejects even once in 50 correct runs has a false-alarm rate far above the
one it states.

    .venv/bin/python tests/evidence/law_false_alarms.py [--seeds 50] [--first 0] [--out FILE]
        [--kernel SELECTOR] [--law NAME]

(run disjoint seed ranges in parallel with --first, and add up the counts).

Writes one line per law and seed as it goes (so a partial run is usable), then the counts.
"""

from __future__ import annotations

import argparse
import time

from attnspec.properties.engine.results import HELD, NOT_APPLICABLE
from attnspec.properties.loading import load_kernel
from attnspec.properties.scaling_limits.sources import KernelSource
from attnspec.properties.scaling_limits.suite import check_laws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50, help="how many run seeds")
    parser.add_argument("--first", type=int, default=0, help="the first run seed")
    parser.add_argument("--out", default="law_false_alarms.txt")
    parser.add_argument("--kernel", help="a correct kernel as the source (default: the "
                        "streaming Monte Carlo kernel)")
    parser.add_argument("--law", action="append", help="only this law (repeatable)")
    args = parser.parse_args()
    source = KernelSource(load_kernel(args.kernel)) if args.kernel else None
    rejected: dict[str, list[int]] = {}
    runs: dict[str, int] = {}
    start = time.perf_counter()
    with open(args.out, "w") as out:
        for seed in range(args.first, args.first + args.seeds):
            for result in check_laws(source, effort="ci", names=args.law, seed=seed):
                if result.status == NOT_APPLICABLE:
                    continue  # not a run of the law (it needs a kernel: --kernel)
                runs[result.name] = runs.get(result.name, 0) + 1
                if result.status != HELD:  # VIOLATED, or an error: either way not a pass
                    rejected.setdefault(result.name, []).append(seed)
                figure = "" if result.worst is None else f"{result.worst.ratio:.4g}"
                out.write(f"seed {seed} {result.name} {result.status} {figure} {result.reason}\n")
                out.flush()
        out.write(f"\n{time.perf_counter() - start:.0f} s\n")
        for name, n in runs.items():
            seeds = rejected.get(name, [])
            out.write(f"{name}: {len(seeds)} rejections in {n} runs"
                      + (f" (seeds {seeds})" if seeds else "") + "\n")
    print(open(args.out).read().split("\n\n")[-1])


if __name__ == "__main__":
    main()
