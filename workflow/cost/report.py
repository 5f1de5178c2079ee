"""The cost report: priced lines, totals, and their rendering as a text table or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from workflow.cost.prices import Assumptions, Prices
from workflow.cost.usage import RunMeasurement


@dataclass(frozen=True, slots=True)
class CostLine:
    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    basis: str
    fixed: bool = False  # independent of the number of runs

    @property
    def cost(self) -> float:
        return self.quantity * self.unit_price

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "unitPrice": float(f"{self.unit_price:.12g}"),
            "monthlyCost": round(self.cost, 6),
            "basis": self.basis,
            "fixed": self.fixed,
        }


@dataclass(frozen=True, slots=True)
class CostReport:
    lines: tuple[CostLine, ...]
    runs_per_month: int
    prices: Prices
    assumptions: Assumptions
    measurement: RunMeasurement
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)

    @property
    def fixed_total(self) -> float:
        return sum(line.cost for line in self.lines if line.fixed)

    @property
    def per_run(self) -> float:
        return self.total / self.runs_per_month

    @property
    def variable_per_run(self) -> float:
        return (self.total - self.fixed_total) / self.runs_per_month

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, 0.0) + line.cost
        return totals

    def as_json(self) -> dict[str, Any]:
        return {
            "runsPerMonth": self.runs_per_month,
            "currency": "USD",
            "region": self.prices.region,
            "prices": {"source": self.prices.source, "asOf": self.prices.as_of},
            "freeTiers": "ignored",
            "lines": [line.as_json() for line in self.lines],
            "totalMonthly": round(self.total, 6),
            "fixedMonthly": round(self.fixed_total, 6),
            "perRun": round(self.per_run, 9),
            "variablePerRun": round(self.variable_per_run, 9),
            "byService": {name: round(cost, 6) for name, cost in self.by_service().items()},
            "measurement": self.measurement.as_json(),
            "assumptions": {
                "coldStartShare": self.assumptions.cold_start_share,
                "snapStartVersionsKept": self.assumptions.snapstart_versions_kept,
                "interfaceEndpointBytesPerRun": self.assumptions.interface_endpoint_bytes_per_run,
                "apiShare": self.assumptions.api_share,
                "xrayTracesPerRun": self.assumptions.xray_traces_per_run,
                "kmsRequestsPerRun": self.assumptions.kms_requests_per_run,
                "lambdaPlatformLogBytesPerInvocation": self.assumptions.lambda_platform_log_bytes_per_invocation,
            },
            "notes": list(self.notes),
        }

    def render(self) -> str:
        """The report as a text table: one row per line with its basis under it, then the totals."""
        header = (
            f"Monthly cost estimate: {self.runs_per_month:,} runs/month of {self.measurement.sample} "
            f"(measured run {self.measurement.status}), {self.prices.region} list prices in USD, free tiers ignored"
        )
        rows = [
            (line.service, line.item, _quantity(line.quantity), line.unit, _price(line.unit_price), _money(line.cost))
            for line in self.lines
        ]
        titles = ("service", "item", "quantity", "unit", "unit price", "USD/month")
        widths = [max(len(title), *(len(row[i]) for row in rows)) for i, title in enumerate(titles)]

        def format_row(cells: Sequence[str]) -> str:
            left = [cells[i].ljust(widths[i]) for i in (0, 1)]
            quantity = cells[2].rjust(widths[2])
            unit = cells[3].ljust(widths[3])
            right = [cells[i].rjust(widths[i]) for i in (4, 5)]
            return "  ".join([*left, quantity, unit, *right]).rstrip()

        out = [header, "", format_row(titles), "  ".join("-" * width for width in widths)]
        for line, row in zip(self.lines, rows, strict=True):
            out.append(format_row(row))
            out.append(" " * (widths[0] + 2) + line.basis)
        full = sum(widths) + 2 * (len(widths) - 1)
        out.append("-" * full)
        for label, value in (
            ("total per month", self.total),
            ("  of which fixed (independent of runs)", self.fixed_total),
            ("per run, all-in", self.per_run),
            ("per run, variable only", self.variable_per_run),
        ):
            out.append(label.ljust(full - 14) + _money(value, small=True).rjust(14))
        out.append("")
        out.append("by service: " + ", ".join(f"{name} {_money(cost)}" for name, cost in self.by_service().items()))
        out.append("")
        out.append("notes:")
        out.extend(f"  - {note}" for note in self.notes)
        return "\n".join(out) + "\n"

    def __str__(self) -> str:
        return self.render()


def _quantity(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.3f}"


def _price(value: float) -> str:
    text = format(Decimal(f"{value:.10g}").normalize(), "f")
    return text if value else "0"


def _money(value: float, *, small: bool = False) -> str:
    if small and 0 < abs(value) < 1:
        return f"{value:.6f}"
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4f}"
