"""A text LLM from a GGUF file through llama.cpp (llama-cpp-python), streamed token by token."""

from __future__ import annotations

import codecs
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MissingDependency, PayloadTooLarge
from ..types import Event, Finished, TextDelta, Usage
from .base import CancelCheck, never_cancelled

log = logging.getLogger(__name__)

DEFAULT_N_CTX = 8192  # tokens; the Qwen2.5 GGUFs hold 32k, but the KV cache grows with it
# Prompt tokens are evaluated in batches this large; a bigger batch is faster on CPU up to a
# point and costs scratch memory.
N_BATCH = 512

ChatMessages = Sequence[Mapping[str, str]]  # OpenAI style: [{"role": ..., "content": ...}]


# Guards the brief swap of llama-cpp-python's default model parameters in ``_load``.
_PARAMS_LOCK = threading.Lock()


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            return any(line.startswith("flags") and " amx_int8" in line for line in fh)
    except OSError:
        return False


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependency("llama-cpp-python", "llm") from exc
    return llama_cpp


@dataclass(frozen=True)
class Sampling:
    """How to pick tokens; ``temperature`` 0 is greedy (and then ``seed`` does not matter)."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}.")
        if self.temperature < 0:
            raise ValueError(f"temperature must not be negative, got {self.temperature}.")


class StopScanner:
    """Finds stop strings in streamed text without emitting any part of one.

    Text that could be the start of a stop string is held back until the next ``feed`` shows
    it is not (a stop string may arrive split over several tokens).
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Text that is safe to emit; sets ``stopped`` when a stop string was found."""
        if self.stopped:
            return ""
        buf = self._pending + text
        hits = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.stopped, self._pending = True, ""
            return buf[: min(hits)]
        hold = max((_overlap(buf, s) for s in self.stops), default=0)
        self._pending = buf[len(buf) - hold :] if hold else ""
        return buf[: len(buf) - hold]

    def flush(self) -> str:
        """What is held back, once the stream has ended without a stop string."""
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``stop``."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0


class LlamaEngine:
    """One loaded GGUF model. One llama context serves one generation at a time (a lock)."""

    def __init__(
        self,
        model_path: Path,
        *,
        name: str = "llm",
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        chat_format: str | None = None,
        extra_buffers: bool | None = None,
    ) -> None:
        """``extra_buffers``: llama.cpp's repacked/AMX weight buffers; None turns them off on CPUs
        with AMX, where the prebuilt ``-march=native`` kernels crashed (SIGSEGV in the first
        batched decode) on the Xeon VMs harken was tested on."""
        llama_cpp = _import_llama()
        self.name = name
        self.llama = _load(
            llama_cpp,
            extra_buffers=not _cpu_has_amx() if extra_buffers is None else extra_buffers,
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_batch=N_BATCH,
            n_threads=n_threads or os.cpu_count() or 1,
            # Fused attention: about 20 % faster prompt reading on 2 cores (144 -> 180 tokens/s
            # for the 0.5B model on a 315-token transcript prompt), which is most of the wait
            # for the first token when the transcript is cached.
            flash_attn=True,
            verbose=False,
        )
        self.n_ctx = int(self.llama.n_ctx())
        self._vocab = self.llama._model.vocab
        self._is_eog: Callable[[Any, int], bool] = llama_cpp.llama_vocab_is_eog
        self._format = _formatter(self.llama, chat_format)
        # llama.cpp contexts are not thread-safe; generations queue here instead.
        self._lock = threading.Lock()
        log.info("loaded %s (n_ctx %d)", name, self.n_ctx)

    # --- prompts ----------------------------------------------------------------------------

    def format(self, messages: ChatMessages) -> tuple[str, tuple[str, ...]]:
        """The prompt for ``messages`` under the model's chat template, and its stop strings."""
        response = self._format(messages=[dict(m) for m in messages])
        stop = response.stop or ()
        return response.prompt, ((stop,) if isinstance(stop, str) else tuple(stop))

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Token ids of ``text`` (the chat template's markers as single special tokens)."""
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=special))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text, special=False))

    def prompt_tokens(self, messages: ChatMessages) -> int:
        """How many tokens ``messages`` take as a prompt (what ``Usage`` reports)."""
        return len(self._encode(messages)[0])

    def _encode(self, messages: ChatMessages) -> tuple[list[int], tuple[str, ...]]:
        """The prompt's token ids under the chat template, and the template's stop strings."""
        prompt, stops = self.format(messages)
        return self.tokenize(prompt), stops

    def prime(self, messages: ChatMessages) -> int:
        """Read the prompt for ``messages`` into the KV cache now; returns its token count.

        llama.cpp reuses the longest common prefix of the cached tokens and the next prompt, so
        a prompt that starts with these messages (the same system prompt, say) reads only the
        rest when the first request comes.
        """
        tokens, _ = self._encode(messages)
        self._check_fits(len(tokens))
        with self._lock:
            self.llama.reset()
            self.llama.eval(tokens)
        return len(tokens)

    # --- generation -------------------------------------------------------------------------

    def chat(
        self,
        messages: ChatMessages,
        sampling: Sampling | None = None,
        cancel: CancelCheck = never_cancelled,
    ) -> Iterator[Event]:
        """Stream the answer: ``TextDelta`` per token, then ``Usage``, then ``Finished``.

        Raises ``PayloadTooLarge`` before any event when the prompt does not fit the context.
        """
        s = sampling or Sampling()
        tokens, template_stops = self._encode(messages)
        self._check_fits(len(tokens))
        return self._generate(tokens, s, (*template_stops, *s.stop), cancel)

    def _check_fits(self, n_prompt: int) -> None:
        if n_prompt >= self.n_ctx:
            raise PayloadTooLarge(
                f"the prompt is {n_prompt} tokens but {self.name}'s context holds n_ctx="
                f"{self.n_ctx} tokens (including the answer); send less audio or text.",
                param="messages",
            )

    def _generate(
        self, tokens: list[int], s: Sampling, stops: Sequence[str], cancel: CancelCheck
    ) -> Iterator[Event]:
        # The answer can only use what the context has left after the prompt.
        budget = min(s.max_tokens, self.n_ctx - len(tokens))
        scanner = StopScanner(stops)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        n_out, reason = 0, "length"
        with self._lock:
            cancel()
            if s.seed is not None:
                self.llama.set_seed(s.seed)
            for token in self.llama.generate(
                tokens, temp=s.temperature, top_p=s.top_p, top_k=0 if s.top_p < 1 else 40,
                min_p=0.0, repeat_penalty=1.0, reset=True,
            ):  # fmt: skip
                if self._is_eog(self._vocab, token):
                    reason = "stop"
                    break
                n_out += 1
                # Bytes, not text: one character may span tokens; the decoder holds the rest.
                text = scanner.feed(decoder.decode(self.llama.detokenize([token])))
                if text:
                    yield TextDelta(text)
                if scanner.stopped:
                    reason = "stop"
                    break
                if n_out >= budget:
                    break
                cancel()  # between tokens: a client that left stops the work here
        tail = scanner.feed(decoder.decode(b"", final=True)) + scanner.flush()
        if tail:
            yield TextDelta(tail)
        yield Usage(prompt_tokens=len(tokens), completion_tokens=n_out)
        yield Finished(reason, model=self.name)  # type: ignore[arg-type]

    def close(self) -> None:
        with self._lock:
            self.llama.close()


