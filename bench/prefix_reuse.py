"""Per-trial cost: plain finn-plus builds vs `dse` trials (prefix reuse), side by side in one run.

For each model, N random valid foldings are drawn from the design space, then
  (a) built the way users do today: finn-plus's own ``build_dataflow_cfg`` with the
      estimate steps, one full build per folding, in one Python process (FINN imported once);
  (b) run as `dse` trials on the same configurations (queued into a study): the folding-
      independent prefix is computed once per study, each trial runs the remaining steps.
Per-trial seconds: (a) wall time of each build_dataflow_cfg call; (b) each trial's duration
as Optuna recorded it (objective + storage writes). Both sides must give the same numbers.

    .venv/bin/python bench/prefix_reuse.py --trials 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dse import study as study_mod  # noqa: E402

SPACE = """
name: bench-{model}
model: {model}
device: ZCU104
layers:
  - match: {{op_type: "*"}}
    PE: all
    SIMD: all
sampler: random
n_trials: 1
"""

PLAIN = textwrap.dedent(
    """
    # What users do today: plain finn-plus, one full estimate build per folding (no dse code).
    import json, os, sys, time
    os.environ["FINN_BUILD_DIR"] = sys.argv[3]
    import finn.xsi
    finn.xsi.SimEngine = object                 # no Vivado here
    import finn.builder.build_dataflow as build
    import finn.builder.build_dataflow_config as bc
    build.get_vivado_root = lambda: "none"
    base = json.load(open(sys.argv[1]))
    model = base.pop("model_path")
    times = []
    for i, folding in enumerate(json.load(open(sys.argv[2]))):
        cfg = dict(base, output_dir=os.path.join(sys.argv[3], f"plain{i}"), folding_config_file=folding)
        start = time.perf_counter()
        rc = build.build_dataflow_cfg(model, bc.DataflowBuildConfig.from_dict(cfg))
        times.append(time.perf_counter() - start)
        assert rc == 0, rc
    print(json.dumps(times), file=sys.__stdout__)
    """
)


def bench(model: str, trials: int, seed: int, work: Path) -> dict:
    work.mkdir(parents=True)
    config = work / "space.yaml"
    config.write_text(SPACE.format(model=model))
    storage = f"sqlite:///{work}/dse.db"
    started = time.perf_counter()
    plan = study_mod.prepare(config, storage=storage)
    prepare_s = time.perf_counter() - started  # export + FINN import + prefix, once per study

    # N random valid configurations, drawn by Optuna from the space itself
    draw = optuna.create_study(directions=["maximize"], sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = []
    for _ in range(trials):
        trial = draw.ask()
        plan.target.space.suggest(trial)
        configs.append(trial.params)
        draw.tell(trial, 0.0)

    # (b) dse: queue them and run
    for params in configs:
        plan.study.enqueue_trial(params)
    plan.n_trials = trials
    run_started = time.perf_counter()
    stats = study_mod.run(plan)
    run_s = time.perf_counter() - run_started
    plan.worker.close()
    assert stats.completed == trials, stats
    done = plan.study.get_trials()[-trials:]
    dse_times = [t.duration.total_seconds() for t in done]

    # (a) plain finn-plus on exactly the same foldings
    foldings = []
    for t in done:
        path = Path(t.user_attrs["trial_dir"]) / "folding_config.json"
        foldings.append(str(path))
    (work / "foldings.json").write_text(json.dumps(foldings))
    (work / "build.json").write_text(json.dumps(plan.study.user_attrs["finn_build_config"]))
    (work / "plain.py").write_text(PLAIN)
    out = subprocess.run(
        [sys.executable, str(work / "plain.py"), str(work / "build.json"), str(work / "foldings.json"), str(work / "plain")],
        capture_output=True, text=True, check=True,
    )
    plain_times = json.loads(out.stdout.strip().splitlines()[-1])
    for i, t in enumerate(done):  # same numbers on both sides, or the comparison means nothing
        report = work / "plain" / f"plain{i}" / "report"
        perf = json.loads((report / "estimate_network_performance.json").read_text())
        total = json.loads((report / "estimate_layer_resources.json").read_text())["total"]
        assert perf["estimated_throughput_fps"] == t.user_attrs["throughput_fps"]
        assert all(total[r] == t.user_attrs[f"finn_{r}"] for r in ("LUT", "BRAM_18K", "URAM", "DSP"))
    return {
        "model": model,
        "trials": trials,
        "plain_median_s": statistics.median(plain_times),
        "dse_median_s": statistics.median(dse_times),
        "dse_run_wall_s": run_s,
        "plain_wall_s": sum(plain_times),
        "prepare_s": prepare_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["cnv-w1a1", "tfc-w1a1"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            rows.append(bench(model, args.trials, args.seed, Path(tmp) / model))
    print(f"\nper-trial cost, {args.trials} random valid foldings per model (same configurations both sides)\n")
    print("| model | plain finn-plus s/trial (median) | dse s/trial (median) | ratio | plain total s | dse run total s | dse one-time prefix s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["plain_median_s"] / r["dse_median_s"]
        print(f"| {r['model']} | {r['plain_median_s']:.2f} | {r['dse_median_s']:.3f} | {ratio:.1f}x | "
              f"{r['plain_wall_s']:.1f} | {r['dse_run_wall_s']:.1f} | {r['prepare_s']:.1f} |")


if __name__ == "__main__":
    main()
