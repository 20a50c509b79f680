"""``dse dashboard`` as a user sees it: the JSON API, the trial artifacts, and the page in Chromium.

Runs on the session's real TFC study (``tfc_study``): its trials were built by FINN through the
real objective, so they carry the uploaded folding and report files.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

import optuna
import pytest
from optuna.artifacts import get_all_artifact_meta

from dse.objective import ARTIFACT_FILES, Objective, Target
from dse.storage import artifact_dir
from tests.conftest import ROOT
from tests.test_compose import _free_port

DSE = str(Path(sys.executable).with_name("dse"))
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "test-artifacts" / "dashboard-study.png"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


class Dashboard:
    """A running ``dse dashboard`` subprocess and the id of the TFC study in it."""

    def __init__(self, base: str, study_id: int) -> None:
        self.base = base
        self.study_id = study_id

    def json(self, path: str) -> Any:
        return json.loads(_get(self.base + path))


@pytest.fixture(scope="module")
def dashboard(tfc_study) -> Iterator[Dashboard]:
    port = _free_port()
    proc = subprocess.Popen([DSE, "dashboard", "--storage", tfc_study.storage, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dse dashboard exited with {proc.returncode}: {proc.stderr.read()}")
            try:
                summaries = json.loads(_get(base + "/api/studies"))["study_summaries"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("dse dashboard never answered on /api/studies")
                time.sleep(0.5)
        ids = [s["study_id"] for s in summaries if s["study_name"] == tfc_study.study.study_name]
        assert len(ids) == 1, summaries  # the API lists the study, once
        yield Dashboard(base, ids[0])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_api_shows_the_trials_metric_names_and_downloadable_artifacts(dashboard, tfc_study):
    detail = dashboard.json(f"/api/studies/{dashboard.study_id}")
    assert detail["name"] == tfc_study.study.study_name
    assert detail["objective_names"] == ["throughput_fps", "LUT"]
    assert detail["directions"] == ["maximize", "minimize"]
    complete = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert len(complete) == len(detail["trials"]) == 6
    built = {t.number: t for t in tfc_study.study.get_trials()}
    for trial in complete:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert attrs["feasible"] == str(built[trial["number"]].user_attrs["feasible"])
        # optuna-dashboard 0.21 reads only Optuna's old list of constraints, not Optuna 5's named
        # ones: the user attr is where a user sees them (and which cap they are)
        assert json.loads(attrs["constraints"]) == built[trial["number"]].constraints != {}
        names = sorted(a["filename"] for a in trial["artifacts"])
        # a TFC estimate build leaves exactly these (no synthesis: no ooc_synth_and_timing.json)
        assert names == sorted(set(ARTIFACT_FILES) - {"ooc_synth_and_timing.json"})

    trial = complete[0]
    folding_meta = next(a for a in trial["artifacts"] if a["filename"] == "applied_folding_config.json")
    assert folding_meta["mimetype"] == "application/json"
    body = _get(f"{dashboard.base}/artifacts/{dashboard.study_id}/{trial['trial_id']}/{folding_meta['artifact_id']}")
    folding = json.loads(body)
    assert "Defaults" in folding
    mvaus = {node: cfg for node, cfg in folding.items() if node.startswith("MVAU")}
    assert mvaus and all({"PE", "SIMD"} <= set(cfg) for cfg in mvaus.values())
    assert folding == built[trial["number"]].user_attrs["folding_config"]  # this trial's, as FINN applied it


class _Subtree(HTMLParser):
    """Text and tags below the element with a given id (plotly renders SVG, so no soup needed)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id = element_id
        self.depth = 0
        self.texts: list[str] = []
        self.classes: list[str] = []
        #: markers (``path.point``) per plotly scatter trace, in drawing order
        self.points_per_trace: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = self.depth == 0 and dict(attrs).get("id") == self.element_id
        if not (found or self.depth):
            return
        cls = dict(attrs).get("class") or ""
        self.classes.append(cls)
        if cls.startswith("trace scatter"):
            self.points_per_trace.append(0)
        elif cls == "point" and self.points_per_trace:
            self.points_per_trace[-1] += 1
        if tag not in self.VOID:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in self.VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and data.strip():
            self.texts.append(data.strip())


