"""docker-compose.yml: valid against the Compose specification, and its topology run natively.

No Docker engine runs on these machines, so the file is checked against the Compose
specification's JSON schema (tests/data/compose_spec.json, from docker-compose 1.29.2,
Apache-2.0), and the same topology - Postgres, an optuna-dashboard process on the same
database, N dse workers - is started here with real processes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import yaml

from tests.conftest import write_config
from tests.test_workers import grid16, env  # noqa: F401  (env: a fixture)

ROOT = Path(__file__).resolve().parents[1]
DSE = str(Path(sys.executable).with_name("dse"))


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_specification():
    schema = json.loads((ROOT / "tests" / "data" / "compose_spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(_compose()), key=str)
    assert not errors, [e.message for e in errors]
    # and the schema does catch mistakes (the check cannot pass vacuously)
    broken = _compose()
    broken["services"]["worker"]["depends_on"] = {"postgres": {"condition": "when_it_feels_like_it"}}
    broken["services"]["worker"]["scale_me"] = True
    assert len(list(validator.iter_errors(broken))) >= 2


def test_compose_topology_postgres_dashboard_and_scalable_workers():
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"postgres", "dashboard", "worker"}
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"] and "pgdata" in compose["volumes"]
    worker, dashboard = services["worker"], services["dashboard"]
    # --scale worker=N needs no fixed name and no host port on the worker
    assert "container_name" not in worker and "ports" not in worker
    assert worker["build"] == "." and (ROOT / "Dockerfile").exists()
    assert worker["environment"]["DSE_STORAGE"] == dashboard["environment"]["DSE_STORAGE"]  # one database
    assert dashboard["command"][0] == "dashboard"
    assert worker["environment"]["DSE_STORAGE"].startswith("postgresql+psycopg://")
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert worker["command"][0] == "run"
    config = worker["command"][1].split(":-")[1].rstrip("}")
    assert (ROOT / config).exists()
    # host ports are published on localhost only
    for service in ("postgres", "dashboard"):
        assert all(str(port).startswith("127.0.0.1:") for port in services[service]["ports"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in dockerfile and 'ENTRYPOINT ["dse"]' in dockerfile


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_the_same_topology_natively_dashboard_sees_the_workers_study(tmp_path, pg_url, env):  # noqa: F811
    port = _free_port()
    dashboard = subprocess.Popen(
        [DSE, "dashboard", "--storage", pg_url, "--port", str(port)],  # on the empty database, as compose starts it
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                assert _get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"] == []
                break
            except OSError:
                assert time.time() < deadline and dashboard.poll() is None, dashboard.stderr.read() if dashboard.poll() else "no answer"
                time.sleep(0.5)
        config = write_config(tmp_path, grid16("compose-native"))
        done = subprocess.run([DSE, "run", str(config), "--storage", pg_url, "--jobs", "2"],
                              capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr
        studies = _get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["compose-native"]
        detail = _get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}")
        assert len(detail["trials"]) == 16
        assert {t["state"] for t in detail["trials"]} == {"Complete"}
        assert detail["objective_names"] == ["throughput_fps", "LUT"]
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=30)