def _load(llama_cpp: Any, *, extra_buffers: bool, **kwargs: Any) -> Any:
    """``Llama(**kwargs)``, with llama.cpp's ``use_extra_bufts`` model parameter set.

    llama-cpp-python does not expose that parameter, so its default-parameter factory is
    swapped for the length of the constructor (under a lock: loads may run in parallel).
    """
    if extra_buffers:
        return llama_cpp.Llama(**kwargs)
    module = llama_cpp.llama_cpp
    with _PARAMS_LOCK:
        original = module.llama_model_default_params

        def without_extra_buffers() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        module.llama_model_default_params = without_extra_buffers
        try:
            return llama_cpp.Llama(**kwargs)
        finally:
            module.llama_model_default_params = original


def _formatter(llama: Any, chat_format: str | None) -> Any:
    """The chat formatter: a named llama-cpp-python format, else the GGUF's own template."""
    from llama_cpp import llama_chat_format as lcf

    if chat_format:
        fn = getattr(lcf, "format_" + chat_format.replace("-", "_").replace(".", "_"), None)
        if fn is None:
            raise ValueError(f"unknown chat_format {chat_format!r} for llama-cpp-python.")
        return fn
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return lcf.format_chatml  # the most common template among instruct GGUFs
    vocab = llama._model
    eos = vocab.token_get_text(llama.token_eos()) if llama.token_eos() >= 0 else ""
    bos = vocab.token_get_text(llama.token_bos()) if llama.token_bos() >= 0 else ""
    return lcf.Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
