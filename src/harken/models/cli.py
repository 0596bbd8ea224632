"""What ``harken models list`` and ``harken models pull`` print; the CLI module wires them up."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from tqdm.auto import tqdm

from .catalog import Catalog, ModelEntry
from .store import ModelStore

_COLUMNS = ("ID", "KIND", "ENGINE", "ALIASES", "SIZE", "CACHED", "LICENCE")


def format_size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "-"
    size = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def list_models(catalog: Catalog, store: ModelStore, out: TextIO | None = None) -> None:
    """A table of every model: what it is, its aliases and size, and whether it is on disk.

    ``out`` defaults to the ``sys.stdout`` of the moment (not of import), so redirection works.
    """
    out = out or sys.stdout
    aliases: dict[str, list[str]] = {}
    for alias, target in sorted(catalog.aliases().items()):
        aliases.setdefault(target, []).append(alias)
    rows = [_row(entry, aliases.get(entry.id, []), store) for entry in catalog.entries()]
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(_COLUMNS, *rows, strict=True)
    ]
    for row in (_COLUMNS, *rows):
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out
        )
    if any(e.default for e in catalog.entries()):
        print("* the default model of its kind", file=out)


def _row(entry: ModelEntry, aliases: list[str], store: ModelStore) -> tuple[str, ...]:
    return (
        entry.id + (" *" if entry.default else ""),
        entry.kind,
        entry.engine,
        ", ".join(aliases) or "-",
        format_size(entry.size_bytes),
        "yes" if store.is_cached(entry) else "no",  # size check only: listing must stay fast
        entry.licence,
    )


class _Bars:
    """One tqdm bar per progress stage ("download ...", "assemble model.bin", "verify ...")."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bar
        if stage != self.stage or bar is None:
            self.close()
            self.stage = stage
            bar = self.bar = tqdm(
                total=total, desc=stage, unit="B", unit_scale=True, unit_divisor=1024
            )
        if bar.total != total:  # a download's size is an estimate until it finishes
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def pull_model(catalog: Catalog, store: ModelStore, name: str, out: TextIO | None = None) -> Path:
    """Fetch a model (by id or alias) with progress bars on stderr; print and return its folder."""
    out = out or sys.stdout
    entry = catalog.resolve(name)
    bars = _Bars()
    try:
        path = store.pull(entry, bars)
    finally:
        bars.close()
    print(path, file=out)
    return path
