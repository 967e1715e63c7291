// COCO -> detection/1 -> COCO JSON: the real coco_tiny splits round-trip every box, id, area and
// iscrowd flag, h5py reads arrays equal to the JSON's values, and bad JSON, missing images, bad
// boxes and broken detection/1 files each give a one-line error naming the file, field and index.
#include "data/coco.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/coco_json.h"
#include "data/detection.h"
#include "data/hdf5.h"
#include "data/image_codec.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string coco_tiny() {
  const std::string dir = test::data_dir() + "/coco/coco_tiny";
  return fs::exists(dir + "/annotations/instances_val2017.json") ? dir : "";
}

// Files in `dir` (to check that a failed conversion left nothing behind).
std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// --- Real data: coco_tiny ------------------------------------------------------------------------

// Converts one split, checks the file against the JSON, writes the ground truth back and compares
// every annotation, image and category with the original.
void round_trip_split(const std::string& split, int64_t want_images, int64_t want_boxes) {
  const std::string root = coco_tiny();
  const std::string ann_path = root + "/annotations/instances_" + split + ".json";
  const std::string out = test::temp_dir() + "/" + split + ".h5";
  std::vector<std::pair<int64_t, int64_t>> progress;
  ConvertOptions opt;
  opt.threads = 2;
  opt.progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
  const ConvertSummary s = convert_coco(ann_path, root + "/" + split, out, opt);
  EXPECT_EQ(s.written, want_images);
  EXPECT_EQ(s.skipped, 0);
  ASSERT_EQ(s.outputs, std::vector<std::string>{out});
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), std::make_pair(want_images, want_images));

  const DetectionData d = load_detection(out);
  ASSERT_EQ(d.size(), want_images);
  ASSERT_EQ(d.num_boxes(), want_boxes);
  EXPECT_EQ(d.num_classes, 80);
  EXPECT_TRUE(std::is_sorted(d.image_ids.begin(), d.image_ids.end()));
  EXPECT_EQ(d.class_names[0], "person");
  EXPECT_EQ(d.category_ids[79], 90);

  // Image bytes are the files' bytes, read back by row range.
  const auto first = read_detection_images(out, 0, 3);
  const auto last = read_detection_images(out, want_images - 2, want_images);
  ASSERT_EQ(first.size(), 3u);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(first[0], read_file_bytes(root + "/" + split + "/" + d.sources[0]));
  EXPECT_EQ(first[2], read_file_bytes(root + "/" + split + "/" + d.sources[2]));
  EXPECT_EQ(last[1], read_file_bytes(root + "/" + split + "/" + d.sources[want_images - 1]));

  const std::string gt_path = test::temp_dir() + "/gt.json";
  write_coco_ground_truth(d, gt_path);
  const json orig = read_json(ann_path), ours = read_json(gt_path);
  ASSERT_EQ(ours["annotations"].size(), orig["annotations"].size());
  ASSERT_EQ(ours["images"].size(), orig["images"].size());
  ASSERT_EQ(ours["categories"].size(), orig["categories"].size());
  std::map<int64_t, json> by_id;
  for (const json& a : ours["annotations"]) by_id[a["id"].get<int64_t>()] = a;
  ASSERT_EQ(by_id.size(), orig["annotations"].size());
  int64_t crowd = 0;
  for (const json& a : orig["annotations"]) {
    const int64_t id = a["id"].get<int64_t>();
    ASSERT_TRUE(by_id.count(id)) << "annotation " << id;
    const json& b = by_id[id];
    EXPECT_EQ(b["image_id"].get<int64_t>(), a["image_id"].get<int64_t>()) << id;
    EXPECT_EQ(b["category_id"].get<int64_t>(), a["category_id"].get<int64_t>()) << id;
    for (int e = 0; e < 4; ++e) {
      EXPECT_EQ(b["bbox"][e].get<float>(), static_cast<float>(a["bbox"][e].get<double>())) << id << " bbox " << e;
    }
    EXPECT_EQ(b["area"].get<float>(), static_cast<float>(a["area"].get<double>())) << id;
    EXPECT_EQ(b["iscrowd"].get<int>(), a["iscrowd"].get<int>()) << id;
    crowd += a["iscrowd"].get<int>();
  }
  EXPECT_GT(crowd, 0);  // the split has crowd boxes, so the flag is really exercised
  std::map<int64_t, json> images;
  for (const json& im : ours["images"]) images[im["id"].get<int64_t>()] = im;
  for (const json& im : orig["images"]) {
    const json& o = images.at(im["id"].get<int64_t>());
    EXPECT_EQ(o["width"], im["width"]);
    EXPECT_EQ(o["height"], im["height"]);
    EXPECT_EQ(o["file_name"], im["file_name"]);
  }
  std::map<int64_t, std::string> cats;
  for (const json& c : ours["categories"]) cats[c["id"].get<int64_t>()] = c["name"].get<std::string>();
  for (const json& c : orig["categories"]) EXPECT_EQ(cats.at(c["id"].get<int64_t>()), c["name"].get<std::string>());
}

