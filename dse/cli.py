"""The ``dse`` command line: parse, call the library, print. Errors are one line, exit 2."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from dse.errors import DseError
from dse.metrics import RESOURCES, TABLE, resources_at
from dse.metrics import fmt as fmt_metric

# rich_markup_mode=None: click's own help layout (typer's rich one shows "<bool>" for flags with click 8.5)
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Design-space exploration for FINN dataflow accelerators, on Optuna.")
models_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="The offline model zoo (Brevitas networks with random weights).")
app.add_typer(models_app, name="models")

# Piped output (files, CI logs) gets wide tables instead of Rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

#: Columns of the Pareto table on a terminal (csv/json have every column).
TABLE_COLUMNS = ["number", *TABLE, "folding"]
StorageOpt = typer.Option(None, "--storage", help="SQLAlchemy URL (default: $DSE_STORAGE or sqlite:///studies/dse.db).")


def _rows_table(rows: list[dict[str, Any]], columns: list[str], title: str) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[fmt_metric(c, row[c]) for c in columns])
    return table


@app.command()
def run(
    config: Path = typer.Argument(..., help="Design-space file (YAML)."),
    trials: Optional[int] = typer.Option(None, "--trials", help="Top the study up to N trials (default: n_trials)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="grid, frontier, random, tpe, nsga2, gp or a dotted "
                                          "class path (without the file's sampler_options)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Sampler seed (default: the file's seed)."),
    storage: Optional[str] = StorageOpt,
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the space's name)."),
    trial_timeout: Optional[float] = typer.Option(None, "--trial-timeout", help="Stop a build after SECONDS and fail its trial."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes on this host (N > 1 needs a server database)."),
    heartbeat: float = typer.Option(10.0, "--heartbeat", help="Seconds between worker heartbeats on a server database; "
                                    "a dead worker's trial is re-queued after 3 missed beats."),
    worker_index: int = typer.Option(0, "--worker-index", hidden=True),
) -> None:
    """Run (or resume) the study of a design space with real FINN builds."""
    from optuna.trial import TrialState

    from dse import study as study_mod
    from dse.analysis import pareto_rows
    from dse.storage_url import is_sqlite, storage_url

    if jobs < 1:
        raise DseError("--jobs: must be at least 1")
    url = storage_url(storage)
    if jobs > 1 and is_sqlite(url):
        raise DseError(f"--jobs {jobs}: SQLite cannot hand a queued trial to exactly one of several processes; "
                       f"use a server database (--storage postgresql+psycopg://USER@HOST/DB) or --jobs 1")
    plan = study_mod.prepare(config, url, study, sampler, seed, trials, trial_timeout=trial_timeout,
                             heartbeat=heartbeat, seed_offset=worker_index,
                             announce=(lambda line: err.print(line, markup=False)) if worker_index == 0 else None)
    name = plan.study.study_name
    why = None
    try:
        for note in plan.notes:
            err.print(note)
        if plan.n_trials == 0 and not plan.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            err.print(f"study {name!r} already has all its trials; nothing to run")
        elif jobs > 1:
            plan.close()  # the workers start their own FINN processes
            argv = ["run", str(config), "--study", name, "--jobs", "1", "--heartbeat", str(heartbeat)]
            for flag, value in (("--trials", trials), ("--sampler", sampler), ("--seed", seed), ("--trial-timeout", trial_timeout)):
                if value is not None:
                    argv += [flag, str(value)]
            _run_workers(plan, argv, jobs, url)
        else:
            err.print(f"study {name!r}: {plan.n_trials} trial(s) to run with {plan.sampler_name}, "
                      f"{len(plan.target.space.knobs)} parameters")
            _run_with_progress(plan, study_mod)
        why = study_mod.nothing_fits(plan) if jobs == 1 else None
        if why is not None:
            plan.study.set_user_attr("nothing_fits", why)
    finally:
        plan.close()
    rows = pareto_rows(plan.study)
    if not rows and why is not None:
        err.print(f"{name}: {why}", markup=False)
        return
    out.print(_rows_table(rows, TABLE_COLUMNS, f"Pareto front of {name} ({len(rows)} feasible non-dominated trials; "
                                               f"{resources_at(rows[0]['fidelity'] if rows else None)})"))


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=err, transient=False,
    )


def _run_workers(plan: Any, argv: list[str], jobs: int, url: str) -> None:
    from optuna.trial import TrialState

    from dse.launcher import run_workers

    log_dir = plan.target.trials_dir.parent / "workers"
    err.print(f"study {plan.study.study_name!r}: {plan.n_trials} trial(s) to run with {plan.sampler_name} "
              f"on {jobs} workers (logs: {log_dir})")
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("builds", total=plan.n_trials, info="")

        def on_progress(completed: int, failed: int) -> None:
            rate = (completed + failed) / max(time.perf_counter() - started, 1e-9) * 60
            progress.update(task, completed=completed + failed,
                            info=f"ok {completed} fail {failed} | {rate:.1f} builds/min")

        outcome = run_workers(argv, jobs, url, plan.study, log_dir, on_progress)
    err.print(f"{outcome.completed} completed, {outcome.failed} failed in {time.perf_counter() - started:.1f} s "
              f"on {jobs} workers")
    for line in outcome.failures():
        err.print(line, markup=False, highlight=False)
    if outcome.interrupted:
        raise DseError("interrupted; the study is saved - run the same command again to resume")
    pending = plan.study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
    if outcome.failures() and pending:
        raise DseError(f"{len(outcome.failures())} worker(s) failed and {len(pending)} trial(s) are pending; "
                       f"run the same command again to finish")


def _run_with_progress(plan: Any, study_mod: Any) -> None:
    counts = {"ok": 0, "fail": 0}
    best: dict[str, float] = {}
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("builds", total=plan.n_trials, info="")

        def on_trial(study: Any, trial: Any) -> None:
            key = "ok" if trial.state.name == "COMPLETE" else "fail"
            counts[key] += 1
            fps = trial.user_attrs.get("throughput_fps")
            if fps is not None and trial.user_attrs.get("feasible") and fps > best.get("fps", -1):
                best["fps"] = fps
            done = counts["ok"] + counts["fail"]
            rate = done / max(time.perf_counter() - started, 1e-9) * 60
            best_text = f"{best['fps']:,.0f} fps" if best else "-"
            progress.update(task, advance=1, info=f"ok {counts['ok']} fail {counts['fail']} | "
                            f"{rate:.1f} builds/min | best feasible {best_text}")

        stats = study_mod.run(plan, on_trial)
    failures = ", ".join(f"{k}: {v}" for k, v in stats.failures.items())
    err.print(f"{stats.completed} completed, {stats.failed} failed{f' ({failures})' if failures else ''} "
              f"in {stats.seconds:.1f} s")
    if stats.interrupted:
        raise DseError("interrupted; the study is saved - run the same command again to resume")
    if stats.failed and not stats.completed:
        category = max(stats.failures, key=stats.failures.get)
        failed = [t for t in plan.study.get_trials(deepcopy=False) if t.user_attrs.get("error_category") == category]
        attrs = failed[-1].user_attrs if failed else {}
        raise DseError(f"all {stats.failed} trial(s) of this run failed; {category}: "
                       f"{str(attrs.get('error_message', '?')).splitlines()[0][:300]} -> {attrs.get('error_hint', '')}")


@app.command()
def status(
    study: Optional[str] = typer.Argument(None, help="Study name (default: every study in the storage)."),
    storage: Optional[str] = StorageOpt,
) -> None:
    """Trials by state, failures by category with hints, Pareto size."""
    from dse.analysis import status as study_status
    from dse.snapshot import Reader

    with Reader(storage) as reader:
        names = reader.names() if study is None else [study]
        studies = [reader.study(name) for name in names]
    if not names:
        out.print("no studies yet")
        return
    table = Table(title="studies")
    for column in ("study", "trials", "complete", "fail", "running", "waiting", "pareto", "best feasible fps"):
        table.add_column(column)
    failure_lines = []
    for name, loaded in zip(names, studies):
        info = study_status(loaded)
        table.add_row(name, *[fmt_metric("throughput_fps" if k == "best_feasible_fps" else k, info[k])
                              for k in ("trials", "complete", "fail", "running", "waiting", "pareto", "best_feasible_fps")])
        for category, entry in info["failures"].items():
            failure_lines.append(f"{name}: {entry['count']} x {category}: {entry['example'][:160]} -> {entry['hint']}")
        if info["pareto"] == 0 and info["complete"]:
            why = loaded.user_attrs.get("nothing_fits", "no completed trial fits the budget and caps")
            failure_lines.append(f"{name}: {why}")
    out.print(table)
    for line in failure_lines:
        out.print(line, markup=False)


@app.command()
def pareto(
    study: str = typer.Argument(..., help="Study name."),
    format: str = typer.Option("table", "--format", help="table, csv or json."),
    storage: Optional[str] = StorageOpt,
) -> None:
    """Print the feasible Pareto front."""
    from dse.analysis import PARETO_COLUMNS, pareto_rows

    if format not in ("table", "csv", "json"):
        raise DseError(f"--format: {format!r} is not one of table, csv, json")
    rows = pareto_rows(_read_study(study, storage))
    if format == "csv":  # the folding as FINN's JSON in one cell
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=PARETO_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, "folding_config": json.dumps(row["folding_config"])} for row in rows)
    elif format == "json":
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
    else:
        out.print(_rows_table(rows, TABLE_COLUMNS, f"Pareto front of {study} ({resources_at(rows[0]['fidelity'] if rows else None)})"))


def _read_study(name: str, storage: str | None) -> Any:
    """The study as it stands, read without Optuna's writer set-up (see dse.snapshot)."""
    from dse.snapshot import Reader

    with Reader(storage) as reader:
        return reader.study(name)


