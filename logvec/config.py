"""Pipeline YAML: the schema, `${VAR:-default}` substitution, and errors that name the file and the key.

One file describes the whole flow (source → parse → masking → templates → vectorizer → detector → store), so
an analyst can copy it, tune it and compare it; the same file runs on a laptop or against Kafka/OpenSearch.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ByteSize, ConfigDict, Field, ValidationError, field_validator


class ConfigError(ValueError):
    """A pipeline file that cannot be used; the message names the file, the key path and the problem."""


class ConfigDeprecationWarning(FutureWarning):
    """A pipeline key spelled the old way: still read, to be written the new way (shown to users by default)."""


# ---------------------------------------------------------------- units
# The naming rule: a duration or a size carries its unit in the value, never in the key. `timeout: 30s`,
# `max_line_size: 64KiB`; a bare number is seconds or bytes. In Python the value is float seconds or int bytes.
class Unit:
    """Marks a field's kind of quantity for the generated reference."""

    def __init__(self, name: str, spelling: str) -> None:
        self.name, self.spelling = name, spelling


def parse_duration(text: str | float) -> float:
    """'500ms', '90s', '5m', '1h', '1d' or a bare number of seconds -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 30s, 5m, 1h)")
    mult = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    value = float(m.group(1)) * mult
    if value <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Unit("duration", "`500ms`, `30s`, `5m`, `1h`")]
Size = Annotated[ByteSize, Unit("size", "`512`, `64KiB`, `256MiB`")]


def _empty_is_unset(value: Any) -> Any:
    """`${VAR:-}` left empty means the key is not set (so one pipeline file serves with and without TLS/SASL)."""
    return None if value == "" else value


# an optional setting `${VAR:-}` may leave empty: empty is unset
OptionalText = Annotated[str | None, BeforeValidator(_empty_is_unset)]


class _Strict(BaseModel):
    # a string right below a field is its description: the pipeline reference is generated from them
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


# ---------------------------------------------------------------- sources
class FileSourceConfig(_Strict):
    type: Literal["file"] = "file"
    paths: list[str] = Field(default_factory=list, description="files or globs; .gz is read transparently")
    follow: bool = False
    """keep reading as the files grow, like tail -F"""
    poll_interval: Duration = Field("500ms", validate_default=True)
    """follow: how often to look for new lines"""


class StdinSourceConfig(_Strict):
    type: Literal["stdin"]


class KafkaSourceConfig(_Strict):
    """Consume a Kafka topic (kafka-python) in a consumer group; offsets are committed only after the store
    has acknowledged the batch. Credentials come from the environment, never from the file."""

    type: Literal["kafka"]
    bootstrap_servers: list[str] | str = "127.0.0.1:9092"
    """host:port of one or more brokers"""
    topics: list[str] = Field(default_factory=list)
    """topics to consume"""
    pattern: str | None = Field(None, description="regex of topic names, instead of topics")
    group_id: str = "logvec"
    """consumer group: the workers of one group share the partitions"""
    group_instance_id: str | None = Field(
        None, description="static membership: a restarted worker with the same id takes its place back "
                          "without a rebalance (e.g. the pod name of a StatefulSet); empty = dynamic")
    client_id: str = "logvec"
    """client id the brokers log"""
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    """where a group with no committed offset starts"""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"""
    sasl_mechanism: Annotated[Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None,
                              BeforeValidator(_empty_is_unset)] = None
    """SASL: the mechanism (credentials from sasl_username_env / sasl_password_env)"""
    sasl_username_env: str = Field("KAFKA_USERNAME", description="environment variable holding the user")
    sasl_password_env: str = Field("KAFKA_PASSWORD", description="environment variable holding the password")
    ssl_cafile: OptionalText = None
    """CA bundle that signed the brokers' certificates"""
    ssl_certfile: OptionalText = None
    """client certificate (mutual TLS)"""
    ssl_keyfile: OptionalText = None
    """client key (mutual TLS)"""
    ssl_check_hostname: bool = True
    """check the broker's certificate names its host"""
    max_poll_records: int = Field(
        10000, ge=1, description="one poll is one batch: larger ones spread the offset commit and per-batch work")
    poll_timeout: Duration = Field(
        "200ms", validate_default=True, description="longest wait in one poll; an empty poll only loops back (a "
        "stop is seen at once), and a member that joined during a rebalance starts reading within this long")
    idle_poll_interval: Duration = Field(
        "50ms", validate_default=True, description="once a poll came back empty in a stable group, look again "
        "this often without waiting inside the poll: a broker that answers an empty fetch at once instead of "
        "holding it (noida-db) would make a waiting poll spin a core for as long as the topic is quiet")
    fetch_min_size: Size = Field("256KiB", validate_default=True, ge=1,
                                 description="let the broker gather this much per fetch...")
    fetch_max_wait: Duration = Field("100ms", validate_default=True, description="...or wait at most this long")
    session_timeout: Duration = Field("10s", validate_default=True, ge=1)
    """how long without a heartbeat before the group drops a worker"""
    max_poll_interval: Duration = Field("5m", validate_default=True, ge=1)
    """how long a worker may spend on a batch before the group drops it"""
    dead_letter_topic: str | None = Field(
        None, description="dead letters go here (value = original bytes, reason in headers); else to the file"
    )

    def model_post_init(self, __context: Any) -> None:
        if not self.topics and not self.pattern:
            raise ValueError("give source.topics or source.pattern")
        if self.group_instance_id == "":
            self.group_instance_id = None

    @property
    def servers(self) -> list[str]:
        return [self.bootstrap_servers] if isinstance(self.bootstrap_servers, str) else self.bootstrap_servers


