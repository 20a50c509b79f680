"""``dse dashboard`` as a user sees it: the JSON API, the trial artifacts, and the page in Chromium.

Runs on a real TFC study (``capped_study``: the session's TFC space with a LUT cap the fastest
designs break): its trials were built by FINN through the real objective, so they carry the
uploaded folding and report files, and some of them do not fit.
"""

from __future__ import annotations

import json
import math
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

from dse import study as study_mod
from dse.objective import ARTIFACT_FILES, Objective, Target
from dse.storage_url import artifact_dir
from tests.conftest import ROOT, TFC_SMALL
from tests.test_compose import _free_port

DSE = str(Path(sys.executable).with_name("dse"))
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "test-artifacts" / "dashboard-study.png"
#: LUT cap of ``capped_study``: TFC's random points with seed 1 use 3.5k to 32k LUTs
LUT_CAP = 20_000


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


def _complete(plan) -> list[optuna.trial.FrozenTrial]:
    return plan.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))


def _named_constraints(trial: optuna.trial.FrozenTrial) -> dict[str, float]:
    """Optuna 5's named constraints (``trial.constraints`` also lists the dashboard's copy as "0", "1", ...)."""
    return {k.removeprefix("constraints:"): v for k, v in trial.system_attrs.items() if k.startswith("constraints:")}


def _fastest(plan) -> optuna.trial.FrozenTrial:
    return max(_complete(plan), key=lambda t: (t.user_attrs["throughput_fps"], -t.number))


@pytest.fixture(scope="module")
def capped_study(tmp_path_factory, worker):
    """The session's TFC space (random, seed 1, 6 trials) with ``constraints.caps: {LUT: 20000}``,
    then the fastest configuration once more (reused, not rebuilt): 7 complete trials."""
    base = tmp_path_factory.mktemp("tfc_capped")
    config = base / "tfc-capped.yaml"
    config.write_text(TFC_SMALL.replace("name: tfc-small", "name: tfc-capped")
                      + f"constraints:\n  caps: {{LUT: {LUT_CAP}}}\n")
    plan = study_mod.prepare(config, storage=f"sqlite:///{base}/dse.db", worker=worker)
    assert study_mod.run(plan).completed == 6
    fastest = _fastest(plan)
    plan.study.enqueue_trial(fastest.params)
    plan.n_trials = 7
    study_mod.run(plan)
    trials = _complete(plan)
    assert len(trials) == len(plan.study.trials) == 7
    assert trials[-1].user_attrs["reused_from"] == fastest.number
    # what makes the bug visible: the fastest design breaks the cap, so it is on the front only
    # when constraints are ignored; and some designs fit
    assert fastest.user_attrs["feasible"] is False and _named_constraints(fastest)["max_LUT"] > 0
    assert fastest.number not in {t.number for t in plan.study.best_trials}
    assert 1 <= len(plan.study.best_trials) < sum(t.user_attrs["feasible"] for t in trials)
    return plan


