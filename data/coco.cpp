// COCO instances JSON -> detection/1. read_coco_instances checks the JSON's structure field by
// field and the boxes; convert_coco then checks every image file's JPEG header against the JSON
// (pass 1, 64 KiB per file), decides which images stay, and streams the files' bytes into
// /images in batches read by worker threads (pass 2), inside write_file_atomically.
#include "data/coco.h"

#include <omp.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/hdf5.h"
#include "data/image_codec.h"
#include "data/json_fields.h"
#include "runtime/error.h"

namespace attncamp::data {

namespace {

using json_fields::array_of_objects;
using json_fields::bbox_field;
using json_fields::field;
using json_fields::int_field;
using json_fields::item;
using json_fields::number_field;
using json_fields::string_field;
using json_fields::Where;
using nlohmann::json;

constexpr size_t kHeaderPrefixBytes = 64 * 1024;  // JPEG headers (SOF) almost always lie within
constexpr int64_t kWriteBatch = 64;               // images read and written per batch

struct CocoImage {
  int64_t id = 0, height = 0, width = 0;
  std::string file_name;
};

struct CocoBox {
  int64_t id = 0;
  float bbox[4] = {0, 0, 0, 0};
  float area = 0;
  int32_t label = 0;
  uint8_t iscrowd = 0;
};

// Reads the header of `path` (the first kHeaderPrefixBytes, or the whole file when the SOF marker
// lies further in) and checks it is a JPEG of the JSON's size. Throws naming `what`.
void check_image_file(const std::string& path, const std::string& what, int64_t height, int64_t width) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ATTNCAMP_THROW(what, ": image file missing or unreadable");
  std::vector<uint8_t> head(kHeaderPrefixBytes);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  const bool whole = head.size() < kHeaderPrefixBytes;
  if (sniff_image_format(head.data(), head.size()) != ImageFormat::kJpeg) {
    ATTNCAMP_THROW(what, ": not a JPEG file (detection/1 stores the original JPEG bytes)");
  }
  int h = 0, w = 0;
  try {
    image_size(head.data(), head.size(), &h, &w, what);
  } catch (const Error&) {
    if (whole) throw;
    const std::vector<uint8_t> all = read_file_bytes(path);
    image_size(all.data(), all.size(), &h, &w, what);
  }
  if (h != height || w != width) {
    ATTNCAMP_THROW(what, ": the JPEG is ", w, "x", h, " (width x height) but the JSON says ", width, "x", height);
  }
}

int resolve_threads(int threads) { return threads > 0 ? threads : std::max(1, omp_get_max_threads()); }

}  // namespace

