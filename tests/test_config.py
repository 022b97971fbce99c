"""Config validation: unknown keys and wrong types name the dotted key; presets and overrides."""

from pathlib import Path

import pytest

from ctxlab.api import build_config
from ctxlab.config import apply_overrides, validate_config
from ctxlab.errors import CtxlabError
from ctxlab.tasks.niah import VARIANTS

PRESET = Path(__file__).resolve().parents[1] / "src" / "ctxlab" / "presets" / "niah-sweep.yaml"


def test_defaults():
    config = build_config()
    assert config.task.name == "niah"
    assert config.model.name == "smollm2-135m"
    assert config.eval.batch_size == 8
    assert config.run.runs_dir == "runs"


def test_unknown_task_key_is_named():
    with pytest.raises(CtxlabError) as err:
        build_config(sets=["task.lenghts=5"])
    assert "task.lenghts" in str(err.value)
    assert "not a known key" in str(err.value)


@pytest.mark.parametrize("key", ["eval.batchsize", "model.nmae", "run.foo"])
def test_unknown_key_in_other_sections_is_named(key):
    with pytest.raises(CtxlabError, match=key.replace(".", r"\.")):
        build_config(sets=[f"{key}=1"])


def test_unknown_section_is_named():
    with pytest.raises(CtxlabError, match="'bogus' is not a known key"):
        build_config(sets=["bogus.key=1"])


def test_wrong_type_names_key_and_expectation():
    with pytest.raises(CtxlabError) as err:
        build_config(sets=["eval.batch_size=abc"])
    message = str(err.value)
    assert "eval.batch_size" in message
    assert "integer" in message
    assert "abc" in message


def test_wrong_type_in_task_section():
    with pytest.raises(CtxlabError, match=r"task\.num_samples.*integer"):
        build_config(sets=["task.num_samples=many"])


def test_unknown_variant_is_named():
    with pytest.raises(CtxlabError, match="niah_single_9"):
        build_config(variants="niah_single_9")
    with pytest.raises(CtxlabError, match="niah_bogus"):
        build_config(sets=["task.variants=niah_single_1,niah_bogus"])


def test_bad_depth_rejected():
    with pytest.raises(CtxlabError, match=r"task\.depths"):
        build_config(depths=[0, 150])


def test_unknown_task_rejected():
    with pytest.raises(CtxlabError, match="nosuchtask"):
        build_config(task="nosuchtask")


def test_bad_set_syntax():
    with pytest.raises(CtxlabError, match="dotted.key=value"):
        build_config(sets=["task.lengths"])
    with pytest.raises(CtxlabError, match="not a section"):
        build_config(sets=["eval.batch_size=4", "eval.batch_size.x=1"])


def test_comma_strings_become_lists():
    config = build_config(
        sets=[
            "task.lengths=512,1024",
            "task.depths=0,50,100",
            "task.variants=niah_single_1,niah_multikey_2",
        ]
    )
    assert config.task.lengths == [512, 1024]
    assert config.task.depths == [0, 50, 100]
    assert config.task.variants == ["niah_single_1", "niah_multikey_2"]
    config = build_config(lengths="256, 512", variants="niah_single_2")
    assert config.task.lengths == [256, 512]
    assert config.task.variants == ["niah_single_2"]


def test_single_values_and_yaml_lists():
    assert build_config(sets=["task.lengths=2048"]).task.lengths == [2048]
    assert build_config(sets=["task.lengths=[256, 512]"]).task.lengths == [256, 512]
    assert build_config(lengths=777).task.lengths == [777]


def test_all_variants():
    assert build_config(variants="all").task.variants == list(VARIANTS)
    assert len(VARIANTS) == 8


def test_sets_win_over_keyword_options():
    config = build_config(
        sets=["task.num_samples=3", "eval.batch_size=2"], num_samples=5, batch_size=4
    )
    assert config.task.num_samples == 3
    assert config.eval.batch_size == 2


def test_validate_config_rejects_non_mapping():
    with pytest.raises(CtxlabError, match="mapping"):
        validate_config(["task"])  # type: ignore[arg-type]


def test_apply_overrides_parses_yaml_values():
    raw = apply_overrides({}, ["eval.print_outputs=true", "model.dtype=float32", "run.name="])
    assert raw == {
        "eval": {"print_outputs": True},
        "model": {"dtype": "float32"},
        "run": {"name": ""},
    }


def test_preset_by_name():
    config = build_config("niah-sweep")
    assert config.run.name == "niah-sweep"
    assert config.task.name == "niah"
    assert config.task.variants and all(v in VARIANTS for v in config.task.variants)
    assert config.task.lengths and all(isinstance(n, int) for n in config.task.lengths)


def test_preset_by_path():
    assert build_config(str(PRESET)) == build_config("niah-sweep")


def test_overrides_win_over_preset():
    config = build_config(
        "niah-sweep",
        sets=["task.lengths=256", "eval.batch_size=2", "run.name=mine"],
        num_samples=3,
    )
    assert config.task.lengths == [256]
    assert config.eval.batch_size == 2
    assert config.run.name == "mine"
    assert config.task.num_samples == 3
    # keys the overrides do not touch keep the preset's values
    assert config.task.variants == build_config("niah-sweep").task.variants


def test_preset_typo_still_rejected():
    with pytest.raises(CtxlabError, match=r"task\.lenghts"):
        build_config("niah-sweep", sets=["task.lenghts=5"])


def test_unknown_preset_lists_known_ones():
    with pytest.raises(CtxlabError, match="no preset 'no-such-preset'"):
        build_config("no-such-preset")


def test_invalid_yaml_preset(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed\n", encoding="utf-8")
    with pytest.raises(CtxlabError, match="not valid YAML"):
        build_config(str(bad))
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(CtxlabError, match="mapping"):
        build_config(str(bad))


def test_config_round_trips_through_yaml(tmp_path):
    config = build_config(variants="niah_multivalue", lengths="512,1024", batch_size=2)
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml(), encoding="utf-8")
    assert build_config(str(path)) == config
