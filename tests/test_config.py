import warnings
from pathlib import Path

import pytest

from logvec.config import (
    ConfigDeprecationWarning,
    ConfigError,
    PipelineConfig,
    load_pipeline,
    parse_pipeline,
    substitute_env,
)

from tests.support import PIPELINES


@pytest.mark.parametrize("path", sorted(PIPELINES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_pipelines_validate(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigDeprecationWarning)  # the shipped files use today's key names
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
    ("templates:\n  variable_min_values: -1\n", r"templates\.variable_min_values: .*greater than or equal to 0"),
    ("session:\n  key: 'x'\n  detector: {type: novelty, flag_broken_invariants: maybe}\n",
     r"session\.detector\.flag_broken_invariants: .*valid boolean.*maybe"),
    ("run:\n  text_processes: lots\n", r"(?s)run\.text_processes.*'auto'.*valid integer.*lots"),
    ("run:\n  text_processes: -1\n", r"(?s)run\.text_processes.*greater than or equal to 0"),
    ("detector:\n  type: novelty\n  flag_new_from: critical\n",
     r"detector\.flag_new_from: .*'warn', 'error', 'fatal' or 'none'.*critical"),
], ids=["bad value", "unknown vectorizer type", "invalid regex", "pattern without message group",
        "negative word count", "not a boolean", "worker count not a number", "negative worker count",
        "unknown level for flag_new_from"])
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


KAFKA = "source:\n  type: kafka\n  topics: [logs]\n"


def test_durations_and_sizes_carry_their_unit_in_the_value(tmp_path):
    config = load_pipeline(write(tmp_path, KAFKA + "  session_timeout: 1500ms\n  poll_timeout: 2\n"
                                 "  fetch_min_size: 1MiB\nparse:\n  max_line_size: 2KB\n"
                                 "session:\n  key: 'x'\n  timeout: 1h\nrun:\n  stall_timeout: 90s\n"))
    assert config.source.session_timeout == 1.5 and config.source.poll_timeout == 2.0  # a bare number: seconds
    assert config.source.fetch_min_size == 1 << 20 and config.parse.max_line_size == 2000
    assert config.session.timeout == 3600.0 and config.run.stall_timeout == 90.0


@pytest.mark.parametrize("text,message", [
    (KAFKA + "  session_timeout: 10 parsecs\n", r"source\.session_timeout: .*not a duration: '10 parsecs'"),
    ("parse:\n  max_line_size: 64 lines\n", r"parse\.max_line_size: .*"),
    ("parse:\n  max_line_size: 100B\n", r"parse\.max_line_size: .*greater than or equal to 256"),
], ids=["duration", "size", "size below its bound"])
def test_a_bad_quantity_names_its_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_pipeline(write(tmp_path, text))


def test_old_unit_keys_are_read_with_a_warning_saying_what_to_write(tmp_path):
    old = write(tmp_path, KAFKA + "  session_timeout_ms: 6000\n  max_poll_interval_ms: 20000\n"
                "  fetch_min_bytes: 1024\nparse:\n  max_line_bytes: 1000\n"
                "vectorizer:\n  type: sentence\n  cache_mb: 2\nrun:\n  stall_timeout_s: 30\n")
    with pytest.warns(ConfigDeprecationWarning) as caught:
        config = load_pipeline(old)
    said = [str(w.message) for w in caught]
    assert f"{old}: source.session_timeout_ms is deprecated; write source.session_timeout: 6000ms" in said
    assert f"{old}: vectorizer.cache_mb is deprecated; write vectorizer.cache_memory: 2MiB" in said
    assert len(said) == 6
    assert (config.source.session_timeout, config.source.max_poll_interval, config.source.fetch_min_size) == (
        6.0, 20.0, 1024)
    assert (config.parse.max_line_size, config.vectorizer.cache_memory, config.run.stall_timeout) == (
        1000, 2 << 20, 30.0)


def test_an_old_key_beside_its_new_name_is_an_error(tmp_path):
    p = write(tmp_path, "run:\n  stall_timeout_s: 30\n  stall_timeout: 1m\n")
    with pytest.raises(ConfigError, match="run.stall_timeout_s is the old name of run.stall_timeout"):
        load_pipeline(p)


def test_a_pipeline_extending_a_new_style_base_may_use_an_old_key(tmp_path):
    """The base's new key and the extension's old one are one setting: the extension's value wins."""
    (tmp_path / "base.yaml").write_text("parse:\n  max_line_size: 64KiB\n")
    p = write(tmp_path, "extends: base.yaml\nparse:\n  max_line_bytes: 1000\n")
    with pytest.warns(ConfigDeprecationWarning):
        assert load_pipeline(p).parse.max_line_size == 1000


def test_an_empty_environment_value_leaves_tls_and_sasl_settings_unset(monkeypatch):
    """pipelines/stack.yaml serves clusters with and without SASL and private CAs: `${VAR:-}` empty is unset."""
    for var in ("KAFKA_SASL_MECHANISM", "KAFKA_SSL_CAFILE", "OPENSEARCH_CA_FILE"):
        monkeypatch.delenv(var, raising=False)
    plain = load_pipeline(PIPELINES / "stack.yaml")
    assert plain.source.sasl_mechanism is None and plain.source.ssl_cafile is None and plain.store.tls.ca_file is None
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", "/etc/logvec/kafka/ca.pem")
    monkeypatch.setenv("OPENSEARCH_CA_FILE", "/etc/logvec/opensearch/ca.pem")
    secured = load_pipeline(PIPELINES / "stack.yaml")
    assert secured.source.sasl_mechanism == "SCRAM-SHA-512"
    assert secured.source.ssl_cafile == "/etc/logvec/kafka/ca.pem"
    assert secured.store.tls.ca_file == "/etc/logvec/opensearch/ca.pem"
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-1")
    with pytest.raises(ConfigError, match="source.sasl_mechanism"):
        load_pipeline(PIPELINES / "stack.yaml")
