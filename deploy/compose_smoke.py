"""The docker-compose deployment, end to end: what ``scripts/compose_check.sh`` runs.

``python deploy/compose_smoke.py --project P --run-dir DIR [--ci]``, with a running Docker
engine and the images' base (``scripts/debian_image.sh``) in place. Steps, each logged
under a heading with its duration, each wait bounded:

1. secrets: a fresh CA and service certificates (``trademesh pki``), a JWT key pair and the
   two passwords in ``DIR/secrets``;
2. the compose file: ``docker-compose.yml`` (+ ``deploy/compose.ci.yml`` with ``--ci``,
   then without the mongo service: no MongoDB can be had there) resolved into ``DIR``;
3. build the images (layer cache: only what changed is rebuilt); ``up -d``; every
   container healthy;
4. trade through the load balancer: two traders sign up and deposit, orders are placed
   (both gateway replicas answer), and the trades arrive on a WebSocket held on each feed
   replica;
5. crash: the engine and one gateway are killed with SIGKILL while a trader keeps placing
   orders; the restart policies bring them back;
6. check: every acknowledged order is still there with its fills (none twice, none lost
   in the history persistence keeps), new orders trade and reach both WebSockets;
7. ``down -v`` (always) and nothing of the project left: containers, networks, volumes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml  # type: ignore[import-untyped]  # pyyaml: a dev dependency
from smoke_traders import (  # deploy/, beside this script
    Ack,
    Trader,
    TradeWatch,
    all_fills,
    seen_everywhere,
    sign_up,
    trade_ids,
    trade_round,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent


def heading(text: str) -> None:
    print(f"\n== compose: {text}", flush=True)


@contextlib.contextmanager
def step(title: str, timings: dict[str, float]) -> Iterator[None]:
    heading(title)
    started = time.monotonic()
    try:
        yield
    finally:
        took = time.monotonic() - started
        timings[title] = took
        print(f"   ({title}: {took:.1f} s)", flush=True)


def run(argv: list[str], timeout: float, *, quiet: bool = False,
        env: dict[str, str] | None = None) -> str:
    """Runs ``argv``; its output is echoed unless ``quiet``; raises on failure or timeout."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)
    if not quiet or done.returncode != 0:
        sys.stdout.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}… exited {done.returncode}")
    return done.stdout


@dataclass
class Compose:
    project: str
    file: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, timeout: float = 120, quiet: bool = False) -> str:
        argv = ["docker-compose", "-p", self.project, "-f", str(self.file), *args]
        return run(argv, timeout, quiet=quiet, env=self.env)

    def containers(self, service: str) -> list[str]:
        return self("ps", "-q", service, quiet=True).split()


def inspect(container: str, template: str) -> str:
    return run(["docker", "inspect", "-f", template, container], 30, quiet=True).strip()


# -- 1, 2: secrets and the compose file ------------------------------------------------------

def make_secrets(directory: Path) -> None:
    """What docker-compose.yml mounts, made afresh. The services run as uid 10001 and read
    the files through bind mounts: world-readable files in a directory only root enters."""
    from mesh_runtime.tokens import ensure_keypair

    directory.mkdir(mode=0o700, parents=True)
    run([sys.executable, "-m", "trademesh_cli", "pki", "--dir", str(directory),
         "--name", "localhost"], 60)
    ensure_keypair(directory / "jwt_private.pem", directory / "jwt_public.pem")
    for name in ("postgres_password", "redis_password"):
        (directory / name).write_text(secrets.token_urlsafe(32) + "\n")
    (directory / "ca-key.pem").unlink()  # no container needs it
    for path in directory.iterdir():
        path.chmod(0o644)


def render(compose_env: dict[str, str], ci: bool, out: Path) -> None:
    """The resolved configuration; in CI without MongoDB (see deploy/compose.ci.yml)."""
    files = ["-f", str(ROOT / "docker-compose.yml")]
    if ci:
        files += ["-f", str(ROOT / "deploy" / "compose.ci.yml")]
    text = run(["docker-compose", "--project-directory", str(ROOT), *files, "config"], 60,
               quiet=True, env=compose_env)
    config: dict[str, Any] = yaml.safe_load(text)
    if ci:
        del config["services"]["mongo"]
        config["volumes"].pop("mongodata", None)
        for service in config["services"].values():
            service.get("depends_on", {}).pop("mongo", None)
        print("MongoDB is untested: no MongoDB image or package can be had here; the engine "
              "keeps its snapshots in PostgreSQL (TRADEMESH_MONGO_URL empty)")
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"services: {', '.join(config['services'])}")