SourceConfig = Annotated[Union[FileSourceConfig, StdinSourceConfig, KafkaSourceConfig], Field(discriminator="type")]


class AlertsConfig(_Strict):
    """Publish one JSON message per anomaly (record, score, reason, nearest neighbours) to a Kafka topic."""

    type: Literal["kafka"] = "kafka"
    """where alerts go (Kafka only)"""
    topic: str = "logvec-alerts"
    """topic the alerts are published to"""
    bootstrap_servers: list[str] | str | None = Field(None, description="default: the Kafka source's")


# ---------------------------------------------------------------- parse
class FieldMap(_Strict):
    """Where each record field comes from (JSON key, dotted for nesting)."""

    message: str = "message"
    """key of the message"""
    timestamp: str | None = "timestamp"
    """key of the time (ISO 8601, epoch seconds or milliseconds, or a timestamp_formats shape)"""
    service: str | None = "service"
    """key of the service name"""
    level: str | None = "level"
    """key of the level"""


class ParseConfig(_Strict):
    type: Literal["plain", "json", "regex"] = "plain"
    """plain: the whole line is the message; json: one object a line; regex: patterns"""
    patterns: list[str] = Field(
        default_factory=list,
        description="regex only: tried in order; named groups timestamp, service, level, message",
    )
    fields: FieldMap = Field(default_factory=FieldMap, description="json only")
    timestamp_formats: list[str] = Field(
        default_factory=list, description="strptime formats tried before the built-in ones"
    )
    on_mismatch: Literal["plain", "dead_letter"] = Field(
        "plain", description="regex: keep a line no pattern matches as a plain message, or dead-letter it"
    )
    missing_message: Literal["dead_letter", "raw"] = Field(
        "dead_letter", description="json: a line without the message field is dead-lettered, or kept as raw text"
    )
    max_line_size: Size = Field("64KiB", validate_default=True, ge=256,
                                description="longer lines are truncated and flagged")
    service: str | None = Field(None, description="service name for records that carry none")

    @field_validator("patterns")
    @classmethod
    def _compile(cls, patterns: list[str]) -> list[str]:
        for i, p in enumerate(patterns):
            try:
                rx = re.compile(p)
            except re.error as e:
                raise ValueError(f"patterns[{i}] is not a valid regex: {e}") from None
            if "message" not in rx.groupindex:
                raise ValueError(f"patterns[{i}] has no named group 'message'")
        return patterns


# ---------------------------------------------------------------- redaction
REDACTORS = ("private_key", "jwt", "authorization", "url_password", "aws_access_key", "aws_secret_key",
             "password", "stripe_key", "github_token", "gitlab_token", "slack_token", "google_api_key",
             "openai_key", "npm_token", "card_number", "key_material", "email", "ip")
DEFAULT_REDACTORS = tuple(r for r in REDACTORS if r not in ("email", "ip"))


