"""The command line."""

import subprocess
import sys

import pytest

from alwidget.cli import main
from alwidget.store import Store
from conftest import write_audio


def test_ingest_then_features(tmp_path, capsys):
    write_audio(tmp_path / "in" / "n1_20240501_101010.wav", 2.0)
    (tmp_path / "in" / "broken.wav").write_text("no")
    db = tmp_path / "p.db"
    rc = main(["ingest", str(tmp_path / "in"), "--db", str(db), "--quiet",
               "--name-pattern", "{node}_{time:%Y%m%d_%H%M%S}"])
    out = capsys.readouterr().out
    assert rc == 0 and "1 added (2 clips" in out and "broken.wav" in out
    assert main(["ingest", str(tmp_path / "in"), "--db", str(db), "--quiet", "--strict"]) == 1
    assert main(["features", "--db", str(db), "--quiet", "--jobs", "1"]) == 0
    assert "2 of 2 clips have features" in capsys.readouterr().out
    assert Store(db).audios()[0].node == "n1"


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["features", "--db", str(tmp_path / "none.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    for bad in ("0", "inf", "nan", "abc"):
        with pytest.raises(SystemExit) as exit_:
            main(["ingest", str(tmp_path), "--db", str(tmp_path / "p.db"), "--clip-seconds", bad])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"--clip-seconds {bad} must be a finite number > 0" in err and "Traceback" not in err
    assert not (tmp_path / "p.db").exists()


def test_installed_entry_point(tmp_path):
    run = subprocess.run([sys.executable, "-m", "alwidget.cli", "demo", "--help"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "demo corpus" in run.stdout


def test_detect_with_a_missing_model_file_is_a_user_error(tmp_path, capsys):
    Store(tmp_path / "p.db").close()
    assert main(["detect", "--model", str(tmp_path / "none.alwmodel"),
                 "--db", str(tmp_path / "p.db")]) == 2
    err = capsys.readouterr().err
    assert "none.alwmodel" in err and "Traceback" not in err
