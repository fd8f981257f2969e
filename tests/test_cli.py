"""``augmeta validate FILE...``: exit 0 when every file is valid, 1 otherwise, naming each bad field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import augmeta
from augmeta.cli import main

POLICY_DIR = Path(augmeta.__file__).resolve().parents[1] / "policies"
POLICY_FILES = sorted(POLICY_DIR.glob("*.json"))
BAD_P = "`subpolicies[0].steps[0].p` should be in [0, 1], but got 1.5 instead."


def ok_line(path: Path) -> str:
    policy = augmeta.load_policy(path)
    return f"ok   {path}: {policy.name!r}, {len(policy.subpolicies)} sub-policies"


@pytest.fixture
def bad_file(tmp_path) -> Path:
    data = json.loads((POLICY_DIR / "randaugment_n2_m9.json").read_text(encoding="utf-8"))
    data["subpolicies"][0]["steps"][0]["p"] = 1.5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def start_cli(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "augmeta.cli", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_module_entry_point(bad_file):
    """``python -m augmeta.cli``; both processes run at once (each start imports torch, which takes seconds)."""
    good = start_cli("validate", *map(str, POLICY_FILES))
    mixed = start_cli("validate", str(POLICY_FILES[0]), str(bad_file))
    good_out, good_err = good.communicate(timeout=120)
    mixed_out, mixed_err = mixed.communicate(timeout=120)
    assert (good.returncode, good_err) == (0, "")
    assert good_out.splitlines() == [ok_line(path) for path in POLICY_FILES]
    assert mixed.returncode == 1
    assert mixed_out.splitlines() == [ok_line(POLICY_FILES[0])]
    assert mixed_err == f"FAIL Invalid policy file {str(bad_file)!r}: {BAD_P}\n"


def test_main_accepts_every_published_file(capsys):
    assert main(["validate", *map(str, POLICY_FILES)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [ok_line(path) for path in POLICY_FILES]
    assert captured.err == ""


def test_main_names_the_bad_field(bad_file, capsys):
    assert main(["validate", str(bad_file)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"FAIL Invalid policy file {str(bad_file)!r}: {BAD_P}\n"


def test_main_reports_every_file(bad_file, tmp_path, capsys):
    missing = tmp_path / "missing.json"
    good = POLICY_FILES[-1]
    assert main(["validate", str(bad_file), str(missing), str(good)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [ok_line(good)]
    assert captured.err.splitlines() == [
        f"FAIL Invalid policy file {str(bad_file)!r}: {BAD_P}",
        f"FAIL Policy file {str(missing)!r} does not exist.",
    ]


def test_main_validates_yaml(tmp_path, capsys):
    path = augmeta.load_policy(POLICY_FILES[0]).save(tmp_path / "policy.yaml")
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == ok_line(path) + "\n"


def test_main_reports_a_folder_as_a_failure(tmp_path, capsys):
    """A folder given by mistake is one failed file, not a traceback that stops the other files."""
    good = POLICY_FILES[0]
    assert main(["validate", str(tmp_path), str(good)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [ok_line(good)]
    assert captured.err.startswith("FAIL ")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["validate"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: augmeta" in capsys.readouterr().err
