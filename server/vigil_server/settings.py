"""Settings: one tree of frozen dataclasses holds every server default.

A field a person may set carries a `Flag` in its metadata: its name, its help and the values it
accepts. `parser()` generates one `--name` option per such field, with `VIGIL_<NAME>` from the
environment as its default; `load_settings()` checks each value against its field's rule and
builds the tree once, in main(). The README's flag table is checked against these fields
(tests/test_settings_docs.py). Nothing here reads the environment at import time.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, replace
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from vigil_models import DEFAULT_SPACE, DEFAULT_SPEECH_MODEL, SPACES, SPEECH_MODELS
from vigil_models.hashing import FINGERPRINT_MATCH_SCORE, PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY
from vigil_models.vpdq import VPDQ_MATCH_PERCENT, VPDQ_MAX_DISTANCE, VPDQ_MIN_QUALITY
from vigil_server.batching import BatchOptions

MiB = 1 << 20
# Limits a request may not exceed whatever the flags say; wire*.py checks requests against them.
MAX_FRAME_RATE = 30.0  # frames sampled per second
MAX_CHUNK_MIB = 64.0  # the largest --max-chunk-mib
MAX_CAPTION_REPLAY = 100  # final captions kept per stream for clients that join late
MAX_PAGE_SIZE = 1000  # segments per ListSegments page
ENV_PREFIX = "VIGIL_"
# The default of --model-cache stands for $XDG_CACHE_HOME/vigil, else ~/.cache/vigil: parser(), and
# so load_settings(), resolves it against the env mapping given (user_cache_dir); Settings() keeps it.
USER_CACHE = Path("~/.cache/vigil")

T = TypeVar("T")


@dataclass(frozen=True)
class Bounds:
    """The numbers a flag accepts: above gt (or from ge), up to le; None: no limit on that side."""

    gt: float | None = None
    ge: float | None = None
    le: float | None = None

    def __post_init__(self) -> None:
        if (self.gt is None) == (self.ge is None):
            raise ValueError("Bounds needs exactly one of gt and ge")

    def __contains__(self, value: float) -> bool:
        above = (self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge)
        return above and (self.le is None or value <= self.le)

    def __str__(self) -> str:
        opening, low = ("(", self.gt) if self.gt is not None else ("[", self.ge)
        if self.le is None:
            return f"{'>' if opening == '(' else '>='} {render_default(low)}"
        return f"in {opening}{render_default(low)}, {render_default(self.le)}]"


@dataclass(frozen=True)
class Flag:
    """How one settings field is set: `--name` on the command line, `VIGIL_NAME` in the environment."""

    name: str  # the option without its dashes, e.g. max-chunk-mib
    help: str  # one line for --help and the README
    choices: tuple[str, ...] = ()  # the accepted values; empty: any
    bounds: Bounds | None = None  # the accepted numbers; None: any
    parse: Callable[[str], Any] | None = None  # text to value; None: the field's type

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper().replace("-", "_")


def _flag(default: T, name: str, help: str, **rules: Any) -> T:
    """A dataclass field with this default that `--name` and `VIGIL_NAME` set; rules: the rest of a Flag."""
    return field(default=default, metadata={"flag": Flag(name, help, **rules)})


@dataclass(frozen=True)
class ServerSettings:
    """The gRPC server process."""

    listen: str = _flag("127.0.0.1:50051", "listen", "host:port to serve on; port 0 picks a free one (printed)")
    grace_s: float = _flag(10.0, "grace", "seconds that shutdown waits for calls in flight", bounds=Bounds(ge=0))
    max_chunk_mib: float = _flag(
        4.0, "max-chunk-mib", "the largest MediaChunk.data accepted, in MiB", bounds=Bounds(gt=0, le=MAX_CHUNK_MIB)
    )
    max_streams: int = _flag(32, "max-streams", "concurrent Ingest calls", bounds=Bounds(ge=1))
    log_level: str = _flag("INFO", "log-level", "DEBUG, INFO, WARNING or ERROR, in any case", parse=str.upper)

    @property
    def max_chunk_bytes(self) -> int:
        return int(self.max_chunk_mib * MiB)


@dataclass(frozen=True)
class StorageSettings:
    """Where segments, the watchlist and spool files live."""

    data_dir: Path = _flag(Path("vigil-data"), "data-dir", "Milvus Lite data, calibration, watchlist, spool files")
    milvus_uri: str = _flag("", "milvus-uri", "Milvus server, e.g. http://127.0.0.1:19530; empty: Milvus Lite")
    milvus_token: str = _flag("", "milvus-token", "user:password or API key for --milvus-uri")


@dataclass(frozen=True)
class ModelSettings:
    """Which models run, and where."""

    space: str = _flag(
        DEFAULT_SPACE,
        "space",
        "embedding space: the packaged label-space default, or clip-clap with --clip-model/--clap-model",
        choices=tuple(sorted(SPACES)),
    )
    clip_model: str = _flag("", "clip-model", "CLIP model directory (or cached hub name) for clip-clap")
    clap_model: str = _flag("", "clap-model", "CLAP model directory (or cached hub name) for clip-clap")
    speech_model: str = _flag(
        DEFAULT_SPEECH_MODEL,
        "speech-model",
        "; ".join(f"{k}: {v.description}" for k, v in SPEECH_MODELS.items()),
        choices=tuple(sorted(SPEECH_MODELS)),
    )
    device: str = _flag("auto", "device", "auto (cuda if present), cpu, cuda or cuda:N")
    model_cache: Path = _flag(USER_CACHE, "model-cache", "prepared model files (the joined multilingual Whisper)")
    cpu_threads: int = _flag(
        0,
        "cpu-threads",
        "intra-op threads of each model runtime on CPU (torch, Whisper, ONNX Runtime); 0: 1 per 4 cores, 1 to 4",
        bounds=Bounds(ge=0),
    )


@dataclass(frozen=True)
class IngestSettings:
    """How live streams are sampled."""

    frame_rate: float = _flag(
        1.0,
        "frame-rate",
        "frames sampled per second when a stream does not say",
        bounds=Bounds(gt=0, le=MAX_FRAME_RATE),
    )
    max_frame_lag_s: float = _flag(
        3.0,
        "max-frame-lag",
        "seconds a live stream's frames may fall behind real time before some are dropped; 0: never drop",
        bounds=Bounds(ge=0),
    )
    shot_change: float = _flag(
        0.5,
        "shot-change",
        "scene score (share of 16x16 thumbnail cells changed since a shot's first frame) that starts a new shot",
        bounds=Bounds(gt=0, le=1),
    )
    on_screen_text: str = _flag(
        "off",
        "on-screen-text",
        "read on-screen text (OCR) on shot changes: on or off (off by default: ~0.2-0.5 CPU-s per read)",
        choices=("on", "off"),
    )
    people: str = _flag(
        "off",
        "people",
        "count people and faces on shot starts and every 5 s (OpenCV HOG + Haar; ~0.3 CPU-s each): on or off",
        choices=("on", "off"),
    )
    explicit_score: str = _flag(
        "on", "explicit-score", "score every sampled frame for explicit content (Open-NSFW): on or off",
        choices=("on", "off"),
    )  # fmt: skip
    text_refresh_s: float = 10.0  # a shot this long is read again (tickers, captions over one scene)
    text_backlog: int = 2  # frames waiting to be read per stream; a shot change beyond that is dropped (counted)


@dataclass(frozen=True)
class ModerationSettings:
    """Standing queries, reference banks and their alerts."""

    archive_window_s: float = _flag(
        86400.0, "archive-window", "seconds of archive searched for a new bank item; 0 disables", bounds=Bounds(ge=0)
    )
    alert_window_s: float = _flag(
        60.0,
        "alert-window",
        "flood control: one alert per (stream, query or item) per this many seconds",
        bounds=Bounds(ge=0),
    )
    query_threshold: float = _flag(
        3.5, "query-threshold", "calibrated score a standing query needs when it sets none", bounds=Bounds(gt=0, le=50)
    )
    bank_min_cosine: float = _flag(
        0.75,
        "bank-min-cosine",
        "cosine of copy descriptors at which a frame matches a reference picture",
        bounds=Bounds(gt=0, le=1),
    )
    pdq_max_distance: int = _flag(
        PDQ_MATCH_DISTANCE,
        "pdq-max-distance",
        "PDQ Hamming distance (of 256 bits) at most which a frame matches a reference hash",
        bounds=Bounds(ge=0, le=256),
    )
    pdq_min_quality: int = _flag(
        PDQ_MIN_QUALITY,
        "pdq-min-quality",
        "minimum PDQ quality (0-100) of a frame or picture for its hash to be kept and matched",
        bounds=Bounds(ge=0, le=100),
    )
    fingerprint_min_score: float = _flag(
        FINGERPRINT_MATCH_SCORE,
        "fingerprint-min-score",
        "minimum Chromaprint score (1 - 2 x bit error rate) for an audio match",
        bounds=Bounds(gt=0, le=1),
    )
    vpdq_max_distance: int = _flag(
        VPDQ_MAX_DISTANCE,
        "vpdq-max-distance",
        "vPDQ: PDQ distance (of 256 bits) at most which a stream frame matches a reference video's frame",
        bounds=Bounds(ge=0, le=256),
    )
    vpdq_min_quality: int = _flag(
        VPDQ_MIN_QUALITY,
        "vpdq-min-quality",
        "vPDQ: minimum PDQ quality (0-100) of the frames compared, on both sides",
        bounds=Bounds(ge=0, le=100),
    )
    vpdq_match_percent: float = _flag(
        VPDQ_MATCH_PERCENT,
        "vpdq-match-percent",
        "vPDQ: share (%) of a reference video's frames a recent stretch of the stream must match",
        bounds=Bounds(gt=0, le=100),
    )


@dataclass(frozen=True)
class SpeechSettings:
    """How a stream's audio is cut into speech regions (regions.py); each region is transcribed once."""

    min_silence_s: float = _flag(
        0.6, "speech-min-silence", "seconds of silence that end a speech region", bounds=Bounds(gt=0, le=5)
    )
    max_region_s: float = _flag(
        6.0,
        "speech-max-region",
        "longest speech region in seconds; longer speech is cut at its quietest point in the second half",
        bounds=Bounds(ge=1, le=30),
    )
    max_region_busy_s: float = _flag(
        24.0,
        "speech-max-region-busy",
        "longest speech region while transcriptions queue up (fewer, longer regions cost Whisper less)",
        bounds=Bounds(ge=1, le=30),
    )
    threshold: float = 0.5  # Silero speech probability at which a 32 ms window counts as speech
    neg_threshold: float = 0.35  # below this a window counts as silence; in between, as the window before it
    min_speech_s: float = 0.25  # regions ended by silence with less speech than this are dropped
    pad_s: float = 0.25  # audio kept before a region's first speech and after its last (at most min_silence_s)