class _NamedPattern(_Strict):
    """A name and a regex that compiles and cannot match the empty string (which would match everywhere)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compile(cls, p: str) -> str:
        try:
            rx = re.compile(p)
        except re.error as e:
            raise ValueError(f"not a valid regex: {e}") from None
        if rx.match(""):
            raise ValueError("the pattern matches the empty string")
        return p


class CustomRedactor(_NamedPattern):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    """marker name: the secret becomes <REDACTED:NAME>"""
    pattern: str
    """regex; with a group named `secret` only that group is replaced, else the whole match"""


class RedactConfig(_Strict):
    """Secrets and personal data are replaced in the raw line before anything else reads it, so no template,
    vector, reason, model, dead letter, alert or stored document holds them."""

    enabled: bool = True
    """off: lines are kept as they come (only where no log can carry a secret)"""
    detectors: list[Literal[REDACTORS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(DEFAULT_REDACTORS))
    """built-in detectors to run (email and ip are off unless listed)"""
    custom: list[CustomRedactor] = Field(default_factory=list, description="your own patterns, run after these")


# ---------------------------------------------------------------- masking
BUILTIN_MASKS = ("url", "uuid", "ip", "path", "host", "time", "date", "hex", "num", "id")


class CustomMask(_NamedPattern):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    """placeholder name: matches become <NAME>"""
    pattern: str
    """regex of the variable part"""


class MaskingConfig(_Strict):
    custom: list[CustomMask] = Field(default_factory=list, description="applied before the built-in masks")
    builtin: list[Literal[BUILTIN_MASKS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(BUILTIN_MASKS))
    """built-in masks to apply, in priority order"""
    cache_size: int = Field(200_000, ge=1000, description="masked tokens remembered between batches")


# ---------------------------------------------------------------- templates
class TemplatesConfig(_Strict):
    """Drain3 parameters (see Drain3's TemplateMinerConfig); the defaults were chosen on the 15 Loghub samples
    (in sample: BENCHMARKS.md)."""

    sim_th: float = Field(0.7, gt=0, le=1)
    """Drain similarity a line needs to join a template"""
    depth: int = Field(5, ge=3)
    """Drain parse-tree depth"""
    max_children: int = Field(100, ge=2)
    """Drain: children a tree node may have"""
    max_clusters: int | None = Field(None, ge=1)
    """Drain: templates kept at most (least recently used dropped); empty: no limit"""
    extra_delimiters: list[str] = Field(default_factory=lambda: ["="])
    """characters split like spaces before templating"""
    cache_size: int = Field(200_000, ge=0, description="masked lines remembered with their template id")
    merge_min_variants: int = Field(
        8, ge=0, description="merge this many templates that differ in one word into one (0: never)"
    )
    variable_min_values: int = Field(
        4, ge=0, description="words a position Drain generalized must show to be a variable; until then each "
        "word is its own template (0: Drain's rule, one differing word)"
    )


# ---------------------------------------------------------------- vectorizers
class _SparseTextParams(_Strict):
    max_features: int = Field(4096, ge=1)
    """vocabulary size: the most frequent tokens of the baseline"""
    ngram_max: int = Field(1, ge=1, le=3)
    """longest word n-gram counted"""
    min_df: int = Field(1, ge=1)
    """baseline lines a token must appear in to enter the vocabulary"""
    oov_buckets: int = Field(256, ge=0, description="hashed dims for tokens not seen at fit time")
    cache_size: int = Field(100_000, ge=0, description="masked lines whose vectors are kept across batches")
    cache_memory: Size = Field("256MiB", validate_default=True, ge=1 << 20)
    """...and at most this much memory for them (a vector is 4 bytes a dimension): what bounds the worker's RSS"""


class BowVectorizerConfig(_SparseTextParams):
    type: Literal["bow"]


class TfidfVectorizerConfig(_SparseTextParams):
    type: Literal["tfidf"]
    sublinear_tf: bool = True
    """1 + log(count) instead of the count"""


class OnehotVectorizerConfig(_SparseTextParams):
    type: Literal["onehot"]


class Word2VecVectorizerConfig(_Strict):
    """gensim Word2Vec on the baseline's masked tokens; a line is the weighted mean of its token vectors."""

    type: Literal["word2vec"]
    vector_size: int = Field(100, ge=2)
    """dimensions of the word (and line) vectors"""
    window: int = Field(5, ge=1)
    """context words on each side"""
    min_count: int = Field(1, ge=1)
    """occurrences a word needs to get a trained vector"""
    epochs: int = Field(10, ge=1)
    """training passes over the baseline"""
    sg: Literal[0, 1] = Field(1, description="1: skip-gram, 0: CBOW")
    weighting: Literal["sif", "idf", "mean"] = "sif"
    """how token vectors are averaged: sif (smooth inverse frequency), idf or mean"""
    sif_a: float = Field(1e-3, gt=0)
    """sif: the smoothing constant a in a / (a + p(word))"""
    pretrained: str | None = Field(None, description="word2vec text/.bin or gensim .kv file instead of training")
    max_repeats: int = Field(20, ge=1, description="times one distinct line is seen in training, at most")
    oov_buckets: int = Field(64, ge=0)
    """hashed random vectors for words unseen in training"""
    workers: int = Field(1, ge=1, description="training threads: 1 trains the same vectors from the same lines in "
                         "every run; more train faster, but gensim then gives no two runs alike")
    seed: int = 0
    """random seed of training and of the hashed vectors"""
    cache_size: int = Field(100_000, ge=0)
    """masked lines whose vectors are kept across batches"""
    cache_memory: Size = Field("256MiB", validate_default=True, ge=1 << 20)
    """...and at most this much memory for them (a vector is 4 bytes a dimension)"""


class SentenceVectorizerConfig(_Strict):
    """sentence-transformers; weights from a local directory or an installed package, never a hub."""

    type: Literal["sentence"]
    model: str = "all-MiniLM-L6-v2"
    """model name (a package that ships it) or a local directory"""
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")
    """auto takes CUDA when present"""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """auto: bf16 on CPUs that have it, fp16 on GPU"""
    batch_size: int = Field(64, ge=1)
    """distinct lines encoded at once"""
    max_seq_length: int = Field(128, ge=8)
    """tokens of a line the model reads"""
    cache_memory: Size = Field("256MiB", validate_default=True, ge=1 << 20,
                               description="memory for embeddings kept across batches")


VectorizerConfig = Annotated[
    Union[BowVectorizerConfig, TfidfVectorizerConfig, OnehotVectorizerConfig, Word2VecVectorizerConfig,
          SentenceVectorizerConfig],
    Field(discriminator="type"),
]


# ---------------------------------------------------------------- detectors
class ThresholdConfig(_Strict):
    """How a detector's threshold is set from baseline scores.

    `holdout` (default): the baseline is split in `folds`; each fold is scored by the detector fitted on the
    others, and the threshold is the conformal quantile of those held-out scores that `false_alarm_rate` of
    normal items exceed. "Unusual" is then measured against normal items the detector did not memorize (an
    in-sample score of a repeated item is 0 and says nothing about an unseen normal one). A baseline of fewer
    than 1/false_alarm_rate items cannot pin that quantile: the robust rule on the held-out scores stands in
    for novelty's sessions (a few anomalies in the baseline barely move it), their largest for novelty's lines
    (a stream's normal novelty comes in bursts) and the distance detectors (most of their held-out scores tie
    at 0 on a small baseline). `robust`: in-sample median + k × robust
    spread (MAD); `quantile`: that in-sample quantile; `contamination`: flag that share.
    """

    method: Literal["holdout", "robust", "quantile", "contamination"] = "holdout"
    """holdout (default), robust, quantile or contamination"""
    false_alarm_rate: float = Field(
        0.001, gt=0, lt=0.5, description="holdout: share of normal items allowed over the threshold")
    folds: int = Field(5, ge=2, le=20, description="holdout: baseline parts, each scored by a fit on the others")
    k: float = Field(4.0, gt=0, description="robust: spreads above the median (also holdout, on held-out "
                     "scores, when the baseline is too small for false_alarm_rate)")
    quantile: float = Field(0.995, gt=0, lt=1, description="quantile: of the in-sample scores")
    contamination: float = Field(0.01, gt=0, lt=0.5, description="contamination: share flagged in the baseline")


class SeverityConfig(_Strict):
    """How much a line's level weighs in its line score, in decades of rarity (1.0 = as if ten times rarer).

    The level is the parsed one, or read from the template's words when the line has none (FATAL, panic,
    ERROR, exception, failed, WARN…); an INFO line whose template says "failed" or "error" counts half-way
    to ERROR. A new FATAL line then outranks new INFO chatter, and ties between new templates break by level.
    """

    debug: float = 0.0
    """weight of DEBUG and TRACE lines"""
    info: float = 0.0
    """weight of INFO lines"""
    notice: float = 0.25
    """weight of NOTICE lines"""
    warn: float = 0.5
    """weight of WARN lines"""
    error: float = 1.5
    """weight of ERROR (err, severe, failure) lines"""
    fatal: float = 2.5
    """weight of FATAL (critical, alert, emerg, panic) lines"""


class NoveltyDetectorConfig(_Strict):
    """Templates, words and (for sessions) orderings never or rarely seen in the baseline; lines also weigh
    their level (`severity`)."""

    type: Literal["novelty"] = "novelty"
    rare_fraction: float | None = Field(
        None, ge=0, lt=1, description="fixed rarity: an event in fewer than this share of baseline items is rare; "
        "empty (default): how rare is unusual is learned from held-out baseline items (`threshold`)")
    order_confidence: float = Field(
        0.995, gt=0.5, le=1, description="sessions: 'A before B' is an invariant when it held this often"
    )
    min_support: int = Field(20, ge=1, description="sessions: baseline sessions needed to trust an invariant")
    flag_broken_invariants: bool = Field(
        True, description="sessions: a broken invariant (an order or a step that held in `order_confidence` of "
        "the baseline) flags the session by itself, though the baseline broke it too (its own anomalies may)")
    flag_new_from: Literal["warn", "error", "fatal", "none"] = Field(
        "fatal", description="lines: a template the baseline never showed, at this level or worse (parsed, or read "
        "from its words), is flagged whatever the threshold, as an error tracker opens an issue for an error it "
        "has not seen before; none: the threshold alone decides")
    severity: SeverityConfig | None = Field(
        default_factory=SeverityConfig, description="lines: level weights added to the rarity score; empty: none")
    threshold: ThresholdConfig = Field(default_factory=ThresholdConfig)
    """how the threshold is set"""


class _VectorDetectorConfig(_Strict):
    threshold: ThresholdConfig = Field(default_factory=ThresholdConfig)
    """how the threshold is set"""
    max_reference: int = Field(20_000, ge=10, description="baseline rows kept for neighbours and explanations")


class KnnDetectorConfig(_VectorDetectorConfig):
    """Mean cosine distance to the k nearest baseline items (repeats count)."""

    type: Literal["knn"]
    k: int = Field(5, ge=1)
    """neighbours averaged"""


class LofDetectorConfig(_VectorDetectorConfig):
    type: Literal["lof"]
    n_neighbors: int = Field(20, ge=2)
    """neighbours that define a density"""


class IsolationForestDetectorConfig(_VectorDetectorConfig):
    type: Literal["isolation_forest"]
    n_estimators: int = Field(200, ge=10)
    """trees"""
    random_state: int = 0
    """random seed"""


class PcaDetectorConfig(_VectorDetectorConfig):
    """Squared prediction error off the principal subspace (as in loglizer's PCA)."""

    type: Literal["pca"]
    variance: float = Field(0.95, gt=0, lt=1, description="share of variance the normal subspace keeps")


class NoDetectorConfig(_Strict):
    type: Literal["none"]


MemberConfig = Annotated[
    Union[NoveltyDetectorConfig, KnnDetectorConfig, LofDetectorConfig, IsolationForestDetectorConfig,
          PcaDetectorConfig],
    Field(discriminator="type"),
]


class EnsembleDetectorConfig(_Strict):
    """Several detectors at once. `max`: flagged when any member is (scores in units of each member's
    threshold); `mean_rank`: the mean of the members' baseline percentiles, with its own threshold."""

    type: Literal["ensemble"]
    members: list[MemberConfig] = Field(min_length=1)
    """the detectors combined"""
    combine: Literal["max", "mean_rank"] = "max"
    """max: flagged when any member is; mean_rank: the members' mean held-out rank"""
    threshold: ThresholdConfig = Field(default_factory=ThresholdConfig, description="mean_rank only")


DetectorConfig = Annotated[
    Union[NoveltyDetectorConfig, KnnDetectorConfig, LofDetectorConfig, IsolationForestDetectorConfig,
          PcaDetectorConfig, EnsembleDetectorConfig, NoDetectorConfig],
    Field(discriminator="type"),
]


class RateConfig(_Strict):
    """Rate anomalies: per (service, template) and event-time window, a count far above the baseline's rate
    (a storm: its records are flagged, kind `rate`) or a frequent template gone quiet (a drop: an event)."""

    enabled: bool = True
    """watch (service, template) rates"""
    window: Duration = Field("1m", validate_default=True, description="counting window, event time")
    p_value: float = Field(1e-6, gt=0, lt=0.5, description="how unlikely under the baseline's rate a count must be")
    min_count: int = Field(10, ge=1, description="a storm window holds at least this many lines")
    min_ratio: float = Field(5.0, ge=1, description="...and at least this many times the baseline's rate")
    drops: bool = Field(True, description="also report frequent templates that go quiet")


# ---------------------------------------------------------------- incidents
class IncidentsConfig(_Strict):
    """Anomalies grouped into incidents (SREs ask for similar incidents, not similar lines)."""

    enabled: bool = True
    """build incidents while the pipeline runs (`logvec incidents --rebuild` builds them from the store)"""
    gap: Duration = Field("5m", validate_default=True, gt=0,
                          description="an incident closes after this long with no new anomaly")
    link_window: Duration = Field(
        "60s", validate_default=True, ge=0,
        description="an anomaly this close to an incident joins it even with no service or template in common")
    min_burst: int = Field(
        3, ge=1, description="anomalies of one template make an incident only as a burst of at least this many ...")
    burst_ratio: float = Field(
        5.0, ge=1, description="... and this many times what the baseline's rate of the template predicts")
    min_anomalies: int = Field(2, ge=1, description="incidents listed by default have at least this many anomalies")
    top_templates: int = Field(5, ge=1, description="templates shown per incident, with an example line each")
    update_interval: Duration = Field("5s", validate_default=True, ge=0,
                                      description="how often a running worker updates the open incidents")
    min_similarity: float = Field(0.2, ge=0, le=1, description="similar incidents below this score are not listed")


# ---------------------------------------------------------------- search
class SearchConfig(_Strict):
    """How `search`, the API and the page rank stored lines for a query."""

    meaning: bool = True
    """also rank by meaning: the bundled sentence model reads each distinct template once, so a question in words
    ("the disk is full") finds the lines that say it in theirs ("No space left on device") whatever the vectorizer"""
    meaning_model: str = Field("all-MiniLM-L6-v2", description="sentence model for meaning (a local directory or "
                               "one an installed package ships; never downloaded)")
    meaning_templates: int = Field(3, ge=1, le=50, description="templates closest in meaning whose lines join the hits")
    lexical_enough: float = Field(
        0.9, ge=0, le=1.0001, description="a query whose best hit by the pipeline's vectors scores this much (a "
        "pasted line found itself) is not read for its meaning")
    min_score: float = Field(0.3, ge=0, le=1,
                             description="hits scoring below this are not listed: 'no close match' instead of noise")


# ---------------------------------------------------------------- sessions
class SessionConfig(_Strict):
    """Group lines into sessions, by a key in the line (first capture group, or the whole match) or by time."""

    key: str | None = Field(None, description="regex over the raw line, e.g. 'blk_-?\\d+' or 'req=(\\w+)'")
    window: Duration | None = Field(None, description="a session per service and time window of this length")
    timeout: Duration = Field("30m", validate_default=True,
                              description="run: a keyed session with no line for this long is closed")
    detector: DetectorConfig = Field(
        default_factory=lambda: EnsembleDetectorConfig(
            type="ensemble", members=[NoveltyDetectorConfig(), PcaDetectorConfig(type="pca"),
                                      KnnDetectorConfig(type="knn")]
        ),
        description="session-level detector: new/rare templates, order and missing steps, plus unusual counts "
        "and combinations (pca, knn)",
    )

    @field_validator("key")
    @classmethod
    def _compile(cls, p: str | None) -> str | None:
        if p is not None:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"not a valid regex: {e}") from None
        return p

    def model_post_init(self, __context: Any) -> None:
        if (self.key is None) == (self.window is None):
            raise ValueError("give exactly one of session.key or session.window")


