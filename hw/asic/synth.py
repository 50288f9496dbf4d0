"""Synthesis of an RTL block to library gates with Yosys, cached by the Verilog's hash.

Flow: ``synth -flatten`` (generic optimisation, no FPGA cells), flip-flops legalized to plain
positive-edge D flip-flops (synchronous reset and enable become gates, as in a library without
such flops), then ABC maps the logic to the two- to four-input gates the cell table
(`hwsim.hw.asic.library`) has a cell for. The netlist keeps Amaranth's signal names, which the
sub-block breakdown reads.

A netlist is cached (`hwsim.hw.asic.cache`) under the sha256 of the Verilog, the Yosys script
and the cell table, so a sweep or a later run that revisits a block does not run Yosys again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.hw.asic.cache import read_entry, write_entry
from hwsim.hw.asic.derive_library import CELL_MAP
from hwsim.hw.fpga.tools import run_tool

__all__ = ["SYNTH_SCRIPT", "netlist_key", "synthesize_gates"]

_GATES = ",".join(t.strip("$_") for t in CELL_MAP if not t.startswith("$_DFF")
                  and t not in ("$_NOT_", "$_BUF_"))

SYNTH_SCRIPT = f"""read_verilog top.v
{{keep}}synth -flatten -top {{top}}
dfflegalize -cell $_DFF_P_ 01 -cell $_DFFE_PP_ 01
abc -g {_GATES}
opt_clean -purge
setattr -mod -unset src
write_json netlist.json
"""

# In-process memo on top of the folder cache: a sweep in one process reads each netlist once.
_MEMO: dict[str, dict] = {}


def _script(top: str, keep: tuple[str, ...]) -> str:
    # Amaranth names repeated signals ``name$N``: keep those too.
    sel = " ".join(f"w:{k} w:{k}$*" if "*" not in k else f"w:{k}" for k in keep)
    return SYNTH_SCRIPT.format(top=top, keep=f"setattr -set keep 1 {sel}\n" if keep else "")


def netlist_key(verilog: str, top: str, keep: tuple[str, ...] = ()) -> str:
    """Cache key of a netlist: sha256 over the Verilog, the script and the cell table."""
    table = (Path(__file__).parent / "data" / "sky130_fd_sc_hd.json").read_bytes()
    h = hashlib.sha256()
    for part in (verilog.encode(), _script(top, keep).encode(), table):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def synthesize_gates(
    verilog: str, top: str, cache_dir: Path | None, *, keep: tuple[str, ...] = (),
    timeout_s: float = 1800.0,
) -> tuple[dict, str, bool]:
    """The Yosys JSON netlist of module ``top`` in ``verilog``, mapped to library gates.

    Args:
        verilog: the block's Verilog text.
        top: its top module.
        keep: wire name patterns kept as synthesis boundaries (sub-block names survive).
        cache_dir: cache folder (created; see `hwsim.hw.asic.cache`), or None for none.
        timeout_s: limit for the Yosys run.

    Returns:
        ``(netlist, key, cached)``: the parsed JSON, its cache key, whether it came from a cache.

    Raises:
        HwsimError: Yosys is missing or failed (the message quotes its last error line).
    """
    key = netlist_key(verilog, top, keep)
    if key in _MEMO:
        return _MEMO[key], key, True
    netlist = read_entry(cache_dir, "netlist", key)
    if isinstance(netlist, dict) and isinstance(netlist.get("modules"), dict) \
            and top in netlist["modules"]:
        _MEMO[key] = netlist
        return netlist, key, True
    with tempfile.TemporaryDirectory(prefix="hwsim-asic-") as tmp:
        work = Path(tmp)
        (work / "top.v").write_text(verilog)
        (work / "synth.ys").write_text(_script(top, keep))
        run = run_tool("yosys", ["-q", "-s", "synth.ys"], work, timeout_s=timeout_s)
        if run.returncode != 0 or not (work / "netlist.json").is_file():
            errors = [ln for ln in run.output.splitlines() if "ERROR" in ln] or \
                run.output.strip().splitlines()[-1:] or ["no output"]
            raise HwsimError(f"synthesis of {top} failed: {errors[-1].strip()}")
        netlist = json.loads((work / "netlist.json").read_text())
    write_entry(cache_dir, "netlist", key, netlist)
    _MEMO[key] = netlist
    return netlist, key, False
