"""The offline sentence codecs: a small character-level transformer decoder conditioned on a
sentence vector, under three encoders.

- `autoencoder`: a character transformer encoder trained with the decoder for reconstruction
  (`ctxlab codec train`), then frozen. Characters, not subwords, because NIAH's values are
  7-digit numbers and hyphenated word pairs that must come back exactly: a MiniLM inversion
  probe recovered templates and keys but digits at chance (11.6%, DESIGN.md), and one token a
  digit is what lets a bottleneck carry a number.
- `minilm`: the frozen all-MiniLM-L6-v2 (the RAG embedder, loaded offline) with a decoder
  trained to invert it.
- `tiny`: the autoencoder at a few thousand parameters, for fast tests (usable untrained).

Both encoder and decoder read a sentence last character first. RULER puts a needle's value at
the end ("... is: 8425845."), so its digits sit at the same positions in the needle and in the
answer sentence whatever their templates, and the decoder writes them first, where it knows
exactly which position it is at: carrying a value across becomes copying.

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

from ctxlab.errors import CtxlabError
from ctxlab.io import write_with
from ctxlab.sentence.codec import SentenceCodec, check_sentences

PAD, BOS, EOS, UNK = 0, 1, 2, 3
CHARS = [chr(c) for c in (*range(32, 127), *range(160, 256))]
INDEX = {c: i + 4 for i, c in enumerate(CHARS)}
VOCAB = 4 + len(CHARS)
WEIGHTS = "codec.safetensors"


def char_ids(text: str, max_chars: int) -> list[int]:
    """The sentence's last `max_chars` characters, last first, then EOS."""
    return [INDEX.get(c, UNK) for c in reversed(text[-max_chars:])] + [EOS]


