"""Report parsing, including the synthesis-mode files (FINN-format fixtures: no Vivado here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dse.finn.reports import ReportError, read_metrics
from dse.objective import categorize

FIXTURE = Path(__file__).parent / "fixtures" / "synth_report"


def test_estimate_mode_reads_network_performance_and_resource_total(tmp_path):
    for name in ("estimate_network_performance.json", "estimate_layer_resources.json"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    m = read_metrics(tmp_path)
    assert m["fidelity"] == "finn"
    assert m["throughput_fps"] == pytest.approx(111607.14285714286)
    assert (m["latency_ns"], m["max_cycles"], m["LUT"], m["BRAM_18K"], m["DSP"]) == (41480.0, 896, 2131.0, 7.0, 0.0)
    assert m["bottleneck"] == "MVAU_hls_0"


def test_synthesis_mode_uses_post_route_numbers_and_achieved_clock():
    m = read_metrics(FIXTURE)
    assert m["fidelity"] == "vivado"
    assert m["LUT"] == 2456.0 and m["FF"] == 3120.0
    assert m["BRAM_18K"] == 1 + 2 * 3  # 36K tiles count as two 18K blocks
    assert m["throughput_fps"] == pytest.approx(114.28571428571429e6 / 896)
    assert m["throughput_fps"] == pytest.approx(json.loads((FIXTURE / "ooc_synth_and_timing.json").read_text())["estimated_throughput_fps"])


def test_missing_or_broken_reports_raise_report_error(tmp_path):
    with pytest.raises(ReportError, match="estimate_network_performance.json is missing"):
        read_metrics(tmp_path)
    (tmp_path / "estimate_network_performance.json").write_text("{not json")
    with pytest.raises(ReportError, match="not valid JSON"):
        read_metrics(tmp_path)
    (tmp_path / "estimate_network_performance.json").write_text('{"max_cycles": 3}')
    with pytest.raises(ReportError, match="lacks an expected key"):
        read_metrics(tmp_path)


@pytest.mark.parametrize("step, category", [
    (None, "model_load"), ("step_streamline", "transform"), ("step_apply_folding_config", "folding"),
    ("step_generate_estimate_reports", "estimate"), ("step_out_of_context_synthesis", "synthesis"),
    ("my.custom.step", "transform"),
])
def test_failures_are_categorized_by_the_failing_step(step, category):
    assert categorize(step) == category


@pytest.mark.parametrize("message, category", [
    ("ERROR: [Place 30-640] Place Check : This design requires more LUT as Logic cells than are available "
     "in the target device. This design requires 61234 of such cell types but only 53200 compatible sites are available", "resource"),
    ("ERROR: [DRC UTLZ-1] Resource utilization: RAMB18 and RAMB36/FIFO over-utilized in Top Level Design", "resource"),
    ("CRITICAL WARNING: [Timing 38-282] The design failed to meet the timing requirements: timing constraints not met", "timing"),
    ("Implementation done; WNS(ns) -1.234 TNS(ns) -88.1", "timing"),
    ("ERROR: [Synth 8-439] module 'StreamingFIFO_rtl_0' not found", "synthesis"),
])
def test_synthesis_failures_are_told_apart_by_vivados_message(message, category):
    assert categorize("step_out_of_context_synthesis", message) == category
    assert categorize("step_streamline", message) == "transform"  # only vendor-tool steps read the message