DetectionData read_coco_instances(const std::string& path, const ConvertOptions& options, ConvertSummary* summary) {
  const json root = json_fields::parse_file_without_segmentations(path);
  if (!root.is_object()) {
    ATTNCAMP_THROW(path, ": top level is ", root.type_name(),
                   ", expected an object with images, annotations, categories");
  }
  const json& jimages = array_of_objects(root, "images", path);
  const json& janns = array_of_objects(root, "annotations", path);
  const json& jcats = array_of_objects(root, "categories", path);

  // Categories, sorted by id; label = position.
  std::vector<std::pair<int32_t, std::string>> cats;
  std::map<int64_t, size_t> cat_index;  // id -> position in the JSON
  for (size_t c = 0; c < jcats.size(); ++c) {
    const int64_t id = int_field(jcats[c], "id", {path, item("categories", c)});
    if (id < std::numeric_limits<int32_t>::min() || id > std::numeric_limits<int32_t>::max()) {
      ATTNCAMP_THROW(path, ": ", item("categories", c), ": field 'id' = ", id, " does not fit in int32");
    }
    const std::string name = string_field(jcats[c], "name", {path, item("categories", c, id)});
    const auto [it, fresh] = cat_index.emplace(id, c);
    if (!fresh)
      ATTNCAMP_THROW(path, ": ", item("categories", c), ": category id ", id, " repeats categories[", it->second, "]");
    cats.emplace_back(static_cast<int32_t>(id), name);
  }
  if (cats.empty()) ATTNCAMP_THROW(path, ": 'categories' is empty (need at least one category)");
  std::sort(cats.begin(), cats.end());
  std::map<int64_t, int32_t> label_of;
  for (size_t k = 0; k < cats.size(); ++k) label_of[cats[k].first] = static_cast<int32_t>(k);

  // Images, sorted by id.
  std::vector<CocoImage> images;
  std::map<int64_t, size_t> image_index;  // id -> position in the JSON
  for (size_t i = 0; i < jimages.size(); ++i) {
    CocoImage im;
    im.id = int_field(jimages[i], "id", {path, item("images", i)});
    const Where w{path, item("images", i, im.id)};
    im.file_name = string_field(jimages[i], "file_name", w);
    im.height = int_field(jimages[i], "height", w);
    im.width = int_field(jimages[i], "width", w);
    if (im.height <= 0 || im.width <= 0 || im.height > std::numeric_limits<int32_t>::max() ||
        im.width > std::numeric_limits<int32_t>::max()) {
      ATTNCAMP_THROW(path, ": ", w.item, ": width x height = ", im.width, "x", im.height, " is not a valid image size");
    }
    const auto [it, fresh] = image_index.emplace(im.id, i);
    if (!fresh)
      ATTNCAMP_THROW(path, ": ", item("images", i), ": image id ", im.id, " repeats images[", it->second, "]");
    images.push_back(std::move(im));
  }
  std::sort(images.begin(), images.end(), [](const CocoImage& a, const CocoImage& b) { return a.id < b.id; });
  std::map<int64_t, size_t> sorted_index;
  for (size_t i = 0; i < images.size(); ++i) sorted_index[images[i].id] = i;

  // Annotations, grouped by image in JSON order.
  std::vector<std::vector<CocoBox>> boxes_of(images.size());
  std::map<int64_t, size_t> ann_index;
  for (size_t q = 0; q < janns.size(); ++q) {
    const json& a = janns[q];
    CocoBox b;
    b.id = int_field(a, "id", {path, item("annotations", q)});
    const Where w{path, item("annotations", q, b.id)};
    const auto [dup, fresh] = ann_index.emplace(b.id, q);
    if (!fresh) ATTNCAMP_THROW(path, ": ", w.item, ": annotation id ", b.id, " repeats annotations[", dup->second, "]");
    const int64_t image_id = int_field(a, "image_id", w);
    const int64_t category_id = int_field(a, "category_id", w);
    double v[4];
    bbox_field(a, w, v);
    b.area = static_cast<float>(number_field(a, "area", w));
    const int64_t iscrowd = int_field(a, "iscrowd", w);
    if (iscrowd != 0 && iscrowd != 1)
      ATTNCAMP_THROW(path, ": ", w.item, ": field 'iscrowd' = ", iscrowd, ", expected 0 or 1");
    b.iscrowd = static_cast<uint8_t>(iscrowd);
    const auto im = sorted_index.find(image_id);
    if (im == sorted_index.end()) ATTNCAMP_THROW(path, ": ", w.item, ": image_id ", image_id, " is not in 'images'");
    const auto cat = label_of.find(category_id);
    if (cat == label_of.end()) {
      ATTNCAMP_THROW(path, ": ", w.item, ": category_id ", category_id, " is not in 'categories'");
    }
    b.label = cat->second;
    for (int e = 0; e < 4; ++e) b.bbox[e] = static_cast<float>(v[e]);
    const CocoImage& image = images[im->second];
    const std::string why = box_problem(v[0], v[1], v[2], v[3], image.height, image.width);
    if (!why.empty()) {
      const std::string msg = "bbox " + field(a, "bbox", w).dump() + " (x, y, w, h) " + why;
      if (options.on_error == OnError::kFail) {
        ATTNCAMP_THROW(path, ": annotation id ", b.id, " (image id ", image_id, ", ", item("annotations", q),
                       "): ", msg, "; use --on-error skip to leave such annotations out");
      }
      if (summary) {
        ++summary->skipped;
        summary->skipped_samples.push_back(
            {path + ": annotation id " + std::to_string(b.id) + " (image id " + std::to_string(image_id) + ")", msg});
      }
      continue;
    }
    boxes_of[im->second].push_back(b);
  }

  DetectionData d;
  d.num_classes = static_cast<int64_t>(cats.size());
  for (const auto& [id, name] : cats) d.category_ids.push_back(id), d.class_names.push_back(name);
  d.box_offsets.push_back(0);
  for (size_t i = 0; i < images.size(); ++i) {
    const CocoImage& im = images[i];
    d.image_ids.push_back(im.id);
    d.image_sizes.push_back(static_cast<int32_t>(im.height));
    d.image_sizes.push_back(static_cast<int32_t>(im.width));
    d.sources.push_back(im.file_name);
    for (const CocoBox& b : boxes_of[i]) {
      d.boxes.insert(d.boxes.end(), b.bbox, b.bbox + 4);
      d.box_labels.push_back(b.label);
      d.box_iscrowd.push_back(b.iscrowd);
      d.box_areas.push_back(b.area);
      d.box_ids.push_back(b.id);
    }
    d.box_offsets.push_back(d.num_boxes());
  }
  return d;
}

