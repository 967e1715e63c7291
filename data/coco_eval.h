// COCO bbox evaluation equal to pycocotools' COCOeval(iouType="bbox") with its default parameters
// (useCats=1): per (image, category) pair, greedy matching of score-sorted detections to ground
// truth at ten IoU thresholds in four area ranges (evaluate), 101-point interpolated precision and
// recall per category (accumulate), and the twelve summary numbers (summarize). Pairs are
// evaluated on several threads, each into its own slot, so results do not depend on the count.
//
// Exactly as pycocotools (the arithmetic is its own, operation by operation, in double):
// - IoU is maskApi.c's bbIou: inter = (min(x+w) - max(x)) * (min(y+h) - max(y)) when both sides
//   are > 0, else 0; union = dt_area + gt_area - inter with box areas w*h, or dt_area alone for a
//   crowd ground truth (which can then match any number of detections).
// - A pair's detections are ordered by score, highest first, ties in file order (numpy's stable
//   mergesort), and only the first 100 take part; its ground truth is ordered with the ignored
//   ones (crowd, or 'area' outside the range) last, ties in file order.
// - Matching at threshold t: each detection, in order, takes the ground truth with the largest
//   IoU >= min(t, 1 - 1e-10) among those not yet matched (crowd ones always available), a later
//   one winning ties, stopping at the ignored ones once it holds a regular one. A detection
//   matched to an ignored ground truth is ignored; an unmatched detection whose area w*h lies
//   outside the range is ignored. A match to a ground truth whose annotation id is 0 counts as
//   unmatched (pycocotools stores the id and tests it against 0).
// - Area ranges (pixels^2, both ends inclusive): all [0, 1e10], small [0, 32^2], medium
//   [32^2, 96^2], large [96^2, 1e10]; maxDets 1, 10, 100 keep each pair's first detections.
// - Per category, area range and maxDets, the detections of all images are merged by score (ties
//   by image id, then the pair's order); precision = tp / (tp + fp + eps) made non-increasing from
//   the right, read at the first position whose recall tp / n_gt reaches each of the 101 recall
//   thresholds (0 past the last detection); recall = the final tp / n_gt (0 without detections).
//   A category without (non-ignored) ground truth in a range gets -1 there.
// - Thresholds are numpy's linspace values; the twelve numbers are numpy means (pairwise sums) of
//   the entries > -1, in pycocotools' order; -1 when there are none.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/coco_json.h"
#include "data/detection.h"

namespace attncamp::data {

// Ground truth for evaluation: images and categories by id, annotations in file order.
struct CocoEvalGroundTruth {
  std::string source;                       // the file it came from, for messages
  std::vector<int64_t> image_ids;           // [N] ascending, unique (pycocotools' imgIds)
  std::vector<int64_t> category_ids;        // [K] ascending, unique (pycocotools' catIds)
  std::vector<std::string> category_names;  // [K] ("" when the file has none)
  std::vector<int32_t> image;               // [M] annotation -> index into image_ids
  std::vector<int32_t> category;            // [M] annotation -> index into category_ids
  std::vector<double> boxes;                // [M * 4] x, y, w, h in pixels
  std::vector<double> areas;                // [M] the annotation's 'area' field (pixels^2)
  std::vector<uint8_t> iscrowd;             // [M] 0 or 1
  std::vector<int64_t> ids;                 // [M] annotation ids

  int64_t num_annotations() const { return static_cast<int64_t>(image.size()); }
};

// Reads a COCO instances JSON: images[].id, categories[].id (and name, if present), and
// annotations[] with id, image_id, category_id, bbox, area and iscrowd (0/1 or a boolean);
// segmentations are dropped while parsing, other fields ignored, box values accepted as
// pycocotools accepts them (any numbers). Errors (one line naming the file, the item with its
// index and id, and the field): malformed JSON, a missing or mistyped field, a duplicate image,
// category or annotation id, an annotation whose image_id or category_id is not listed (where
// pycocotools would silently leave it out), and more than 2^31 - 1 images or categories.
CocoEvalGroundTruth read_coco_eval_ground_truth_json(const std::string& path);

// The ground truth of a detection/1 file (validated), each float32 box and area taken as the
// double of its shortest decimal: what pycocotools reads from the JSON that
// write_coco_ground_truth writes from the same file, so both give the same numbers. Annotation
// ids from /box_ids, or 1..M when the file has none (as write_coco_ground_truth writes them).
CocoEvalGroundTruth coco_eval_ground_truth(const DetectionData& d);

// A detection/1 file (told apart by the HDF5 signature) or a COCO instances JSON.
CocoEvalGroundTruth load_coco_eval_ground_truth(const std::string& path);

// Detections for evaluation, in results-file order, as pycocotools' loadRes keeps them: each
// entry's id is its index + 1 and its area is w * h.
struct CocoEvalDetections {
  std::string source;                  // the results file, for messages
  std::vector<int32_t> image;          // [D] index into the ground truth's image_ids
  std::vector<int32_t> category;       // [D] index into the ground truth's category_ids
  std::vector<double> boxes;           // [D * 4] x, y, w, h in pixels, as written
  std::vector<double> scores;          // [D]
  std::vector<int64_t> entry;          // [D] index of the entry in the results file
  int64_t unknown_category = 0;        // entries left out: category_id not in the ground truth
  int64_t first_unknown_entry = -1;    // the first of them (-1 if none)
  int64_t first_unknown_category = 0;  // its category_id

