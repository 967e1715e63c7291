// COCO bbox evaluator against pycocotools (the Python named by ATTNCAMP_TEST_PYTHON running
// benchmarks/peers/coco_eval_py.py): the reference pair in shared/data and randomized sets (crowd,
// empty images, categories without ground truth, tied scores and IoUs, more than 100 detections,
// boxes across the area ranges and on their bounds) give the same twelve numbers, precision and
// recall arrays and per-category AP; a detection/1 ground truth equals its COCO JSON; results do
// not depend on the thread count; bad inputs give one-line errors naming file, entry and field.
#include "data/coco_eval.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "data/coco.h"
#include "data/coco_json.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The twelve numbers are numpy means; ours sum in numpy's pairwise order, so they agree to the
// last bit in practice, but a numpy that sums differently may move the last bits.
constexpr double kStatTol = 1e-12;
constexpr double kReferenceTol = 1e-6;  // the shared reference pair, as its issue states it

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string reference_python() {
  const char* py = std::getenv(env::kTestPython);
  return py ? py : "";
}

#define SKIP_WITHOUT_PYCOCOTOOLS()                                                                      \
  if (reference_python().empty())                                                                       \
  GTEST_SKIP() << env::kTestPython << " is unset: no Python with pycocotools to compare with (.ci/run " \
               << "makes build-ci-venv and sets it)"

// pycocotools' results for one ground truth + results pair.
struct Reference {
  std::array<double, 12> stats{};
  std::vector<double> precision, recall, category_ap;
};

std::vector<double> read_f64(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<double> v(static_cast<size_t>(in.tellg()) / sizeof(double));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(double)));
  return v;
}

Reference run_pycocotools(const std::string& gt, const std::string& dets, const std::string& impl = "pycocotools") {
  const std::string prefix = test::temp_dir() + "/ref";
  const std::string cmd = "'" + reference_python() + "' '" + test::source_dir() +
                          "/benchmarks/peers/coco_eval_py.py' " + impl + " '" + gt + "' '" + dets +
                          "' --per-category --arrays '" + prefix + "'";
  const test::CommandResult run = test::run_command(cmd);
  EXPECT_EQ(run.exit_code, 0) << cmd << "\n" << run.output;
  const std::string& output = run.output;
  Reference ref;
  std::istringstream lines(output);
  std::string line;
  bool have_stats = false;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string tag;
    words >> tag;
    if (tag == "stats") {
      for (double& s : ref.stats) words >> s;
      have_stats = true;
    } else if (tag == "category") {
      int64_t id;
      double ap;
      words >> id >> ap;
      ref.category_ap.push_back(ap);
    }
  }
  EXPECT_TRUE(have_stats) << output;
  ref.precision = read_f64(prefix + ".precision");
  ref.recall = read_f64(prefix + ".recall");
  return ref;
}

