"""Bad storages, bad names and arbitrary layer rules: one clean error, nothing created or lost."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dse import study as study_mod
from dse.errors import DseError
from tests.conftest import write_config

DSE = str(Path(sys.executable).with_name("dse"))
MINIMAL = "name: s\nmodel: tfc-w1a1\ndevice: Pynq-Z1\nsampler: random\nn_trials: 1\n"


def test_corrupt_sqlite_file_is_one_line_and_left_alone(tmp_path):
    db = tmp_path / "dse.db"
    db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes()
    with pytest.raises(DseError, match=r"storage sqlite:///.*dse\.db: .*not a database"):
        study_mod.open_storage(f"sqlite:///{db}")
    assert db.read_bytes() == before


def test_unwritable_sqlite_location_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DseError, match="cannot create"):
        study_mod.open_storage(f"sqlite:///{blocker}/sub/dse.db")


def test_unknown_storage_scheme_is_one_line():
    with pytest.raises(DseError, match=r"storage nosuchdb://u:\*\*\*@h/db"):
        study_mod.open_storage("nosuchdb://u:pw@h/db")


def test_wrong_postgres_credentials_are_one_line_and_masked():
    role = f"nobody_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+psycopg://{role}:hunter2@127.0.0.1:5432/postgres"
    with pytest.raises(DseError) as info:
        study_mod.open_storage(url)
    message = str(info.value)
    assert "hunter2" not in message and f"{role}:***@127.0.0.1" in message
    assert role in message and "\n" not in message


def test_study_names_never_escape_the_studies_folder(tmp_path, worker):
    config = write_config(tmp_path, MINIMAL)
    plan = study_mod.prepare(config, storage=f"sqlite:///{tmp_path}/dse.db", study_name="../../escape/..", worker=worker)
    assert plan.study.study_name == "../../escape/.."  # the Optuna name is kept as given
    assert plan.target.trials_dir.resolve().is_relative_to(tmp_path.resolve())
    assert not (tmp_path.parent / "escape").exists()


RULE = st.fixed_dictionaries(
    {"match": st.one_of(
        st.fixed_dictionaries({"op_type": st.sampled_from(["MVAU", "Thresholding", "LabelSelect", "Conv*", "*", "Pool"])}),
        st.fixed_dictionaries({"name": st.sampled_from(["MVAU_hls_[0-3]", "MVAU_hls_0", "nope", "*"])}),
    )},
    optional={
        "PE": st.one_of(st.just("all"), st.lists(st.integers(-1, 70), min_size=1, max_size=3),
                        st.fixed_dictionaries({"min": st.integers(0, 20), "max": st.integers(1, 100)})),
        "SIMD": st.one_of(st.just("all"), st.lists(st.integers(1, 800), min_size=1, max_size=3)),
        "ram_style": st.lists(st.sampled_from(["auto", "block", "distributed", "ultra", "bogus"]), min_size=1, max_size=2),
        "resType": st.lists(st.sampled_from(["lut", "dsp"]), min_size=1, max_size=2),
    },
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=st.lists(RULE, min_size=1, max_size=3), sampler=st.sampled_from(["random", "grid", "tpe", "magic.Sampler"]))
def test_any_layer_rules_give_a_study_or_one_clean_error(tmp_path_factory, worker, rules, sampler):
    import yaml

    base = tmp_path_factory.mktemp("prop")
    text = yaml.safe_dump({"name": "prop", "model": "tfc-w1a1", "device": "Pynq-Z1", "layers": rules,
                           "sampler": sampler, "n_trials": 1})
    config = write_config(base, text)
    storage = f"sqlite:///{base}/dse.db"
    try:
        plan = study_mod.prepare(config, storage=storage, worker=worker)
    except DseError as exc:
        assert "\n" not in str(exc)
        assert optuna.get_all_study_summaries(storage) == []  # nothing created for a bad file
        return
    assert plan.study.study_name == "prop"
    if plan.grid:
        assert plan.n_trials == plan.target.space.grid_size() <= 100_000


def _listening(pid: int, timeout: float = 60.0) -> list[str]:
    """Addresses a process listens on (TCP), once it listens on any."""
    import time

    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        addrs = [c.laddr.ip for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
        if addrs:
            return addrs
        time.sleep(0.3)
    raise AssertionError("the dashboard never listened")


@pytest.mark.parametrize("host, expected", [(None, ["127.0.0.1"]), ("0.0.0.0", ["0.0.0.0"])])
def test_the_dashboard_listens_on_localhost_unless_told_otherwise(tmp_path, host, expected):
    from dse.storage import open_storage
    from tests.test_compose import _free_port

    open_storage(f"sqlite:///{tmp_path}/dse.db")  # an existing (empty) database
    args = [DSE, "dashboard", "--storage", f"sqlite:///{tmp_path}/dse.db", "--port", str(_free_port())]
    proc = subprocess.Popen(args + (["--host", host] if host else []), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert _listening(proc.pid) == expected
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_dashboard_port_in_use_is_one_line(tmp_path):
    import socket

    from dse.storage import open_storage

    open_storage(f"sqlite:///{tmp_path}/dse.db")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([DSE, "dashboard", "--storage", f"sqlite:///{tmp_path}/dse.db", "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"error: --host/--port: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize("command", [["dashboard", "--port", "0"], ["status"], ["pareto", "x"], ["report", "x"]])
def test_reading_commands_never_create_a_database(tmp_path, command):
    typo = tmp_path / "typo" / "dse.db"
    done = subprocess.run([DSE, *command, "--storage", f"sqlite:///{typo}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"error: storage sqlite:///{typo}: no database at {typo} (commands that "
                                               f"read create none; check --storage / DSE_STORAGE, or run a study first)"]
    assert not typo.exists() and not typo.parent.exists()
