"""Area model: a pure function of a hardware description."""

from __future__ import annotations

from hwsim.hw.spec import BufferSpec, HardwareSpec

__all__ = ["area_breakdown_mm2", "area_mm2"]


def _buffer_mm2(buf: BufferSpec, mm2_per_kib: float) -> float:
    return buf.area_mm2 if buf.area_mm2 is not None else buf.kib * mm2_per_kib


def area_breakdown_mm2(hw: HardwareSpec) -> dict[str, float]:
    """Area per component in mm^2: ``pe_array``, the three buffers and ``other``.

    The PE array counts the larger of the prefill and decode shapes (the published decode
    shapes are iso-area with the prefill ones, so both give the same silicon).
    """
    return {
        "pe_array": hw.pe_count * hw.pe.area_um2 * 1e-6,
        "weight_buffer": _buffer_mm2(hw.buffers.weight, hw.sram_mm2_per_kib),
        "activation_buffer": _buffer_mm2(hw.buffers.activation, hw.sram_mm2_per_kib),
        "output_buffer": _buffer_mm2(hw.buffers.output, hw.sram_mm2_per_kib),
        "other": hw.other_area_mm2,
    }


def area_mm2(hw: HardwareSpec) -> float:
    """Total area in mm^2 (sum of `area_breakdown_mm2`)."""
    return float(sum(area_breakdown_mm2(hw).values()))