@dataclass(frozen=True)
class CaptionSettings:
    """Live captions (captions.py, live_speech.py) and frame descriptions (describe.py)."""

    interim_every_s: float = _flag(
        1.0,
        "interim-every",
        "seconds between interim captions while someone speaks and a client watches; 0: final captions only",
        bounds=Bounds(ge=0, le=10),
    )
    replay: int = _flag(
        10,
        "caption-replay",
        "final captions a WatchCaptions client gets first when it joins a stream late",
        bounds=Bounds(ge=0, le=MAX_CAPTION_REPLAY),
    )
    min_interim_s: float = 0.5  # an open region gets its first interim once it holds this much audio
    feeds: int = 1024  # streams whose feeds are kept (the least recently used idle feed goes first)
    watch_queue: int = 1000  # captions a WatchCaptions call may have waiting before it is ended
    describe_every_s: float = 2.0  # at most one frame description per this many seconds of a stream
    concepts: int = 3  # classes named in a description, at most
    min_concept_score: float = 0.05  # classes below this probability are left out (the top one never is)


@dataclass(frozen=True)
class WorkerSettings:
    """Batching of the model worker queues (no flags: tuning, not deployment)."""

    text: BatchOptions = BatchOptions(max_batch=32, max_wait_s=0.005)  # text embeddings (queries, transcripts)
    image: BatchOptions = BatchOptions(max_batch=16, max_wait_s=0.02)  # frame embeddings
    vad: BatchOptions = BatchOptions(max_batch=1, max_wait_s=0.0, max_pending=64)  # speech detection, one at a time
    # transcription: whatever waits runs as one Whisper batch; the first request waits for no company
    asr: BatchOptions = BatchOptions(max_batch=8, max_wait_s=0.0, max_pending=64)
    # on CPU a batch costs what its regions cost one by one (bench/whisper_batch.py) and the first
    # region would wait for the last: there Whisper takes at most this many at once
    asr_cpu_max_batch: int = 1
    sound: BatchOptions = BatchOptions(max_batch=1, max_wait_s=0.0, max_pending=64)  # sound events, one at a time
    ocr: BatchOptions = BatchOptions(max_batch=1, max_wait_s=0.0, max_pending=64)  # on-screen text, a frame at a time
    detect: BatchOptions = BatchOptions(max_batch=8, max_wait_s=0.01, max_pending=64)  # people, faces, explicit score
    store: BatchOptions = BatchOptions(max_batch=256, max_wait_s=0.05, max_pending=4096)  # rows written to Milvus
    query_cache: int = 1024  # query texts whose vectors are kept (LRU, per model set); 0: none


