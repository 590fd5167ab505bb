"""Read the daemon's /metrics the way Prometheus would (text format), summed by chosen labels."""

from __future__ import annotations

import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(url: str, prefix: str = "edged_", timeout_s: float = 5.0) -> Samples:
    """{sample name: {sorted label items: value}} for every sample whose name has `prefix`."""
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        text = resp.read().decode()
    out: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefix):
                out[sample.name][tuple(sorted(sample.labels.items()))] = float(sample.value)
    return out


def total(samples: Samples, name: str, **match: str) -> float:
    """Sum of `name` over the samples whose labels include `match`."""
    got = 0.0
    for labels, value in samples.get(name, {}).items():
        d = dict(labels)
        if all(d.get(k) == v for k, v in match.items()):
            got += value
    return got