def padded(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def text_of(ids: Sequence[int]) -> str:
    """The sentence `char_ids` (last character first) spells, up to EOS."""
    chars = []
    for i in ids:
        if i == EOS:
            break
        if i >= 4:
            chars.append(CHARS[i - 4])
    return "".join(reversed(chars))


def embedding(rows: int, width: int) -> nn.Embedding:
    """GPT-2's small init (std 0.02): at torch's N(0, 1) the position embeddings would drown
    the decoder's prefix states, which carry the vector, and it would learn to ignore them."""
    table = nn.Embedding(rows, width)
    nn.init.normal_(table.weight, std=0.02)
    return table


def block(width: int, heads: int, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        width, heads, 4 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class CharEncoder(nn.Module):
    """Characters (last first) -> a unit vector: a small transformer, read out as its states at
    the first `slots` positions (the sentence's last characters, where a value is) and their
    mean, projected. Learned-query pooling trained slower in probes here."""

    def __init__(self, dim: int, hidden: int, layers: int, heads: int, slots: int, max_chars: int):
        super().__init__()
        self.embed = embedding(VOCAB, hidden)
        self.position = embedding(max_chars + 1, hidden)
        self.body = block(hidden, heads, layers)
        self.slots = slots
        self.out = nn.Linear((slots + 1) * hidden, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pad = ids == PAD
        positions = self.position(torch.arange(ids.shape[1], device=ids.device))
        states = self.body(self.embed(ids) + positions, src_key_padding_mask=pad)
        if states.shape[1] < self.slots:
            states = F.pad(states, (0, 0, 0, self.slots - states.shape[1]))
            pad = F.pad(pad, (0, self.slots - pad.shape[1]), value=True)
        real = (~pad).unsqueeze(-1).float()
        mean = (states * real).sum(1) / real.sum(1).clamp(min=1)
        tail = (states[:, : self.slots] * real[:, : self.slots]).flatten(1)
        return F.normalize(self.out(torch.cat([tail, mean], dim=1)), dim=-1)


class CharDecoder(nn.Module):
    """A causal transformer over characters behind `slots` prefix states made from the vector
    (prefix conditioning, as in prefix tuning): every character can attend to the vector."""

    def __init__(self, dim: int, hidden: int, layers: int, heads: int, slots: int, max_chars: int):
        super().__init__()
        self.slots, self.hidden = slots, hidden
        self.prefix = nn.Linear(dim, slots * hidden)
        self.embed = embedding(VOCAB, hidden)
        self.position = embedding(slots + max_chars + 1, hidden)
        self.body = block(hidden, heads, layers)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, VOCAB)

    def forward(self, vectors: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Logits `[B, T, VOCAB]` for each character after `inputs` (BOS first)."""
        prefix = self.prefix(vectors).view(len(vectors), self.slots, self.hidden)
        x = torch.cat([prefix, self.embed(inputs)], dim=1)
        x = x + self.position(torch.arange(x.shape[1], device=x.device))
        causal = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device)
        out = self.body(x, mask=causal, is_causal=True)[:, self.slots :]
        return self.out(self.norm(out))


class CharCodec(SentenceCodec):
    """The character decoder and its vocabulary; subclasses give the encoder."""

    trains_encoder: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 256,
        "hidden": 256,
        "layers": 2,
        "heads": 4,
        "slots": 8,
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
        self.net = nn.ModuleDict({"decoder": CharDecoder(*self.shape()), **self.extra()})
        self.freeze()

    def shape(self) -> tuple[int, ...]:
        """(dim, hidden, layers, heads, slots, max_chars): the encoder's and decoder's sizes."""
        c = self.config
        return tuple(int(c[k]) for k in ("dim", "hidden", "layers", "heads", "slots", "max_chars"))

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
        return self.net["decoder"](vectors.float(), inputs)

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
        ids = torch.full((len(vectors), 1), BOS, dtype=torch.long, device=self.device)
        done = torch.zeros(len(vectors), dtype=torch.bool, device=self.device)
        for _ in range(limit):
            token = decoder(vectors, ids)[:, -1].argmax(-1)
            ids = torch.cat([ids, token[:, None]], dim=1)
            done |= token == EOS
            if done.all():
                break
        return [text_of(row[1:]) for row in ids.tolist()]

    def _beam(self, vector: torch.Tensor, limit: int, width: int) -> str:
        """Beam search, each finished hypothesis scored by its mean log-probability."""
        decoder = self.net["decoder"]
        beams: list[tuple[float, list[int]]] = [(0.0, [BOS])]
        finished: list[tuple[float, list[int]]] = []
        for _ in range(limit):
            ids = torch.tensor([b for _, b in beams], device=self.device)
            logp = decoder(vector.expand(len(beams), -1), ids)[:, -1].log_softmax(-1)
            scores = torch.tensor([s for s, _ in beams], device=self.device)[:, None] + logp
            grown = []
            for score, flat in zip(*(t.tolist() for t in scores.flatten().topk(width))):
                row, tok = divmod(flat, VOCAB)
                if tok == EOS:
                    finished.append((score / len(beams[row][1]), beams[row][1]))
                else:
                    grown.append((score, [*beams[row][1], tok]))
            if not grown or len(finished) >= width:
                break
            beams = grown
        finished += [(s / len(ids), ids) for s, ids in beams]
        return text_of(max(finished, key=lambda f: f[0])[1][1:])

    def save_weights(self, directory: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        write_with(directory / WEIGHTS, lambda tmp: save_file(state, str(tmp)))

    @classmethod
    def from_card(cls, directory: Path, card: dict[str, Any]) -> CharCodec:
        from safetensors.torch import load_file

        settings = card.get("settings", {})
        if "embed" in settings:  # the GRU codec's setting: its weights do not fit these layers
            raise CtxlabError(
                f"{directory} holds a character-GRU codec of an earlier ctxlab: retrain it "
                "(ctxlab codec train)"
            )
        codec = cls(**settings)
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
        return {"encoder": CharEncoder(*self.shape())}

    def train_vectors(self, sentences: Sequence[str]) -> torch.Tensor:
        return self.net["encoder"](self.targets(sentences))

    @torch.no_grad()
    def encode(self, sentences: Sequence[str]) -> torch.Tensor:
        return self.net["encoder"](self.targets(sentences)).float()


class TinyCodec(AutoencoderCodec):
    kind = "tiny"
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 16,
        "hidden": 32,
        "layers": 1,
        "heads": 2,
        "slots": 2,
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
