"""The web terminal in a real browser: time to a live book, and keeping up with the book.

Starts the whole mesh (``python -m trademesh_cli up`` as :mod:`bench.bench_rest` does:
free ports, a temp data dir, no market maker; ``up`` builds the terminal when stale), then
drives Debian's Chromium with Playwright:

* **time to a live book**: ``--loads`` page loads, each in a fresh browser context (the
  first one cold, the rest with the HTTP cache warm from the first); the page records
  ``performance.now()`` when its WebSocket opens and when it first draws a depth snapshot
  (``window.__trademesh.metrics``; target < 1 s on localhost);
* **keeping up**: one page on the market while this process places and cancels
  ``--rate`` orders a second (default 50: one depth diff each) through REST for
  ``--seconds``; a ``PerformanceObserver`` counts the page's long tasks (> 50 ms on the
  main thread) and ``requestAnimationFrame`` counts frames; the page's diff count, gaps
  and renders are read back, and its top of book is compared with REST's depth.

Prints figures; never run as a test. Usage:
    python -m bench.bench_web [--loads 5] [--rate 50] [--seconds 20] [--market SOL-PERP]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import time
import uuid
from collections import deque
from typing import Any

import httpx

from bench.bench_rest import Mesh, running_mesh

PASSWORD = "a long enough password"
OBSERVE = """() => {
    window.bench = {longTasks: [], frames: 0, loaf: [], start: performance.now()};
    const watch = (type, keep) => { try {
        new PerformanceObserver((list) => list.getEntries().forEach(keep)).observe({type});
    } catch (e) { /* an older browser: that figure stays empty */ } };
    watch('longtask', (e) => window.bench.longTasks.push(e.duration));
    // long animation frames say where the time went: our scripts, style+layout, or neither
    // (the main thread waiting for a core)
    watch('long-animation-frame', (e) => window.bench.loaf.push({
        duration: e.duration, layout: e.startTime + e.duration - e.styleAndLayoutStart,
        script: e.scripts.reduce((sum, s) => sum + s.duration, 0)}));
    const tick = () => { window.bench.frames += 1; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
}"""
REPORT = """() => ({...window.bench, elapsed: performance.now() - window.bench.start,
    metrics: window.__trademesh.metrics,
    bids: [...document.querySelectorAll('[data-testid=bids] .book-row[data-price]')]
        .map(r => r.dataset.price)})"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no Chromium here (Debian: apt-get install chromium)")


async def page_loads(browser: Any, url: str, loads: int) -> list[dict[str, Any]]:
    """``loads`` page loads; the metrics of each once its book is live."""
    results = []
    context = await browser.new_context()  # one HTTP cache: the first load is the cold one
    for _ in range(loads):
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_function(
            "() => window.__trademesh?.metrics.bookLiveMs != null", timeout=15_000)
        results.append(await page.evaluate("() => window.__trademesh.metrics"))
        await page.close()
    await context.close()
    return results


