"""The ``harken`` command: serve, transcribe, models list|pull."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import HarkenError

FORMATS = ("text", "json", "verbose_json", "srt", "vtt")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harken", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP server")
    s.add_argument("--host", help="bind address (HARKEN_HOST, default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (HARKEN_PORT, default 8000)")
    s.add_argument("--model", help="default ASR model (HARKEN_DEFAULT_ASR_MODEL)")
    s.add_argument("--no-preload", action="store_true", help="load models on first request")

    t = sub.add_parser("transcribe", help="transcribe or translate an audio file")
    t.add_argument("file", type=Path)
    t.add_argument("--format", choices=FORMATS, default="text")
    t.add_argument("--translate", action="store_true", help="translate into English")
    t.add_argument("--language", help="spoken language, a code or a name (default: detect)")
    t.add_argument("--model", help="ASR model id or alias")
    t.add_argument("--prompt", help="initial prompt (vocabulary, style)")
    t.add_argument("--output", "-o", type=Path, help="write here instead of stdout")

    m = sub.add_parser("models", help="list or pull models")
    msub = m.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="the catalog, with what is cached")
    pull = msub.add_parser("pull", help="fetch a model into $HARKEN_HOME/models")
    pull.add_argument("id")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # one line per window
    settings = Settings()
    try:
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "transcribe":
            return _transcribe(settings, args)
        return _models(settings, args)
    except HarkenError as exc:
        print(f"harken: {exc.message}", file=sys.stderr)
        return 2


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from .api.app import create_app
    from .models.cli import pull_model
    from .service import Service

    updates = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.model:
        updates["default_asr_model"] = args.model
    settings = settings.model_copy(update=updates)
    service = Service(settings)
    if not args.no_preload:
        # Pull with a progress bar before listening, so the first request does not wait: the
        # default ASR model, and the text LLM the default reasoning cascade reads transcripts with.
        for name in _default_models(service, settings):
            pull_model(service.catalog, service.manager.store, name, sys.stderr)
        service.manager.preload(settings.default_asr_model)
        if settings.preload_chat:
            _warm_chat(service)
    app = create_app(settings, service=service)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


def _warm_chat(service: Any) -> None:
    """Load the default reasoning models too, their system prompt read already. A model that
    cannot load now (an ALM without its extra, say) is left to fail on its first request, in
    that request's dialect: the transcription API serves either way."""
    try:
        service.warm_chat()
    except Exception as exc:  # any load failure: the server must still come up
        logging.getLogger("harken").warning("reasoning model not preloaded: %s: %s",
                                            type(exc).__name__, exc)  # fmt: skip


def _default_models(service: Any, settings: Settings) -> list[str]:
    names = [settings.default_asr_model]
    chat = service.resolve_chat(settings.default_chat_model)
    if chat.engine == "cascade":
        names.append(str(chat.options.get("llm", "qwen2.5-coder-1.5b-instruct")))
    return names


def _transcribe(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .api.formats import encode_transcript
    from .languages import normalize_language
    from .service import Service
    from .types import TranscribeOptions

    service = Service(settings)
    opts = TranscribeOptions(
        task="translate" if args.translate else "transcribe",
        language=normalize_language(args.language) if args.language else None,
        prompt=args.prompt,
        word_timestamps=args.format == "verbose_json",
    )
    run = service.transcribe_stream(args.file, opts, model=args.model)
    total = round(run.info.duration_s, 1)
    bar = tqdm(total=total, unit="s", desc=args.file.name, disable=total < 60, file=sys.stderr)
    transcript = run.collect(lambda p: bar.update(round(p.done_s, 1) - bar.n))
    bar.close()
    body, _ = encode_transcript(
        transcript, args.format, words=args.format == "verbose_json", segments=True
    )
    text = json.dumps(body, ensure_ascii=False, indent=2) if isinstance(body, dict) else body
    if args.output:
        args.output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _models(settings: Settings, args: argparse.Namespace) -> int:
    from .models.catalog import default_catalog
    from .models.cli import list_models, pull_model
    from .models.store import ModelStore

    catalog = default_catalog()
    store = ModelStore.from_settings(settings)
    if args.models_command == "list":
        list_models(catalog, store)
    else:
        pull_model(catalog, store, args.id)
    return 0
