// `attncamp eval-coco` end to end: on the shared reference pair it prints pycocotools' twelve
// summary lines character for character (compared with pycocotools' own output when
// ATTNCAMP_TEST_PYTHON names a Python with it) and per-category AP on request; bad input ends
// with one error line naming the file, entry and field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/coco_eval.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace fs = std::filesystem;

std::string reference_dir() {
  const std::string dir = test::data_dir() + "/coco/eval_reference";
  return fs::exists(dir + "/gt_val2014_first100_bbox.json") ? dir : "";
}

// The lines of `text` that start with " Average".
std::vector<std::string> summary_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(" Average", 0) == 0) out.push_back(line);
  }
  return out;
}

TEST(EvalCoco, PrintsPycocotoolsSummaryAndPerCategoryAp) {
  if (reference_dir().empty()) GTEST_SKIP() << "coco/eval_reference not found under " << test::data_dir();
  const std::string gt = reference_dir() + "/gt_val2014_first100_bbox.json";
  const std::string dets = reference_dir() + "/dets_val2014_fakebbox100.json";
  const test::CommandResult r =
      test::run_attncamp("eval-coco --gt '" + gt + "' --dets '" + dets + "' --per-category --raw-stats --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // The summary is the library's, formatted as pycocotools formats it.
  const data::CocoEvalGroundTruth g = data::load_coco_eval_ground_truth(gt);
  const data::CocoEvalResult e = data::evaluate_coco_bbox(g, data::read_coco_eval_detections(dets, g));
  EXPECT_EQ(summary_lines(r.output), summary_lines(data::format_coco_summary(e)));
  ASSERT_EQ(summary_lines(r.output).size(), 12u) << r.output;
  EXPECT_EQ(
      summary_lines(r.output)[0], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = " + [&] {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%.3f", e.stats[0]);
        return std::string(buf);
      }());
  // Per category: "category_id AP name", one line per category of the ground truth.
  char person[64];
  std::snprintf(person, sizeof(person), "%12d  %6.3f  %s\n", 1, e.category_ap(0), "person");
  EXPECT_NE(r.output.find(person), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("per-category AP"), std::string::npos);
  std::string raw = "stats";
  for (double v : e.stats) {
    char num[32];
    std::snprintf(num, sizeof(num), " %.17g", v);
    raw += num;
  }
  EXPECT_NE(r.output.find(raw + "\n"), std::string::npos) << r.output;

  const char* python = std::getenv(env::kTestPython);
  if (!python || !*python) {
    std::printf("(pycocotools' printed lines not compared: %s is unset)\n", env::kTestPython);
    return;
  }
  const std::string cmd = std::string("'") + python + "' '" + test::source_dir() +
                          "/benchmarks/peers/coco_eval_py.py' pycocotools '" + gt + "' '" + dets + "'";
  const test::CommandResult ref = test::run_command(cmd);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  EXPECT_EQ(summary_lines(r.output), summary_lines(ref.output)) << "pycocotools printed:\n" << ref.output;
}

TEST(EvalCoco, BadInputEndsWithOneErrorLine) {
  if (reference_dir().empty()) GTEST_SKIP() << "coco/eval_reference not found under " << test::data_dir();
  const std::string gt = reference_dir() + "/gt_val2014_first100_bbox.json";
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/dets.json") << R"([{"image_id":42,"category_id":18,"bbox":[1,2,3,4],"score":0.5},
    {"image_id":5,"category_id":18,"bbox":[1,2,3,4],"score":0.5}])";
  const test::CommandResult r = test::run_attncamp("eval-coco --gt '" + gt + "' --dets '" + dir + "/dets.json'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("attncamp: error: " + dir + "/dets.json: [1]: field 'image_id' = 5", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  // A category the ground truth lacks: left out with a note, as pycocotools leaves it out.
  std::ofstream(dir + "/cat.json") << R"([{"image_id":42,"category_id":18,"bbox":[1,2,3,4],"score":0.5},
    {"image_id":42,"category_id":1000,"bbox":[1,2,3,4],"score":0.5}])";
  const test::CommandResult c = test::run_attncamp("eval-coco --gt '" + gt + "' --dets '" + dir + "/cat.json'");
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_NE(c.output.find("note: 1 detections"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("[1] category_id 1000"), std::string::npos) << c.output;
  EXPECT_EQ(summary_lines(c.output).size(), 12u) << c.output;

  const test::CommandResult missing = test::run_attncamp("eval-coco --gt '" + dir + "/nope.json' --dets x.json");
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("nope.json"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace attncamp
