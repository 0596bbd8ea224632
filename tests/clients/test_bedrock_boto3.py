"""boto3 ``bedrock-runtime`` against a live harken, with the Voxtral notebook's own helpers.

The helper functions below follow aws-samples/mistral-on-aws,
"Mistral Voxtral/Voxtral_Bedrock.ipynb" (MIT-0): same signatures, same request bodies, same
response handling; only the client is constructed with ``endpoint_url``. soundfile is not a
harken dependency, so ``sf`` is a small stand-in with the two calls the notebook makes.
These run the real chat engine (the CPU cascade on the default install).
"""

from __future__ import annotations

import base64
import io
import json
import wave
from pathlib import Path
from typing import Optional, Tuple

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import LiveServer
from tests.wer import normalize, wer

pytestmark = pytest.mark.slow

MODELS = {"mini": "mistral.voxtral-mini-3b-2507", "small": "mistral.voxtral-small-24b-2507"}
bedrock = None  # the notebook's module-level client; set by the fixture below


class sf:  # noqa: N801 - stands in for the soundfile module the notebook imports as ``sf``
    @staticmethod
    def read(path: str) -> tuple[np.ndarray, int]:
        from harken.audio.decode import decode_audio

        audio = decode_audio(str(path))
        return audio.samples.astype(np.float64), audio.sample_rate_hz


@pytest.fixture(scope="module", autouse=True)
def _client(server: LiveServer) -> None:
    global bedrock
    bedrock = boto3.client("bedrock-runtime", endpoint_url=server.base_url,
                           region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x",
                           config=Config(read_timeout=900, retries={"max_attempts": 1}))


# --- the notebook's helpers (section 2, 4, 6, 8, 9) --------------------------------------------


def load_and_convert_audio(file_path: str, target_sample_rate: int = 16000,
                           max_duration: Optional[float] = None) -> Tuple[bytes, dict]:
    data, sample_rate = sf.read(file_path)
    original_duration = len(data) / sample_rate
    if max_duration and original_duration > max_duration:
        data = data[: int(max_duration * sample_rate)]
    if len(data.shape) > 1:
        data = data.mean(axis=1)
    if sample_rate != target_sample_rate:
        new_length = int(len(data) * target_sample_rate / sample_rate)
        data = data[np.linspace(0, len(data) - 1, new_length).astype(int)]
    if data.dtype in ["float32", "float64"]:
        data = (data * 32767).astype(np.int16)
    elif data.dtype != np.int16:
        data = data.astype(np.int16)
    wav_buffer = io.BytesIO()
    with wave.open(wav_buffer, "wb") as wav_file:
        wav_file.setnchannels(1)
        wav_file.setsampwidth(2)
        wav_file.setframerate(target_sample_rate)
        wav_file.writeframes(data.tobytes())
    wav_bytes = wav_buffer.getvalue()
    info = {"original_sample_rate": sample_rate, "original_duration": original_duration,
            "converted_sample_rate": target_sample_rate,
            "converted_duration": len(data) / target_sample_rate, "size_bytes": len(wav_bytes)}
    return wav_bytes, info


def audio_to_base64(audio_bytes: bytes) -> str:
    return base64.b64encode(audio_bytes).decode("utf-8")


def call_voxtral(audio_base64: str, text_prompt: str, model: str = "small",
                 max_tokens: int = 500, temperature: float = 0.7) -> dict:
    payload = {
        "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": audio_base64, "format": "wav"}},
            {"type": "text", "text": text_prompt}]}],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    response = bedrock.invoke_model(modelId=MODELS[model], body=json.dumps(payload),
                                    contentType="application/json")
    return json.loads(response["body"].read())


def call_voxtral_text_only(text_prompt: str, model: str = "small", max_tokens: int = 500) -> dict:
    payload = {"messages": [{"role": "user", "content": text_prompt}], "max_tokens": max_tokens}
    response = bedrock.invoke_model(modelId=MODELS[model], body=json.dumps(payload),
                                    contentType="application/json")
    return json.loads(response["body"].read())