@pytest.fixture(scope="module")
def dashboard(capped_study) -> Iterator[Dashboard]:
    port = _free_port()
    proc = subprocess.Popen([DSE, "dashboard", "--storage", capped_study.storage, "--port", str(port)],
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
        ids = [s["study_id"] for s in summaries if s["study_name"] == capped_study.study.study_name]
        assert len(ids) == 1, summaries  # the API lists the study, once
        yield Dashboard(base, ids[0])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_api_shows_the_trials_metric_names_and_downloadable_artifacts(dashboard, capped_study):
    detail = dashboard.json(f"/api/studies/{dashboard.study_id}")
    assert detail["name"] == capped_study.study.study_name
    assert detail["objective_names"] == ["throughput_fps", "LUT"]
    assert detail["directions"] == ["maximize", "minimize"]
    complete = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert len(complete) == len(detail["trials"]) == 7
    built = {t.number: t for t in capped_study.study.get_trials()}
    for trial in complete:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert attrs["feasible"] == str(built[trial["number"]].user_attrs["feasible"])
        # the user attr is where a user sees the constraints by name (which cap they are)
        assert json.loads(attrs["constraints"]) == _named_constraints(built[trial["number"]]) != {}
        if "reused_from" in attrs:
            assert trial["artifacts"] == []  # nothing was built: the twin holds them
            continue
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


def test_the_api_gives_the_dashboard_each_trials_feasibility(dashboard, capped_study):
    """optuna-dashboard 0.21 reads a trial's feasibility from the list ``constraints`` (Optuna < 5's
    system attr), never from Optuna 5's named constraints: without it every trial counts as feasible
    and the fastest design, which breaks the LUT cap, is drawn as the best one."""
    detail = dashboard.json(f"/api/studies/{dashboard.study_id}")
    built = {t.number: t for t in _complete(capped_study)}
    complete = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert {t["number"] for t in complete} == set(built)
    for trial in complete:
        stored = built[trial["number"]]
        # the named constraints' values, in dse's order (budget_<resource>, then the caps)
        assert trial["constraints"] == [stored.constraints[name] for name in sorted(stored.constraints)]
        assert sorted(trial["constraints"]) == sorted(_named_constraints(stored).values())
        assert all(c <= 0 for c in trial["constraints"]) is stored.user_attrs["feasible"]
    # the front the page draws (its Pareto plot and "Best Trial" markers): the non-dominated
    # trials among those whose constraints are all <= 0, as the dashboard's frontend computes it
    feasible = [t for t in complete if all(c <= 0 for c in t["constraints"])]
    front = {t["number"] for t in feasible
             if not any(o["values"][0] >= t["values"][0] and o["values"][1] <= t["values"][1]
                        and o["values"] != t["values"] for o in feasible)}
    assert front == {t.number for t in capped_study.study.best_trials}
    infeasible = {n for n, t in built.items() if not t.user_attrs["feasible"]}
    assert _fastest(capped_study).number in infeasible and not front & infeasible
    # the trial reused from the fastest one (nothing rebuilt) is as infeasible as its twin
    reused = next(t for t in complete if any(a["key"] == "reused_from" for a in t["user_attrs"]))
    assert reused["number"] in infeasible and any(c > 0 for c in reused["constraints"])
    assert _named_constraints(built[reused["number"]]) == _named_constraints(_fastest(capped_study))


def test_the_apis_best_trials_hold_no_infeasible_trial(dashboard, capped_study):
    detail = dashboard.json(f"/api/studies/{dashboard.study_id}")
    assert {t["number"] for t in detail["best_trials"]} == {t.number for t in capped_study.study.best_trials}


def test_the_api_shows_the_folding_values_of_each_trial(dashboard, capped_study):
    """The params are ordinal indices (``MVAU_hls_0.PE_idx``); ``knob_values`` holds the PE/SIMD they
    stand for, as FINN applied them, in one user attr the trial page and trial table show."""
    detail = dashboard.json(f"/api/studies/{dashboard.study_id}")
    space = capped_study.target.space
    built = {t.number: t for t in capped_study.study.get_trials()}
    for trial in detail["trials"]:
        params = {p["name"]: p for p in trial["params"]}
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        shown = json.loads(attrs["knob_values"])
        assert set(shown) == {name.removesuffix("_idx") for name in params if name.endswith("_idx")} != set()
        applied = built[trial["number"]].user_attrs["folding_config"]
        for knob in space.knobs:
            if not knob.ordinal:
                continue
            index = int(params[knob.param]["param_external_value"])
            assert shown[f"{knob.node}.{knob.attr}"] == knob.values[index] == applied[knob.node][knob.attr]


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
        #: per marker: (trace index, x position in the plot, its style)
        self.points: list[tuple[int, float, str]] = []

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
            x = re.match(r"translate\(([-\d.]+),", dict(attrs).get("transform") or "")
            self.points.append((len(self.points_per_trace) - 1, float(x.group(1)) if x else math.nan,
                                dict(attrs).get("style") or ""))
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


@pytest.fixture(scope="module")
def study_page(dashboard) -> str:
    """The study page's DOM after Chromium ran its scripts."""
    return _chromium(f"{dashboard.base}/dashboard/studies/{dashboard.study_id}", "--dump-dom")


#: plotly's style of the dashboard's "Infeasible Trial" markers (#cccccc, no outline)
INFEASIBLE_MARKER = re.compile(r"stroke-width: 0px; fill: rgb\(204, 204, 204\)")


def test_the_study_page_renders_the_pareto_front_in_chromium(dashboard, capped_study, study_page):
    complete = _complete(capped_study)
    n_complete = len(complete)
    n_feasible = sum(t.user_attrs["feasible"] for t in complete)
    n_pareto = len(capped_study.study.best_trials)  # Optuna 5's front: feasible trials only
    assert 1 <= n_pareto < n_feasible < n_complete
    url = f"{dashboard.base}/dashboard/studies/{dashboard.study_id}"

    dom = study_page
    # the card's heading and its axis selectors, named by the study's metric names
    assert re.search(r">Pareto Front</h6>.*?Objective X:.*?>throughput_fps</div>.*?Objective Y:.*?>LUT</div>"
                     r'.*?id="graph-pareto-front"', dom, re.S), "no Pareto Front card with the metric names"
    plot = _Subtree("graph-pareto-front")
    plot.feed(dom)
    assert "main-svg" in plot.classes, "plotly did not render the Pareto front"
    # one marker per complete trial: a trace of the infeasible ones, one of the dominated feasible
    # ones and one of the Pareto-optimal ones, whose colour bars are titled "Trial" and "Best Trial"
    assert plot.classes.count("point") == n_complete
    assert sorted(n for n in plot.points_per_trace if n) == sorted([n_complete - n_feasible,
                                                                    n_feasible - n_pareto, n_pareto])
    assert "Best Trial" in plot.texts and "Trial" in plot.texts

    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    _chromium(url, f"--screenshot={SCREENSHOT}")
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 20_000


def test_the_pareto_plot_greys_out_the_designs_that_do_not_fit_in_chromium(capped_study, study_page):
    """The fastest design breaks the LUT cap: the page draws it (and its reused twin) as an
    "Infeasible Trial" (grey, off the front), not as the best trial."""
    plot = _Subtree("graph-pareto-front")
    plot.feed(study_page)
    infeasible = sum(not t.user_attrs["feasible"] for t in _complete(capped_study))
    grey = [p for p in plot.points if INFEASIBLE_MARKER.search(p[2])]
    assert len(grey) == infeasible >= 2
    assert len({trace for trace, _, _ in grey}) == 1  # one trace of its own
    grey_trace = grey[0][0]
    assert plot.points_per_trace[grey_trace] == infeasible
    # throughput_fps is the x axis: the rightmost marker is the fastest design, and it is grey
    rightmost = max(plot.points, key=lambda p: p[1])
    assert rightmost[0] == grey_trace


def test_the_best_trials_card_lists_only_designs_that_fit_in_chromium(dashboard, capped_study, study_page):
    card = re.search(r">Best Trials</h6>(.*?)</ul>", study_page, re.S)
    assert card, "no Best Trials card"
    listed = {int(n) for n in re.findall(rf"/dashboard/studies/{dashboard.study_id}/trials\?numbers=(\d+)", card.group(1))}
    assert listed == {t.number for t in capped_study.study.best_trials}


def test_the_trial_page_shows_the_folding_values_in_chromium(dashboard, capped_study):
    fastest = _fastest(capped_study)
    dom = _chromium(f"{dashboard.base}/dashboard/studies/{dashboard.study_id}/trials?numbers={fastest.number}",
                    "--dump-dom")
    assert re.search(rf">Trial {fastest.number}\b", dom), "not the trial page of the fastest trial"
    texts = _Texts()
    texts.feed(dom)
    shown = [t for t in texts.texts if t.startswith("knob_values ")]
    assert len(shown) == 1, "no knob_values among the trial's user attributes"
    values = json.loads(shown[0].removeprefix("knob_values "))
    assert values == fastest.user_attrs["knob_values"]
    assert values["MVAU_hls_0.PE"] == fastest.user_attrs["folding_config"]["MVAU_hls_0"]["PE"]
    assert "feasible False" in texts.texts  # and the page says it does not fit


class _Texts(HTMLParser):
    """Every text node of a page, stripped."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data.strip())


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
