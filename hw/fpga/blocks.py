"""The FPGA flow on the RTL library's blocks by name (what `hwsim synth` and `hwsim fpga` call).

Everything a user gives is checked before any tool starts: device, frequency, block and each
parameter (through `hwsim.hw.rtl.registry`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from amaranth.lib import wiring

from hwsim.errors import HwsimError
from hwsim.hw.fpga.devices import get_device
from hwsim.hw.fpga.flow import (
    DEFAULT_PLACER,
    SYNTH_TARGETS,
    Implementation,
    SynthResult,
    check_freq,
    check_jobs,
    check_placer,
    check_seeds,
    implement,
    synthesize,
)
from hwsim.hw.rtl.registry import build, get_block, resolve_params

__all__ = ["build_block", "fpga_block", "synth_block"]


def build_block(name: str, params: dict | None = None) -> tuple[wiring.Component, str, dict]:
    """Build RTL block ``name`` with ``params`` over its defaults.

    Returns:
        ``(component, canonical block name, all parameter values)``.

    Raises:
        HwsimError: unknown block or parameter, or a value outside its allowed range.
    """
    canonical = get_block(name).name
    values = resolve_params(canonical, params)
    return build(canonical, **values), canonical, values


def synth_block(
    name: str, params: dict | None, target: str, out_dir: Path | str, *, dsp: bool = False
) -> SynthResult:
    """Synthesize RTL block ``name`` alone for ``target`` (see `flow.synthesize`)."""
    if target not in SYNTH_TARGETS:
        raise HwsimError(f"unknown --target {target!r}; allowed: {', '.join(SYNTH_TARGETS)}")
    block, canonical, values = build_block(name, params)
    return synthesize(block, target, out_dir, name=canonical, params=values, dsp=dsp)


def fpga_block(
    name: str,
    params: dict | None,
    device: str,
    out_dir: Path | str,
    *,
    freq_mhz: float = 100.0,
    dsp: bool = True,
    seeds: tuple[int, ...] = (1,),
    timeout_s: float = 3600.0,
    placer: str = DEFAULT_PLACER,
    speed: int | None = None,
    jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Implementation:
    """Place and route RTL block ``name`` on ``device`` inside the I/O harness
    (see `flow.implement`; ``timeout_s`` limits each tool run, ``placer`` is a key of
    `flow.PLACERS`, ``speed`` the device's speed grade, ``jobs`` nextpnr runs go at once,
    ``progress`` hears what they do)."""
    get_device(device).check_speed(speed)
    check_freq(freq_mhz)
    check_placer(placer)
    check_seeds(seeds)
    check_jobs(jobs)
    block, canonical, values = build_block(name, params)
    return implement(block, device, out_dir, name=canonical, params=values, freq_mhz=freq_mhz,
                     dsp=dsp, seeds=seeds, timeout_s=timeout_s, placer=placer, speed=speed,
                     jobs=jobs, progress=progress)
