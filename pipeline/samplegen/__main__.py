"""Command line: ``python -m pipeline.samplegen OUT_DIR``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from .build import SEED, describe, generate
    except ModuleNotFoundError as exc:
        print(f"python -m pipeline.samplegen: needs {exc.name}; install the test extras: "
              "pip install -e '.[test]'", file=sys.stderr)
        return 2

    parser = argparse.ArgumentParser(
        prog="python -m pipeline.samplegen",
        description="(Re)write a deterministic sample training history into OUT_DIR.",
    )
    parser.add_argument("out_dir", help="folder to write, e.g. sample_files")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)

    files = generate(args.out_dir, seed=args.seed)
    print(describe(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