def transcribe_long_audio(file_path: str, chunk_duration: float = 30.0, model: str = "small",
                          overlap: float = 2.0) -> str:
    data, sample_rate = sf.read(file_path)
    total_duration = len(data) / sample_rate
    effective_chunk = chunk_duration - overlap
    num_chunks = int(np.ceil(total_duration / effective_chunk))
    transcriptions = []
    for i in range(num_chunks):
        start_time = i * effective_chunk
        end_time = min(start_time + chunk_duration, total_duration)
        chunk_data = data[int(start_time * sample_rate): int(end_time * sample_rate)]
        target_sr = 16000
        if sample_rate != target_sr:
            new_length = int(len(chunk_data) * target_sr / sample_rate)
            chunk_data = chunk_data[np.linspace(0, len(chunk_data) - 1, new_length).astype(int)]
        if chunk_data.dtype in ["float32", "float64"]:
            chunk_data = (chunk_data * 32767).astype(np.int16)
        wav_buffer = io.BytesIO()
        with wave.open(wav_buffer, "wb") as wav_file:
            wav_file.setnchannels(1)
            wav_file.setsampwidth(2)
            wav_file.setframerate(target_sr)
            wav_file.writeframes(chunk_data.tobytes())
        chunk_b64 = base64.b64encode(wav_buffer.getvalue()).decode("utf-8")
        result = call_voxtral(audio_base64=chunk_b64,
                              text_prompt="Transcribe this audio exactly. Do not add any commentary.",
                              model=model, max_tokens=500)
        transcriptions.append(result["choices"][0]["message"]["content"].strip())
    return " ".join(transcriptions)


def stream_voxtral(audio_base64: str, text_prompt: str, model: str = "small",
                   max_tokens: int = 500):  # noqa: ANN201 - as the notebook writes it
    payload = {
        "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": audio_base64, "format": "wav"}},
            {"type": "text", "text": text_prompt}]}],
        "max_tokens": max_tokens,
        "stream": True,
    }
    response = bedrock.invoke_model_with_response_stream(
        modelId=MODELS[model], body=json.dumps(payload), contentType="application/json")
    for event in response["body"]:
        chunk = event.get("chunk")
        if chunk:
            data = json.loads(chunk["bytes"].decode())
            if "choices" in data and data["choices"]:
                content = data["choices"][0].get("delta", {}).get("content", "")
                if content:
                    yield content


class VoxtralConversation:
    def __init__(self, model: str = "small"):
        self.model = model
        self.messages = []

    def send_with_audio(self, audio_base64: str, text: str, max_tokens: int = 500) -> str:
        self.messages.append({"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": audio_base64, "format": "wav"}},
            {"type": "text", "text": text}]})
        return self._get_response(max_tokens)

    def send_text(self, text: str, max_tokens: int = 500) -> str:
        self.messages.append({"role": "user", "content": text})
        return self._get_response(max_tokens)

    def _get_response(self, max_tokens: int) -> str:
        payload = {"messages": self.messages, "max_tokens": max_tokens}
        response = bedrock.invoke_model(modelId=MODELS[self.model], body=json.dumps(payload),
                                        contentType="application/json")
        result = json.loads(response["body"].read())
        assistant_content = result["choices"][0]["message"]["content"]
        self.messages.append({"role": "assistant", "content": assistant_content})
        return assistant_content

    def clear(self):  # noqa: ANN201
        self.messages = []


def call_voxtral_multi_audio(audio_list: list, text_prompt: str, model: str = "small",
                             max_tokens: int = 500) -> dict:
    content = [{"type": "input_audio", "input_audio": {"data": a, "format": "wav"}}
               for a in audio_list]
    content.append({"type": "text", "text": text_prompt})
    payload = {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens}
    response = bedrock.invoke_model(modelId=MODELS[model], body=json.dumps(payload),
                                    contentType="application/json")
    return json.loads(response["body"].read())


# --- the tests ---------------------------------------------------------------------------------


def _b64(audio_dir: Path, name: str, max_duration: float | None = None) -> str:
    return audio_to_base64(load_and_convert_audio(str(audio_dir / name),
                                                  max_duration=max_duration)[0])


def test_transcribe_jfk(audio_dir: Path, references: dict) -> None:
    result = call_voxtral(_b64(audio_dir, "jfk.wav"), "Transcribe this audio exactly as spoken.",
                          model="small", max_tokens=500)
    assert wer(references["jfk.wav"]["text"], result["choices"][0]["message"]["content"]) <= 0.10
    assert result["usage"]["completion_tokens"] > 0


