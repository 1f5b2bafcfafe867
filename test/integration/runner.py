"""Runs one integration test module and prints a machine-readable result line for run.sh.

Usage: runner.py MODULE LABEL [-k PATTERN]...
Prints "RESULT <label> passed=N failed=N skipped=N" as its last line; exits 1 on any failure.
"""

import argparse
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("module")
    parser.add_argument("label")
    parser.add_argument("-k", action="append", default=[], dest="patterns",
                        help="only tests whose name contains this (unittest -k)")
    args = parser.parse_args()

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [f"*{p}*" for p in args.patterns]
    try:
        suite = loader.loadTestsFromName(args.module)
    except Exception as e:  # import errors, missing python3-kubernetes, ...
        print(f"{args.label}: cannot load {args.module}: {e!r}", file=sys.stderr)
        print(f"RESULT {args.label} passed=0 failed=1 skipped=0")
        return 1
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"RESULT {args.label} passed={passed} failed={failed} skipped={skipped}")
    # A -k filter may legitimately match nothing in this module; no filter and no test is an error.
    return 1 if failed or (result.testsRun == 0 and not args.patterns) else 0


if __name__ == "__main__":
    sys.exit(main())
