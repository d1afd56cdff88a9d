"""One side of the compiled-vs-interpreted differential test, run in its own process.

    python -m tests.unit.engine.core_diff_driver JOURNAL OUT [--snapshot-at K]
        [--snapshot-out FILE] [--resume-from FILE]

Reads journaled commands (one ``command_codec`` record per line), applies them to a fresh
engine of whichever core build this process imports (``python -m engine_svc.core_build
--interpreted -m ...`` for the interpreted one) and writes to OUT, as JSON: the build, a
sha256 of the events' canonical bytes before and after command K, the state hashes at K
and at the end, and a count of events per type. ``--snapshot-out`` saves the snapshot
image taken at K; ``--resume-from`` restores such an image (written by the other build)
and applies only the commands after it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

from engine_svc import command_codec
from engine_svc.core import Engine, default_markets
from engine_svc.core.commands import Command
from engine_svc.core_build import core_build


def _apply(engine: Engine, commands: list[Command], kinds: Counter[str]) -> str:
    digest = hashlib.sha256()
    for cmd in commands:
        for event in engine.apply(cmd):
            kinds[type(event).__name__] += 1
            digest.update(command_codec.encode(event))
            digest.update(b"\n")
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("journal", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--snapshot-at", type=int, default=0)
    parser.add_argument("--snapshot-out", type=Path)
    parser.add_argument("--resume-from", type=Path)
    args = parser.parse_args()
    commands = [command_codec.decode(line)
                for line in args.journal.read_bytes().splitlines() if line]
    cut = args.snapshot_at or len(commands) // 2
    kinds: Counter[str] = Counter()
    result: dict[str, object] = {"build": core_build()}
    if args.resume_from is not None:
        image = json.loads(args.resume_from.read_text())
        engine = Engine.restore(default_markets(), image)
        result["mid_hash"] = engine.state_hash()
    else:
        engine = Engine(default_markets())
        result["first_events"] = _apply(engine, commands[:cut], kinds)
        result["mid_hash"] = engine.state_hash()
        if args.snapshot_out is not None:
            args.snapshot_out.write_text(json.dumps(engine.snapshot()))
    result["second_events"] = _apply(engine, commands[cut:], kinds)
    result["final_hash"] = engine.state_hash()
    result["kinds"] = dict(sorted(kinds.items()))
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
