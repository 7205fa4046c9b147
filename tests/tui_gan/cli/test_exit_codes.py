"""The exit codes every subcommand shares (0 done, 1 failed, 2 usage), errors on stderr, `--version`."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from tests.runproc import main_in_a_new_process
from tui_gan.cli.main import main


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        return int(exc.code or 0)


def test_version_comes_from_the_package_metadata(capsys) -> None:
    assert run_main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tui-gan {version('tui-gan')}"


@pytest.mark.parametrize("argv", [["--help"], ["presets"], ["runs", "{tmp}"], ["ctl", "--help"]])
def test_success_is_0(argv: list[str], tmp_path: Path, capsys) -> None:
    assert run_main([a.format(tmp=tmp_path) for a in argv]) == 0
    captured = capsys.readouterr()
    assert captured.out and captured.err == ""


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["runs", "{tmp}/nope"], "no such folder"),
        (["ctl", "{tmp}/nope", "pause"], "no such run"),
        (["watch", "{tmp}/nope"], "no such run"),
        (["export", "{tmp}/nope"], "no such run directory"),
        (["eval", "{tmp}/nope"], "nope"),
    ],
)
def test_a_command_that_failed_is_1_with_one_line_on_stderr(
    argv: list[str], says: str, tmp_path: Path, capsys
) -> None:
    assert run_main([a.format(tmp=tmp_path) for a in argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1 and says in captured.err, (
        captured.err
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["presets", "--bogus"], "unrecognized arguments"),
        (["no-such-command"], "invalid choice"),
        (["ctl", "{tmp}", "set"], "KEY=VALUE"),
        (["ctl", "{tmp}", "pause", "lr_g=1"], "takes no KEY=VALUE"),
        (["train", "--resume", "{tmp}", "--preset", "mnist-dcgan"], "drop --preset"),
        (["train", "--nproc-per-node", "0"], "--nproc-per-node"),
        (["eval", "{tmp}", "-n", "5"], "-n: 5"),
        (["train", "--headless", "--set", "epochs=-4"], "epochs: -4 is not allowed"),
        (["train", "--headless", "--preset", "nope"], "unknown preset 'nope'"),
        (["export", "{tmp}", "--fps", "0"], "fps: 0 is not allowed"),
    ],
)
def test_a_usage_error_is_2_with_one_line_on_stderr(
    argv: list[str], says: str, tmp_path: Path, capsys
) -> None:
    assert run_main([a.format(tmp=tmp_path) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1 and says in captured.err, (
        captured.err
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["presets"],
        ["runs", "{tmp}"],
        ["cache"],
        ["ctl", "{tmp}/nope", "pause"],
        ["watch", "{tmp}/nope"],
        ["export-metrics", "{tmp}", "--csv", "{tmp}/m.csv"],
    ],
)
def test_commands_that_do_not_train_never_import_torch(argv: list[str], tmp_path: Path) -> None:
    code, torch, stderr = main_in_a_new_process([a.format(tmp=tmp_path) for a in argv])
    assert code in (0, 1) and torch is False, stderr
