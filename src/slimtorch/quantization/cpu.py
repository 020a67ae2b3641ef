"""What the CPU offers for int8 arithmetic (decides the u8*s8 saturation workaround)."""

from __future__ import annotations


def has_vnni() -> bool:
    """Whether the CPU has VNNI int8 dot products (no u8*s8 int16 saturation)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags or "amx_int8" in flags
