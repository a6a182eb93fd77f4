"""How many CPU threads each model's runtime gets.

The server runs its models at the same time, each on a worker thread of its own (text, image, speech
detection, transcription, sound; vigil_server.workers). Each runtime also has an intra-op pool of
its own: torch's (OpenMP), CTranslate2's (Whisper) and one per ONNX Runtime session. When the pools
together ask for more threads than there are cores, threads wait for each other in spin loops that
burn CPU without work. Measured on 2 busy cores (load 15-30, CPU time of the process): the frame
encoder in torch with 2 intra-op threads took 160-900 CPU-ms per frame against 25-35 with 1
(bench/encoder_speed.py, twice); in a quieter run torch (text encoder, resizing) and CTranslate2
cost about the same CPU with 1 or 2 threads, 2 being faster in wall time (bench/thread_settings.py).
The whole server (bench/streams.py, 2 paced streams of 60 s, load 2-7) spent 0.376 and 0.386 CPU-s
per media-second with 1 thread per runtime, 0.450 and 0.472 with 2. So by default each runtime gets
1 thread per 4 cores (the worker threads already use the cores in parallel), at least 1 and at most
4: 1 on 2 cores. `--cpu-threads N` gives every runtime N; the data so far does not separate the
runtimes enough for a flag each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MAX_AUTO_THREADS = 4  # more intra-op threads than this did not pay for a small model on CPU
CORES_PER_THREAD = 4  # cores per runtime thread in the automatic plan: about one per concurrent model worker


@dataclass(frozen=True)
class ThreadPlan:
    """Threads per runtime on CPU; every field is at least 1."""

    torch_intra: int  # torch.set_num_threads: the text encoder and other torch models
    torch_interop: int  # torch.set_num_interop_threads (torch runs one op at a time here; 1 is enough)
    whisper: int  # CTranslate2 intra-op threads of the transcriber (faster-whisper's cpu_threads)
    onnx: int  # intra-op threads of each ONNX Runtime session Vigil creates (the frame encoder)


def auto_threads(cpus: int | None = None) -> int:
    """Threads per runtime when none are asked for: one per CORES_PER_THREAD cores, from 1 to MAX_AUTO_THREADS."""
    count = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, min(MAX_AUTO_THREADS, count // CORES_PER_THREAD))


def plan_threads(cpu_threads: int = 0, cpus: int | None = None) -> ThreadPlan:
    """`cpu_threads` threads for every runtime, or 0 for the automatic count (see auto_threads)."""
    if cpu_threads < 0:
        raise ValueError(f"cpu_threads must be 0 (automatic) or more, got {cpu_threads}")
    n = cpu_threads or auto_threads(cpus)
    return ThreadPlan(torch_intra=n, torch_interop=1, whisper=n, onnx=n)