# ---------------------------------------------------------------- stores
class LocalStoreConfig(_Strict):
    type: Literal["local"] = "local"
    path: str | None = Field(None, description="defaults to DATA_DIR/store")
    ann_threshold: int = Field(50_000, ge=1, description="exact search up to this many distinct vectors, HNSW beyond")
    hnsw_m: int = Field(32, ge=4)
    """HNSW graph degree"""
    ef_search: int = Field(128, ge=8)
    """HNSW candidates examined per search"""


class OpenSearchAuth(_Strict):
    type: Literal["none", "basic", "aws_sigv4"] = "none"
    """none, basic (user and password from the environment) or aws_sigv4"""
    username_env: str = "OPENSEARCH_USERNAME"
    """basic: environment variable holding the user"""
    password_env: str = "OPENSEARCH_PASSWORD"
    """basic: environment variable holding the password"""
    region: str | None = Field(None, description="aws_sigv4: the region (default: from the AWS environment)")
    service: Literal["es", "aoss"] = Field("es", description="aws_sigv4: es (managed domains) or aoss")


class OpenSearchTls(_Strict):
    verify: bool = True
    """check the server's certificate"""
    ca_file: OptionalText = None
    """CA bundle that signed it"""


class OpenSearchKnn(_Strict):
    engine: Literal["lucene", "faiss", "nmslib"] = "lucene"
    """k-NN engine of the knn_vector field"""
    space_type: Literal["cosinesimil", "innerproduct", "l2"] = "cosinesimil"
    """similarity of the k-NN index"""
    m: int = Field(16, ge=2)
    """HNSW graph degree"""
    ef_construction: int = Field(128, ge=2)
    """HNSW candidates examined while indexing"""
    ef_search: int = Field(100, ge=1)
    """HNSW candidates examined per search"""


