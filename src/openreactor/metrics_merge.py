"""One Prometheus exposition from several processes: the front's metrics and each worker's.

With ``serve --workers N`` (and on a worker node) the sessions, and so their histograms, live in
the worker processes. ``GET /metrics`` on the front asks each worker for its text, parses it and
re-exposes every family once, each sample labelled with the process it came from (``worker`` =
``front`` or the worker's index), so one scrape sees the whole machine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

WORKER_LABEL = "worker"


class _Merged:
    """A collector that yields already-collected families (what ``generate_latest`` needs)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def merge_expositions(sources: Sequence[tuple[str, str]]) -> bytes:
    """``[(process label, exposition text)]`` -> one exposition with a ``worker`` label on every sample."""
    merged: dict[str, Metric] = {}
    for label, text in sources:
        for family in text_string_to_metric_families(text):
            target = merged.get(family.name)
            if target is None:
                target = merged[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            for s in family.samples:
                labels = {**s.labels, WORKER_LABEL: label}
                target.samples.append(Sample(s.name, labels, s.value, s.timestamp, s.exemplar))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(list(merged.values())))
    return generate_latest(registry)
