"""The ``augmeta`` command: ``augmeta validate FILE...`` checks policy files and names every bad field."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from augmeta.policy import PolicyError, load_policy

__all__ = ["main"]


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            policy = load_policy(path)
        except PolicyError as error:
            failed += 1
            print(f"FAIL {error}", file=sys.stderr)
        else:
            print(f"ok   {path}: {policy.name!r}, {len(policy.subpolicies)} sub-policies")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="augmeta", description="Work with augmeta policy files.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check policy files; exit 1 if any is invalid")
    validate.add_argument("files", nargs="+", metavar="FILE", help="policy files (.json, .yaml)")
    validate.set_defaults(run=_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
