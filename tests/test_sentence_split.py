"""Sentence splitting of NIAH and QA prompts: the needle stays one sentence whatever its value,
instruction/context/question come apart, the same text always splits the same way, and the
answer sentence follows the seed's wording."""

from __future__ import annotations

import pytest

from ctxlab.errors import CtxlabError
from ctxlab.sentence.split import answer_sentence, sentences, split_context, split_example
from ctxlab.tasks.base import Example
from ctxlab.tasks.niah import NiahConfig, NiahTask
from ctxlab.tasks.qa import TEMPLATE


def _niah(variant: str, value_type: str | None = None, n: int = 4) -> list[Example]:
    config = NiahConfig(
        variants=[variant],
        lengths=[512],
        length_unit="chars",
        num_samples=n,
        depths=[0, 33, 66, 100],
        needle_type_v=value_type,
    )
    return NiahTask(config).generate()


@pytest.mark.parametrize("value_type", ["numbers", "words", "uuids"])
def test_needle_is_one_sentence_at_every_depth(value_type):
    for example in _niah("niah_single_2", value_type):
        split = split_example(example)
        assert len(split.needles) == 1
        (needle,) = split.needle_sentences
        assert needle.startswith("One of the special magic") and needle.endswith(".")
        assert example.answers[0] in needle
        assert split.instruction[0].startswith("A special magic")
        assert split.question == [example.input.rsplit("\n", 1)[-1]]
        assert " ".join(split.sentences).split() == example.input.split()  # nothing lost


def test_needle_with_a_dot_inside_its_value_is_not_cut():
    text = "Grass is green. One of the special magic numbers for a-b is: 3.14159. Sky is blue."
    context, needles = split_context(text)
    assert context == [
        "Grass is green.",
        "One of the special magic numbers for a-b is: 3.14159.",
        "Sky is blue.",
    ]
    assert needles == (1,)


def test_splitting_is_deterministic_and_plain_splitting_breaks_at_lines():
    example = _niah("niah_single_1", n=1)[0]
    assert split_example(example) == split_example(example)
    assert sentences("One. Two?\nThree!  Four") == ["One.", "Two?", "Three!", "Four"]


def test_qa_prompt_splits_into_template_documents_and_question():
    context = "Document 1:\nParis is in France. It is big.\n\nDocument 2:\nRome is old."
    text = TEMPLATE.format(context=context, query="where is paris")
    example = Example("qa-1", "qa", text, ["France"])
    split = split_example(example)
    assert split.instruction[-1] == "The following are given documents."
    assert split.context == [
        "Document 1:",
        "Paris is in France.",
        "It is big.",
        "Document 2:",
        "Rome is old.",
    ]
    assert split.question[-1] == "Question: where is paris" and split.needles == ()
    assert answer_sentence(example) == "The answer is: France."


def test_answer_sentence_names_the_key_and_value():
    example = _niah("niah_single_1", n=1)[0]
    key = example.input.split(" for ")[-1].split(" mentioned")[0]
    assert answer_sentence(example) == f"The value for {key} is: {example.answers[0]}."


def test_other_tasks_and_broken_prompts_are_refused():
    with pytest.raises(CtxlabError, match="reads niah or qa examples"):
        split_example(Example("x", "folio", "text", ["True"]))
    with pytest.raises(CtxlabError, match="instruction line"):
        split_example(Example("x", "niah", "one line only", ["1"]))
    with pytest.raises(CtxlabError, match="RULER's QA template"):
        split_example(Example("x", "qa", "not a qa prompt", ["1"]))
