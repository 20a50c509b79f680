"""Shared fixtures: one small real-FINN TFC study for the whole session."""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

import pytest
import sqlalchemy

from dse import study as study_mod
from dse.finn.worker import FinnWorker

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# A small space so the session study stays fast: every MVAU PE/SIMD free, the rest fixed.
TFC_SMALL = textwrap.dedent(
    """
    name: tfc-small
    model: tfc-w1a1
    device: Pynq-Z1
    clock_ns: 10.0
    layers:
      - match: {op_type: "*"}
        PE: all
        SIMD: all
      - match: {op_type: MVAU}
        ram_style: [distributed, block]
    objectives: [throughput_fps, LUT]
    sampler: random
    seed: 1
    n_trials: 6
    """
)


@pytest.fixture(scope="session", autouse=True)
def _models_in_repo_cache():
    """Zoo models are exported once into the repo's studies/models (git-ignored)."""
    os.chdir(ROOT)
    yield


@pytest.fixture(scope="session")
def worker(tmp_path_factory):
    w = FinnWorker(tmp_path_factory.mktemp("finn_tmp"), tmp_path_factory.mktemp("log") / "worker.log")
    yield w
    w.close()


@pytest.fixture(scope="session")
def tfc_study(tmp_path_factory, worker):
    """A real 6-trial TFC-w1a1 study (random sampler) in its own SQLite file."""
    base = tmp_path_factory.mktemp("tfc_study")
    config = base / "tfc-small.yaml"
    config.write_text(TFC_SMALL)
    storage = f"sqlite:///{base}/dse.db"
    plan = study_mod.prepare(config, storage=storage, worker=worker)
    stats = study_mod.run(plan)
    assert stats.completed == 6 and stats.failed == 0
    return plan


def write_config(directory: Path, text: str, name: str = "space.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


CNV = """
name: cnv-prop
model: cnv-w1a1
device: ZCU104
layers:
  - match: {op_type: "*"}
    PE: all
    SIMD: all
  - match: {op_type: MVAU}
    ram_style: [auto, block, distributed, ultra]
sampler: random
n_trials: 1
"""


@pytest.fixture(scope="session")
def cnv_plan(tmp_path_factory, worker):
    """A prepared (not yet run) CNV-w1a1 study on a ZCU104 (a device with URAM)."""
    base = tmp_path_factory.mktemp("cnv")
    config = write_config(base, CNV)
    return study_mod.prepare(config, storage=f"sqlite:///{base}/dse.db", worker=worker)


@pytest.fixture
def pg_url():
    """A fresh Postgres database for one test, dropped afterwards (with its connections)."""
    name = f"dse_test_{uuid.uuid4().hex[:12]}"
    # pre-ping: a test may restart the server, which cuts this engine's pooled connection
    admin = sqlalchemy.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