@dataclass(frozen=True)
class SecuritySettings:
    """Who may call: API keys, tenants and their limits, TLS on the listener."""

    api_keys: str = _flag("", "api-keys", "key file (JSON: hashed keys, tenant limits); empty and no "
                          "VIGIL_API_KEY_*: auth off")  # fmt: skip
    tls_cert: str = _flag("", "tls-cert", "PEM certificate chain of the listener; empty: plaintext")
    tls_key: str = _flag("", "tls-key", "PEM private key of --tls-cert")
    tls_client_ca: str = _flag("", "tls-client-ca", "PEM CA bundle; set: clients need a certificate it signed (mTLS)")


@dataclass(frozen=True)
class LimitSettings:
    """Bounds that keep one bad or idle client from costing everyone else."""

    stream_idle_timeout_s: float = _flag(
        60.0,
        "stream-idle-timeout",
        "seconds an Ingest call may wait for its next chunk (its config included) before it ends and frees its "
        "stream slot; AddBankItem and MatchFile uploads the same",
        bounds=Bounds(gt=0, le=86400),
    )
    decode_stall_timeout_s: float = _flag(
        30.0,
        "decode-stall-timeout",
        "seconds ffmpeg may go without progress while the server waits on it (damaged media) before the decode "
        "ends with INVALID_ARGUMENT",
        bounds=Bounds(gt=0, le=3600),
    )
    max_spool_mib: float = _flag(
        1024.0,
        "max-spool-mib",
        "the largest plain MP4/MOV (index after the media) kept on disk until its stream ends, in MiB",
        bounds=Bounds(gt=0),
    )

    @property
    def max_spool_bytes(self) -> int:
        return int(self.max_spool_mib * MiB)


