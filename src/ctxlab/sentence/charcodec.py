"""The offline sentence codecs: a character-level GRU decoder conditioned on a sentence vector,
under three encoders.

- `autoencoder`: a bidirectional character GRU encoder trained with the decoder for
  reconstruction (`ctxlab codec train`), then frozen. Characters, not subwords, because NIAH's
  values are 7-digit numbers and hyphenated word pairs that must come back exactly: a MiniLM
  inversion probe recovered templates and keys but digits at chance (11.6%, DESIGN.md), and one
  token a digit is what lets a bottleneck carry a number.
- `minilm`: the frozen all-MiniLM-L6-v2 (the RAG embedder, loaded offline) with a decoder
  trained to invert it.
- `tiny`: the autoencoder at a few thousand parameters, for fast tests (usable untrained).

All three are substitutes for SONAR and say so on their cards. The vocabulary is printable ASCII
and Latin-1 plus pad/bos/eos/unk; other characters decode as nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ctxlab.errors import CtxlabError
from ctxlab.io import write_with
from ctxlab.sentence.codec import SentenceCodec, check_sentences

PAD, BOS, EOS, UNK = 0, 1, 2, 3
CHARS = [chr(c) for c in (*range(32, 127), *range(160, 256))]
INDEX = {c: i + 4 for i, c in enumerate(CHARS)}
VOCAB = 4 + len(CHARS)
WEIGHTS = "codec.safetensors"


def char_ids(text: str, max_chars: int) -> list[int]:
    return [INDEX.get(c, UNK) for c in text[:max_chars]] + [EOS]


def padded(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def text_of(ids: Sequence[int]) -> str:
    chars = []
    for i in ids:
        if i == EOS:
            break
        if i >= 4:
            chars.append(CHARS[i - 4])
    return "".join(chars)


class CharEncoder(nn.Module):
    """Characters -> a unit vector: mean and final states of a bidirectional GRU, projected."""

    def __init__(self, dim: int, embed: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embed, padding_idx=PAD)
        self.rnn = nn.GRU(embed, hidden, layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(4 * hidden, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != PAD
        lengths = mask.sum(1)
        packed = pack_padded_sequence(
            self.embed(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        states, last = self.rnn(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=ids.shape[1])
        mean = (states * mask[..., None]).sum(1) / lengths[:, None]
        pooled = torch.cat([mean, last[-2], last[-1]], dim=-1)
        return F.normalize(self.out(pooled), dim=-1)


class CharDecoder(nn.Module):
    """A GRU over characters whose start state and every input step see the vector."""

    def __init__(self, dim: int, embed: int, hidden: int, layers: int):
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.embed = nn.Embedding(VOCAB, embed)
        self.init = nn.Linear(dim, hidden * layers)
        self.cond = nn.Linear(dim, embed)
        self.rnn = nn.GRU(embed, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, VOCAB)

    def start(self, vectors: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.init(vectors)).view(len(vectors), self.layers, self.hidden)
        return h.transpose(0, 1).contiguous()

    def forward(
        self, vectors: torch.Tensor, inputs: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.embed(inputs) + self.cond(vectors)[:, None]
        out, state = self.rnn(x, self.start(vectors) if state is None else state)
        return self.out(out), state


class CharCodec(SentenceCodec):
    """The character decoder and its vocabulary; subclasses give the encoder."""

    trains_encoder: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 256,
        "embed": 64,
        "hidden": 384,
        "layers": 1,
        "max_chars": 160,
    }

    def __init__(self, **settings: Any):
        unknown = set(settings) - set(self.defaults)
        if unknown:
            raise CtxlabError(
                f"unknown {self.kind} codec setting {sorted(unknown)[0]!r}: use "
                f"{', '.join(self.defaults)}"
            )
        self.config = {**self.defaults, **settings}
        self.dim = int(self.config["dim"])
        self.pad_id = PAD
        self.max_chars = int(self.config["max_chars"])
        c = self.config
        self.net = nn.ModuleDict(
            {"decoder": CharDecoder(self.dim, c["embed"], c["hidden"], c["layers"]), **self.extra()}
        )
        self.freeze()

    def extra(self) -> dict[str, nn.Module]:
        return {}

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> CharCodec:
        self.net.to(device)
        return self

    def freeze(self) -> None:
        self.net.eval().requires_grad_(False)

    def unfreeze(self) -> list[nn.Parameter]:
        """Train mode; the parameters `ctxlab codec train` updates."""
        self.net.train().requires_grad_(True)
        return list(self.net.parameters())

    def settings(self) -> dict[str, Any]:
        return dict(self.config)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(super().fingerprint().encode("utf-8"))
        for name, tensor in sorted(self.net.state_dict().items()):
            digest.update(name.encode("utf-8"))
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def targets(self, sentences: Sequence[str]) -> torch.Tensor:
        rows = [char_ids(s, self.max_chars) for s in check_sentences(sentences)]
        return padded(rows).to(self.device)

    def logits(self, vectors: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        inputs = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)
        return self.net["decoder"](vectors.float(), inputs)[0]

    def train_vectors(self, sentences: Sequence[str]) -> torch.Tensor:
        """Vectors as codec training sees them (with gradients where the encoder trains)."""
        return self.encode(sentences)

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, max_tokens: int = 128, beam: int = 1) -> list[str]:
        if len(vectors) == 0:
            return []
        vectors = vectors.float().to(self.device)
        limit = min(max_tokens, self.max_chars + 1)
        if beam > 1:
            return [self._beam(v, limit, beam) for v in vectors]
        decoder = self.net["decoder"]
        token = torch.full((len(vectors), 1), BOS, dtype=torch.long, device=self.device)
        state, rows = None, []
        done = torch.zeros(len(vectors), dtype=torch.bool, device=self.device)
        for _ in range(limit):
            logits, state = decoder(vectors, token, state)
            token = logits[:, -1].argmax(-1, keepdim=True)
            rows.append(token[:, 0])
            done |= token[:, 0] == EOS
            if done.all():
                break
        ids = torch.stack(rows, dim=1).tolist()
        return [text_of(row) for row in ids]

    def _beam(self, vector: torch.Tensor, limit: int, width: int) -> str:
        decoder = self.net["decoder"]
        beams: list[tuple[float, list[int]]] = [(0.0, [])]
        state = None
        token = torch.tensor([[BOS]], device=self.device)
        finished: list[tuple[float, list[int]]] = []
        for _ in range(limit):
            logits, state = decoder(vector.expand(len(beams), -1), token, state)
            logp = logits[:, -1].log_softmax(-1)
            scores = torch.tensor([s for s, _ in beams], device=self.device)[:, None] + logp
            top = scores.flatten().topk(width)
            grown, keep = [], []
            for score, flat in zip(top.values.tolist(), top.indices.tolist()):
                row, tok = divmod(flat, VOCAB)
                if tok == EOS:
                    finished.append((score / (len(beams[row][1]) + 1), beams[row][1]))
                else:
                    grown.append((score, [*beams[row][1], tok]))
                    keep.append(row)
            if not grown or len(finished) >= width:
                break
            beams, state = grown, state[:, keep]
            token = torch.tensor([[b[1][-1]] for b in beams], device=self.device)
        finished += [(s / (len(ids) + 1), ids) for s, ids in beams]
        return text_of(max(finished, key=lambda f: f[0])[1])

    def save_weights(self, directory: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        write_with(directory / WEIGHTS, lambda tmp: save_file(state, str(tmp)))

    @classmethod
    def from_card(cls, directory: Path, card: dict[str, Any]) -> CharCodec:
        from safetensors.torch import load_file

        codec = cls(**card.get("settings", {}))
        path = directory / WEIGHTS
        if not path.is_file():
            raise CtxlabError(f"{directory} has a codec card but no {WEIGHTS}: retrain the codec")
        codec.net.load_state_dict(load_file(str(path)))
        codec.freeze()
        return codec


class AutoencoderCodec(CharCodec):
    kind = "autoencoder"
    trains_encoder = True

    def extra(self) -> dict[str, nn.Module]:
        c = self.config
        return {"encoder": CharEncoder(self.dim, c["embed"], c["hidden"], c["layers"])}

    def train_vectors(self, sentences: Sequence[str]) -> torch.Tensor:
        return self.net["encoder"](self.targets(sentences))

    @torch.no_grad()
    def encode(self, sentences: Sequence[str]) -> torch.Tensor:
        return self.net["encoder"](self.targets(sentences)).float()


class TinyCodec(AutoencoderCodec):
    kind = "tiny"
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 16,
        "embed": 16,
        "hidden": 32,
        "layers": 1,
        "max_chars": 96,
    }


class MiniLMCodec(CharCodec):
    """Frozen all-MiniLM-L6-v2 vectors (384-d, unit length) and a decoder that inverts them."""

    kind = "minilm"
    defaults: ClassVar[dict[str, Any]] = {**CharCodec.defaults, "dim": 384}

    def __init__(self, **settings: Any):
        if settings.get("dim", 384) != 384:
            raise CtxlabError("the minilm codec's vectors are 384-d: drop the dim setting")
        super().__init__(**settings)
        self._embedder = None

    @property
    def embedder(self):
        if self._embedder is None:
            from ctxlab.rag.embedder import Embedder

            self._embedder = Embedder(None, batch_size=64, device="cpu", dtype="float32")
        return self._embedder

    @torch.no_grad()
    def encode(self, sentences: Sequence[str]) -> torch.Tensor:
        vectors = self.embedder.encode(check_sentences(sentences))
        return torch.from_numpy(vectors).float().to(self.device)