def wait_healthy(compose: Compose, seconds: float) -> None:
    """Until every service's containers run and report healthy (migrate: exited 0)."""
    deadline = time.monotonic() + seconds
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        ids = compose("ps", "-q", quiet=True).split()
        states = {}
        for cid in ids:
            name, status, health, code = inspect(
                cid, "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}"
                     "{{else}}none{{end}} {{.State.ExitCode}}").split()
            states[name.lstrip("/")] = (
                "done" if "migrate" in name and status == "exited" and code == "0"
                else health if status == "running" else f"{status}({code})")
        if states and all(s in ("healthy", "done") for s in states.values()):
            print("healthy: " + ", ".join(sorted(states)))
            return
        time.sleep(2)
    raise TimeoutError(f"not healthy within {seconds:.0f} s: {states}")


# -- 4-6: traders through the load balancer ----------------------------------------------------

@dataclass
class Ports:
    rest: int
    ws: int


async def before_crash(ports: Ports, timings: dict[str, float]
                       ) -> tuple[httpx.AsyncClient, Trader, Trader, list[TradeWatch], list[Ack]]:
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.rest}", timeout=15)
    with step("trade through the load balancer", timings):
        # funded for far more orders than the check can place (one SOL each; 1,000 ran out
        # on a fast machine during the kill -9 step)
        seller = await sign_up(client, "seller", "SOL", "100000")
        buyer = await sign_up(client, "buyer", "USD", "20000000")
        watches = [await TradeWatch.open(f"ws://127.0.0.1:{ports.ws}/ws") for _ in range(2)]
        replicas = {w.upstream for w in watches}
        print(f"WebSockets held on feed replicas: {', '.join(sorted(replicas))}")
        if len(replicas) != 2:
            raise RuntimeError("the two WebSockets did not reach two feed replicas")
        acks = await trade_round(seller, buyer, "100", 5)
        upstreams = seller.upstreams | buyer.upstreams
        print(f"{len(acks)} orders acknowledged, answered by {', '.join(sorted(upstreams))}")
        if len(upstreams) < 2:
            raise RuntimeError("every request went to one gateway replica")
        await seen_everywhere(watches, await trade_ids(acks), 30)
    return client, seller, buyer, watches, acks


async def trade_during(seller: Trader, buyer: Trader, stop: asyncio.Event) -> tuple[
        list[Ack], int]:
    """Places order pairs until ``stop``; the acknowledged ones and the count given up."""
    acks: list[Ack] = []
    lost = 0
    while not stop.is_set():
        for trader, side in ((seller, "SELL"), (buyer, "BUY")):
            ack = await trader.place(side, "101", 20)
            if ack is None:
                lost += 1
            else:
                acks.append(ack)
    return acks, lost


def crash(container: str) -> None:
    """SIGKILL to the container's main process, as a crash would end it. (``docker kill``
    counts as a deliberate stop: no restart policy restarts after it.)"""
    pid = int(inspect(container, "{{.State.Pid}}"))
    if pid <= 1:
        raise RuntimeError(f"{container} is not running")
    if os.geteuid() == 0:
        os.kill(pid, signal.SIGKILL)
    else:  # a docker group member: from a container in the host's process namespace
        run(["docker", "run", "--rm", "--pid=host", "--entrypoint", "sh", "trademesh:latest",
             "-c", f"kill -9 {pid}"], 60)


def restarted(container: str, before: int) -> bool:
    state = inspect(container, "{{.RestartCount}} {{.State.Status}} "
                               "{{if .State.Health}}{{.State.Health.Status}}{{end}}").split()
    return int(state[0]) > before and state[1:] == ["running", "healthy"]


