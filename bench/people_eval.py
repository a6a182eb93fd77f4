"""People and face detection (vigil_models.people) on labelled real photos, tuned on one half, reported on both.

    .venv/bin/python bench/people_eval.py [--json bench/results/people.json]

Two labelled sets, each split in two by a fixed rule (a hash of the photo's path, the index's
parity for the crops); thresholds are chosen on the tuning halves only:

- scenes: the 274 photos of bench/photos, every one looked at by a person. bench/people/labels.tsv
  lists the ones with people (count, and whether a face is visible and frontal), the ones whose
  people are specks (excluded: neither answer is wrong) and statues (no person). Every other photo
  has no person.
- crops: scikit-image's LFW subset, 100 face crops and 100 background crops of 25x25 pixels,
  scaled to 100x100 and set in a 160x160 grey frame (face yes/no).

Reports precision and recall of "this frame has a person" and "this frame has a face" per half,
the thresholds chosen (best F1 on the tuning halves, person and face separately) and CPU-ms per
frame (process time, so other load on the machine does not count) for 640x360-ish frames.

`--mixing` also chooses how much of each people concept goes into a frame's label-space vector
(vigil_models.people.PeopleMixing, one scale for all four) on the tuning half (scenes and crops
together) and reports, per half: people queries ("a person", "people", ...) -> any scene or crop
with a person (R@1, R@5, MRR of the first), and each scene's caption -> that photo (R@1), which the
mixing must not lower. It loads the default space's text encoder and frame classifier.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "photos"))

import dataset  # noqa: E402

from vigil_models.people import PeopleDetector, PeopleMixing, PeopleOptions, RawDetections, decide  # noqa: E402

PEOPLE_QUERIES = ("a person", "people", "a crowd", "a face", "someone", "a group of people", "musicians playing")
SCALES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)  # times GRID_UNIT's weights (PeopleMixing's defaults are scale 0.5)
GRID_UNIT = PeopleMixing(person=0.35, people=0.35, crowd=0.35, face=0.25)
HOG_THRESHOLDS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
FACE_NEIGHBOURS = (3, 4, 5, 6, 8, 10, 12, 16)


@dataclass
class Item:
    name: str
    person: bool | None  # None: ambiguous (specks), not scored
    face: bool
    tune: bool
    raw: RawDetections


def _half(name: str) -> bool:
    return hashlib.sha1(name.encode()).digest()[0] % 2 == 0


def _scene_labels() -> dict[str, tuple[int, bool]]:
    with (HERE / "people" / "labels.tsv").open() as f:
        return {row["path"]: (int(row["persons"]), row["face"] == "1") for row in csv.DictReader(f, delimiter="\t")}


def _crop_frame(crop: np.ndarray) -> np.ndarray:
    from PIL import Image

    big = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((100, 100), Image.Resampling.BICUBIC))
    frame = np.full((160, 160), 128, dtype=np.uint8)
    frame[30:130, 30:130] = big
    return np.repeat(frame[:, :, None], 3, axis=2)


def collect(detector: PeopleDetector) -> tuple[list[Item], list[Item], float]:
    import skimage.data

    labels = _scene_labels()
    photos = dataset.load_photos()
    scenes, crops, cpu, frames = [], [], 0.0, 0
    for photo, image in zip(photos.photos, photos.images, strict=True):
        count, face = labels.get(photo.path, (0, False))
        began = time.process_time()
        raw = detector.raw(image)
        cpu += time.process_time() - began
        frames += 1
        scenes.append(Item(photo.path, None if count < 0 else count > 0, face, _half(photo.path), raw))
    for i, crop in enumerate(skimage.data.lfw_subset()):
        face = i < 100
        crops.append(Item(f"lfw-{i}", face, face, i % 2 == 0, detector.raw(_crop_frame(crop))))
    return scenes, crops, 1000 * cpu / frames


def rates(items: list[Item], options: PeopleOptions, what: str) -> dict[str, float]:
    tp = fp = fn = tn = 0
    for item in items:
        truth = item.person if what == "person" else item.face
        if truth is None:
            continue
        found = decide(item.raw, options)
        said = (found.person_count if what == "person" else found.face_count) > 0
        tp, fp = tp + (said and truth), fp + (said and not truth)
        fn, tn = fn + (truth and not said), tn + (not truth and not said)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _rank_stats(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {"R@1": sum(r == 1 for r in ranks) / n, "R@5": sum(r is not None and r <= 5 for r in ranks) / n,
            "MRR": sum(1 / r for r in ranks if r is not None) / n}  # fmt: skip


def mixing(
    items: list[Item], images: list[np.ndarray], captions: list[str | None], options: PeopleOptions
) -> dict[str, object]:
    """Choose the mixing scale on the tuning half; people-query and caption retrieval per half.

    `items`: the scenes and the crops (people queries look for any item with a person among all of
    the half's); `captions`: each scene's caption, None for crops (caption queries: scenes only).
    """
    import torch

    from vigil_models import LabelSpaceImageEncoder, PeopleConcepts, SentenceEncoder
    from vigil_models.catalog import classifier_weights, text_model_dir
    from vigil_models.class_texts import embed_class_texts, imagenet_class_texts
    from vigil_models.efficientnet_lite import load_lite0

    device = torch.device("cpu")
    text = SentenceEncoder(text_model_dir("all-MiniLM-L6-v2"), device)
    classifier = load_lite0(str(classifier_weights("efficientnet-lite0")), device)
    encoder = LabelSpaceImageEncoder(classifier, embed_class_texts(text.embed, imagenet_class_texts()), device)
    frames = np.concatenate([encoder.embed(images[i : i + 16]) for i in range(0, len(images), 16)])
    found = [decide(item.raw, options) for item in items]
    queries = text.embed(list(PEOPLE_QUERIES))
    caption_vectors = {
        i: v
        for i, v in zip([i for i, c in enumerate(captions) if c], text.embed([c for c in captions if c]), strict=True)
    }
    base = GRID_UNIT

    def evaluate(scale: float, half: bool) -> dict[str, float]:
        weights = PeopleMixing(base.person * scale, base.people * scale, base.crowd * scale, base.face * scale)
        concepts = PeopleConcepts(text.embed, weights)
        rows = [i for i, item in enumerate(items) if item.tune == half and item.person is not None]
        mixed = np.stack([concepts.mix(frames[i], found[i]) for i in rows])
        has_people = np.array([bool(items[i].person) for i in rows])
        people_ranks: list[int | None] = []
        for q in queries:
            order = np.argsort(-(mixed @ q))
            hit = np.flatnonzero(has_people[order])
            people_ranks.append(int(hit[0]) + 1 if len(hit) else None)
        caption_ranks: list[int | None] = []
        for i in (r for r in rows if captions[r]):
            cosines = mixed @ caption_vectors[i]
            same = [j for j, r in enumerate(rows) if captions[r] == captions[i]]
            caption_ranks.append(int((cosines > max(cosines[j] for j in same)).sum()) + 1)
        people, caption = _rank_stats(people_ranks), _rank_stats(caption_ranks)
        return {"people R@1": people["R@1"], "people R@5": people["R@5"], "people MRR": people["MRR"],
                "caption R@1": caption["R@1"]}  # fmt: skip

    # The largest scale whose caption R@1 on the tuning half is not below the scale 0's, best people MRR first.
    plain = evaluate(0.0, True)["caption R@1"]
    tuning = {scale: evaluate(scale, True) for scale in SCALES}
    allowed = [s for s in SCALES if tuning[s]["caption R@1"] >= plain]
    chosen = max(allowed, key=lambda s: (tuning[s]["people MRR"], -s))
    report: dict[str, object] = {"scale": chosen}
    for scale in sorted({0.0, chosen}):
        for half, part in (("tuning", True), ("held-out", False)):
            r = tuning[scale] if part else evaluate(scale, False)
            report[f"mixing x{scale}/{half}"] = r
            print(f"mixing x{scale:<4} {half:8}  " + "  ".join(f"{k} {v:.3f}" for k, v in r.items()))
    for scale in SCALES:
        print(f"  tuning x{scale:<4} " + "  ".join(f"{k} {v:.3f}" for k, v in tuning[scale].items()))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--max-side", type=int, default=PeopleOptions().max_side)
    parser.add_argument("--mixing", action="store_true", help="also choose the label-space mixing (loads models)")
    args = parser.parse_args()
    base = PeopleOptions(max_side=args.max_side)
    scenes, crops, cpu_ms = collect(PeopleDetector(base))
    tune = [i for i in scenes + crops if i.tune]
    # Faces first (they count as people), then HOG's threshold for people, both on the tuning halves only.
    face_n = max(FACE_NEIGHBOURS, key=lambda n: rates(tune, replace(base, face_neighbours=n), "face")["f1"])
    base = replace(base, face_neighbours=face_n)
    hog_t = max(HOG_THRESHOLDS, key=lambda t: rates(tune, replace(base, hog_threshold=t), "person")["f1"])
    chosen = replace(base, hog_threshold=hog_t)
    report: dict[str, object] = {"options": chosen.__dict__, "cpu_ms_per_frame": round(cpu_ms, 1)}
    for set_name, items in (("scenes", scenes), ("crops", crops)):
        for half, part in (("tuning", True), ("held-out", False)):
            chosen_items = [i for i in items if i.tune == part]
            for what in ("person", "face"):
                if set_name == "crops" and what == "person":
                    continue
                r = rates(chosen_items, chosen, what)
                report[f"{set_name}/{half}/{what}"] = r
                print(f"{set_name:6} {half:8} {what:6}  precision {r['precision']:.2f}  recall {r['recall']:.2f}  "
                      f"(tp {r['tp']} fp {r['fp']} fn {r['fn']} tn {r['tn']})")  # fmt: skip
    print(f"chosen on the tuning halves: hog_threshold {hog_t}, face_neighbours {face_n}; "
          f"CPU {cpu_ms:.0f} ms per scene photo at max_side {args.max_side} (process time)")  # fmt: skip
    if args.mixing:
        photos = dataset.load_photos()
        import skimage.data

        crop_frames = [_crop_frame(crop) for crop in skimage.data.lfw_subset()]
        captions: list[str | None] = [p.caption for p in photos.photos] + [None] * len(crop_frames)
        report["mixing"] = mixing(scenes + crops, photos.images + crop_frames, captions, chosen)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