@app.command()
def export(
    study: str = typer.Argument(..., help="Study name."),
    trial: int = typer.Option(..., "--trial", help="Trial number."),
    folding: Path = typer.Option(..., "--folding", help="Where to write FINN's folding JSON."),
    build_config: Optional[Path] = typer.Option(None, "--build-config", help="Also write a FINN DataflowBuildConfig JSON using it."),
    storage: Optional[str] = StorageOpt,
) -> None:
    """Write a trial's folding config (and optionally a FINN build config) to hand to FINN."""
    from dse.analysis import Results

    results = Results(_read_study(study, storage))
    _write_json(folding, results.folding(trial))
    message = f"wrote {folding}"
    if build_config is not None:
        cfg = dict(results.study.user_attrs["finn_build_config"])
        cfg["folding_config_file"] = str(folding.resolve())
        cfg.update(results.study.trials[trial].user_attrs.get("finn_overrides", {}))
        cfg.pop("target_fps", None)  # the folding file already holds SetFolding's choice
        _write_json(build_config, cfg)
        message += f" and {build_config}"
    err.print(message)


@app.command()
def report(
    study: str = typer.Argument(..., help="Study name."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="Where to write the HTML page."),
    storage: Optional[str] = StorageOpt,
) -> None:
    """Write one self-contained HTML page: Pareto plot, Pareto configurations, summary, failures."""
    from dse import report as report_mod
    from dse.analysis import Results

    results = Results(_read_study(study, storage))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        report_mod.write(results, output)
    except OSError as exc:
        raise DseError(f"{output}: cannot write: {exc.strerror}") from None
    err.print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, opens offline)")