async def crash_and_recover(compose: Compose, seller: Trader, buyer: Trader,
                            timings: dict[str, float]) -> list[Ack]:
    with step("kill -9 the engine and a gateway while trading; restart policies", timings):
        victims = [compose.containers("engine")[0], compose.containers("gateway")[0]]
        counts = {c: int(inspect(c, "{{.RestartCount}}")) for c in victims}
        stop = asyncio.Event()
        trading = asyncio.create_task(trade_during(seller, buyer, stop))
        await asyncio.sleep(1)
        killed = time.monotonic()
        for container in victims:
            print(f"SIGKILL {inspect(container, '{{.Name}}').lstrip('/')}")
            crash(container)

        async def back() -> bool:
            return all(restarted(c, counts[c]) for c in victims)
        await wait_for("the engine and the gateway restarted and healthy", 180, back)
        healthy = time.monotonic()
        print(f"both healthy again {healthy - killed:.1f} s after the kill")
        print("restarted by their policy: " + ", ".join(
            f"{inspect(c, '{{.Name}}').lstrip('/')} (restarts "
            f"{inspect(c, '{{.RestartCount}}')})" for c in victims))
        await asyncio.sleep(3)  # some orders on the recovered mesh too
        stop.set()
        acks, gave_up = await asyncio.wait_for(trading, 60)
        before = sum(1 for a in acks if a.at < killed)
        down = sum(1 for a in acks if killed <= a.at < healthy)
        print(f"while trading: {len(acks)} orders acknowledged ({before} before the kill, "
              f"{down} until both were healthy again, {len(acks) - before - down} after), "
              f"{gave_up} without an answer within 20 s (not acknowledged: nothing promised)")
    return acks


async def check_orders(acks: list[Ack]) -> dict[Trader, set[str]]:
    """Every acknowledged order is there, as filled as it was or more, its fills adding up;
    returns each trader's fill ids."""
    fills: dict[Trader, set[str]] = {}
    for ack in acks:
        order = await ack.trader.must("GET", f"/orders/{ack.order_id}")
        filled = Decimal(order["filledQuantity"])
        ids = [f["fillId"] for f in order.get("fills", [])]
        total = sum((Decimal(f["quantity"]) for f in order.get("fills", [])), Decimal(0))
        if Decimal(order["quantity"]) != ack.quantity or filled < ack.filled:
            raise RuntimeError(f"order {ack.order_id} changed: {order}")
        if total != filled or len(set(ids)) != len(ids):
            raise RuntimeError(f"order {ack.order_id}: fills {ids} do not add up to {filled}")
        fills.setdefault(ack.trader, set()).update(ids)
    return fills


async def check_history(fills: dict[Trader, set[str]]) -> None:
    """Persistence holds every fill of the acknowledged orders, none twice."""
    for trader, ids in fills.items():
        async def complete(trader: Trader = trader, ids: set[str] = ids) -> bool:
            recorded = await all_fills(trader)
            if len(set(recorded)) != len(recorded):
                raise RuntimeError(f"{trader.name}: a fill recorded twice in the history")
            return ids <= set(recorded)
        await wait_for(f"{trader.name}'s fills in the history", 60, complete)
        print(f"{trader.name}: {len(ids)} fills of acknowledged orders, each once in the "
              "history")


def ready_in_a_row(client: httpx.AsyncClient, times: int) -> Any:
    """A check for :func:`wait_for`: ``/readyz`` answered 200 ``times`` times running
    (round robin: every gateway replica, each with its upstream channels back)."""
    async def check() -> bool:
        for _ in range(times):
            try:
                response = await client.get("/readyz")
            except httpx.TransportError:
                return False
            if response.status_code != 200:
                return False
        return True
    return check