class OpenSearchBulk(_Strict):
    chunk_size: int = Field(500, ge=1)
    """documents per bulk request"""
    max_retries: int = Field(8, ge=0, description="retries of a chunk on 429, 5xx and connection errors")
    backoff: Duration = Field("500ms", validate_default=True, description="first retry delay, doubled each time")
    max_backoff: Duration = Field("30s", validate_default=True)
    """longest retry delay"""


class OpenSearchStoreConfig(_Strict):
    """OpenSearch k-NN: one index per vector dimension behind the alias `index`."""

    type: Literal["opensearch"]
    hosts: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"])
    """cluster URLs"""
    index: str = "logvec"
    """alias the documents are written and searched through"""
    auth: OpenSearchAuth = Field(default_factory=OpenSearchAuth)
    """credentials"""
    tls: OpenSearchTls = Field(default_factory=OpenSearchTls)
    """certificate checks"""
    knn: OpenSearchKnn = Field(default_factory=OpenSearchKnn)
    """k-NN index settings"""
    shards: int = Field(1, ge=1)
    """primary shards of a new index"""
    replicas: int = Field(1, ge=0)
    """replicas of a new index"""
    refresh_interval: str = "1s"
    """how soon a write is searchable"""
    bulk: OpenSearchBulk = Field(default_factory=OpenSearchBulk)
    """bulk writes and their retries"""
    timeout: Duration = Field("30s", validate_default=True)
    """how long a request may take"""


