"""When ``trademesh up`` builds the web terminal (:mod:`trademesh_cli.web_build`): the
source hash, freshness, and the one line it prints without Node.js."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mesh_runtime.config import Settings
from trademesh_cli import web_build


@pytest.fixture
def source(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    (web / "src").mkdir(parents=True)
    (web / "package.json").write_text("{}")
    (web / "src" / "main.ts").write_text("export {};")
    return web


def test_a_build_is_fresh_until_a_source_changes(source: Path) -> None:
    dist = source / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("built")
    assert not web_build.is_fresh(source, dist)  # no stamp yet
    (dist / web_build.STAMP).write_text(web_build.source_hash(source))
    assert web_build.is_fresh(source, dist)
    (source / "src" / "main.ts").write_text("export const changed = 1;")
    assert not web_build.is_fresh(source, dist)
    (source / "node_modules").mkdir()  # installed packages are not sources
    (source / "node_modules" / "x.js").write_text("")
    (dist / web_build.STAMP).write_text(web_build.source_hash(source))
    assert web_build.is_fresh(source, dist)


def test_without_node_the_api_is_served_and_one_line_says_how(
        source: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(source))  # no node, no npm
    settings = Settings(web_dir=source / "dist")
    assert web_build.prepare(settings, source) is False
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "no Node.js" in lines[0] and "npm --prefix web" in lines[0]


def test_a_fresh_build_is_served_without_building(
        source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = source / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("built")
    (dist / web_build.STAMP).write_text(web_build.source_hash(source))
    assert web_build.prepare(Settings(web_dir=dist, gateway_port=18080), source) is True
    assert capsys.readouterr().out.strip() == "web terminal: http://127.0.0.1:18080/"


def test_a_failing_build_says_what_is_served_instead(
        source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("no npm here")
    (source / "package.json").write_text(json.dumps({"scripts": {"build": "exit 3"}}))
    (source / "package-lock.json").write_text("{}")
    (source / "node_modules").mkdir()
    (source / "node_modules" / ".package-lock.json").write_text("{}")  # installed: no npm ci
    dist = source / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("an older build")
    assert web_build.prepare(Settings(web_dir=dist), source) is False
    out = capsys.readouterr().out
    assert "`npm run` exited 3; serving the previous build" in out
    assert not (dist / web_build.STAMP).exists()