// Counts unequal entries of two arrays (exact comparison), describing the first.
void expect_same_array(const std::vector<double>& ours, const std::vector<double>& ref, const std::string& what) {
  ASSERT_EQ(ours.size(), ref.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    if (ours[i] != ref[i] && bad++ == 0) first = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": first difference at flat index " << first << ": " << ours[first] << " vs "
                     << ref[first];
}

CocoEvalResult evaluate_files(const std::string& gt_path, const std::string& dets_path, int threads = 2) {
  const CocoEvalInputs in = load_coco_eval_inputs(gt_path, dets_path);
  return evaluate_coco_bbox(in.gt, in.dets, threads);
}

void expect_equal_to_pycocotools(const std::string& gt_path, const std::string& dets_path, const std::string& what,
                                 double stat_tol = kStatTol) {
  const Reference ref = run_pycocotools(gt_path, dets_path);
  const CocoEvalResult r = evaluate_files(gt_path, dets_path);
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(r.stats[i], ref.stats[i], stat_tol) << what << ": stats[" << i << "]";
  expect_same_array(r.precision, ref.precision, what + ": precision [T, R, K, A, M]");
  expect_same_array(r.recall, ref.recall, what + ": recall [T, K, A, M]");
  ASSERT_EQ(ref.category_ap.size(), static_cast<size_t>(r.num_categories)) << what;
  for (int64_t k = 0; k < r.num_categories; ++k) {
    EXPECT_NEAR(r.category_ap(k), ref.category_ap[k], kStatTol) << what << ": category " << r.category_ids[k];
  }
}

// --- The shared reference pair ------------------------------------------------------------------

std::string reference_dir() {
  const std::string dir = test::data_dir() + "/coco/eval_reference";
  return fs::exists(dir + "/gt_val2014_first100_bbox.json") ? dir : "";
}

TEST(CocoEval, ReferencePairEqualsPycocotools) {
  if (reference_dir().empty()) GTEST_SKIP() << "coco/eval_reference not found under " << test::data_dir();
  SKIP_WITHOUT_PYCOCOTOOLS();
  const std::string dir = reference_dir();
  expect_equal_to_pycocotools(dir + "/gt_val2014_first100_bbox.json", dir + "/dets_val2014_fakebbox100.json",
                              "eval_reference", kReferenceTol);
}

// --- Randomized sets ----------------------------------------------------------------------------

// What a random set stresses beyond the common features.
struct Profile {
  uint64_t seed;
  int images;
  int score_decimals;  // 1: many tied scores; 6: few
  double crowd;        // fraction of crowd ground truth
  bool zero_id;        // one annotation gets id 0 (pycocotools then counts its matches as unmatched)
};

// A ground truth and results pair as JSON: images listed out of id order, some without ground
// truth, some without detections, some with neither; categories with gaps in their ids, one (90)
// that only detections name and one (95) that nothing names; ground truth from a pixel grid (exact
// IoU ties, areas on the range bounds 32^2 and 96^2), log-uniform sizes from 1 px to beyond the
// image, exact duplicates and crowd regions; detections as exact, grid-shifted and jittered copies
// of ground truth and as background, some with w <= 0, ~2% of an unknown category 999, one image
// with 130 detections of one category, all shuffled across images.
std::pair<json, json> random_set(const Profile& p) {
  std::mt19937_64 rng(p.seed);
  auto uni = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const std::vector<int64_t> gt_cats = {1, 3, 7, 8, 20};
  json images = json::array(), anns = json::array(), dets = json::array();
  int64_t ann_id = 1;
  for (int i = 0; i < p.images; ++i) {
    const int64_t image_id = 1000 - 7 * i;  // descending: the JSON lists them out of order
    const double width = 64 + pick(600), height = 64 + pick(440);
    images.push_back({{"id", image_id}, {"width", width}, {"height", height}});
    const int kind = i % 7;                       // 0: no ground truth, 1: no detections, 2: neither
    std::vector<std::pair<json, int64_t>> boxes;  // bbox, category
    const int ng = kind == 0 || kind == 2 ? 0 : pick(13);
    for (int g = 0; g < ng; ++g) {
      json bbox;
      json area;
      const int style = pick(10);
      if (style < 3) {  // pixel grid, integer JSON numbers, area exactly w * h (range bounds included)
        static const int kSides[] = {4, 8, 16, 32, 64, 96, 128};
        const int w = kSides[pick(7)], h = kSides[pick(7)];
        bbox = {pick(static_cast<int>(width)), pick(static_cast<int>(height)), w, h};
        area = w * h;
      } else if (style < 8 || boxes.empty()) {
        const double side = std::exp(uni(0, std::log(1.2 * std::min(width, height)))), aspect = std::exp(uni(-1, 1));
        const double w = side * aspect, h = side / aspect;
        bbox = {uni(-2, width - w / 2), uni(-2, height - h / 2), w, h};
        area = pick(10) == 0 ? json(pick(2) ? 1024.0 : 9216.0) : json(w * h * uni(0.4, 1.0));
      } else {  // exact duplicate of an earlier box
        bbox = boxes[pick(static_cast<int>(boxes.size()))].first;
        area = bbox[2].get<double>() * bbox[3].get<double>();
      }
      const int64_t cat = gt_cats[pick(static_cast<int>(gt_cats.size()) - (i % 3 == 0 ? 1 : 0))];
      const int crowd = uni(0, 1) < p.crowd ? 1 : 0;
      const int64_t id = p.zero_id && i == 4 && g == 0 ? 0 : ann_id;
      ++ann_id;
      anns.push_back({{"id", id},
                      {"image_id", image_id},
                      {"category_id", cat},
                      {"bbox", bbox},
                      {"area", area},
                      {"iscrowd", crowd}});
      boxes.emplace_back(bbox, cat);
    }
    if (kind == 1 || kind == 2) continue;
    auto score = [&]() {
      const double scale = std::pow(10.0, p.score_decimals);
      return std::round(uni(0, 1) * scale) / scale;
    };
    auto add = [&](const json& bbox, int64_t cat) {
      dets.push_back({{"image_id", image_id}, {"category_id", cat}, {"bbox", bbox}, {"score", score()}});
    };
    for (const auto& [bbox, cat] : boxes) {
      for (int c = pick(4); c > 0; --c) {
        const int64_t dcat = pick(5) == 0 ? (pick(10) == 0 ? 999 : (pick(2) ? 90 : gt_cats[pick(5)])) : cat;
        const int style = pick(3);
        if (style == 0) {
          add(bbox, dcat);
        } else if (style == 1 && bbox[0].is_number_integer()) {
          add({bbox[0].get<int>() + pick(5) - 2, bbox[1].get<int>() + pick(5) - 2, bbox[2], bbox[3]}, dcat);
        } else {
          const double w = bbox[2].get<double>(), h = bbox[3].get<double>();
          add({bbox[0].get<double>() + uni(-0.2, 0.2) * w, bbox[1].get<double>() + uni(-0.2, 0.2) * h,
               w * uni(0.8, 1.25), h * uni(0.8, 1.25)},
              dcat);
        }
      }
    }
    const int background = i == 3 ? 130 : pick(25);
    const int64_t many_cat = gt_cats[pick(5)];
    for (int b = 0; b < background; ++b) {
      const double side = std::exp(uni(0, std::log(std::min(width, height)))), aspect = std::exp(uni(-1, 1));
      double w = side * aspect, h = side / aspect;
      if (pick(40) == 0) w = pick(2) ? 0.0 : -w;  // degenerate boxes, kept as pycocotools keeps them
      const int64_t cat = i == 3 ? many_cat : (pick(50) == 0 ? 999 : (pick(6) == 0 ? 90 : gt_cats[pick(5)]));
      add({uni(0, width - w / 2), uni(0, height - h / 2), w, h}, cat);
    }
  }
  std::shuffle(dets.begin(), dets.end(), rng);
  json cats = json::array();
  for (int64_t c : {95, 1, 3, 7, 8, 20, 90}) cats.push_back({{"id", c}, {"name", "c" + std::to_string(c)}});
  json gt = {{"images", images}, {"annotations", anns}, {"categories", cats}};
  return {gt, dets};
}

TEST(CocoEval, RandomSetsEqualPycocotools) {
  SKIP_WITHOUT_PYCOCOTOOLS();
  const Profile profiles[] = {
      {1, 40, 1, 0.05, false}, {2, 60, 2, 0.10, false}, {3, 30, 6, 0.15, true},
      {4, 50, 1, 0.00, false}, {5, 45, 3, 0.30, false},
  };
  for (const Profile& p : profiles) {
    const auto [gt, dets] = random_set(p);
    const std::string dir = test::temp_dir();
    write_text(dir + "/gt.json", gt.dump());
    write_text(dir + "/dets.json", dets.dump());
    expect_equal_to_pycocotools(dir + "/gt.json", dir + "/dets.json", "seed " + std::to_string(p.seed));
  }
}

TEST(CocoEval, SameResultForEveryThreadCount) {
  const auto [gt_json, dets_json] = random_set({7, 80, 1, 0.1, false});
  const std::string dir = test::temp_dir();
  write_text(dir + "/gt.json", gt_json.dump());
  write_text(dir + "/dets.json", dets_json.dump());
  const CocoEvalResult one = evaluate_files(dir + "/gt.json", dir + "/dets.json", 1);
  EXPECT_GT(one.stats[0], 0.0);
  for (int threads : {2, 3, 8}) {
    const CocoEvalResult r = evaluate_files(dir + "/gt.json", dir + "/dets.json", threads);
    expect_same_array(r.precision, one.precision, std::to_string(threads) + " threads: precision");
    expect_same_array(r.recall, one.recall, std::to_string(threads) + " threads: recall");
    for (int i = 0; i < 12; ++i) EXPECT_EQ(r.stats[i], one.stats[i]) << threads << " threads, stats[" << i << "]";
  }
}

// --- detection/1 ground truth -------------------------------------------------------------------

// Detections around every ground-truth box of `gt` (jittered copies, some of another category).
std::vector<CocoDetection> detections_around(const DetectionData& gt, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> jitter(-0.15f, 0.15f), unit(0.0f, 1.0f);
  std::vector<CocoDetection> dets;
  for (int64_t i = 0; i < gt.size(); ++i) {
    for (int64_t j = gt.box_offsets[i]; j < gt.box_offsets[i + 1]; ++j) {
      for (int c = 0; c < 2; ++c) {
        CocoDetection d;
        d.image_id = gt.image_ids[i];
        d.category_id = gt.category_ids[unit(rng) < 0.8f ? gt.box_labels[j] : rng() % gt.num_classes];
        const float* b = &gt.boxes[4 * j];
        d.bbox[0] = b[0] + jitter(rng) * b[2];
        d.bbox[1] = b[1] + jitter(rng) * b[3];
        d.bbox[2] = b[2] * (1 + jitter(rng));
        d.bbox[3] = b[3] * (1 + jitter(rng));
        d.score = std::round(unit(rng) * 100) / 100;
        dets.push_back(d);
      }
    }
  }
  return dets;
}

TEST(CocoEval, DetectionFileEqualsItsCocoJson) {
  const std::string root = test::data_dir() + "/coco/coco_tiny";
  if (!fs::exists(root + "/annotations/instances_val2017.json")) GTEST_SKIP() << "coco_tiny not found under " << root;
  const std::string dir = test::temp_dir();
  convert_coco(root + "/annotations/instances_val2017.json", root + "/val2017", dir + "/val.h5");
  const DetectionData d = load_detection(dir + "/val.h5");
  write_coco_ground_truth(d, dir + "/val.json");
  write_coco_results(detections_around(d, 11), dir + "/dets.json");
  const CocoEvalResult from_h5 = evaluate_files(dir + "/val.h5", dir + "/dets.json");
  const CocoEvalResult from_json = evaluate_files(dir + "/val.json", dir + "/dets.json");
  EXPECT_GT(from_h5.stats[0], 0.1);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(from_h5.stats[i], from_json.stats[i]) << "stats[" << i << "]";
  expect_same_array(from_h5.precision, from_json.precision, "precision");
  expect_same_array(from_h5.recall, from_json.recall, "recall");
  EXPECT_EQ(from_h5.category_names, from_json.category_names);
  if (!reference_python().empty()) expect_equal_to_pycocotools(dir + "/val.json", dir + "/dets.json", "coco_tiny");
}

// --- Edge cases and bad input -------------------------------------------------------------------

// A small ground truth: images 1 and 2, categories 1 and 2, three boxes.
std::string small_gt(const std::string& dir) {
  const json gt = {
      {"images", {{{"id", 1}}, {{"id", 2}}}},
      {"categories", {{{"id", 1}, {"name", "a"}}, {{"id", 2}, {"name", "b"}}}},
      {"annotations",
       {{{"id", 1}, {"image_id", 1}, {"category_id", 1}, {"bbox", {0, 0, 10, 10}}, {"area", 100}, {"iscrowd", 0}},
        {{"id", 2}, {"image_id", 2}, {"category_id", 1}, {"bbox", {5, 5, 50, 50}}, {"area", 2500}, {"iscrowd", 0}},
        {{"id", 3}, {"image_id", 2}, {"category_id", 2}, {"bbox", {0, 0, 200, 100}}, {"area", 2e4}, {"iscrowd", 0}}}}};
  write_text(dir + "/gt.json", gt.dump());
  return dir + "/gt.json";
}

TEST(CocoEval, PerfectDetectionsScoreOneAndEmptyResultsZero) {
  const std::string dir = test::temp_dir();
  const std::string gt = small_gt(dir);
  write_text(dir + "/perfect.json", R"([{"image_id":1,"category_id":1,"bbox":[0,0,10,10],"score":0.9},
    {"image_id":2,"category_id":1,"bbox":[5,5,50,50],"score":0.8},
    {"image_id":2,"category_id":2,"bbox":[0,0,200,100],"score":0.7}])");
  const CocoEvalResult perfect = evaluate_files(gt, dir + "/perfect.json");
  // pycocotools' precision tp / (tp + fp + eps) of a lone hit is 1 / (1 + 2^-52), i.e. 1 - 2^-52.
  constexpr double kLoneHit = std::numeric_limits<double>::epsilon();
  EXPECT_NEAR(perfect.stats[0], 1.0, kLoneHit);
  EXPECT_NEAR(perfect.stats[3], 1.0, kLoneHit);  // small: the 10x10 box
  EXPECT_NEAR(perfect.stats[4], 1.0, kLoneHit);  // medium: the 50x50 box
  EXPECT_NEAR(perfect.stats[5], 1.0, kLoneHit);  // large: the 200x100 box
  EXPECT_EQ(perfect.stats[6], 1.0);              // AR@1: one box per image and category
  write_text(dir + "/empty.json", "[]");         // pycocotools' loadRes fails on this; here it means no detections
  const CocoEvalResult empty = evaluate_files(gt, dir + "/empty.json");
  for (int i = 0; i < 12; ++i) EXPECT_EQ(empty.stats[i], 0.0) << i;
  EXPECT_EQ(empty.category_ap(1), 0.0);
}

