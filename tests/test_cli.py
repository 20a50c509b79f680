"""The CLI as a user meets it: every error is one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna

from dse.models import sha256_of
from tests.conftest import write_config

DSE = str(Path(sys.executable).with_name("dse"))


def dse(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([DSE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_missing_and_bad_files(tmp_path):
    assert "design-space file not found" in one_line_error(dse("run", str(tmp_path / "nope.yaml"), "--storage", f"sqlite:///{tmp_path}/x.db"))
    bad = write_config(tmp_path, "model: tfc-w1a1\ndevice: Pynq-Z1\nn_trials: 0\n")
    assert f"{bad}: n_trials: Input should be greater than or equal to 1" in one_line_error(
        dse("run", str(bad), "--storage", f"sqlite:///{tmp_path}/x.db"))
    assert not (tmp_path / "x.db").exists()  # nothing created for a bad file


def test_unknown_board_names_the_key(tmp_path):
    config = write_config(tmp_path, "model: tfc-w1a1\ndevice: Pynq-Z9\n")
    line = one_line_error(dse("run", str(config), "--storage", f"sqlite:///{tmp_path}/x.db"))
    assert f"{config}: device: unknown board or part 'Pynq-Z9'" in line
    assert optuna.get_all_study_summaries(f"sqlite:///{tmp_path}/x.db") == []


def test_unreachable_postgres_is_one_line_and_masks_the_password(tmp_path):
    config = write_config(tmp_path, "model: tfc-w1a1\ndevice: Pynq-Z1\n")
    line = one_line_error(dse("run", str(config), "--storage", "postgresql+psycopg://alice:s3cret@127.0.0.1:1/dse"))
    assert "alice:***@127.0.0.1" in line and "s3cret" not in line


def test_bad_options_and_unknown_names(tmp_path):
    storage = f"sqlite:///{tmp_path}/x.db"
    from dse.storage import open_storage

    open_storage(storage)  # an existing database without that study
    assert "no study named 'nope'" in one_line_error(dse("pareto", "nope", "--storage", storage))
    assert "--format" in one_line_error(dse("pareto", "nope", "--format", "xml", "--storage", storage))
    assert "unknown model 'vgg'" in one_line_error(dse("models", "export", "vgg"))
    assert "Missing argument" in one_line_error(dse("run"))
    config = write_config(tmp_path, "model: tfc-w1a1\ndevice: Pynq-Z1\n")
    assert "--sampler: unknown sampler 'magic'" in one_line_error(dse("run", str(config), "--sampler", "magic", "--storage", storage))
    assert "--trials: must be at least 1" in one_line_error(dse("run", str(config), "--trials", "0", "--storage", storage))


def test_export_errors_and_output(tfc_study, tmp_path):
    storage = tfc_study.storage
    assert "has no trial 99" in one_line_error(dse("export", "tfc-small", "--trial", "99", "--folding", str(tmp_path / "f.json"), "--storage", storage))
    ok = dse("status", "--storage", storage)
    assert ok.returncode == 0 and "tfc-small" in ok.stdout
    csv = dse("pareto", "tfc-small", "--format", "csv", "--storage", storage)
    assert csv.returncode == 0 and csv.stdout.startswith("number,throughput_fps")


def test_models_export_is_offline_and_deterministic(tmp_path):
    result = dse("models", "export", "tfc-w1a1", "-o", str(tmp_path / "tfc.onnx"))
    assert result.returncode == 0, result.stderr
    from dse.models import resolve_model

    assert sha256_of(tmp_path / "tfc.onnx") == sha256_of(resolve_model("tfc-w1a1"))


def test_help_lists_and_exports_read_as_a_user_expects(tmp_path):
    for args in (["--help"], ["run", "--help"], ["frontier", "--help"], ["dashboard", "--help"]):
        done = dse(*args)
        assert done.returncode == 0 and "<bool>" not in done.stdout, done.stdout
    run_help = dse("run", "--help").stdout
    assert "frontier" in run_help and "Sampler seed" in run_help
    assert "Port to listen on" in dse("dashboard", "--help").stdout
    listing = dse("models", "list").stdout
    assert "name" in listing.splitlines()[2] and "mobilenet-v1" in listing and "mobilenetv1.yml" in listing
    done = dse("models", "export", "tfc-w1a1", "-o", str(tmp_path / "m.onnx"))
    assert done.returncode == 0 and "CUDA" not in done.stderr, done.stderr
    assert (tmp_path / "m.onnx").stat().st_mode & 0o044 == 0o044  # readable by group and others
