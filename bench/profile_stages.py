"""Where the core's time goes, stage by stage, from a py-spy profile of ``Engine.apply``.

    py-spy record --native --rate 500 -f raw -o prof.txt -- \\
        python -m bench.profile_stages --run 200000     # the seeded mixed workload, twice
    python -m bench.profile_stages prof.txt --commands 600000
    python -m bench.profile_stages --outbox 100000   # outbox records: count, bytes, cost

Each sample inside ``Engine.apply`` is given to the deepest pipeline stage on its stack
(the names are the same in the interpreted and the mypyc-compiled build, whose C
functions are ``CPyDef_<module>___<function>``): validate (``_admit``), risk hold
(``_hold``), match (``match``: fills and their settlement), rest (``_rest``), release
(``cancel``: a remainder or a cancel command giving its hold back), publish
(``flush_accounts``: the balance and position events), and the rest of ``apply``. In the
compiled build gcc inlines some stage functions into ``place`` / ``run``; their samples
are shown as such (instruction counts per stage: ``valgrind --tool=callgrind``, README).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import Counter
from pathlib import Path
from typing import Any

STAGES = {"place": "place/run (own; compiled: inlined stages)",
          "run": "place/run (own; compiled: inlined stages)",
          "_admit": "validate", "_hold": "risk hold", "match": "match + settle",
          "_rest": "rest", "cancel": "release (cancel)", "flush_accounts": "publish"}


def stage_of(stack: str) -> str | None:
    """The deepest stage on a ``;``-separated stack, "apply" for the rest, None outside."""
    found: str | None = None
    for frame in stack.split(";"):
        name = frame.strip().split(" (")[0]
        name = name.rpartition("___")[2] if name.startswith("CPy") else name.rpartition(".")[2]
        if name == "apply" and ("engine" in frame or "Engine" in frame):
            found = found or "other (dispatch, lookups)"
        elif found is not None and name in STAGES:
            found = STAGES[name]
    return found


def summarize(raw: Path, commands: int, rate: int) -> str:
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        stage = stage_of(stack)
        if stage is not None and count.isdigit():
            counts[stage] += int(count)
    total = sum(counts.values())
    us_per_command = total / rate / commands * 1e6
    lines = [f"{total:,} samples in Engine.apply: {us_per_command:.2f} us per command"]
    for stage, n in counts.most_common():
        lines.append(f"  {stage:28} {100 * n / total:5.1f}%  "
                     f"{us_per_command * n / total:6.2f} us/command")
    return "\n".join(lines)


def run(n: int, rounds: int) -> None:
    from bench.bench_core import fresh, record

    setup, cmds = record(n, 42, 200)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)  # as the engine service runs (mesh_runtime.gc_tuning)
    for _ in range(rounds):
        apply = fresh(setup).apply
        for cmd in cmds:
            apply(cmd)


def outbox_cost(n: int, rounds: int = 3) -> str:
    """Outbox records of bench core's workload, one record per event (the form before
    issue #12) against a command's account changes as one span record: records and bytes
    per command, the sequencer's encoding and the event link's decoding (µs per command,
    medians of ``rounds``; the core's own time is not counted)."""
    from statistics import median

    from trademesh.v1 import persistence_pb2

    from bench.bench_core import fresh, record
    from engine_svc.command_codec import encode
    from engine_svc.event_codec import EventEncoder
    from engine_svc.event_link import ENCODE_SLICE
    from engine_svc.outbox_span import Record, records

    setup, cmds = record(n, 42, 200)
    engine = fresh(setup)
    config = engine.config
    emitted = [engine.apply(cmd) for cmd in cmds]

    def per_event(events: list[Any]) -> list[Record]:
        return [(e.seq, e.seq, encode(e)) for e in events]

    gc.collect()
    gc.freeze()  # the recorded events are scaffolding: keep them out of GC passes
    forms = {"one record per event": per_event, "account-change spans": records}
    encode_s: dict[str, list[float]] = {name: [] for name in forms}
    link_s: dict[str, list[float]] = {name: [] for name in forms}
    sizes: dict[str, tuple[int, int]] = {}
    for _ in range(rounds):  # the forms alternate: drift in the load hits both alike
        for name, form in forms.items():
            began = time.perf_counter()
            out = [r for events in emitted for r in form(events)]
            encode_s[name].append(time.perf_counter() - began)
            raws = [raw for _, _, raw in out]
            encoder = EventEncoder(config, lambda: 1)
            began = time.perf_counter()
            for start in range(0, len(raws), 4 * ENCODE_SLICE):  # a link batch of slices
                request = persistence_pb2.SyncEventsRequest()
                for at in range(start, min(start + 4 * ENCODE_SLICE, len(raws)), ENCODE_SLICE):
                    encoder.encode_batch(raws[at:at + ENCODE_SLICE], request.batch.events)
            link_s[name].append(time.perf_counter() - began)
            sizes[name] = len(out), sum(len(raw) + 1 for raw in raws)  # with the newlines
            del out, raws
    lines = [f"{n:,} commands of bench core's workload, medians of {rounds}:"]
    for name in forms:
        count, size = sizes[name]
        lines.append(f"  {name:22} {count / n:5.2f} records/command {size / n:6.0f} "
                     f"bytes/command  encode {median(encode_s[name]) / n * 1e6:5.2f} us/command"
                     f"  link decode+proto {median(link_s[name]) / n * 1e6:5.2f} us/command")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", nargs="?", type=Path, help="py-spy raw output to summarize")
    parser.add_argument("--commands", type=int, default=600_000,
                        help="commands applied in the profile (--run N: 3N, the recording too)")
    parser.add_argument("--rate", type=int, default=500, help="py-spy's --rate")
    parser.add_argument("--run", type=int, metavar="N", help="replay N commands twice")
    parser.add_argument("--outbox", type=int, metavar="N",
                        help="outbox records, bytes and encoding cost of N commands")
    args = parser.parse_args()
    if args.outbox:
        print(outbox_cost(args.outbox))
    if args.run:
        run(args.run, 2)
    if args.raw:
        print(summarize(args.raw, args.commands, args.rate))


if __name__ == "__main__":
    main()
