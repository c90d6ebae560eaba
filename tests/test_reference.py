"""docs/reference/pipeline.md is what `logvec reference` generates from the schema, and the schema documents every
key: a key added without a description, or a reference not regenerated, fails here."""

from pathlib import Path

from logvec.config import PipelineConfig
from logvec.reference import _models, pipeline_reference

from tests.support import logvec_cli

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "pipeline.md"


def test_the_reference_in_the_repository_is_the_generated_one():
    assert REFERENCE.read_text(encoding="utf-8") == pipeline_reference(), \
        "docs/reference/pipeline.md is stale: run `logvec reference > docs/reference/pipeline.md`"


def test_every_key_of_the_schema_has_a_description():
    undocumented, todo, seen = [], [("", PipelineConfig)], set()
    while todo:
        path, model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if not field.description and name != "type":
                undocumented.append(f"{model.__name__}.{name}")
            todo += [(f"{path}.{name}", m) for m in _models(field.annotation)]
    assert len(seen) > 25 and undocumented == []


def test_the_cli_prints_it():
    out = logvec_cli("reference").stdout.decode("utf-8")
    assert out == pipeline_reference()
    for key in ("`rate`", "`false_alarm_rate`", "`severity`", "`max_poll_records`", "`ann_threshold`"):
        assert key in out