StoreConfig = Annotated[Union[LocalStoreConfig, OpenSearchStoreConfig], Field(discriminator="type")]


# ---------------------------------------------------------------- model registry
class RegistryConfig(_Strict):
    """Where fitted models are published, and how a fleet of workers agrees on one."""

    type: Literal["auto", "local", "directory", "opensearch"] = "auto"
    """auto: OpenSearch when the store is OpenSearch (an index beside the records), else the data directory;
    directory: a folder every worker mounts (`path`)"""
    path: str | None = Field(None, description="directory: the shared folder (NFS, a ReadWriteMany volume)")
    index: str | None = Field(None, description="opensearch: the models index (default: the store's index + -models)")
    lease_ttl: Duration = Field(
        "60s", validate_default=True,
        description="a fitting worker's lease lapses this long after its last renewal (it renews every third)")
    poll_interval: Duration = Field(
        "30s", validate_default=True,
        description="how often a running worker looks for a newly activated model version")

    def model_post_init(self, __context: Any) -> None:
        if self.type == "directory" and not self.path:
            raise ValueError("registry.type directory needs registry.path")


# ---------------------------------------------------------------- run
class RunConfig(_Strict):
    batch_size: int = Field(4096, ge=1, le=1_000_000)
    """lines a batch: every stage works on a batch at once"""
    warmup_lines: int = Field(20_000, ge=1, description="lines used to fit on a fresh data directory")
    text_processes: Literal["auto"] | Annotated[int, Field(ge=0, le=64)] = "auto"
    """worker processes that redact, parse and mask the next batches while the main process stores this one
    (0: all in the main process); auto: one a core, up to 4, for files and stdin on a machine with more than
    one core, 0 for Kafka (its workers scale with `--workers`)"""
    data_dir: str = Field(".logvec", description="model, store and dead letters; --data-dir overrides")
    stall_timeout: Duration = Field(
        "10m", validate_default=True,
        description="/healthz fails when the worker loop has not moved for this long (liveness)")


