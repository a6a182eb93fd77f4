"""Settings: flags, with VIGIL_* environment variables as their defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil_server.settings import (
    IngestSettings,
    MiB,
    ModelSettings,
    ModerationSettings,
    ServerSettings,
    Settings,
    StorageSettings,
    flag_fields,
    load_settings,
)

ENV = {
    "VIGIL_LISTEN": "0.0.0.0:6000",
    "VIGIL_DATA_DIR": "/srv/vigil",
    "VIGIL_MILVUS_URI": "http://milvus:19530",
    "VIGIL_MILVUS_TOKEN": "root:Milvus",
    "VIGIL_SPEECH_MODEL": "base",
    "VIGIL_DEVICE": "cpu",
    "VIGIL_MODEL_CACHE": "/var/cache/vigil",
    "VIGIL_FRAME_RATE": "2.5",
    "VIGIL_MAX_CHUNK_MIB": "8",
    "VIGIL_MAX_STREAMS": "4",
    "VIGIL_CPU_THREADS": "2",
    "VIGIL_GRACE": "3",
    "VIGIL_LOG_LEVEL": "debug",
    "VIGIL_CLIP_MODEL": "/models/clip",
    "VIGIL_CLAP_MODEL": "/models/clap",
    "VIGIL_ARCHIVE_WINDOW": "600",
    "VIGIL_ALERT_WINDOW": "5",
    "VIGIL_QUERY_THRESHOLD": "4.5",
    "VIGIL_BANK_MIN_COSINE": "0.8",
    "VIGIL_PDQ_MAX_DISTANCE": "20",
    "VIGIL_PDQ_MIN_QUALITY": "70",
    "VIGIL_FINGERPRINT_MIN_SCORE": "0.6",
}


def test_defaults_without_flags_or_environment() -> None:
    s = load_settings([], {"XDG_CACHE_HOME": "/xdg"})
    assert s == Settings(
        server=ServerSettings(
            listen="127.0.0.1:50051", grace_s=10.0, max_chunk_mib=4, max_streams=32, log_level="INFO"
        ),
        storage=StorageSettings(data_dir=Path("vigil-data"), milvus_uri="", milvus_token=""),
        models=ModelSettings(
            space="label-minilm-lite0",
            clip_model="",
            clap_model="",
            speech_model="tiny.en",
            device="auto",
            model_cache=Path("/xdg/vigil"),
            cpu_threads=0,
        ),
        ingest=IngestSettings(frame_rate=1.0),
        moderation=ModerationSettings(
            archive_window_s=86400.0,
            alert_window_s=60.0,
            query_threshold=3.5,
            bank_min_cosine=0.75,
            pdq_max_distance=31,
            pdq_min_quality=50,
            fingerprint_min_score=0.5,
        ),
    )
    assert s.server.max_chunk_bytes == 4 * MiB


def test_model_cache_defaults_to_the_home_cache_without_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/vigil")
    assert load_settings([], {}).models.model_cache == Path("/home/vigil/.cache/vigil")


def test_environment_sets_every_default() -> None:
    s = load_settings([], ENV)
    assert s == Settings(
        server=ServerSettings(listen="0.0.0.0:6000", grace_s=3.0, max_chunk_mib=8, max_streams=4, log_level="DEBUG"),
        storage=StorageSettings(
            data_dir=Path("/srv/vigil"), milvus_uri="http://milvus:19530", milvus_token="root:Milvus"
        ),
        models=ModelSettings(
            space="label-minilm-lite0",
            clip_model="/models/clip",
            clap_model="/models/clap",
            speech_model="base",
            device="cpu",
            model_cache=Path("/var/cache/vigil"),
            cpu_threads=2,
        ),
        ingest=IngestSettings(frame_rate=2.5),
        moderation=ModerationSettings(
            archive_window_s=600.0,
            alert_window_s=5.0,
            query_threshold=4.5,
            bank_min_cosine=0.8,
            pdq_max_distance=20,
            pdq_min_quality=70,
            fingerprint_min_score=0.6,
        ),
    )
    assert s.server.max_chunk_bytes == 8 * MiB


def test_flags_override_the_environment() -> None:
    argv = ["--listen", "127.0.0.1:0", "--frame-rate", "0.5", "--max-streams", "9", "--data-dir", "here"]
    argv += ["--pdq-max-distance", "10", "--pdq-min-quality", "0", "--fingerprint-min-score", "1"]
    s = load_settings(argv, ENV)
    assert (s.server.listen, s.ingest.frame_rate, s.server.max_streams) == ("127.0.0.1:0", 0.5, 9)
    assert s.storage.data_dir == Path("here")
    m = s.moderation
    assert (m.pdq_max_distance, m.pdq_min_quality, m.fingerprint_min_score) == (10, 0, 1.0)
    assert s.storage.milvus_uri == "http://milvus:19530"  # not given as a flag: still from the environment


def test_a_bad_environment_value_does_not_matter_when_the_flag_is_given() -> None:
    env = {"VIGIL_FRAME_RATE": "fast", "VIGIL_PDQ_MAX_DISTANCE": "999", "VIGIL_SPEECH_MODEL": "large"}
    s = load_settings(["--frame-rate", "2", "--pdq-max-distance", "8", "--speech-model", "base"], env)
    assert (s.ingest.frame_rate, s.moderation.pdq_max_distance, s.models.speech_model) == (2.0, 8, "base")


def test_help_shows_each_default(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps help at the terminal width
    with pytest.raises(SystemExit) as exited:
        load_settings(["--help"], {"XDG_CACHE_HOME": "/xdg", "VIGIL_GRACE": "3"})
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.count("(default: ") == len(list(flag_fields()))
    shown = ["127.0.0.1:50051", "4", "86400", "0.75", "empty", "label-minilm-lite0", "31", "50", "0.5", "/xdg/vigil"]
    for default in [*shown, "3, from VIGIL_GRACE"]:
        assert f"(default: {default})" in out


def test_only_the_given_mapping_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_LISTEN", "10.0.0.1:1")
    assert load_settings([], {}).server.listen == "127.0.0.1:50051"
    assert load_settings([]).server.listen == "10.0.0.1:1"  # env=None: the process environment


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--frame-rate", "0"], {}, "--frame-rate must be in"),
        (["--frame-rate", "31"], {}, "--frame-rate must be in"),
        (["--frame-rate", "-1"], {}, "--frame-rate must be in"),
        (["--frame-rate", "fast"], {}, "invalid float value: 'fast'"),
        ([], {"VIGIL_FRAME_RATE": "0"}, "--frame-rate must be in"),
        ([], {"VIGIL_FRAME_RATE": "fast"}, "invalid float value: 'fast'"),
        ([], {"VIGIL_MAX_STREAMS": "many"}, "invalid int value: 'many'"),
        (["--max-chunk-mib", "65"], {}, "--max-chunk-mib must be in"),
        (["--speech-model", "large"], {}, "invalid choice: 'large'"),
        (["--no-such-flag"], {}, "unrecognized arguments"),
        ([], {"VIGIL_SPACE": "big"}, "VIGIL_SPACE='big': choose one of"),
        ([], {"VIGIL_SPEECH_MODEL": "large"}, "VIGIL_SPEECH_MODEL='large': choose one of base, tiny.en"),
        (["--max-streams", "0"], {}, "--max-streams must be >= 1"),
        (["--cpu-threads", "-1"], {}, "--cpu-threads must be >= 0"),
        ([], {"VIGIL_GRACE": "-1"}, "--grace must be >= 0"),
        (["--archive-window", "-1"], {}, "--archive-window must be >= 0"),
        ([], {"VIGIL_ALERT_WINDOW": "-0.5"}, "--alert-window must be >= 0"),
        (["--query-threshold", "0"], {}, "--query-threshold must be in (0, 50]"),
        (["--bank-min-cosine", "1.5"], {}, "--bank-min-cosine must be in (0, 1]"),
        (["--pdq-max-distance", "257"], {}, "--pdq-max-distance must be in [0, 256]"),
        (["--pdq-max-distance", "-1"], {}, "--pdq-max-distance must be in [0, 256]"),
        ([], {"VIGIL_PDQ_MAX_DISTANCE": "300"}, "--pdq-max-distance must be in [0, 256]"),
        ([], {"VIGIL_PDQ_MAX_DISTANCE": "31.5"}, "invalid int value: '31.5'"),
        (["--pdq-min-quality", "101"], {}, "--pdq-min-quality must be in [0, 100]"),
        ([], {"VIGIL_PDQ_MIN_QUALITY": "-1"}, "--pdq-min-quality must be in [0, 100]"),
        (["--fingerprint-min-score", "0"], {}, "--fingerprint-min-score must be in (0, 1]"),
        ([], {"VIGIL_FINGERPRINT_MIN_SCORE": "1.1"}, "--fingerprint-min-score must be in (0, 1]"),
        ([], {"VIGIL_FINGERPRINT_MIN_SCORE": "high"}, "invalid float value: 'high'"),
    ],
)
def test_bad_values_exit_with_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        load_settings(argv, env)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "vigil-server: error:" in err
    assert message in err