TEST(CocoEval, UnknownCategoryIsLeftOutAsPycocotoolsDoes) {
  const std::string dir = test::temp_dir();
  const std::string gt_path = small_gt(dir);
  write_text(dir + "/dets.json", R"([{"image_id":1,"category_id":1,"bbox":[0,0,10,10],"score":0.9},
    {"image_id":2,"category_id":77,"bbox":[5,5,50,50],"score":0.8},
    {"image_id":2,"category_id":78,"bbox":[5,5,50,50],"score":0.8}])");
  const CocoEvalGroundTruth gt = load_coco_eval_ground_truth(gt_path);
  const CocoEvalDetections dets = read_coco_eval_detections(dir + "/dets.json", gt);
  EXPECT_EQ(dets.size(), 1);
  EXPECT_EQ(dets.unknown_category, 2);
  EXPECT_EQ(dets.first_unknown_entry, 1);
  EXPECT_EQ(dets.first_unknown_category, 77);
  if (!reference_python().empty()) expect_equal_to_pycocotools(gt_path, dir + "/dets.json", "unknown category");
}

TEST(CocoEval, BadResultsNameFileEntryAndField) {
  const std::string dir = test::temp_dir();
  const CocoEvalGroundTruth gt = load_coco_eval_ground_truth(small_gt(dir));
  const std::string good = R"({"image_id":1,"category_id":1,"bbox":[0,0,10,10],"score":0.9})";
  const struct {
    std::string entry;
    std::vector<std::string> pieces;
  } cases[] = {
      {R"({"image_id":3,"category_id":1,"bbox":[0,0,10,10],"score":0.9})",
       {"[1]", "'image_id'", "= 3", "not an image of the ground truth", "gt.json"}},
      {R"({"image_id":1.5,"category_id":1,"bbox":[0,0,10,10],"score":0.9})", {"[1]", "'image_id'", "1.5", "integer"}},
      {R"({"image_id":1,"category_id":"1","bbox":[0,0,10,10],"score":0.9})", {"[1]", "'category_id'", "string"}},
      {R"({"image_id":1,"category_id":1,"bbox":[0,0,10],"score":0.9})", {"[1]", "'bbox'", "has 3 numbers"}},
      {R"({"image_id":1,"category_id":1,"bbox":[0,0,10,"10"],"score":0.9})", {"[1]", "'bbox'", "string"}},
      {R"({"image_id":1,"category_id":1,"bbox":{"x":0},"score":0.9})", {"[1]", "'bbox'", "object"}},
      {R"({"image_id":1,"category_id":1,"bbox":[0,0,10,10],"score":null})", {"[1]", "'score'", "null"}},
      {R"({"image_id":1,"category_id":1,"bbox":[0,0,10,10]})", {"[1]", "'score'", "missing"}},
      {R"({"category_id":1,"bbox":[0,0,10,10],"score":0.9})", {"[1]", "'image_id'", "missing"}},
      {R"({"image_id":18446744073709551615,"category_id":1,"bbox":[0,0,10,10],"score":0.9})",
       {"[1]", "'image_id'", "int64"}},
      {R"([1, 2])", {"[1]", "array", "expected an object"}},
      {R"(7)", {"[1]", "number 7", "expected an object"}},
  };
  for (const auto& c : cases) {
    const std::string path = dir + "/bad.json";
    write_text(path, "[" + good + ",\n" + c.entry + "]");
    std::vector<std::string> pieces = c.pieces;
    pieces.push_back(path);
    test::expect_error([&] { read_coco_eval_detections(path, gt); }, pieces);
  }
  write_text(dir + "/obj.json", R"({"image_id":1})");
  test::expect_error([&] { read_coco_eval_detections(dir + "/obj.json", gt); }, {"obj.json", "top level", "array"});
  write_text(dir + "/broken.json", "[" + good + ",{\"image_id\":1,");
  test::expect_error([&] { read_coco_eval_detections(dir + "/broken.json", gt); },
                     {"broken.json", "malformed JSON at byte"});
  // Fields loadRes overwrites or never reads are skipped, nested values included.
  write_text(dir + "/extra.json",
             R"([{"segmentation":[[1,2,3]],"image_id":1,"id":{"a":[1,{"b":2}]},"category_id":1,"bbox":[0,0,10,10],)"
             R"("area":"x","iscrowd":true,"score":0.9}])");
  EXPECT_EQ(read_coco_eval_detections(dir + "/extra.json", gt).size(), 1);
}