class PipelineConfig(_Strict):
    version: Literal[1] = 1
    """schema version"""
    name: str = "pipeline"
    """the pipeline's name (reports, the model's metadata)"""
    description: str = ""
    """what this pipeline changes from the default"""
    source: SourceConfig = Field(default_factory=FileSourceConfig)
    """where lines come from (--input overrides a file source)"""
    redact: RedactConfig = Field(default_factory=RedactConfig)
    """secrets taken out of every line before it is parsed"""
    parse: ParseConfig = Field(default_factory=ParseConfig)
    """how a line becomes a record"""
    masking: MaskingConfig = Field(default_factory=MaskingConfig)
    """variable parts replaced by placeholders"""
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)
    """Drain3 template mining"""
    vectorizer: VectorizerConfig = Field(default_factory=lambda: TfidfVectorizerConfig(type="tfidf"))
    """how a line becomes a vector"""
    detector: DetectorConfig = Field(default_factory=NoveltyDetectorConfig)
    """line-level detector"""
    session: SessionConfig | None = None
    """group lines into sessions and judge them too"""
    rate: RateConfig = Field(default_factory=RateConfig)
    """storms and drops of known templates"""
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    """anomalies grouped into incidents"""
    search: SearchConfig = Field(default_factory=SearchConfig)
    """how search ranks stored lines"""
    alerts: AlertsConfig | None = None
    """publish anomalies"""
    store: StoreConfig = Field(default_factory=LocalStoreConfig)
    """where records and vectors go"""
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    """where fitted models are published and which version is active"""
    run: RunConfig = Field(default_factory=RunConfig)
    """batching, warm-up, data directory"""

    def fit_hash(self) -> str:
        """Hash of the parts that shape a fitted model; a model fitted under another hash is stale."""
        keys = ("redact", "parse", "masking", "templates", "vectorizer", "detector", "session", "rate")
        text = self.model_dump_json(include=set(keys))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- loading
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def substitute_env(value: Any, path: str = "", env: Mapping[str, str] | None = None) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string of a parsed YAML tree."""
    return _substitute(value, path, os.environ if env is None else env, {})


def _substitute(value: Any, path: str, env: Mapping[str, str], done: dict[int, Any]) -> Any:
    """`done`: a YAML alias is one object however often it is referred to, so it is substituted once (a copy
    at every reference grows exponentially with nested aliases: a few hundred bytes could exhaust memory)."""
    if isinstance(value, (dict, list)) and id(value) in done:
        return done[id(value)]
    if isinstance(value, dict):
        mapping: dict = {}
        done[id(value)] = mapping
        mapping.update((k, _substitute(v, f"{path}.{k}" if path else str(k), env, done)) for k, v in value.items())
        return mapping
    if isinstance(value, list):
        items: list = []
        done[id(value)] = items
        items.extend(_substitute(v, f"{path}[{i}]", env, done) for i, v in enumerate(value))
        return items
    if not isinstance(value, str):
        return value

    def repl(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set and has no default (${{{name}:-...}})")

    return _ENV.sub(repl, value)


def _loc(loc: tuple[Any, ...], data: Any) -> str:
    """Key path of a pydantic error, without the discriminator tags pydantic inserts for unions."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and item < len(node) else None
            continue
        if isinstance(node, dict) and item not in node and node.get("type") == item:
            continue  # discriminator tag, not a key the user wrote
        parts.append(("." if parts else "") + str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def format_validation_error(err: ValidationError, data: Any, source: str) -> str:
    lines = [f"{source}: invalid pipeline ({err.error_count()} problem{'s' * (err.error_count() > 1)})"]
    for e in err.errors():
        where = _loc(tuple(e["loc"]), data)
        if e["type"] == "extra_forbidden":
            what = "unknown key"
        elif e["type"] == "union_tag_invalid":
            tag = e["input"].get("type") if isinstance(e["input"], dict) else e["input"]
            what = f"unknown type {tag!r}; expected one of {e['ctx']['expected_tags']}"
        else:
            what = e["msg"]
            if "input" in e and not isinstance(e["input"], (dict, list)):
                what += f" (got {e['input']!r})"
        lines.append(f"  {where}: {what}")
    return "\n".join(lines)


# Keys that named their unit before the naming rule: (section, old key) -> (new key, the old value's unit).
RENAMED_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("source", "poll_timeout_ms"): ("poll_timeout", "ms"),
    ("source", "idle_poll_interval_ms"): ("idle_poll_interval", "ms"),
    ("source", "fetch_min_bytes"): ("fetch_min_size", ""),
    ("source", "fetch_max_wait_ms"): ("fetch_max_wait", "ms"),
    ("source", "session_timeout_ms"): ("session_timeout", "ms"),
    ("source", "max_poll_interval_ms"): ("max_poll_interval", "ms"),
    ("parse", "max_line_bytes"): ("max_line_size", ""),
    ("vectorizer", "cache_mb"): ("cache_memory", "MiB"),
    ("run", "stall_timeout_s"): ("stall_timeout", "s"),
}


