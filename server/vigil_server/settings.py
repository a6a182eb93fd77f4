"""Settings: built once in main() from flags, with environment variables as defaults."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vigil_models import DEFAULT_SPACE, DEFAULT_SPEECH_MODEL, SPACES, SPEECH_MODELS

MiB = 1 << 20


@dataclass(frozen=True)
class Settings:
    listen: str  # host:port; port 0 picks a free one (printed at start-up)
    data_dir: Path  # Milvus Lite data, spool files
    milvus_uri: str  # empty: Milvus Lite in data_dir
    milvus_token: str
    space: str  # embedding space, see vigil_models.SPACES
    clip_model: str  # --space clip-clap: CLIP directory (or cached hub name)
    clap_model: str  # --space clip-clap: CLAP directory (or cached hub name)
    speech_model: str  # see vigil_models.SPEECH_MODELS
    device: str  # auto, cpu, cuda, cuda:N
    model_cache: Path  # prepared model files (the joined multilingual Whisper)
    default_frame_rate: float  # frames per second when a stream does not say
    max_chunk_bytes: int  # largest MediaChunk.data accepted
    max_streams: int  # concurrent Ingest calls
    cpu_threads: int  # threads for the speech model; 0: min(4, cores)
    grace_s: float  # how long shutdown waits for calls in flight
    log_level: str
    archive_window_s: float = 86400.0  # how far back a new bank item is searched; 0: not at all
    alert_window_s: float = 60.0  # flood control: one alert per (stream, query or item) per window
    query_threshold: float = 3.5  # default calibrated score for standing queries
    bank_min_cosine: float = 0.75  # copy-descriptor match of a frame and a reference picture


def _env(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(f"VIGIL_{name}", default)


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vigil-server",
        description="Vigil: a gRPC server for cross-modal retrieval over live media. "
        "Every flag also reads VIGIL_<FLAG> from the environment (e.g. VIGIL_LISTEN).",
    )
    home_cache = Path(env.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vigil"
    p.add_argument(
        "--listen", default=_env(env, "LISTEN", "127.0.0.1:50051"), help="host:port to serve on (%(default)s)"
    )
    p.add_argument("--data-dir", type=Path, default=Path(_env(env, "DATA_DIR", "vigil-data")), help="(%(default)s)")
    p.add_argument(
        "--milvus-uri",
        default=_env(env, "MILVUS_URI", ""),
        help="Milvus server, e.g. http://127.0.0.1:19530; empty: Milvus Lite inside --data-dir",
    )
    p.add_argument("--milvus-token", default=_env(env, "MILVUS_TOKEN", ""), help="user:password or API key")
    p.add_argument(
        "--space",
        choices=sorted(SPACES),
        default=_env(env, "SPACE", DEFAULT_SPACE),
        help="embedding space: the packaged label-space default, or clip-clap with --clip-model/--clap-model",
    )
    p.add_argument("--clip-model", default=_env(env, "CLIP_MODEL", ""), help="CLIP model directory (clip-clap)")
    p.add_argument("--clap-model", default=_env(env, "CLAP_MODEL", ""), help="CLAP model directory (clip-clap)")
    p.add_argument(
        "--speech-model",
        choices=sorted(SPEECH_MODELS),
        default=_env(env, "SPEECH_MODEL", DEFAULT_SPEECH_MODEL),
        help="; ".join(f"{k}: {v.description}" for k, v in SPEECH_MODELS.items()),
    )
    p.add_argument("--device", default=_env(env, "DEVICE", "auto"), help="auto (cuda if present), cpu, cuda:N")
    p.add_argument("--model-cache", type=Path, default=Path(_env(env, "MODEL_CACHE", str(home_cache))))
    # Numeric defaults stay strings: argparse converts them with `type`, so a bad VIGIL_* value is a usage error.
    p.add_argument("--frame-rate", type=float, default=_env(env, "FRAME_RATE", "1.0"), help="(%(default)s)")
    p.add_argument("--max-chunk-mib", type=float, default=_env(env, "MAX_CHUNK_MIB", "4"), help="(%(default)s)")
    p.add_argument("--max-streams", type=int, default=_env(env, "MAX_STREAMS", "32"), help="(%(default)s)")
    p.add_argument("--cpu-threads", type=int, default=_env(env, "CPU_THREADS", "0"))
    p.add_argument("--grace", type=float, default=_env(env, "GRACE", "10"), help="shutdown grace, seconds")
    p.add_argument("--log-level", default=_env(env, "LOG_LEVEL", "INFO"))
    mod = p.add_argument_group("moderation")
    mod.add_argument(
        "--archive-window",
        type=float,
        default=_env(env, "ARCHIVE_WINDOW", "86400"),
        help="seconds of archive searched when a bank item is added; 0 disables (%(default)s)",
    )
    mod.add_argument(
        "--alert-window",
        type=float,
        default=_env(env, "ALERT_WINDOW", "60"),
        help="flood control: at most one alert per (stream, query or item) per this many seconds (%(default)s)",
    )
    mod.add_argument(
        "--query-threshold",
        type=float,
        default=_env(env, "QUERY_THRESHOLD", "3.5"),
        help="calibrated score a standing query needs when it sets none (%(default)s)",
    )
    mod.add_argument(
        "--bank-min-cosine",
        type=float,
        default=_env(env, "BANK_MIN_COSINE", "0.75"),
        help="cosine of copy descriptors at which a frame matches a reference picture (%(default)s)",
    )
    return p


def load_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    p = parser(env)
    ns = p.parse_args(argv)
    # argparse checks choices on flags but not on defaults, which come from the environment.
    if ns.space not in SPACES:
        p.error(f"VIGIL_SPACE={ns.space!r}: choose one of {', '.join(sorted(SPACES))}")
    if ns.speech_model not in SPEECH_MODELS:
        p.error(f"VIGIL_SPEECH_MODEL={ns.speech_model!r}: choose one of {', '.join(sorted(SPEECH_MODELS))}")
    if ns.max_streams < 1 or ns.cpu_threads < 0 or ns.grace < 0:
        p.error("--max-streams must be >= 1, --cpu-threads and --grace >= 0")
    if not 0 < ns.frame_rate <= 30:
        p.error("--frame-rate must be in (0, 30]")
    if ns.max_chunk_mib <= 0 or ns.max_chunk_mib > 64:
        p.error("--max-chunk-mib must be in (0, 64]")
    if ns.archive_window < 0 or ns.alert_window < 0:
        p.error("--archive-window and --alert-window must be >= 0")
    if not 0 < ns.query_threshold <= 50 or not 0 < ns.bank_min_cosine <= 1:
        p.error("--query-threshold must be in (0, 50] and --bank-min-cosine in (0, 1]")
    return Settings(
        listen=ns.listen,
        data_dir=ns.data_dir,
        milvus_uri=ns.milvus_uri,
        milvus_token=ns.milvus_token,
        space=ns.space,
        clip_model=ns.clip_model,
        clap_model=ns.clap_model,
        speech_model=ns.speech_model,
        device=ns.device,
        model_cache=ns.model_cache,
        default_frame_rate=ns.frame_rate,
        max_chunk_bytes=int(ns.max_chunk_mib * MiB),
        max_streams=ns.max_streams,
        cpu_threads=ns.cpu_threads,
        grace_s=ns.grace,
        log_level=ns.log_level.upper(),
        archive_window_s=ns.archive_window,
        alert_window_s=ns.alert_window,
        query_threshold=ns.query_threshold,
        bank_min_cosine=ns.bank_min_cosine,
    )
