"""SentenceLM: one position per sentence. `forward_proj: Linear(codec dim, hidden)` -> a causal
Llama stack trained from scratch (transformers' `LlamaModel` on `inputs_embeds`, sized by the
scratch models' named sizes) -> `reverse_proj: Linear(hidden, codec dim)`, which predicts the
next sentence's vector, as SONAR-LLM does.

Batches are right-padded: under causal attention a real position never sees a padded one, and
each row's prediction is read at its own last real position, so a batch of rows gives what each
row gives alone (the seed read the padded tail when batch > 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ctxlab.errors import CtxlabError
from ctxlab.models.scratch import Dims, llama_config
from ctxlab.sentence.codec import SentenceCodec, check_dim

Loss = Literal["ce", "mse", "both"]
WEIGHTS, CONFIG = "model.safetensors", "sentence_lm.json"


class SentenceLM(nn.Module):
    def __init__(self, codec_dim: int, dims: Dims):
        super().__init__()
        from transformers import LlamaModel

        self.codec_dim, self.dims = codec_dim, dims
        self.forward_proj = nn.Linear(codec_dim, dims.hidden_size)
        # Inputs are sentence vectors: the one-row token table is never read.
        ids = {"bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
        self.body = LlamaModel(llama_config(dims, vocab_size=1, **ids))
        self.reverse_proj = nn.Linear(dims.hidden_size, codec_dim)

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predicted next-sentence vectors `[B, S, codec dim]` for right-padded `[B, S, dim]`."""
        if vectors.shape[-1] != self.codec_dim:
            raise CtxlabError(
                f"the sentence LM reads {self.codec_dim}-d vectors, got {vectors.shape[-1]}-d: "
                "use the codec it was trained with"
            )
        if vectors.shape[1] > self.dims.context_length:
            raise CtxlabError(
                f"{vectors.shape[1]} sentences exceed the model's window of "
                f"{self.dims.context_length}: raise architecture.context_length"
            )
        hidden = self.body(
            inputs_embeds=self.forward_proj(vectors), attention_mask=mask.long()
        ).last_hidden_state
        return self.reverse_proj(hidden)

    def last(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Each row's prediction at its own last real position `[B, codec dim]`."""
        out = self.forward(vectors, mask)
        ends = mask.long().sum(1) - 1
        return out[torch.arange(len(out), device=out.device), ends]

    def save(self, directory: str | Path, codec: SentenceCodec) -> Path:
        from safetensors.torch import save_file

        from ctxlab.io import write_json, write_with

        directory = Path(directory)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        write_with(directory / WEIGHTS, lambda tmp: save_file(state, str(tmp)))
        write_json(
            directory / CONFIG,
            {"codec_dim": self.codec_dim, "dims": vars(self.dims), "codec": codec.describe()},
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path, codec: SentenceCodec) -> SentenceLM:
        from safetensors.torch import load_file

        directory = Path(directory)
        if not (directory / CONFIG).is_file():
            raise CtxlabError(f"{directory} holds no {CONFIG}: pass a best_model/ directory")
        info = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
        check_dim(codec, int(info["codec_dim"]), f"the sentence LM in {directory}")
        model = cls(int(info["codec_dim"]), Dims(**info["dims"]))
        model.load_state_dict(load_file(str(directory / WEIGHTS)))
        return model.eval()


def sentence_loss(
    codec: SentenceCodec,
    predicted: torch.Tensor,
    target_vectors: torch.Tensor,
    target_tokens: torch.Tensor | None,
    loss: Loss,
) -> torch.Tensor:
    """`ce`: target tokens under the frozen codec decoder given the prediction (SONAR-LLM);
    `mse`: the squared distance to the target vector (the Large Concept Model's
    baseline); `both`: the sum."""
    total = predicted.new_zeros(())
    if loss in ("ce", "both"):
        assert target_tokens is not None
        total = total + codec.loss(predicted.float(), target_tokens)
    if loss in ("mse", "both"):
        total = total + F.mse_loss(predicted.float(), target_vectors) * codec.dim
    return total


@torch.no_grad()
def generate(
    model: SentenceLM,
    codec: SentenceCodec,
    prompt: torch.Tensor,
    eos: torch.Tensor,
    max_sentences: int = 4,
    max_tokens: int = 128,
    threshold: float = 0.98,
) -> list[str]:
    """Sentences after `prompt` `[S, dim]`: decode the predicted vector, re-encode the text and
    append it; stop when a prediction is within cosine `threshold` of the EOS sentence's."""
    vectors, out = prompt[None].float(), []
    for _ in range(max_sentences):
        mask = torch.ones(vectors.shape[:2], dtype=torch.long, device=vectors.device)
        predicted = model.last(vectors, mask)
        if F.cosine_similarity(predicted, eos[None].float()).item() >= threshold:
            break
        text = codec.decode(predicted, max_tokens)[0]
        out.append(text)
        again = codec.encode([text]).to(vectors.device) if text else predicted
        vectors = torch.cat([vectors, again[None]], dim=1)
    return out
