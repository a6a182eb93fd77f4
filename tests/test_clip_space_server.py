"""The server runs the CLIP/CLAP space end to end: flags, loading, batching, CLAP sound vectors.

No CLIP or CLAP weights install offline, so this uses tiny random-weight models built by the
test: it checks the plumbing (every modality indexed and searchable in one space of the
checkpoint's dimension), not retrieval quality.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scripts.sample_media import run_ffmpeg, soundtrack_video
from tests.server_process import ServerProcess
from tests.test_clip_clap import _save_clap, _save_clip
from vigil_client import MediaBytes, VigilClient, read_chunks

MUSIC = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")


@pytest.mark.slow
def test_clip_clap_space_serves_every_modality(tmp_path: Path, model_cache: Path) -> None:
    _save_clip(tmp_path / "clip", seed=0)
    _save_clap(tmp_path / "clap", seed=1)
    args = ["--space", "clip-clap", "--clip-model", str(tmp_path / "clip"), "--clap-model", str(tmp_path / "clap")]
    server = ServerProcess(tmp_path / "data", model_cache, args).start().wait_serving(600)
    try:
        video = soundtrack_video(tmp_path, 8.0, MUSIC, name="music")
        with VigilClient(server.address, timeout=600) as client, open(video, "rb") as f:
            summary = list(client.ingest(read_chunks(f, 64 << 10), "clip-music", "mpegts", pacing="upload"))[-1].summary
            assert summary.frames_indexed == 8 and summary.sound_segments_indexed >= 1
            assert client.search("music", modalities=["sound"], top_k=3)[0].segment.modality == "sound"
            png = io.BytesIO()
            Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(png, format="PNG")
            frames = client.search(image=png.getvalue(), modalities=["frame"], top_k=3)
            assert len(frames) == 3 and all(np.isfinite(m.score) for m in frames)
            run_ffmpeg(["-t", "5", "-i", str(MUSIC), str(tmp_path / "clip.wav")])
            clip = MediaBytes((tmp_path / "clip.wav").read_bytes(), "wav")
            assert client.search(audio=clip, stream_ids=["clip-music"], top_k=1)
    finally:
        server.stop()
    collections = list((tmp_path / "data" / "milvus.db" / "collections").iterdir())
    assert any("clip_clap" in c.name for c in collections), collections
