"""Energy and carbon of a run: measured with codecarbon where it can read power, plus the
paper's Appendix D estimate (declared device watts x hours x 0.4 kgCO2e/kWh)."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

# Declared draw when the config gives none: a data-centre GPU board, or a server CPU package.
DEFAULT_GPU_WATTS = 300.0
DEFAULT_CPU_WATTS = 65.0


@dataclass
class EnergyReport:
    formula_device_watts: float
    formula_watts_source: str
    formula_kwh: float
    formula_kg_co2e: float
    carbon_intensity_kg_per_kwh: float
    codecarbon_status: str  # "measured", "failed: ...", "disabled"
    codecarbon_kwh: float | None = None
    codecarbon_kg_co2e: float | None = None
    codecarbon_tracking: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EnergyMeter:
    """Start before training, stop after; never raises (energy is a record, not a requirement)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tracker: Any = None
        self.status = "disabled" if not enabled else "not started"

    def start(self) -> None:
        if not self.enabled:
            return
        try:
            from codecarbon import OfflineEmissionsTracker

            logging.getLogger("codecarbon").setLevel(logging.ERROR)
            # Offline: no network; the country only picks the grid intensity codecarbon reports.
            self.tracker = OfflineEmissionsTracker(
                country_iso_code="USA", save_to_file=False, log_level="error",
                output_dir=tempfile.gettempdir(), measure_power_secs=5,
            )
            self.tracker.start()
            self.status = "measuring"
        except Exception as exc:  # codecarbon fails in many environment-specific ways
            self.tracker, self.status = None, f"failed: {type(exc).__name__}: {exc}"

    def stop(self) -> tuple[str, float | None, float | None, str | None]:
        if self.tracker is None:
            return self.status, None, None, None
        try:
            kg = self.tracker.stop()
            data = self.tracker.final_emissions_data
            mode = f"cpu={getattr(data, 'cpu_model', '?')}; tracking={getattr(data, 'tracking_mode', '?')}"
            return "measured", float(data.energy_consumed), float(kg or 0.0), mode
        except Exception as exc:
            return f"failed: {type(exc).__name__}: {exc}", None, None, None


def formula_energy(seconds: float, device_watts: float | None, on_gpu: bool,
                   intensity: float) -> tuple[float, str, float, float]:
    """(watts, where the watts came from, kWh, kgCO2e) by the paper's Appendix D formula."""
    if device_watts is not None:
        watts, source = float(device_watts), "config"
    else:
        watts = DEFAULT_GPU_WATTS if on_gpu else DEFAULT_CPU_WATTS
        source = f"default for {'GPU' if on_gpu else 'CPU'} (set device_watts to declare yours)"
    kwh = watts * seconds / 3600.0 / 1000.0
    return watts, source, kwh, kwh * intensity


def energy_report(meter: EnergyMeter, seconds: float, device_watts: float | None, on_gpu: bool,
                  intensity: float) -> EnergyReport:
    status, kwh, kg, mode = meter.stop()
    watts, source, f_kwh, f_kg = formula_energy(seconds, device_watts, on_gpu, intensity)
    return EnergyReport(watts, source, f_kwh, f_kg, intensity, status, kwh, kg, mode)


def quiet_codecarbon() -> None:
    os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")