def test_sport_question(audio_dir: Path) -> None:
    result = call_voxtral(_b64(audio_dir, "winning_call.mp3"), "What sport is being described?",
                          model="mini", max_tokens=200)
    assert "baseball" in result["choices"][0]["message"]["content"].lower()


def test_text_only() -> None:
    result = call_voxtral_text_only("What is the capital of France? Answer in one word.")
    assert "paris" in result["choices"][0]["message"]["content"].lower()


def test_stream_transcription(audio_dir: Path, references: dict) -> None:
    text = "".join(stream_voxtral(_b64(audio_dir, "jfk.wav"), "Transcribe", model="small"))
    assert wer(references["jfk.wav"]["text"], text) <= 0.10


def test_multi_turn_follow_up_answers_from_the_audio(audio_dir: Path) -> None:
    conv = VoxtralConversation(model="small")
    first = conv.send_with_audio(_b64(audio_dir, "bcn_weather.mp3"),
                                 "Who is speaking and what are they talking about?")
    assert first.strip()
    second = conv.send_text("Which city was mentioned in the audio?")
    assert "barcelona" in second.lower()
    assert len(conv.messages) == 4


def test_multi_audio_comparison_mentions_both(audio_dir: Path) -> None:
    result = call_voxtral_multi_audio(
        [_b64(audio_dir, "jfk.wav"), _b64(audio_dir, "bcn_weather.mp3")],
        "Compare these two audio samples. Describe the differences in content, speaker style, "
        "and audio quality.", model="small", max_tokens=400)
    text = normalize(result["choices"][0]["message"]["content"])
    assert any(w in text for w in ("country", "kennedy", "americans", "speech"))
    assert any(w in text for w in ("barcelona", "weather", "temperature", "degrees"))


def test_transcribe_long_audio_by_chunks(audio_dir: Path, references: dict) -> None:
    text = transcribe_long_audio(str(audio_dir / "jfk.wav"), chunk_duration=6.0, overlap=1.0)
    # Overlapping chunks repeat a word or two at each boundary, as the notebook warns.
    assert wer(references["jfk.wav"]["text"], text) <= 0.35


def test_converse_with_audio_blocks(audio_dir: Path) -> None:
    wav_bytes, _ = load_and_convert_audio(str(audio_dir / "bcn_weather.mp3"))
    messages = [{"role": "user", "content": [
        {"audio": {"format": "wav", "source": {"bytes": wav_bytes}}},
        {"text": "Which city is mentioned?"}]}]
    done = bedrock.converse(modelId=MODELS["mini"], messages=messages,
                            inferenceConfig={"maxTokens": 200, "temperature": 0.0})
    assert "barcelona" in done["output"]["message"]["content"][0]["text"].lower()
    assert done["stopReason"] in ("end_turn", "max_tokens")
    events = list(bedrock.converse_stream(modelId=MODELS["mini"], messages=messages)["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events
                   if "contentBlockDelta" in e)
    assert "barcelona" in text.lower()
    assert "metadata" in events[-1]


@pytest.mark.parametrize(
    ("model_id", "body"),
    [
        ("mistral.voxtral-mini-3b-2507", {"max_tokens": 10}),
        ("mistral.voxtral-mini-3b-2507", {"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "!!notbase64!!", "format": "wav"}}]}]}),
        ("mistral.voxtral-mini-3b-2507", {"messages": [{"role": "user", "content": [
            {"type": "audio_url", "audio_url": {"url": "data:text/plain;base64,aGk="}}]}]}),
        ("mistral.voxtral-mini-3b-2507", {"messages": [{"role": "user", "content": 42}]}),
        ("mistral.no-such-model-v1", {"messages": [{"role": "user", "content": "hi"}]}),
    ],
)
def test_bad_requests_raise_validation_exception(model_id: str, body: dict) -> None:
    with pytest.raises(ClientError) as info:
        bedrock.invoke_model(modelId=model_id, body=json.dumps(body))
    assert info.value.response["Error"]["Code"] == "ValidationException"
