"""The command line: bad input gets a clear message and a non-zero exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from service.cli import EXIT_OUTPUT, EXIT_USAGE, main


@pytest.mark.parametrize(("argv", "message"), [
    (["synth", "imprints", "--out", "{tmp}", "--seed", "1", "--count", "-2"], "negative"),
    (["synth", "dataset", "--out", "{tmp}", "--seed", "1", "--queries", "-1"], "negative"),
    (["synth", "dataset", "--out", "{tmp}", "--seed", "1", "--seals", "0"], "at least 1"),
    (["synth", "imprints", "--out", "{tmp}", "--seed", "1", "--count", "many"], "whole number"),
])
def test_bad_counts_are_refused(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--kind", "hexagonal"], "unknown seal kind 'hexagonal'"),
    (["--forgery", "xerox"], "unknown forgery 'xerox'"),
    (["--level", "medium", "--forgery", "recarved"], "unknown level 'medium'"),
    (["--capture", "telegraph"], "unknown capture 'telegraph'"),
])
def test_unknown_names_are_refused(tmp_path, capsys, argv, message):
    code = main(["synth", "imprints", "--out", str(tmp_path), "--seed", "1", *argv])
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "choose" in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_bad_set_name_is_refused(tmp_path, capsys):
    code = main(["synth", "dataset", "--out", str(tmp_path), "--seed", "1", "--sets", "genuin"])
    assert code == EXIT_USAGE
    assert "unknown query set" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory_as_user(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code = main(["synth", "imprints", "--out", str(locked / "x"), "--seed", "1", "--count", "1"])
    assert code == EXIT_OUTPUT
    assert "not writable" in capsys.readouterr().err


def test_unwritable_directory(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = main(["synth", "imprints", "--out", str(blocker / "out"), "--seed", "1",
                 "--count", "1"])
    assert code == EXIT_OUTPUT
    assert "not writable" in capsys.readouterr().err


def test_imprints_command_writes_images_and_manifest(tmp_path, capsys):
    code = main(["synth", "imprints", "--out", str(tmp_path), "--seed", "4", "--count", "2",
                 "--kind", "oval_invoice", "--forgery", "recarved", "--level", "subtle",
                 "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["count"] == 2
    rows = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert all(r["imprints"][0]["forgery"]["level"] == "subtle" for r in rows)
    assert all((tmp_path / r["file"]).is_file() for r in rows)


def test_console_script_runs(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "imprint")
    proc = subprocess.run([exe, "synth", "imprints", "--out", str(tmp_path), "--seed", "1",
                           "--kind", "triangle"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_USAGE
    assert "unknown seal kind 'triangle'" in proc.stderr


def test_the_demo_runs_every_stage(tmp_path, capsys):
    """`make demo`'s command on a directory of its own: every stage runs, the look-alike seal
    of the demo registry is warned about the seal it resembles when filed, and no other
    filing is."""
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stages"] and all(state.startswith("ran") for state in out["stages"].values())
    filing = out["filing"]
    assert filing["filed"] == len(out["registry"])
    assert filing["lookalikes"] >= 1 and filing["lookalikes_warned"] == filing["lookalikes"]
    assert filing["others_warned"] == 0
    assert (tmp_path / "demo" / "contact_sheet.png").is_file()