async def after_crash(client: httpx.AsyncClient, seller: Trader, buyer: Trader,
                      watches: list[TradeWatch], acks: list[Ack],
                      timings: dict[str, float]) -> None:
    with step("nothing acknowledged lost, and the mesh answers again", timings):
        started = time.monotonic()
        await wait_for("/readyz 200 from every gateway (six in a row)", 90,
                       ready_in_a_row(client, 6))
        print(f"/readyz through the load balancer: 200 six times in a row, "
              f"{time.monotonic() - started:.1f} s after the restarts were healthy")
        fills = await check_orders(acks)
        waits = seller.rate_limited + buyer.rate_limited
        print(f"{len(acks)} acknowledged orders all present, fills adding up "
              f"(during the run {waits} answers 429 were waited out for their Retry-After)")
        await check_history(fills)
        seller.upstreams.clear()
        buyer.upstreams.clear()
        new = await trade_round(seller, buyer, "102", 3)
        print(f"new orders: {len(new)} acknowledged by "
              f"{', '.join(sorted(seller.upstreams | buyer.upstreams))}")
        await seen_everywhere(watches, await trade_ids(new), 30)
    for watch in watches:
        await watch.close()
    await client.aclose()


async def scenario(compose: Compose, ports: Ports, timings: dict[str, float]) -> None:
    client, seller, buyer, watches, acks = await before_crash(ports, timings)
    acks += await crash_and_recover(compose, seller, buyer, timings)
    await after_crash(client, seller, buyer, watches, acks, timings)


# -- 7: down, and nothing left -----------------------------------------------------------------

def leftovers(project: str) -> list[str]:
    label = f"label=com.docker.compose.project={project}"
    found: list[str] = []
    for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        out = run(["docker", *kind, "-q", "--filter", label], 30, quiet=True).split()
        found += [f"{kind[0]} {item}" for item in out]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", required=True, help="the compose project name")
    parser.add_argument("--run-dir", type=Path, required=True, help="an empty folder")
    parser.add_argument("--ci", action="store_true", help="with deploy/compose.ci.yml")
    parser.add_argument("--rest-port", type=int, required=True)
    parser.add_argument("--ws-port", type=int, required=True)
    parser.add_argument("--engine-port", type=int, required=True)
    parser.add_argument("--feed-port", type=int, required=True)
    args = parser.parse_args()
    timings: dict[str, float] = {}
    started = time.monotonic()
    env = {"TRADEMESH_SECRETS_DIR": str(args.run_dir / "secrets"),
           "TRADEMESH_PUBLISH_HOST": "127.0.0.1",
           "TRADEMESH_PUBLISH_REST": str(args.rest_port),
           "TRADEMESH_PUBLISH_WS": str(args.ws_port),
           "TRADEMESH_PUBLISH_ENGINE": str(args.engine_port),
           "TRADEMESH_PUBLISH_FEED": str(args.feed_port),
           "COMPOSE_DOCKER_CLI_BUILD": "0", "DOCKER_BUILDKIT": "0"}
    compose = Compose(args.project, args.run_dir / "compose.yml", env)
    failed = True
    try:
        with step("secrets and the compose file", timings):
            make_secrets(args.run_dir / "secrets")
            render(env, args.ci, compose.file)
        with step("build the images (cached layers are reused)", timings):
            # trademesh:latest once (every trademesh service runs it), and the others
            compose("build", "migrate", "postgres", "redis", "lb", timeout=1200, quiet=True)
            print(run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}",
                       "--filter", "reference=trademesh*", "--filter",
                       "reference=trademesh*/*"], 30, quiet=True).strip())
        with step("up -d, every container healthy", timings):
            compose("up", "-d", "--no-build", timeout=600)
            wait_healthy(compose, 300)
            print(inspect(compose.containers("engine")[0], "{{.Name}}") + ": "
                  + next((line for line in compose("logs", "--no-color", "engine",
                                                    quiet=True).splitlines()
                          if "matching core" in line), "matching core: not logged"))
        asyncio.run(scenario(compose, Ports(args.rest_port, args.ws_port), timings))
        failed = False
    finally:
        if failed:
            heading("FAILED: the services' last log lines")
            with contextlib.suppress(Exception):
                compose("ps", timeout=60)
                compose("logs", "--no-color", "--tail", "40", timeout=60)
        with step("down -v, nothing left", timings):
            compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout=300)
            left = leftovers(args.project)
            print("left behind: " + (", ".join(left) if left else "nothing"))
            if left:
                failed = True
    heading("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
            + f"; total {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