TEST(CocoTiny, Val2017RoundTripsEveryAnnotation) {
  if (coco_tiny().empty()) GTEST_SKIP() << "coco_tiny not found under " << test::data_dir();
  round_trip_split("val2017", 80, 815);
}

TEST(CocoTiny, Train2017RoundTripsEveryAnnotation) {
  if (coco_tiny().empty()) GTEST_SKIP() << "coco_tiny not found under " << test::data_dir();
  round_trip_split("train2017", 80, 705);
}

// h5py (an independent HDF5 reader) sees arrays equal to the JSON's values.
constexpr const char* kH5pyCheck = R"PY(
import json, sys, h5py, numpy as np
h5, ann, img_dir = sys.argv[1:4]
d = json.load(open(ann))
images = sorted(d["images"], key=lambda im: im["id"])
cats = sorted(d["categories"], key=lambda c: c["id"])
label = {c["id"]: k for k, c in enumerate(cats)}
per_image = {im["id"]: [] for im in images}
for a in d["annotations"]:
    per_image[a["image_id"]].append(a)
anns = [a for im in images for a in per_image[im["id"]]]
with h5py.File(h5, "r") as f:
    assert f.attrs["attncamp_schema"] == "detection/1"
    assert int(f.attrs["num_classes"]) == len(cats)
    assert f["images"].attrs["encoding"] == "jpeg"
    assert np.array_equal(f["image_ids"][:], [im["id"] for im in images])
    assert np.array_equal(f["image_sizes"][:], [[im["height"], im["width"]] for im in images])
    assert list(f["sources"].asstr()[:]) == [im["file_name"] for im in images]
    offsets = np.cumsum([0] + [len(per_image[im["id"]]) for im in images])
    assert np.array_equal(f["box_offsets"][:], offsets)
    assert f["boxes"].dtype == np.float32 and f["box_areas"].dtype == np.float32
    assert np.array_equal(f["boxes"][:], np.array([a["bbox"] for a in anns], dtype=np.float32))
    assert np.array_equal(f["box_areas"][:], np.array([a["area"] for a in anns], dtype=np.float32))
    assert np.array_equal(f["box_labels"][:], [label[a["category_id"]] for a in anns])
    assert np.array_equal(f["box_iscrowd"][:], [a["iscrowd"] for a in anns])
    assert np.array_equal(f["box_ids"][:], [a["id"] for a in anns])
    assert np.array_equal(f["category_ids"][:], [c["id"] for c in cats])
    assert list(f["class_names"].asstr()[:]) == [c["name"] for c in cats]
    for i in (0, len(images) - 1):
        raw = open(img_dir + "/" + images[i]["file_name"], "rb").read()
        assert f["images"][i].tobytes() == raw, i
print("OK", len(images), len(anns))
)PY";

