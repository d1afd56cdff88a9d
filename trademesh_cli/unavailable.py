"""Commands of the public surface whose implementation has not landed yet."""

from __future__ import annotations

import argparse
import sys

ARRIVES_WITH = {
    "mm": "the market-maker issue",
}


def command(args: argparse.Namespace) -> int:
    name: str = args.command
    print(f"trademesh {name}: not available yet; it arrives with {ARRIVES_WITH[name]}",
          file=sys.stderr)
    return 2