TEST(CocoEval, BadGroundTruthNamesFileItemAndField) {
  const std::string dir = test::temp_dir();
  json base = json::parse(std::ifstream(small_gt(dir)));
  auto expect_gt_error = [&](const json& doc, const std::vector<std::string>& pieces) {
    const std::string path = dir + "/bad_gt.json";
    write_text(path, doc.dump());
    std::vector<std::string> all = pieces;
    all.push_back(path);
    test::expect_error([&] { read_coco_eval_ground_truth_json(path); }, all);
  };
  json doc = base;
  doc["annotations"][1]["image_id"] = 9;
  expect_gt_error(doc, {"annotations[1] (id 2)", "image_id 9", "not in 'images'"});
  doc = base;
  doc["annotations"][2]["category_id"] = 9;
  expect_gt_error(doc, {"annotations[2] (id 3)", "category_id 9", "not in 'categories'"});
  doc = base;
  doc["annotations"][0]["iscrowd"] = 2;
  expect_gt_error(doc, {"annotations[0] (id 1)", "'iscrowd'", "0 or 1"});
  doc = base;
  doc["annotations"][0].erase("area");
  expect_gt_error(doc, {"annotations[0] (id 1)", "'area'", "missing"});
  doc = base;
  doc["annotations"][2]["id"] = 1;
  expect_gt_error(doc, {"annotations[2]", "id 1 repeats annotations[0]"});
  doc = base;
  doc["images"][1]["id"] = 1;
  expect_gt_error(doc, {"images[1]", "id 1 repeats images[0]"});
  doc = base;
  doc["annotations"][0]["bbox"] = {1, 2};
  expect_gt_error(doc, {"annotations[0] (id 1)", "'bbox'", "4 numbers"});
  doc = base;
  doc.erase("categories");
  expect_gt_error(doc, {"'categories' is missing"});
  // iscrowd as a boolean is accepted, as Python's int(True) accepts it.
  doc = base;
  doc["annotations"][0]["iscrowd"] = true;
  write_text(dir + "/bool.json", doc.dump());
  EXPECT_EQ(read_coco_eval_ground_truth_json(dir + "/bool.json").iscrowd[0], 1);
}