async def trader(client: httpx.AsyncClient) -> None:
    login = {"email": f"bench-web-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD}
    answer = await client.post("/auth/signup", json=login)
    answer.raise_for_status()
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    deposit = {"asset": "USD", "amount": "100000000", "transactionId": uuid.uuid4().hex}
    (await client.post("/account/deposit", json=deposit)).raise_for_status()


async def churn(client: httpx.AsyncClient, market: str, rate: float, seconds: float) -> int:
    """Open loop: one REST call every 1/rate s, placing resting bids on fresh price levels
    and canceling the oldest once 25 rest. Returns the calls that failed."""
    resting: deque[str] = deque()
    failures = 0
    rng = random.Random(7)
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        if len(resting) >= 25 and i % 2:
            answer = await client.delete(f"/orders/{resting.popleft()}")
        else:
            price = f"{rng.randint(100_000, 120_000) / 1000:.3f}"
            answer = await client.post("/orders", json={
                "market": market, "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                "price": price, "leverage": 1})
            if answer.status_code == 201:
                resting.append(answer.json()["orderId"])
        failures += answer.status_code >= 400
    return failures


async def renderer_cpu(cdp: Any) -> dict[str, float]:
    """The page's main-thread CPU seconds and its script/layout/style time (Chromium's
    Performance metrics): CPU time, unlike wall time, does not grow when the machine is
    busy with other processes."""
    answer = await cdp.send("Performance.getMetrics")
    wanted = ("ThreadTime", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
    return {m["name"]: float(m["value"]) for m in answer["metrics"] if m["name"] in wanted}


def print_loads(results: list[dict[str, Any]]) -> None:
    live = [r["bookLiveMs"] for r in results]
    ws = [r["wsOpenMs"] for r in results]
    print(f"time to a live book after load: cold {live[0]:.0f} ms; warm median "
          f"{statistics.median(live[1:] or live):.0f} ms, max {max(live[1:] or live):.0f} ms "
          f"({len(live)} loads; WebSocket open at median {statistics.median(ws):.0f} ms)")


async def bench(mesh: Mesh, args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    origin = f"http://127.0.0.1:{mesh.ports['gateway_port']}"
    url = f"{origin}/#{args.market}"
    async with async_playwright() as playwright, \
            httpx.AsyncClient(base_url=mesh.base_url, timeout=20) as client:
        browser = await playwright.chromium.launch(executable_path=chromium(), headless=True)
        try:
            print_loads(await page_loads(browser, url, args.loads))
            await trader(client)
            page = await browser.new_page()
            await page.goto(url)
            await page.wait_for_function("() => window.__trademesh?.metrics.bookLiveMs != null")
            await page.evaluate(OBSERVE)
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Performance.enable")
            before = await renderer_cpu(cdp)
            failures = await churn(client, args.market, args.rate, args.seconds)
            await asyncio.sleep(1.0)  # the last diffs drawn
            seen = await page.evaluate(REPORT)
            seen["cpu"] = {k: v - before[k] for k, v in (await renderer_cpu(cdp)).items()}
            depth = (await client.get(f"/markets/{args.market}/depth?limit=12")).json()
        finally:
            await browser.close()
    print_keep_up(seen, depth, failures, args)


def print_keep_up(seen: dict[str, Any], depth: dict[str, Any], failures: int,
                  args: argparse.Namespace) -> None:
    metrics, tasks = seen["metrics"], seen["longTasks"]
    seconds = seen["elapsed"] / 1000
    print(f"book under {args.rate:g} REST orders/cancels a second for {args.seconds:g} s "
          f"({failures} failed calls): {metrics['depthDiffs']} diffs applied, "
          f"{metrics['depthGaps']} gaps, {metrics['bookRenders']} renders; "
          f"{seen['frames'] / seconds:.1f} frames/s; long tasks: {len(tasks)}"
          + (f" (max {max(tasks):.0f} ms, total {sum(tasks):.0f} ms)" if tasks else ""))
    work = metrics["bookWorkMs"] / max(1, metrics["depthDiffs"]) * 1000
    print(f"the page's own book work (apply + draw): {metrics['bookWorkMs']:.0f} ms in all, "
          f"{work:.0f} µs per diff")
    cpu, diffs = seen["cpu"], max(1, metrics["depthDiffs"])
    print(f"the page's main thread: {cpu['ThreadTime'] / seconds * 100:.1f}% of a core "
          f"({cpu['ThreadTime'] / diffs * 1e6:.0f} µs CPU per diff; script "
          f"{cpu['ScriptDuration'] * 1000:.0f} ms, layout {cpu['LayoutDuration'] * 1000:.0f} ms,"
          f" style {cpu['RecalcStyleDuration'] * 1000:.0f} ms in all)")
    loaf = seen["loaf"]
    if loaf:
        parts = {k: sum(frame[k] for frame in loaf) for k in ("duration", "script", "layout")}
        print(f"long animation frames: {len(loaf)}, {parts['duration']:.0f} ms in all: "
              f"scripts {parts['script']:.0f} ms, style+layout {parts['layout']:.0f} ms, "
              "the rest waiting or painting")
    rest_bids = [level[0] for level in depth.get("bids", [])]
    same = seen["bids"] == rest_bids[: len(seen["bids"])] and len(seen["bids"]) > 0
    print(f"page's top of book equals REST depth afterwards: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--loads", type=int, default=5, help="page loads timed")
    parser.add_argument("--rate", type=float, default=50.0, help="REST orders+cancels per s")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--market", default="SOL-PERP")
    args = parser.parse_args()
    with running_mesh() as mesh:
        print(f"mesh up: {mesh.base_url}", flush=True)
        for line in mesh.output.splitlines():
            if line.startswith("web terminal:"):
                print(line, flush=True)
        asyncio.run(bench(mesh, args))


if __name__ == "__main__":
    main()
