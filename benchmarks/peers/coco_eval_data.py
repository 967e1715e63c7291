#!/usr/bin/env python3
"""Synthetic COCO bbox evaluation set for benchmarks/coco_eval.sh: a ground-truth instances JSON
and a detector's results JSON whose overlaps and scores look like a real detector's output.

Images are 640x480-ish; each has a Poisson(7) number of ground-truth boxes (at least one, log-
uniform sizes so all three area ranges are populated, 1% crowd, area = 0.6..0.95 of the box as a
segment's would be) from 80 categories with COCO's id gaps. Every image gets exactly --dets
detections: for each ground truth, a few jittered copies (mostly the right category, sometimes a
confusable one) scored by how well they fit, then background boxes with low scores. Scores and
coordinates are rounded to 3 and 2 decimals, as detectors' JSON writers do, so scores tie.
Usage: coco_eval_data.py --out DIR [--images 5000] [--dets 100] [--seed 0]
Writes DIR/gt.json and DIR/dets.json.
"""
import argparse
import json
import os

import numpy as np

# COCO's 80 category ids (1..90 with gaps).
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def make(out, n_images, dets_per_image, seed):
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    ann_id = 1
    for i in range(n_images):
        img_id = 100000 + 7 * i  # sparse ids, like COCO's
        w_img, h_img = int(rng.choice([640, 612, 500])), int(rng.choice([480, 427, 375]))
        images.append({"id": img_id, "width": w_img, "height": h_img, "file_name": f"{img_id:012d}.jpg"})
        gts = []
        for _ in range(max(1, rng.poisson(7))):
            side = float(np.exp(rng.uniform(np.log(6), np.log(min(w_img, h_img)))))
            aspect = float(np.exp(rng.normal(0, 0.5)))
            bw = min(side * aspect, w_img - 1.0)
            bh = min(side / aspect, h_img - 1.0)
            x, y = rng.uniform(0, w_img - bw), rng.uniform(0, h_img - bh)
            cat = int(rng.choice(COCO_IDS))
            box = [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)]
            area = round(bw * bh * rng.uniform(0.6, 0.95), 4)
            crowd = int(rng.random() < 0.01)
            anns.append({"id": ann_id, "image_id": img_id, "category_id": cat, "bbox": box, "area": area,
                         "iscrowd": crowd})
            ann_id += 1
            gts.append((box, cat))
        dets = []
        for box, cat in gts:
            for _ in range(int(rng.integers(1, 5))):
                noise = rng.normal(0, 0.12, 4) * np.array([box[2], box[3], box[2], box[3]])
                x, y = box[0] + noise[0], box[1] + noise[1]
                bw, bh = max(box[2] + noise[2], 1.0), max(box[3] + noise[3], 1.0)
                fit = float(np.exp(-np.abs(noise).sum() / (box[2] + box[3])))
                c = cat if rng.random() < 0.85 else int(rng.choice(COCO_IDS))
                score = min(0.999, max(0.001, fit * rng.uniform(0.3, 1.0)))
                dets.append((c, [x, y, bw, bh], score))
        while len(dets) < dets_per_image:
            side = float(np.exp(rng.uniform(np.log(4), np.log(min(w_img, h_img)))))
            bw, bh = side * float(np.exp(rng.normal(0, 0.5))), side
            x, y = rng.uniform(-5, w_img - min(bw, w_img) + 5), rng.uniform(-5, h_img - min(bh, h_img) + 5)
            dets.append((int(rng.choice(COCO_IDS)), [x, y, bw, bh], float(rng.beta(1.2, 12))))
        for c, b, s in dets[:dets_per_image]:
            results.append({"image_id": img_id, "category_id": c, "bbox": [round(float(v), 2) for v in b],
                            "score": round(max(s, 0.001), 3)})
    cats = [{"id": c, "name": f"class_{c}", "supercategory": "thing"} for c in COCO_IDS]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "gt.json"), "w") as f:
        json.dump({"info": {"description": "attncamp synthetic COCO bbox set"}, "licenses": [], "images": images,
                   "annotations": anns, "categories": cats}, f)
    with open(os.path.join(out, "dets.json"), "w") as f:
        json.dump(results, f)
    print(f"wrote {out}/gt.json ({len(images)} images, {len(anns)} boxes, {len(cats)} categories) and "
          f"{out}/dets.json ({len(results)} detections)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    make(a.out, a.images, a.dets, a.seed)