TEST(CocoEval, SummaryHasPycocotoolsFormat) {
  CocoEvalResult r;
  r.stats = {0.5036, 0.697, -1, 0.0625, 1, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
  const std::string s = format_coco_summary(r);
  EXPECT_EQ(s.substr(0, s.find('\n') + 1),
            " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.504\n");
  EXPECT_NE(s.find(" Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = -1.000\n"),
            std::string::npos);
  EXPECT_NE(s.find(" Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.062\n"),
            std::string::npos);
  EXPECT_NE(s.find(" Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.100\n"),
            std::string::npos);
  EXPECT_NE(s.find(" Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.600\n"),
            std::string::npos);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 12);
}

TEST(CocoEval, ThresholdsAreNumpyLinspace) {
  const auto iou = coco_iou_thresholds();
  EXPECT_EQ(iou[0], 0.5);
  EXPECT_EQ(iou[5], 0.75);  // summarize() finds AP75 by exact comparison
  EXPECT_EQ(iou[9], 0.95);
  EXPECT_EQ(iou[1], 1 * ((0.95 - 0.5) / 9) + 0.5);
  const auto rec = coco_recall_thresholds();
  EXPECT_EQ(rec[0], 0.0);
  EXPECT_EQ(rec[7], 7 * 0.01);
  EXPECT_EQ(rec[100], 1.0);
}

}  // namespace
}  // namespace attncamp::data
