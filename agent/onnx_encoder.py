"""MiniLM exported to ONNX (optionally int8-quantised) and run with onnxruntime."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.artifacts import artifact, minilm_path
from agent.embedder import tail_cut

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: What the build does; part of the artifact's hash and, through ``VERSION``, of the id.
RECIPE: dict[str, Any] = {
    "opset": 17,
    "quantize": "dynamic-int8-per-channel-matmul",
    "max_tokens": 256,
}
VERSION = "v1"


def export_onnx(out: Path, *, quantized: bool) -> None:
    """Export the bundled MiniLM's transformer to ``out/model.onnx`` (int8 if ``quantized``)."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(minilm_path())).eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {k: {0: "batch", 1: "tokens"} for k in (*_INPUTS, "hidden")}
    fp32 = out / ("model-fp32.onnx" if quantized else "model.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape-dependent branches
        torch.onnx.export(
            Hidden().eval(),
            (ids, ids, torch.zeros_like(ids)),
            str(fp32),
            input_names=list(_INPUTS),
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=int(RECIPE["opset"]),
            dynamo=False,
        )
    if quantized:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel int8 weights of the MatMuls keep cosine ~0.99 to the float model;
        # per-tensor weights drop it to ~0.93.
        quantize_dynamic(
            str(fp32),
            str(out / "model.onnx"),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
        fp32.unlink()


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime: mean pooling and L2 norm, as sentence-transformers.

    The model is exported (and with ``quantized``, int8-quantised) from the bundled weights on
    first use into the per-user cache (:func:`agent.artifacts.artifact`) and loads lazily. Long
    prompts are cut to their last ``tail_chars`` characters as in
    :class:`~agent.embedder.MiniLMEmbedder`; ``threads`` sets onnxruntime's intra-op threads;
    a call embeds at most ``batch_size`` prompts and ``token_budget`` padded tokens at once.
    Dynamic int8 quantisation scales activations per call, so a prompt's row varies slightly
    with the batch it is embedded in (cosine ~0.99 between batches; ~0.99 to the torch model).
    """

    _lock = threading.Lock()

    def __init__(
        self,
        *,
        quantized: bool = True,
        tail_chars: int | None = 1000,
        threads: int | None = None,
        batch_size: int = 64,
        token_budget: int = 512,
    ) -> None:
        self.quantized = quantized
        self.tail_chars = tail_chars
        self.threads = threads
        self.batch_size = batch_size
        self.token_budget = token_budget

    @property
    def id(self) -> str:
        """``minilm-l6-v2-onnx[-int8]-v1``, plus the tail cut when there is one."""
        kind = "onnx-int8" if self.quantized else "onnx"
        tail = f"-tail{self.tail_chars}" if self.tail_chars else ""
        return f"minilm-l6-v2-{kind}-{VERSION}{tail}"

    @property
    def dim(self) -> int:
        """384."""
        return 384

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into unit-norm float32 rows of length 384."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        session, tokenizer = self._loaded()
        enc = tokenizer.encode_batch(tail_cut(texts, self.tail_chars))
        out = np.empty((len(enc), self.dim), dtype=np.float32)
        for idx in self._chunks([len(e.ids) for e in enc]):
            width = len(enc[idx[-1]].ids)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : len(enc[i].ids)] = enc[i].ids
                mask[row, : len(enc[i].ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out

    def _chunks(self, lengths: list[int]) -> list[list[int]]:
        """Row indices in model calls: shortest first, each call at most ``batch_size`` rows
        and ``token_budget`` padded tokens. On a small CPU, int8 MiniLM embeds ~1.6x more
        prompts a second with a budget of 512 than in calls of 64 padded to the longest.

        >>> OnnxMiniLMEmbedder(batch_size=3, token_budget=40)._chunks([5, 30, 4, 6, 20, 5])
        [[2, 0, 5], [3, 4], [1]]
        """
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        chunks: list[list[int]] = []
        for i in order:
            last = chunks[-1] if chunks else None
            if (
                last
                and len(last) < self.batch_size
                and (len(last) + 1) * lengths[i] <= (self.token_budget)
            ):
                last.append(i)
            else:
                chunks.append([i])
        return chunks

    def _loaded(self) -> tuple[Any, Any]:
        state = self.__dict__.get("_state")
        if state is None:
            with self._lock:
                state = self.__dict__.get("_state")
                if state is None:
                    state = self._state = self._load()
        return state

    def _load(self) -> tuple[Any, Any]:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError(
                f"encoder {self.id} needs onnxruntime: pip install 'routing-agent[onnx]'"
            ) from exc
        from tokenizers import Tokenizer

        recipe = {**RECIPE, "quantized": self.quantized}
        name = "minilm-onnx-int8" if self.quantized else "minilm-onnx"
        folder = artifact(name, recipe, lambda out: export_onnx(out, quantized=self.quantized))
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        session = ort.InferenceSession(
            str(folder / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
        tokenizer.enable_truncation(int(RECIPE["max_tokens"]))
        tokenizer.no_padding()
        return session, tokenizer

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_state"}
