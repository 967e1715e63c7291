// The COCO JSON helpers: parsing without segmentations gives nlohmann's own DOM minus every
// "segmentation" member (polygons, RLE objects, scalars, at any depth), and malformed JSON names
// the file and the byte.
#include "data/json_fields.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/test_util.h"

namespace attncamp::data::json_fields {
namespace {

// `doc` with every member named "segmentation" removed, recursively.
json without_segmentations(json doc) {
  if (doc.is_object()) {
    doc.erase("segmentation");
    for (auto& [k, v] : doc.items()) v = without_segmentations(v);
  } else if (doc.is_array()) {
    for (auto& v : doc) v = without_segmentations(v);
  }
  return doc;
}

TEST(JsonFields, ParseDropsEverySegmentationAndKeepsTheRest) {
  const std::string text = R"({"info": {"segmentation": 3, "year": 2017},
    "images": [{"id": 1, "file_name": "a.jpg", "width": 640.5, "flag": true, "none": null}],
    "annotations": [
      {"id": 7, "segmentation": [[1.5, 2, 3, 4, 5, 6]], "bbox": [1, 2, 3, 4], "area": 12.25},
      {"id": 8, "segmentation": {"counts": [1, 2, 3], "size": [4, 5]}, "bbox": [], "iscrowd": 1},
      {"segmentation": "x", "id": 9, "nested": {"segmentation": {"a": [{"b": 1}]}, "keep": [[], {}]}},
      {"id": 10, "segmentation": [], "big": 18446744073709551615, "neg": -3}
    ], "categories": []})";
  const std::string path = test::temp_dir() + "/doc.json";
  std::ofstream(path) << text;
  const json parsed = parse_file_without_segmentations(path);
  EXPECT_EQ(parsed, without_segmentations(json::parse(text)));
  EXPECT_FALSE(parsed["annotations"][1].contains("segmentation"));
  EXPECT_EQ(parsed["annotations"][2]["nested"]["keep"], json::parse("[[], {}]"));
  EXPECT_EQ(parsed["annotations"][3]["big"].get<uint64_t>(), 18446744073709551615ull);
}

TEST(JsonFields, MalformedJsonNamesFileAndByte) {
  const std::string path = test::temp_dir() + "/bad.json";
  std::ofstream(path) << R"({"images": [{"id": 1,}]})";
  test::expect_error([&] { parse_file_without_segmentations(path); }, {path, "malformed JSON at byte 22"});
}

}  // namespace
}  // namespace attncamp::data::json_fields