def _write_json(path: Path, data: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise DseError(f"{path}: cannot write: {exc.strerror}") from None


@app.command()
def frontier(
    config: Path = typer.Argument(..., help="Design-space file (YAML)."),
    cost: Optional[str] = typer.Option(None, "--cost", help="LUT, BRAM_18K, URAM, DSP or weights like LUT=1,BRAM_18K=100 "
                                       "(default: the space's resource objective; several: their Pareto set)."),
    format: str = typer.Option("table", "--format", help="table, csv or json."),
    best: bool = typer.Option(False, "--best", help="Only the fastest configuration that fits the budget and caps."),
    folding: Optional[Path] = typer.Option(None, "--folding", help="With --best: write its FINN folding JSON here."),
    build_config: Optional[Path] = typer.Option(None, "--build-config",
                                                help="With --best: also write a FINN DataflowBuildConfig JSON using it."),
    storage: Optional[str] = StorageOpt,
) -> None:
    """Print the exact throughput-vs-resource Pareto front within the device budget and caps,
    predicted from FINN's estimators, without building."""
    from dse import frontier as frontier_mod
    from dse import study as study_mod

    if format not in ("table", "csv", "json"):
        raise DseError(f"--format: {format!r} is not one of table, csv, json")
    if (folding is not None or build_config is not None) and not best:
        raise DseError("--folding/--build-config: only with --best (for a study's trial use dse export)")
    if build_config is not None and folding is None:
        raise DseError("--build-config: needs --folding (the build config points FINN at that file)")
    weights = _parse_cost(cost) if cost is not None else None
    from dse.spacefile import load_space_file

    if load_space_file(config).spec.target_fps is not None:  # before any FINN work
        raise DseError(f"{config}: {frontier_mod.TARGET_FPS_REFUSAL}")
    started = time.perf_counter()
    plan = study_mod.prepare(config, storage, create=False, announce=lambda line: err.print(line, markup=False))
    try:
        if weights is None:
            weights, _, _ = frontier_mod.settings({}, plan.target.objectives)
        table, points = study_mod.predicted_front(plan.target, plan.worker, weights)
    except DseError as exc:
        raise DseError(f"{config}: {exc}") from None
    finally:
        plan.close()
    for note in study_mod.fidelity_notes(plan.target):
        err.print(f"note: {note}", markup=False)
    seconds = time.perf_counter() - started
    if best:
        points = [p for p in points if p.feasible][:1]
        if not points:
            raise DseError(f"{config}: no front point meets every cap (see dse frontier {config})")
        if folding is not None:
            _write_json(folding, points[0].as_dict()["folding_config"])
            if build_config is not None:
                cfg = {**plan.target.build_config, "folding_config_file": str(folding.resolve())}
                _write_json(build_config, cfg)
            err.print(f"wrote {folding}" + (f" and {build_config}" if build_config is not None else ""))
    if format == "json":
        sys.stdout.write(json.dumps([p.as_dict() for p in points], indent=1) + "\n")
        return
    from dse.analysis import folding_summary

    if format == "csv":
        import pandas as pd

        rows = [{**{k: v for k, v in p.as_dict().items() if k not in ("params", "folding_config")},
                 "folding": folding_summary(p.folding), "folding_config": json.dumps(p.as_dict()["folding_config"])}
                for p in points]
        sys.stdout.write(pd.DataFrame(rows).to_csv(index=False))
        return

    if weights is None:
        cost_text = ", ".join(frontier_mod.objective_resources(plan.target.objectives)) + " (Pareto set)"
    else:
        cost_text = " + ".join(f"{w:g}*{r}" if w != 1 else r for r, w in weights.items())
    what = "Fastest configuration that fits" if best else "Exact front"
    table_out = Table(title=f"{what} of {plan.space_file.name}: throughput vs {cost_text} "
                            f"({len(points)} points of {table.size:.3g}; {seconds:.1f} s, no builds; "
                            f"{resources_at(plan.target.fidelity)})")
    for column in ("throughput_fps", "max_cycles", *RESOURCES, "feasible", "folding"):
        table_out.add_column(column, overflow="fold")
    for p in points:
        table_out.add_row(fmt_metric("throughput_fps", p.throughput_fps), fmt_metric("max_cycles", p.max_cycles),
                          *[fmt_metric(r, p.resources[r]) for r in RESOURCES], "yes" if p.feasible else "no",
                          folding_summary(p.folding))
    out.print(table_out)
    if not best:
        err.print(frontier_mod.budget_note(points))


@app.command()
def synth(
    config: Path = typer.Argument(..., help="Design-space file (YAML) of the design."),
    folding: Optional[Path] = typer.Option(None, "--folding", help="A FINN folding JSON (dse export, dse frontier --best)."),
    trial: Optional[int] = typer.Option(None, "--trial", help="A trial of the space's study."),
    study: Optional[str] = typer.Option(None, "--study", help="With --trial: the study name (default: the space's name)."),
    best: bool = typer.Option(False, "--best", help="The frontier's fastest configuration that fits."),
    node_timeout: float = typer.Option(300.0, "--node-timeout", help="Seconds one node's synthesis may take."),
    format: str = typer.Option("table", "--format", help="table or json."),
    storage: Optional[str] = StorageOpt,
) -> None:
    """Synthesize a design's RTL nodes with open tools (Yosys; no Vivado) and compare the levels.

    Per node: FINN's raw estimate, dse's count and the open-synthesis count (cached per node
    configuration); nodes that cannot be synthesized this way (HLS nodes, ...) keep their count
    and say why.
    """
    from dse import study as study_mod
    from dse.storage_url import artifact_root, storage_url

    if format not in ("table", "json"):
        raise DseError(f"--format: {format!r} is not one of table, json")
    if sum(x is not None and x is not False for x in (folding, trial, best)) != 1:
        raise DseError("give exactly one design: --folding FILE, --trial N or --best")
    if study is not None and trial is None:
        raise DseError("--study: only with --trial")
    if node_timeout <= 0:
        raise DseError("--node-timeout: must be a positive number of seconds")
    folding_config = _read_folding(folding) if folding is not None else None
    plan = study_mod.prepare(config, storage, create=False, announce=lambda line: err.print(line, markup=False))
    try:
        if trial is not None:
            from dse.analysis import Results

            folding_config = Results(_read_study(study or plan.space_file.name, storage)).folding(trial)
        elif best:
            try:
                _, points = study_mod.predicted_front(plan.target, plan.worker, None)
            except DseError as exc:
                raise DseError(f"{config}: {exc}") from None
            fitting = [p for p in points if p.feasible]
            if not fitting:
                raise DseError(f"{config}: no front point meets every cap (see dse frontier {config})")
            folding_config = fitting[0].as_dict()["folding_config"]
        root = artifact_root(storage_url(storage))
        err.print("synthesizing the design's RTL nodes with Yosys (cached per node configuration)...")
        import tempfile

        with tempfile.TemporaryDirectory(prefix="dse-synth-") as scratch:
            result = plan.worker.synth(plan.target.prefix_dir, plan.target.hoisted, plan.target.build_config,
                                       folding_config, scratch, root / "synth", node_timeout)
    finally:
        plan.close()
    if not result["ok"]:
        raise DseError(f"{config}: FINN refused the design (at {result.get('failed_step')}): {result['message']}")
    if format == "json":
        sys.stdout.write(json.dumps({k: v for k, v in result.items() if k not in ("report_dir", "ok")}, indent=1) + "\n")
        return
    _print_levels(result, plan.target.budget)


def _read_folding(path: Path) -> dict[str, Any]:
    """A FINN folding JSON from a file, or one line saying what is wrong with it."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise DseError(f"--folding: {path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise DseError(f"--folding: {path} is not JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DseError(f"--folding: {path} is not a FINN folding config ({{node name: {{attribute: value}}}})")
    return data


def _print_levels(result: dict[str, Any], budget: dict[str, float]) -> None:
    """Per node and in total: FINN's raw estimate, dse's count, open synthesis (or why not)."""
    table = Table(title="One design at three fidelities: FINN's raw estimate, dse's count, open synthesis (Yosys)")
    for column in ("node", "op_type", *(f"{r} {lvl}" for r in ("LUT", "BRAM_18K", "DSP") for lvl in ("finn", "count", "synth")),
                   "synth"):
        table.add_column(column, overflow="fold")
    for name, node in result["nodes"].items():
        synth = node["synth"]
        cells = []
        for r in ("LUT", "BRAM_18K", "DSP"):
            cells += [fmt_metric(r, node["finn"][r]), fmt_metric(r, node["counted"][r]), fmt_metric(r, synth[r]) if synth else "-"]
        table.add_row(name, node["op_type"], *cells,
                      f"{node.get('seconds', 0):.1f} s" + (" (cached)" if node.get("cached") else "") if synth else node["reason"])
    out.print(table)
    for label, key in (("FINN's raw estimate", "finn_total"), ("dse's count", "counted_total"),
                       ("open synthesis (other nodes counted)", "total")):
        total = result[key]
        share = ", ".join(f"{r} {fmt_metric(r, total[r])} of {fmt_metric(r, budget[r])}" for r in RESOURCES)
        out.print(f"{label}: {share}")
    out.print(f"{len(result['synth_nodes'])} of {len(result['nodes'])} nodes synthesized")


def _parse_cost(text: str) -> dict[str, float]:
    """``LUT`` or ``LUT=1,BRAM_18K=100`` -> weights (each checked by :func:`dse.frontier.weights_of`)."""
    from dse.frontier import RESOURCES, weights_of

    weights: dict[str, float] = {}
    if "=" not in text:  # a bare resource name
        found = weights_of(text)
        if found is not None:
            return found
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            found = weights_of({name.strip(): float(value)})
        except ValueError:
            found = None
        if found is None:
            raise DseError(f"--cost: {part!r} is not RESOURCE=WEIGHT with RESOURCE one of {', '.join(RESOURCES)} and WEIGHT >= 0")
        weights.update(found)
    return weights


@app.command()
def dashboard(
    storage: Optional[str] = StorageOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 exposes it to the network)."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
) -> None:
    """Serve optuna-dashboard on the storage (localhost only unless --host says otherwise).

    Built trials list their folding and FINN reports as artifacts (in artifacts/ beside the SQLite file).
    """
    from dse.dashboard import serve
    from dse.storage import open_storage
    from dse.storage_url import artifact_dir, mask_url, storage_url

    store = open_storage(storage, existing=True)  # never a new database: a typo would show an empty dashboard
    artifacts = artifact_dir(storage)
    try:
        artifacts.mkdir(parents=True, exist_ok=True)  # the dashboard's uploads need it even before any run
    except OSError as exc:
        raise DseError(f"--storage: cannot create the artifact folder {artifacts}: {exc.strerror}") from None
    err.print(f"dashboard for {mask_url(storage_url(storage))} on http://{host}:{port}/dashboard (Ctrl-C stops it)")
    try:
        serve(store, host, port, artifacts)
    except OSError as exc:
        raise DseError(f"--host/--port: cannot listen on {host}:{port}: {exc.strerror}") from None
    except KeyboardInterrupt:
        pass


@models_app.command("export")
def models_export(
    name: str = typer.Argument(..., help="Zoo model, e.g. tfc-w1a1."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output path (default: NAME.onnx)."),
) -> None:
    """Export a zoo network as cleaned QONNX (random weights, no download)."""
    from dse.models import export_model

    path = export_model(name, output or Path(f"{name}.onnx"))
    err.print(f"wrote {path}")


@models_app.command("list")
def models_list() -> None:
    """List the zoo."""
    from dse.models import ZOO

    table = Table(title="the offline zoo (random weights)")
    for column in ("name", "network", "input", "finn-plus flow", "board"):
        table.add_column(column)
    for name, entry in ZOO.items():
        flow = entry.flow
        table.add_row(name, entry.brevitas_name, "x".join(map(str, entry.input_shape)),
                      flow.source.rsplit("/", 1)[-1] if flow else "bnn-pynq (finn.steps: estimate+bnn)", flow.board if flow else "-")
    out.print(table)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
    except DseError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted; nothing was lost - run the same command again to resume")
        sys.exit(130)
    except Exception as exc:  # usage errors (Typer's bundled click) and anything unexpected
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if exc.format_message():  # empty for `dse` alone, which already printed the help
                err.print(f"error: {exc.format_message()}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        if os.environ.get("DSE_DEBUG"):
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} (set DSE_DEBUG=1 for the traceback)",
                  markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
