"""Boards, FPGA parts and resource budgets, from finn-plus's own platform tables."""

from __future__ import annotations

from dataclasses import dataclass

from dse.errors import DseError
from dse.finn.ops import DeviceFacts

_RESOURCE_INDEX = {"LUT": 0, "BRAM_18K": 2, "URAM": 3, "DSP": 4}  # FINN: [LUT, FF, BRAM, URAM, DSP]


@dataclass(frozen=True)
class Device:
    """A target: its FPGA part, the board if known, and its budget per resource."""

    part: str
    board: str | None
    budget: dict[str, float]

    @property
    def facts(self) -> DeviceFacts:
        """What FINN's validity rules need of this device."""
        return DeviceFacts(self.part, has_uram=self.budget["URAM"] > 0)


def resolve_device(name: str, override: dict[str, float] | None = None, where: str = "device") -> Device:
    """A board name (``Pynq-Z1``) or FPGA part (``xc7z020clg400-1``) -> :class:`Device`.

    The budget is the whole device (summed over SLRs) from ``finn.util.platforms``; any
    resource in ``override`` replaces it. A part with no platform entry needs a full override.
    """
    from finn.util.basic import part_map
    from finn.util.platforms import platforms

    boards = {b.lower(): b for b in part_map}
    board = boards.get(name.lower())
    if board is not None:
        part = part_map[board]
    elif name in part_map.values():
        part = name
        board = next((b for b, p in part_map.items() if p == part and b in platforms), None)
    else:
        raise DseError(
            f"{where}: unknown board or part {name!r}; boards: {', '.join(sorted(part_map))}"
        )
    budget: dict[str, float] = {}
    if board in platforms:
        slrs = platforms[board]().compute_resources
        budget = {res: float(sum(slr[i] for slr in slrs)) for res, i in _RESOURCE_INDEX.items()}
    budget.update(override or {})
    missing = [r for r in _RESOURCE_INDEX if r not in budget]
    if missing:
        raise DseError(
            f"{where}: FINN has no resource table for {name!r}; give budget: "
            f"{{{', '.join(f'{r}: ...' for r in missing)}}}"
        )
    return Device(part=part, board=board, budget=budget)