  int64_t size() const { return static_cast<int64_t>(image.size()); }
};

// Reads a COCO results JSON (data/coco_json.h read_coco_results_f64) against `gt`:
// - an image_id that is not a ground-truth image is an error naming the file, the entry index and
//   the id (pycocotools' loadRes rejects such a file: "Results do not correspond to current coco
//   set");
// - an entry whose category_id is not a ground-truth category is left out and counted, as
//   pycocotools evaluates only the ground truth's categories and ignores it;
// - an empty array is allowed and evaluates as no detections (pycocotools' loadRes fails on it
//   with an IndexError): precision and recall 0 wherever there is ground truth;
// - a bbox with w or h <= 0 is kept, as pycocotools keeps it: it overlaps nothing, and its area
//   w * h (negative when exactly one of them is) decides its area ranges as any other's.
CocoEvalDetections read_coco_eval_detections(const std::string& path, const CocoEvalGroundTruth& gt);
// The same from entries already read; `source` names them in messages.
CocoEvalDetections coco_eval_detections(const std::vector<CocoResult>& results, const CocoEvalGroundTruth& gt,
                                        const std::string& source);

// Both inputs of an evaluation: the results file is parsed on a second thread while the ground
// truth loads (load_coco_eval_ground_truth), then mapped as read_coco_eval_detections maps it.
// Errors as theirs; when both files are bad, the ground truth's is reported.
struct CocoEvalInputs {
  CocoEvalGroundTruth gt;
  CocoEvalDetections dets;
};
CocoEvalInputs load_coco_eval_inputs(const std::string& gt_path, const std::string& dets_path);

// pycocotools' Params for iouType bbox.
constexpr int kCocoIouThresholds = 10;      // T: .50:.05:.95
constexpr int kCocoRecallThresholds = 101;  // R: 0:.01:1
constexpr int kCocoAreaRanges = 4;          // A: all, small, medium, large
constexpr int kCocoMaxDetSettings = 3;      // M: 1, 10, 100
constexpr int kCocoMaxDets[kCocoMaxDetSettings] = {1, 10, 100};
constexpr const char* kCocoAreaNames[kCocoAreaRanges] = {"all", "small", "medium", "large"};
// The thresholds as numpy.linspace computes them (i * step + start, the last one exactly stop).
std::array<double, kCocoIouThresholds> coco_iou_thresholds();
std::array<double, kCocoRecallThresholds> coco_recall_thresholds();

struct CocoEvalResult {
  int64_t num_categories = 0;  // K
  std::vector<int64_t> category_ids;
  std::vector<std::string> category_names;
  // pycocotools' eval['precision']: [T, R, K, A, M] row-major, -1 where the category has no
  // non-ignored ground truth in the area range.
  std::vector<double> precision;
  // eval['recall']: [T, K, A, M] row-major, -1 likewise.
  std::vector<double> recall;
  // COCOeval.stats: AP, AP50, AP75, AP small/medium/large, AR1, AR10, AR100, AR small/medium/large.
  std::array<double, 12> stats{};

  double precision_at(int t, int r, int64_t k, int a, int m) const {
    return precision[(((static_cast<size_t>(t) * kCocoRecallThresholds + r) * num_categories + k) * kCocoAreaRanges +
                      a) *
                         kCocoMaxDetSettings +
                     m];
  }
  double recall_at(int t, int64_t k, int a, int m) const {
    return recall[((static_cast<size_t>(t) * num_categories + k) * kCocoAreaRanges + a) * kCocoMaxDetSettings + m];
  }
  // Category k's AP @[IoU .50:.95 | area all | maxDets 100]: the mean of its precision entries
  // > -1 (as detectron2 reports per category); -1 when the category has no ground truth.
  double category_ap(int64_t k) const;
};

// evaluate + accumulate + summarize. threads: worker threads (0 = all cores); the result is the
// same for every count.
CocoEvalResult evaluate_coco_bbox(const CocoEvalGroundTruth& gt, const CocoEvalDetections& dets, int threads = 0);

// COCOeval.summarize's twelve numbers from r.precision and r.recall (evaluate_coco_bbox sets
// r.stats with it).
std::array<double, 12> coco_summary_stats(const CocoEvalResult& r);

// pycocotools' twelve summary lines, each ending in a newline, e.g.
// " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.504".
std::string format_coco_summary(const CocoEvalResult& r);

}  // namespace attncamp::data