def _chromium(url: str, *flags: str) -> str:
    """Run headless Chromium on a page (fresh profile, no network but the page) and return stdout."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    profile = tempfile.mkdtemp(prefix="dse-chromium-")
    try:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1400,1400", "--virtual-time-budget=20000", *flags, url],
            capture_output=True, text=True, timeout=180,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_study_page_renders_the_pareto_front_in_chromium(dashboard):
    detail = dashboard.json(f"/api/studies/{dashboard.study_id}")
    n_complete = sum(t["state"] == "Complete" for t in detail["trials"])
    n_pareto = len(detail["best_trials"])
    assert 1 <= n_pareto <= n_complete
    url = f"{dashboard.base}/dashboard/studies/{dashboard.study_id}"

    dom = _chromium(url, "--dump-dom")
    # the card's heading and its axis selectors, named by the study's metric names
    assert re.search(r">Pareto Front</h6>.*?Objective X:.*?>throughput_fps</div>.*?Objective Y:.*?>LUT</div>"
                     r'.*?id="graph-pareto-front"', dom, re.S), "no Pareto Front card with the metric names"
    plot = _Subtree("graph-pareto-front")
    plot.feed(dom)
    assert "main-svg" in plot.classes, "plotly did not render the Pareto front"
    # one marker per complete trial: a trace of the dominated ones and one of the Pareto-optimal
    # ones, whose colour bars are titled "Trial" and "Best Trial"
    assert plot.classes.count("point") == n_complete
    assert sorted(plot.points_per_trace) == sorted([n_complete - n_pareto, n_pareto])
    assert "Best Trial" in plot.texts and "Trial" in plot.texts

    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    _chromium(url, f"--screenshot={SCREENSHOT}")
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 20_000


def test_artifacts_are_stored_beside_the_sqlite_file(tfc_study):
    db = Path(tfc_study.storage.removeprefix("sqlite:///"))
    folder = (db.parent / "artifacts").resolve()
    assert artifact_dir(tfc_study.storage) == folder
    stored: set[str] = set()
    for trial in tfc_study.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        metas = get_all_artifact_meta(trial, storage=tfc_study.study._storage)
        assert {m.filename for m in metas} >= {"applied_folding_config.json", "estimate_network_performance.json"}
        for meta in metas:
            uuid.UUID(meta.artifact_id)  # Optuna's own id, never a file name from outside
            path = (folder / meta.artifact_id).resolve()
            assert path.parent == folder
            # byte for byte the report FINN wrote in the trial's folder
            assert path.read_bytes() == (Path(trial.user_attrs["trial_dir"]) / "report" / meta.filename).read_bytes()
            stored.add(meta.artifact_id)
    assert {p.name for p in folder.iterdir()} == stored  # nothing else written there


def test_an_unwritable_artifact_store_keeps_the_trial_and_says_why(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "applied_folding_config.json").write_text('{"Defaults": {}}')
    blocked = tmp_path / "artifacts"
    blocked.write_text("a file where the store's folder should be")
    target = Target(model_path="m.onnx", build_config={}, trials_dir=tmp_path, space=None,  # type: ignore[arg-type]
                    objectives=["LUT"], budget={}, artifact_dir=blocked)
    study = optuna.create_study()
    trial = study.ask()
    Objective(target, worker=None)._upload_artifacts(trial, report)  # type: ignore[arg-type]
    study.tell(trial, 1.0)
    done = study.trials[0]
    assert done.state == optuna.trial.TrialState.COMPLETE
    assert done.user_attrs["artifact_error"] == f"{blocked}: File exists"
    assert get_all_artifact_meta(done, storage=study._storage) == []
