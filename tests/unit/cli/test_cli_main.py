"""The ``trademesh`` command line: parsing, help, exit codes, config errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mesh_runtime.ports import free_port
from trademesh_cli import service
from trademesh_cli.main import build_parser, main

COMMANDS = ("up", "engine", "persistence", "feed", "gateway", "token", "mm", "bench",
            "healthcheck", "migrate", "user")


def test_help_lists_every_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        lines = [line for line in out.splitlines() if line.strip().startswith(name + " ")]
        assert lines, f"{name} missing from --help:\n{out}"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["up", "engine", "gateway"])
def test_config_error_is_one_line_exit_2(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEMESH_ENGINE_PORT", "fifty")
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert err == f"trademesh {command}: TRADEMESH_ENGINE_PORT='fifty': expected int\n"


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run([sys.executable, "-m", "trademesh_cli", "bench", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
    assert "Traceback" not in done.stderr


def test_parser_maps_services_to_their_packages() -> None:
    parser = build_parser()
    for name in service.PACKAGES:
        args = parser.parse_args([name])
        assert args.handler is service.command


def test_every_service_has_an_app_run() -> None:
    for name in service.PACKAGES:
        assert callable(service.load(name)), name


def test_unknown_benchmark_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "nope"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bench_runs_the_core_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "core", "-n", "2000"]) == 0
    assert "commands/s" in capsys.readouterr().out


def test_healthcheck_of_nothing_is_not_serving(capsys: pytest.CaptureFixture[str]) -> None:

    assert main(["healthcheck", f"127.0.0.1:{free_port()}", "--seconds", "0.5"]) == 1
    assert capsys.readouterr().out.strip() == "NOT SERVING"


def test_migrate_without_a_server_is_one_clear_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/trademesh"
    monkeypatch.setenv("TRADEMESH_POSTGRES_URL", url)
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trademesh migrate: cannot migrate PostgreSQL at 127.0.0.1:")
    assert "secret" not in err and "Traceback" not in err and len(err.splitlines()) == 1
    monkeypatch.setenv("TRADEMESH_POSTGRES_URL", "not a url")
    assert main(["migrate"]) == 2
    assert "TRADEMESH_POSTGRES_URL" in capsys.readouterr().err


def test_user_needs_an_action_and_an_email(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["user"], ["user", "create"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert "--email" in capsys.readouterr().err
