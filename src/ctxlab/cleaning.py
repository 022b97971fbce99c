"""Text cleaning as in the SONAR-LLM README: RULER-style for data, Flag-style for predictions."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_MANY_SPACES = re.compile(r"[ \t]{2,}")


def clean_data_ruler(text: str) -> str:
    """Clean haystack/corpus text before it enters a prompt: drop control characters (keeping
    newlines), squeeze runs of spaces and tabs, cap blank lines at one, strip line ends."""
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _MANY_SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def clean_pred_ruler(pred: str) -> str:
    """RULER's `postprocess_pred`: control characters become newlines, then strip."""
    return re.sub(r"[\x00-\x1f]", "\n", pred.strip()).strip()


def clean_pred_flag(pred: str) -> str:
    """FlagEmbedding's needle eval: strip surrounding newlines and keep the first line only."""
    pred = pred.strip("\n").strip()
    return pred.split("\n", 1)[0].strip()


DATA_CLEANERS = {"ruler": clean_data_ruler, "none": lambda text: text}
PRED_CLEANERS = {"ruler": clean_pred_ruler, "flag": clean_pred_flag, "none": lambda text: text}