def upgrade_keys(data: dict, source: str) -> dict:
    """Old key names rewritten to the new ones (the value given its unit), each with a warning that says what
    to write instead; an old name beside its new one is an error, not a silent choice."""
    out = dict(data)
    for (section, old), (new, unit) in RENAMED_KEYS.items():
        part = out.get(section)
        if not isinstance(part, dict) or old not in part:
            continue
        if new in part:
            raise ConfigError(f"{source}: {section}.{old} is the old name of {section}.{new}; give only {new}")
        part = dict(part)
        value = part.pop(old)
        if unit and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = f"{value}{unit}"
        part[new] = value
        out[section] = part
        warnings.warn(f"{source}: {section}.{old} is deprecated; write {section}.{new}: {value}",
                      ConfigDeprecationWarning, stacklevel=3)
    return out


def parse_pipeline(data: Any, source: str = "<pipeline>") -> PipelineConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, got {type(data).__name__}")
    data = upgrade_keys(data, source)
    try:
        data = substitute_env(data)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, data, source)) from None


def _read_yaml(p: Path) -> Any:
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: pipeline file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice in this mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def merge_pipelines(base: dict, override: dict) -> dict:
    """`override` over `base`: mappings merge key by key, anything else is replaced. A mapping that names another
    `type` than the base's (a word2vec vectorizer over a tf-idf one) replaces it whole: the other kind's
    parameters would not apply."""
    out = dict(base)
    for key, value in override.items():
        under = out.get(key)
        if (isinstance(under, dict) and isinstance(value, dict)
                and ("type" not in value or value.get("type") == under.get("type"))):
            out[key] = merge_pipelines(under, value)
        else:
            out[key] = value
    return out


def _with_base(data: Any, p: Path, seen: tuple[Path, ...] = ()) -> Any:
    """Resolve `extends: FILE` (relative to the file that says it): the base pipeline, with this file's keys over
    it, so that a pipeline says only what it changes."""
    if isinstance(data, dict):
        data = upgrade_keys(data, str(p))
    if not isinstance(data, dict) or "extends" not in data:
        return data
    data = dict(data)
    ref = data.pop("extends")
    if not isinstance(ref, str) or not ref:
        raise ConfigError(f"{p}: extends: expected the base pipeline's file name, got {ref!r}")
    base_path = (p.parent / ref).resolve()
    chain = seen + (p.resolve(),)
    if base_path in chain:
        raise ConfigError(f"{p}: extends {ref} goes round in a circle: "
                          + " -> ".join(str(x) for x in chain + (base_path,)))
    base = _with_base(_read_yaml(base_path), base_path, chain)
    if not isinstance(base, dict):
        raise ConfigError(f"{base_path}: the top level must be a mapping of keys (extended by {p})")
    return merge_pipelines(base, data)


def load_pipeline(path: str | os.PathLike[str]) -> PipelineConfig:
    p = Path(path)
    return parse_pipeline(_with_base(_read_yaml(p), p), str(p))
