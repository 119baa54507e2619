"""Counters and histograms in the Prometheus text format (``GET /metrics``).

Labels are route templates (``/api/v1/projects/{project}``), never project names, so the
series count stays bounded and a scrape reveals no private project.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from dataclasses import dataclass, field

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RECONCILE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: Labels) -> list[str]:
        out, running = [], 0
        counts = self.counts or [0] * len(self.buckets)
        for bound, count in zip(self.buckets, counts, strict=True):
            running += count
            out.append(f"{name}_bucket{_fmt((*labels, ('le', _num(bound))))} {running}")
        out.append(f"{name}_bucket{_fmt((*labels, ('le', '+Inf')))} {self.count}")
        out.append(f"{name}_sum{_fmt(labels)} {self.total!r}")
        out.append(f"{name}_count{_fmt(labels)} {self.count}")
        return out


_HELP = {
    "rise_http_requests_total": ("counter", "HTTP requests answered, by route and status."),
    "rise_http_request_duration_seconds": ("histogram", "Time to answer an HTTP request."),
    "rise_state_commits_total": ("counter", "State-repo writes by outcome."),
    "rise_webhooks_total": ("counter", "Git webhook deliveries by provider and outcome."),
    "rise_reconcile_signals_total": ("counter", "Reconciles the server asked the loop for."),
    "rise_reconciles_total": ("counter", "Reconciles the loop finished, by outcome."),
    "rise_reconcile_duration_seconds": ("histogram", "Time one reconcile took."),
}


class Metrics:
    """Thread-safe; one per server, passed to whatever reports figures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, int]] = defaultdict(lambda: defaultdict(int))
        self._histograms: dict[str, dict[Labels, _Histogram]] = defaultdict(dict)
        self._counters["rise_reconcile_signals_total"][()] = 0  # unlabelled: show it from 0

    def count_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._inc("rise_http_requests_total", method=method, route=route, status=str(status))
        self._observe("rise_http_request_duration_seconds", seconds, _BUCKETS, route=route)

    def count_commit(self, outcome: str) -> None:
        self._inc("rise_state_commits_total", outcome=outcome)

    def count_webhook(self, provider: str, outcome: str) -> None:
        self._inc("rise_webhooks_total", provider=provider, outcome=outcome)

    def count_signal(self) -> None:
        self._inc("rise_reconcile_signals_total")

    def record_reconcile(self, seconds: float, outcome: str) -> None:
        """For the reconcile loop: one finished reconcile (outcome: ok, failed, skipped)."""
        self._inc("rise_reconciles_total", outcome=outcome)
        self._observe("rise_reconcile_duration_seconds", seconds, _RECONCILE_BUCKETS)

    def render(self) -> str:
        with self._lock:
            lines: list[str] = []
            for name, (kind, text) in _HELP.items():
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                if kind == "counter":
                    series = self._counters.get(name, {})
                    lines += [f"{name}{_fmt(k)} {v}" for k, v in sorted(series.items())]
                else:
                    for key, hist in sorted(self._histograms.get(name, {}).items()):
                        lines += hist.lines(name, key)
            return "\n".join(lines) + "\n"

    def _inc(self, name: str, **labels: str) -> None:
        with self._lock:
            self._counters[name][_key(labels)] += 1

    def _observe(self, name: str, value: float, buckets: tuple[float, ...], **labels: str) -> None:
        with self._lock:
            series = self._histograms[name]
            key = _key(labels)
            if key not in series:
                series[key] = _Histogram(buckets)
            series[key].observe(value)


def _key(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _fmt(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return repr(float(value))