@dataclass(frozen=True)
class RetentionSettings:
    """How long stored data is kept, and how often old data is erased."""

    retention_days: float = _flag(
        0.0,
        "retention-days",
        "days stored data is kept (segments, archive, alerts); older data is erased; 0: forever; "
        "a tenant's key file entry may set its own",
        bounds=Bounds(ge=0, le=36500),
    )
    check_every_s: float = _flag(
        3600.0, "retention-check-every", "seconds between retention passes", bounds=Bounds(ge=1, le=86400 * 7)
    )


@dataclass(frozen=True)
class ObservabilitySettings:
    """Metrics and logs."""

    metrics_listen: str = _flag(
        "",
        "metrics-listen",
        "host:port of the Prometheus metrics endpoint (HTTP); port 0 picks a free one (printed); empty: no endpoint",
    )
    log_format: str = _flag("text", "log-format", "text (one line per record) or json (one object per line)",
                            choices=("text", "json"))  # fmt: skip


@dataclass(frozen=True)
class WebhookSettings:
    """The default tenant's webhook on a server without a key file (webhooks.py)."""

    url: str = _flag("", "webhook-url", "POST every alert of the default tenant here as signed JSON: https://, or "
                     "http:// to a loopback address; empty: no webhook")  # fmt: skip
    secret_file: str = _flag("", "webhook-secret-file", "a file holding the webhook's HMAC-SHA256 secret")
    ca: str = _flag("", "webhook-ca", "PEM file of the CA that signed the webhook receiver's certificate; empty: the "
                    "system's CAs")  # fmt: skip
    attempts: int = _flag(5, "webhook-attempts", "tries per alert before it is dead-lettered",
                          bounds=Bounds(ge=1, le=20))  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with, built once in main() and passed down in parts."""

    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    models: ModelSettings = ModelSettings()
    ingest: IngestSettings = IngestSettings()
    moderation: ModerationSettings = ModerationSettings()
    speech: SpeechSettings = SpeechSettings()
    captions: CaptionSettings = CaptionSettings()
    workers: WorkerSettings = WorkerSettings()
    security: SecuritySettings = SecuritySettings()
    limits: LimitSettings = LimitSettings()
    retention: RetentionSettings = RetentionSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    webhooks: WebhookSettings = WebhookSettings()


def flag_fields() -> Iterator[tuple[str, Field[Any], Flag]]:
    """(section, field, flag) for every field of the tree that a flag sets, in declaration order."""
    defaults = Settings()
    for section in fields(Settings):
        for f in fields(getattr(defaults, section.name)):
            if "flag" in f.metadata:
                yield section.name, f, f.metadata["flag"]


def render_default(value: object) -> str:
    """A value as --help and the README show it: 4.0 as 4, 0.75 as 0.75, text and paths as they are."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def user_cache_dir(env: Mapping[str, str]) -> Path:
    """$XDG_CACHE_HOME/vigil, else ~/.cache/vigil: what the USER_CACHE default stands for."""
    return Path(env.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vigil"


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """Options generated from the tree; VIGIL_<FLAG> in `env` replaces a field's default."""
    p = argparse.ArgumentParser(
        prog="vigil-server",
        description="Vigil: a gRPC server for cross-modal retrieval over live media. "
        "Every flag also reads VIGIL_<FLAG> from the environment (e.g. VIGIL_LISTEN); the flag wins.",
    )
    for section, rows in groupby(flag_fields(), key=itemgetter(0)):
        group = p.add_argument_group(section)
        types = get_type_hints(type(getattr(Settings(), section)))
        for _, f, flag in rows:
            raw = env.get(flag.env)
            if raw is not None:
                # Text, which argparse converts with `type`: a bad VIGIL_* value is a usage error too.
                default: Any = raw
                shown = f"{raw or 'empty'}, from {flag.env}"
            else:
                default = user_cache_dir(env) if f.default == USER_CACHE else f.default
                shown = render_default(default) or "empty"
            group.add_argument(
                f"--{flag.name}",
                dest=f"{section}.{f.name}",
                type=flag.parse or types[f.name],
                choices=flag.choices or None,
                metavar=None if flag.choices else flag.env.removeprefix(ENV_PREFIX),
                default=default,
                help=f"{flag.help} (default: {shown})".replace("%", "%%"),
            )
    return p


def load_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Parse `argv` (default sys.argv) with `env` (default os.environ); exit 2 on a bad value."""
    env = os.environ if env is None else env
    p = parser(env)
    ns = p.parse_args(argv)
    changes: dict[str, dict[str, Any]] = {}
    for section, f, flag in flag_fields():
        value = getattr(ns, f"{section}.{f.name}")
        # argparse checks choices on flags but not on defaults, which come from the environment.
        if flag.choices and value not in flag.choices:
            p.error(f"{flag.env}={value!r}: choose one of {', '.join(flag.choices)}")
        if flag.bounds is not None and value not in flag.bounds:
            p.error(f"--{flag.name} must be {flag.bounds}")
        changes.setdefault(section, {})[f.name] = value
    defaults = Settings()
    return replace(defaults, **{name: replace(getattr(defaults, name), **kw) for name, kw in changes.items()})
