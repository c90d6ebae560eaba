from pathlib import Path

import pytest

from logvec.config import ConfigError, PipelineConfig, load_pipeline, parse_pipeline, substitute_env

from .conftest import PIPELINES


@pytest.mark.parametrize("path", sorted(PIPELINES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_pipelines_validate(path: Path):
    config = load_pipeline(path)
    assert isinstance(config, PipelineConfig)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def test_unknown_key_names_file_and_key_path(tmp_path):
    p = write(tmp_path, "vectorizer:\n  type: tfidf\n  max_featres: 10\n")
    with pytest.raises(ConfigError) as e:
        load_pipeline(p)
    msg = str(e.value)
    assert str(p) in msg
    assert "vectorizer.max_featres: unknown key" in msg


@pytest.mark.parametrize("text,message", [
    ("run:\n  batch_size: -3\n", r"run\.batch_size: .*greater than or equal to 1.*-3"),
    ("vectorizer:\n  type: glove\n", r"vectorizer: unknown type 'glove'.*tfidf"),
    ("parse:\n  type: regex\n  patterns: ['(?P<message>[unclosed']\n",
     r"parse\.patterns: .*patterns\[0\] is not a valid regex"),
    ("parse:\n  type: regex\n  patterns: ['^(?P<level>\\w+) .*$']\n", "no named group 'message'"),
], ids=["bad value", "unknown vectorizer type", "invalid regex", "pattern without message group"])
def test_bad_pipelines_name_the_key_and_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_pipeline(write(tmp_path, text))


def test_yaml_syntax_error(tmp_path):
    p = write(tmp_path, "parse: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline(p)


def test_missing_file():
    with pytest.raises(ConfigError, match="pipeline file not found"):
        load_pipeline("/nonexistent/pipeline.yaml")


def test_env_substitution_default_and_set(monkeypatch):
    monkeypatch.delenv("LOGVEC_T_DIR", raising=False)
    data = {"run": {"data_dir": "${LOGVEC_T_DIR:-/tmp/x}", "batch_size": "${LOGVEC_T_BS:-128}"}}
    assert parse_pipeline(data).run.data_dir == "/tmp/x"
    assert parse_pipeline(data).run.batch_size == 128
    monkeypatch.setenv("LOGVEC_T_DIR", "/srv/logvec")
    assert parse_pipeline(data).run.data_dir == "/srv/logvec"


def test_env_without_default_must_be_set(monkeypatch):
    monkeypatch.delenv("LOGVEC_T_MISSING", raising=False)
    with pytest.raises(ConfigError, match=r"run\.data_dir: environment variable LOGVEC_T_MISSING is not set"):
        parse_pipeline({"run": {"data_dir": "${LOGVEC_T_MISSING}"}})


def test_substitution_inside_lists():
    assert substitute_env({"a": ["x-${V:-1}", 3]}, env={}) == {"a": ["x-1", 3]}


def test_fit_hash_changes_with_vectorizer_params():
    a = parse_pipeline({"vectorizer": {"type": "tfidf", "max_features": 10}})
    b = parse_pipeline({"vectorizer": {"type": "tfidf", "max_features": 20}})
    c = parse_pipeline({"vectorizer": {"type": "tfidf", "max_features": 10}, "run": {"batch_size": 7}})
    assert a.fit_hash() != b.fit_hash()
    assert a.fit_hash() == c.fit_hash()  # run settings do not change what a model is


def test_a_pipeline_extends_another_and_says_only_what_it_changes(tmp_path):
    """Mappings merge key by key; a mapping of another `type` replaces the base's whole (its parameters would
    not apply); the base is found next to the file that extends it."""
    (tmp_path / "base.yaml").write_text("name: base\nvectorizer: {type: tfidf, max_features: 100}\n"
                                        "store: {type: local, ann_threshold: 10}\nrun: {batch_size: 7}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.yaml").write_text("extends: ../base.yaml\nname: child\n"
                                                 "vectorizer: {type: word2vec, vector_size: 20}\n"
                                                 "store: {ann_threshold: 20}\n")
    c = load_pipeline(tmp_path / "sub" / "child.yaml")
    assert c.name == "child" and c.run.batch_size == 7
    assert c.vectorizer.type == "word2vec" and c.vectorizer.vector_size == 20
    assert c.store.type == "local" and c.store.ann_threshold == 20


def test_extends_errors_name_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="goes round in a circle"):
        load_pipeline(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\n")
    with pytest.raises(ConfigError, match="missing.yaml: pipeline file not found"):
        load_pipeline(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("extends: base.yaml\nvectorizer: {max_featres: 3}\n")
    (tmp_path / "base.yaml").write_text("vectorizer: {type: tfidf}\n")
    with pytest.raises(ConfigError, match=r"(?s)d.yaml: invalid pipeline.*vectorizer.max_featres: unknown key"):
        load_pipeline(tmp_path / "d.yaml")


def test_the_shipped_pipelines_differ_from_the_default_only_where_they_say():
    default = load_pipeline(PIPELINES / "default.yaml").model_dump(exclude={"name", "description"})
    for name, changed in {"tfidf": set(), "bow": {"vectorizer"}, "onehot": {"vectorizer"},
                          "word2vec": {"vectorizer"}, "sentence": {"vectorizer"}, "opensearch": {"store"}}.items():
        c = load_pipeline(PIPELINES / f"{name}.yaml").model_dump(exclude={"name", "description"})
        assert {k for k in default if c[k] != default[k]} == changed, name