namespace {

// The images of `d` whose `keep` flag is set, with their boxes (same order).
DetectionData select_images(const DetectionData& d, const std::vector<char>& keep) {
  DetectionData out;
  out.num_classes = d.num_classes;
  out.class_names = d.class_names;
  out.category_ids = d.category_ids;
  out.box_offsets.push_back(0);
  for (int64_t i = 0; i < d.size(); ++i) {
    if (!keep[i]) continue;
    out.image_ids.push_back(d.image_ids[i]);
    out.image_sizes.insert(out.image_sizes.end(), d.image_sizes.begin() + 2 * i, d.image_sizes.begin() + 2 * i + 2);
    out.sources.push_back(d.sources[i]);
    const int64_t b = d.box_offsets[i], e = d.box_offsets[i + 1];
    out.boxes.insert(out.boxes.end(), d.boxes.begin() + 4 * b, d.boxes.begin() + 4 * e);
    out.box_labels.insert(out.box_labels.end(), d.box_labels.begin() + b, d.box_labels.begin() + e);
    out.box_iscrowd.insert(out.box_iscrowd.end(), d.box_iscrowd.begin() + b, d.box_iscrowd.begin() + e);
    out.box_areas.insert(out.box_areas.end(), d.box_areas.begin() + b, d.box_areas.begin() + e);
    out.box_ids.insert(out.box_ids.end(), d.box_ids.begin() + b, d.box_ids.begin() + e);
    out.box_offsets.push_back(out.num_boxes());
  }
  return out;
}

}  // namespace

ConvertSummary convert_coco(const std::string& annotations_json, const std::string& images_dir,
                            const std::string& output, const ConvertOptions& options) {
  ConvertSummary summary;
  const DetectionData all = read_coco_instances(annotations_json, options, &summary);
  const int64_t n_all = all.size();
  const int threads = resolve_threads(options.threads);
  auto file_of = [&](int64_t i) { return images_dir + "/" + all.sources[i]; };
  auto what_of = [&](int64_t i) { return file_of(i) + " (image id " + std::to_string(all.image_ids[i]) + ")"; };

  // Pass 1: every image's header against the JSON.
  std::vector<std::string> errors(n_all);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
  for (int64_t i = 0; i < n_all; ++i) {
    try {
      check_image_file(file_of(i), what_of(i), all.image_sizes[2 * i], all.image_sizes[2 * i + 1]);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  std::vector<char> keep(n_all, 1);
  for (int64_t i = 0; i < n_all; ++i) {
    if (errors[i].empty()) continue;
    if (options.on_error == OnError::kFail) throw Error(errors[i]);
    keep[i] = 0;
    ++summary.skipped;
    const int64_t boxes = all.box_offsets[i + 1] - all.box_offsets[i];
    summary.skipped_samples.push_back(
        {what_of(i), errors[i] + " (left out with its " + std::to_string(boxes) + " boxes)"});
  }
  const DetectionData d = select_images(all, keep);
  validate_detection(d, annotations_json);
  const int64_t n = d.size();

  // Pass 2: stream the files' bytes into /images.
  write_file_atomically(output, [&](hid_t file) {
    write_detection_metadata(file, d);
    create_vlen_bytes(file, "images", n);
    {
      H5Id ds = open_dataset(file, "images");
      write_attr_string(ds.get(), "encoding", "jpeg");
    }
    std::vector<std::vector<uint8_t>> batch;
    std::vector<std::string> batch_errors;
    for (int64_t start = 0; start < n; start += kWriteBatch) {
      const int64_t count = std::min(kWriteBatch, n - start);
      batch.assign(count, {});
      batch_errors.assign(count, {});
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
      for (int64_t r = 0; r < count; ++r) {
        try {
          batch[r] = read_file_bytes(images_dir + "/" + d.sources[start + r]);
        } catch (const std::exception& e) {
          batch_errors[r] = e.what();
        }
      }
      for (const std::string& e : batch_errors) {
        if (!e.empty()) throw Error(e + " (the file changed during the conversion?)");
      }
      write_vlen_bytes_rows(file, "images", start, batch);
      if (options.progress) options.progress(start + count, n);
    }
  });
  summary.written = n;
  summary.outputs.push_back(output);
  return summary;
}

}  // namespace attncamp::data
