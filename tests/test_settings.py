"""Settings: flags, with VIGIL_* environment variables as their defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil_server.settings import MiB, Settings, load_settings

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
}


def test_defaults_without_flags_or_environment() -> None:
    s = load_settings([], {"XDG_CACHE_HOME": "/xdg"})
    assert s == Settings(
        listen="127.0.0.1:50051",
        data_dir=Path("vigil-data"),
        milvus_uri="",
        milvus_token="",
        space="label-minilm-lite0",
        clip_model="",
        clap_model="",
        speech_model="tiny.en",
        device="auto",
        model_cache=Path("/xdg/vigil"),
        default_frame_rate=1.0,
        max_chunk_bytes=4 * MiB,
        max_streams=32,
        cpu_threads=0,
        grace_s=10.0,
        log_level="INFO",
    )


def test_environment_sets_every_default() -> None:
    s = load_settings([], ENV)
    assert s == Settings(
        listen="0.0.0.0:6000",
        data_dir=Path("/srv/vigil"),
        milvus_uri="http://milvus:19530",
        milvus_token="root:Milvus",
        space="label-minilm-lite0",
        clip_model="/models/clip",
        clap_model="/models/clap",
        speech_model="base",
        device="cpu",
        model_cache=Path("/var/cache/vigil"),
        default_frame_rate=2.5,
        max_chunk_bytes=8 * MiB,
        max_streams=4,
        cpu_threads=2,
        grace_s=3.0,
        log_level="DEBUG",
    )


def test_flags_override_the_environment() -> None:
    argv = ["--listen", "127.0.0.1:0", "--frame-rate", "0.5", "--max-streams", "9", "--data-dir", "here"]
    s = load_settings(argv, ENV)
    assert (s.listen, s.default_frame_rate, s.max_streams, s.data_dir) == ("127.0.0.1:0", 0.5, 9, Path("here"))
    assert s.milvus_uri == "http://milvus:19530"  # not given as a flag: still from the environment


def test_only_the_given_mapping_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_LISTEN", "10.0.0.1:1")
    assert load_settings([], {}).listen == "127.0.0.1:50051"
    assert load_settings([]).listen == "10.0.0.1:1"  # env=None: the process environment


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