TEST(CocoTiny, H5pyArraysEqualTheJson) {
  if (coco_tiny().empty()) GTEST_SKIP() << "coco_tiny not found under " << test::data_dir();
  if (std::system("/usr/bin/python3 -c 'import h5py, numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with h5py and numpy not available";
  }
  const std::string root = coco_tiny(), dir = test::temp_dir();
  const std::string ann = root + "/annotations/instances_val2017.json";
  convert_coco(ann, root + "/val2017", dir + "/val.h5");
  write_text(dir + "/check.py", kH5pyCheck);
  const std::string cmd =
      "/usr/bin/python3 " + dir + "/check.py " + dir + "/val.h5 " + ann + " " + root + "/val2017 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof(buf), p)) output += buf;
  EXPECT_EQ(pclose(p), 0) << output;
  EXPECT_EQ(output, "OK 80 815\n");
}

// The COCO API's own fake detections read back with their values; writing and re-reading them
// gives the same float32 values.
TEST(CocoResults, ReadsReferenceDetectionsAndRoundTrips) {
  const std::string ref = test::data_dir() + "/coco/eval_reference/dets_val2014_fakebbox100.json";
  if (!fs::exists(ref)) GTEST_SKIP() << ref << " not found";
  const std::vector<CocoDetection> dets = read_coco_results(ref);
  ASSERT_EQ(dets.size(), 734u);
  EXPECT_EQ(dets[0].image_id, 42);
  EXPECT_EQ(dets[0].category_id, 18);
  EXPECT_EQ(dets[0].bbox[0], 258.15f);
  EXPECT_EQ(dets[0].bbox[3], 243.78f);
  EXPECT_EQ(dets[0].score, 0.236f);
  const std::string out = test::temp_dir() + "/res.json";
  write_coco_results(dets, out);
  const std::vector<CocoDetection> back = read_coco_results(out);
  ASSERT_EQ(back.size(), dets.size());
  for (size_t q = 0; q < dets.size(); ++q) {
    EXPECT_EQ(back[q].image_id, dets[q].image_id);
    EXPECT_EQ(back[q].category_id, dets[q].category_id);
    for (int e = 0; e < 4; ++e) EXPECT_EQ(back[q].bbox[e], dets[q].bbox[e]) << q;
    EXPECT_EQ(back[q].score, dets[q].score);
  }
  // Shortest float32 form: the file shows the decimals the detections were written with.
  const std::vector<uint8_t> bytes = read_file_bytes(out);
  const std::string text(bytes.begin(), bytes.end());
  EXPECT_NE(text.find("\"bbox\":[258.15,41.29,348.26,243.78]"), std::string::npos) << text.substr(0, 200);
}

TEST(CocoResults, BadEntryNamesIndexAndField) {
  const std::string path = test::temp_dir() + "/res.json";
  write_text(
      path,
      R"([{"image_id":1,"category_id":2,"bbox":[1,2,3,4],"score":0.5},{"image_id":1,"category_id":2,"bbox":[1,2,3],"score":0.5}])");
  test::expect_error([&] { read_coco_results(path); }, {path, "[1]", "'bbox'", "4 numbers"});
}

// --- Synthetic fixtures: bad input -------------------------------------------------------------

// Three small real JPEGs (ids listed out of order) with four annotations in two categories.
struct Fixture {
  std::string dir, json_path, images_dir;
  json doc;
  void write() const { write_text(json_path, doc.dump()); }
  std::string output() const { return dir + "/out.h5"; }
};

Fixture make_fixture() {
  Fixture f;
  f.dir = test::temp_dir();
  f.images_dir = f.dir + "/images";
  f.json_path = f.dir + "/instances.json";
  fs::create_directories(f.images_dir);
  const struct {
    int64_t id;
    int h, w;
    const char* file;
  } images[] = {{3, 16, 16, "c.jpg"}, {1, 30, 40, "a.jpg"}, {2, 20, 24, "b.jpg"}};
  f.doc = {
      {"images", json::array()},
      {"categories", {{{"id", 5}, {"name", "cat"}}, {{"id", 2}, {"name", "dog"}}}},
      {"annotations",
       {{{"id", 11}, {"image_id", 1}, {"category_id", 5}, {"bbox", {1.5, 2, 10, 8}}, {"area", 70.25}, {"iscrowd", 0}},
        {{"id", 12}, {"image_id", 3}, {"category_id", 2}, {"bbox", {0, 0, 16, 16}}, {"area", 256}, {"iscrowd", 0}},
        {{"id", 13},
         {"image_id", 1},
         {"category_id", 2},
         {"bbox", {20, 10, 20.5, 20}},
         {"area", 300.5},
         {"iscrowd", 1}},
        {{"id", 14}, {"image_id", 2}, {"category_id", 5}, {"bbox", {3, 4, 5, 6}}, {"area", 30}, {"iscrowd", 0}}}}};
  for (const auto& im : images) {
    Image img;
    img.height = im.h, img.width = im.w, img.channels = 3;
    img.pixels.resize(static_cast<size_t>(im.h) * im.w * 3);
    for (size_t p = 0; p < img.pixels.size(); ++p) img.pixels[p] = static_cast<uint8_t>((p * 37 + im.id * 11) % 251);
    const std::vector<uint8_t> jpeg = encode_jpeg(img, 90, im.file);
    write_text(f.images_dir + "/" + im.file, std::string(jpeg.begin(), jpeg.end()));
    f.doc["images"].push_back({{"id", im.id}, {"file_name", im.file}, {"height", im.h}, {"width", im.w}});
  }
  f.write();
  return f;
}

ConvertOptions skip_options() {
  ConvertOptions o;
  o.on_error = OnError::kSkip;
  o.threads = 2;
  return o;
}

TEST(CocoConvert, SortsImagesByIdAndKeepsAnnotationOrder) {
  const Fixture f = make_fixture();
  const ConvertSummary s = convert_coco(f.json_path, f.images_dir, f.output());
  EXPECT_EQ(s.written, 3);
  const DetectionData d = load_detection(f.output());
  EXPECT_EQ(d.image_ids, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(d.image_sizes, (std::vector<int32_t>{30, 40, 20, 24, 16, 16}));
  EXPECT_EQ(d.sources, (std::vector<std::string>{"a.jpg", "b.jpg", "c.jpg"}));
  EXPECT_EQ(d.category_ids, (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"dog", "cat"}));
  EXPECT_EQ(d.box_offsets, (std::vector<int64_t>{0, 2, 3, 4}));
  EXPECT_EQ(d.box_ids, (std::vector<int64_t>{11, 13, 14, 12}));
  EXPECT_EQ(d.box_labels, (std::vector<int32_t>{1, 0, 1, 0}));
  EXPECT_EQ(d.box_iscrowd, (std::vector<uint8_t>{0, 1, 0, 0}));
  EXPECT_EQ(d.box_areas, (std::vector<float>{70.25f, 300.5f, 30, 256}));
  // x + w = 40.5 on a 40-wide image is within the 1-pixel tolerance: kept unchanged, not clipped.
  EXPECT_EQ(d.boxes, (std::vector<float>{1.5f, 2, 10, 8, 20, 10, 20.5f, 20, 3, 4, 5, 6, 0, 0, 16, 16}));
  const auto bytes = read_detection_images(f.output(), 1, 2);
  EXPECT_EQ(bytes[0], read_file_bytes(f.images_dir + "/b.jpg"));
}

TEST(CocoConvert, ImagesWithoutAnnotationsAreKept) {
  Fixture f = make_fixture();
  f.doc["annotations"] = json::array();
  f.write();
  const ConvertSummary s = convert_coco(f.json_path, f.images_dir, f.output());
  EXPECT_EQ(s.written, 3);
  const DetectionData d = load_detection(f.output());
  EXPECT_EQ(d.num_boxes(), 0);
  EXPECT_EQ(d.box_offsets, (std::vector<int64_t>{0, 0, 0, 0}));
  const std::string gt = f.dir + "/gt.json";
  write_coco_ground_truth(d, gt);
  const json doc = read_json(gt);
  EXPECT_EQ(doc["images"].size(), 3u);
  EXPECT_TRUE(doc["annotations"].empty());
}

TEST(CocoConvert, MalformedJsonNamesFileAndBytePosition) {
  Fixture f = make_fixture();
  write_text(f.json_path, "{\"images\": [1, 2,, 3]}");
  test::expect_error([&] { convert_coco(f.json_path, f.images_dir, f.output()); },
                     {f.json_path, "malformed JSON at byte 18", "syntax error"});
  EXPECT_EQ(list_dir(f.dir), (std::vector<std::string>{"images", "instances.json"}));
}

TEST(CocoConvert, MissingFieldNamesFieldAndAnnotation) {
  Fixture f = make_fixture();
  f.doc["annotations"][2].erase("bbox");
  f.write();
  test::expect_error([&] { read_coco_instances(f.json_path); },
                     {f.json_path, "annotations[2] (id 13)", "'bbox' is missing"});
  f = make_fixture();
  f.doc["images"][1]["width"] = "40";
  f.write();
  test::expect_error([&] { read_coco_instances(f.json_path); },
                     {f.json_path, "images[1] (id 1)", "'width'", "expected an integer"});
  f = make_fixture();
  f.doc.erase("categories");
  f.write();
  test::expect_error([&] { read_coco_instances(f.json_path); }, {f.json_path, "'categories' is missing"});
}

TEST(CocoConvert, UnknownImageOrCategoryIsFatal) {
  Fixture f = make_fixture();
  f.doc["annotations"][1]["image_id"] = 999;
  f.write();
  test::expect_error([&] { convert_coco(f.json_path, f.images_dir, f.output(), skip_options()); },
                     {f.json_path, "annotations[1] (id 12)", "image_id 999 is not in 'images'"});
  f = make_fixture();
  f.doc["annotations"][3]["category_id"] = 7;
  f.write();
  test::expect_error([&] { convert_coco(f.json_path, f.images_dir, f.output(), skip_options()); },
                     {f.json_path, "annotations[3] (id 14)", "category_id 7 is not in 'categories'"});
  EXPECT_FALSE(fs::exists(f.output()));
}

TEST(CocoConvert, DuplicateIdsAreFatal) {
  Fixture f = make_fixture();
  f.doc["images"][2]["id"] = 3;
  f.write();
  test::expect_error([&] { read_coco_instances(f.json_path); },
                     {f.json_path, "images[2]", "image id 3 repeats images[0]"});
  f = make_fixture();
  f.doc["annotations"][3]["id"] = 11;
  f.write();
  test::expect_error([&] { read_coco_instances(f.json_path); },
                     {f.json_path, "annotations[3] (id 11)", "annotation id 11 repeats annotations[0]"});
  f = make_fixture();
  f.doc["categories"][1]["id"] = 5;
  f.write();
  test::expect_error([&] { read_coco_instances(f.json_path); },
                     {f.json_path, "categories[1]", "category id 5 repeats"});
}

TEST(CocoConvert, MissingImageFailsOrIsSkipped) {
  const Fixture f = make_fixture();
  fs::remove(f.images_dir + "/a.jpg");
  test::expect_error([&] { convert_coco(f.json_path, f.images_dir, f.output()); },
                     {f.images_dir + "/a.jpg", "image id 1", "missing or unreadable"});
  EXPECT_EQ(list_dir(f.dir), (std::vector<std::string>{"images", "instances.json"}));  // nothing written

  const ConvertSummary s = convert_coco(f.json_path, f.images_dir, f.output(), skip_options());
  EXPECT_EQ(s.written, 2);
  EXPECT_EQ(s.skipped, 1);
  ASSERT_EQ(s.skipped_samples.size(), 1u);
  EXPECT_EQ(s.skipped_samples[0].source, f.images_dir + "/a.jpg (image id 1)");
  EXPECT_NE(s.skipped_samples[0].reason.find("left out with its 2 boxes"), std::string::npos);
  const DetectionData d = load_detection(f.output());
  EXPECT_EQ(d.image_ids, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(d.box_ids, (std::vector<int64_t>{14, 12}));
  EXPECT_EQ(d.box_offsets, (std::vector<int64_t>{0, 1, 2}));
}

TEST(CocoConvert, ImageSizeMustMatchTheJpegHeader) {
  Fixture f = make_fixture();
  f.doc["images"][2]["width"] = 25;  // b.jpg is 24 wide
  f.write();
  test::expect_error([&] { convert_coco(f.json_path, f.images_dir, f.output()); },
                     {"b.jpg (image id 2)", "24x20", "JSON says 25x20"});
  write_text(f.images_dir + "/b.jpg", "not a jpeg at all");
  test::expect_error([&] { convert_coco(f.json_path, f.images_dir, f.output()); },
                     {"b.jpg (image id 2)", "not a JPEG"});
}

TEST(CocoConvert, BadBoxFailsOrIsSkipped) {
  Fixture f = make_fixture();
  f.doc["annotations"][2]["bbox"] = {20, 10, 0, 20};  // w = 0
  f.doc["annotations"][3]["bbox"] = {3, 4, 25, 6};    // x + w = 28 > 24 + 1
  f.write();
  test::expect_error(
      [&] { convert_coco(f.json_path, f.images_dir, f.output()); },
      {f.json_path, "annotation id 13", "image id 1", "non-positive width or height", "--on-error skip"});
  EXPECT_FALSE(fs::exists(f.output()));

  const ConvertSummary s = convert_coco(f.json_path, f.images_dir, f.output(), skip_options());
  EXPECT_EQ(s.written, 3);
  EXPECT_EQ(s.skipped, 2);
  ASSERT_EQ(s.skipped_samples.size(), 2u);
  EXPECT_EQ(s.skipped_samples[0].source, f.json_path + ": annotation id 13 (image id 1)");
  EXPECT_EQ(s.skipped_samples[1].source, f.json_path + ": annotation id 14 (image id 2)");
  EXPECT_NE(s.skipped_samples[1].reason.find("outside the 24x20"), std::string::npos) << s.skipped_samples[1].reason;
  const DetectionData d = load_detection(f.output());
  EXPECT_EQ(d.box_ids, (std::vector<int64_t>{11, 12}));
  EXPECT_EQ(d.box_offsets, (std::vector<int64_t>{0, 1, 1, 2}));
}

// --- detection/1 reader validation ------------------------------------------------------------

// Writes `d` (not validated) plus one tiny JPEG-bytes row per image.
std::string write_raw_detection(const DetectionData& d) {
  const std::string path = test::temp_dir() + "/det.h5";
  write_file_atomically(path, [&](hid_t file) {
    write_detection_metadata(file, d);
    create_vlen_bytes(file, "images", d.size());
    write_vlen_bytes_rows(file, "images", 0, std::vector<std::vector<uint8_t>>(d.size(), {0xFF, 0xD8, 0xFF}));
    H5Id ds = open_dataset(file, "images");
    write_attr_string(ds.get(), "encoding", "jpeg");
  });
  return path;
}

DetectionData small_detection() {
  DetectionData d;
  d.num_classes = 2;
  d.class_names = {"a", "b"};
  d.category_ids = {1, 7};
  d.image_ids = {10, 20};
  d.image_sizes = {30, 40, 20, 20};
  d.box_offsets = {0, 2, 3};
  d.boxes = {1, 1, 5, 5, 2, 2, 3, 3, 0, 0, 20, 20};
  d.box_labels = {0, 1, 1};
  d.box_iscrowd = {0, 0, 1};
  d.box_areas = {25, 9, 400};
  return d;
}

TEST(DetectionReader, ReadsWhatWasWrittenAndRowRanges) {
  const DetectionData d = small_detection();
  const std::string path = write_raw_detection(d);
  const DetectionData back = load_detection(path);
  EXPECT_EQ(back.boxes, d.boxes);
  EXPECT_EQ(back.box_offsets, d.box_offsets);
  EXPECT_TRUE(back.box_ids.empty());
  EXPECT_TRUE(back.sources.empty());
  EXPECT_EQ(read_detection_images(path, 1, 2), (std::vector<std::vector<uint8_t>>{{0xFF, 0xD8, 0xFF}}));
  EXPECT_TRUE(read_detection_images(path, 2, 2).empty());
  test::expect_error([&] { read_detection_images(path, 1, 3); }, {path, "/images rows [1, 3)", "outside [0, 2)"});
  // Without /box_ids the ground truth numbers annotations 1..M.
  const std::string gt = test::temp_dir() + "/gt.json";
  write_coco_ground_truth(back, gt);
  const json doc = read_json(gt);
  EXPECT_EQ(doc["annotations"][2]["id"], 3);
  EXPECT_EQ(doc["annotations"][2]["image_id"], 20);
  EXPECT_EQ(doc["annotations"][2]["category_id"], 7);
  EXPECT_EQ(doc["annotations"][2]["iscrowd"], 1);
}

TEST(DetectionReader, RejectsBrokenFilesNamingDatasetAndIndex) {
  DetectionData d = small_detection();
  d.box_offsets = {0, 3, 2};
  std::string path = write_raw_detection(d);
  test::expect_error([&] { load_detection(path); }, {path, "/box_offsets[2] = 2", "less than /box_offsets[1] = 3"});
  d = small_detection();
  d.box_offsets = {0, 1, 2};
  path = write_raw_detection(d);
  test::expect_error([&] { load_detection(path); }, {path, "/box_offsets[2] = 2", "expected M = 3"});
  d = small_detection();
  d.box_labels[1] = 2;
  path = write_raw_detection(d);
  test::expect_error([&] { load_detection(path); }, {path, "/box_labels[1] = 2 is outside [0, 2)"});
  d = small_detection();
  d.boxes[6] = -1;  // box 1: w = -1
  path = write_raw_detection(d);
  test::expect_error([&] { load_detection(path); }, {path, "/boxes[1]", "image 0 (id 10)", "non-positive width"});
  d = small_detection();
  d.boxes[8] = 5;  // box 2: x + w = 25 on a 20-wide image
  path = write_raw_detection(d);
  test::expect_error([&] { load_detection(path); }, {path, "/boxes[2]", "outside the 20x20"});
  d = small_detection();
  d.box_labels = {0, 1};
  path = write_raw_detection(d);
  test::expect_error([&] { load_detection(path); }, {path, "/box_labels has shape [2]", "expected [3]"});
}

}  // namespace
}  // namespace attncamp::data
