"""Command line: ``python -m pipeline.samplegen OUT_DIR [--athletes N]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from .build import SEED, describe, generate
        from .team import DEFAULT_WEEKS, EFFECTS, TEAM_LAST_SUNDAY, generate_team
    except ModuleNotFoundError as exc:
        print(f"python -m pipeline.samplegen: needs {exc.name}; install the test extras: "
              "pip install -e '.[test]'", file=sys.stderr)
        return 2

    parser = argparse.ArgumentParser(
        prog="python -m pipeline.samplegen",
        description="(Re)write a deterministic sample training history into OUT_DIR, or a team's.",
    )
    parser.add_argument("out_dir", help="folder to write, e.g. sample_files")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument("--athletes", type=int, metavar="N",
                        help="write a team of N athletes instead, a folder each, and its fitpipe.toml")
    parser.add_argument("--weeks", type=int, default=DEFAULT_WEEKS,
                        help=f"with --athletes: weeks up to {TEAM_LAST_SUNDAY} (default {DEFAULT_WEEKS})")
    parser.add_argument("--effect", choices=EFFECTS, default="mixed",
                        help="with --athletes: who gets the running-to-cycling effect (default: every other athlete)")
    args = parser.parse_args(argv)
    if args.athletes is not None and not 1 <= args.athletes <= 1000 or not 1 <= args.weeks <= 52:
        parser.error("--athletes must be 1 to 1000 and --weeks 1 to 52")

    if args.athletes:
        files = generate_team(args.out_dir, args.athletes, args.weeks, args.effect, args.seed)
    else:
        files = generate(args.out_dir, seed=args.seed)
    print(describe(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
