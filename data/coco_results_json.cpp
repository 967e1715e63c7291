// COCO results JSON reader: nlohmann-json's SAX interface streams the file once, and a small state
// machine (nesting depth, the field being read) checks every entry as it goes, so a results file
// of half a million detections is read without building a DOM.
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "data/coco_json.h"
#include "data/image_codec.h"
#include "runtime/error.h"

namespace attncamp::data {

namespace {

using nlohmann::json;

// The fields of an entry that are read; everything else is skipped.
enum class Field { kOther, kImageId, kCategoryId, kBbox, kScore };
constexpr unsigned kAllFields = 0xf;  // one bit per field above, kImageId = bit 0

const char* field_name(Field f) {
  switch (f) {
    case Field::kImageId: return "image_id";
    case Field::kCategoryId: return "category_id";
    case Field::kBbox: return "bbox";
    case Field::kScore: return "score";
    case Field::kOther: break;
  }
  return "";
}

unsigned field_bit(Field f) { return 1u << (static_cast<int>(f) - 1); }

// Events of the document [ {k: v, ...}, ... ] at nesting depth 0 (the top level), 1 (an entry),
// 2 (an entry's field values) and deeper (inside a bbox or a skipped value).
class ResultsReader : public nlohmann::json_sax<json> {
 public:
  ResultsReader(const std::string& path, std::vector<CocoResult>* out) : path_(path), out_(out) {}

  bool null() override { return scalar("null"); }
  bool boolean(bool v) override { return scalar(v ? "true" : "false"); }
  bool string(string_t& v) override { return scalar("the string \"" + v + "\""); }
  bool binary(binary_t&) override { return scalar("binary"); }
  bool number_integer(number_integer_t v) override {
    if (depth_ == 2 && (field_ == Field::kImageId || field_ == Field::kCategoryId)) return integer(v);
    return number(static_cast<double>(v), std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (depth_ == 2 && (field_ == Field::kImageId || field_ == Field::kCategoryId)) {
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail_field("= " + std::to_string(v) + " does not fit in int64");
      }
      return integer(static_cast<int64_t>(v));
    }
    return number(static_cast<double>(v), std::to_string(v));
  }
  bool number_float(number_float_t v, const string_t& text) override {
    if (depth_ == 2 && (field_ == Field::kImageId || field_ == Field::kCategoryId)) {
      fail_field("is the number " + text + ", expected an integer");
    }
    return number(v, text);
  }

  bool start_object(std::size_t) override {
    if (depth_ == 0) ATTNCAMP_THROW(path_, ": top level is an object, expected an array of detections");
    if (depth_ == 1) {
      entry_ = CocoResult{};
      seen_ = 0;
    } else if (depth_ == 2 && field_ != Field::kOther) {
      fail_field("is an object, expected " + expected());
    } else if (in_bbox_) {
      fail_field("holds an object, expected 4 numbers [x, y, width, height]");
    }
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ != 2) return true;
    field_ = k == "image_id"      ? Field::kImageId
             : k == "category_id" ? Field::kCategoryId
             : k == "bbox"        ? Field::kBbox
             : k == "score"       ? Field::kScore
                                  : Field::kOther;
    return true;
  }
  bool end_object() override {
    if (--depth_ == 1) {
      for (Field f : {Field::kImageId, Field::kCategoryId, Field::kBbox, Field::kScore}) {
        if (!(seen_ & field_bit(f))) {
          ATTNCAMP_THROW(path_, ": [", out_->size(), "]: required field '", field_name(f), "' is missing");
        }
      }
      out_->push_back(entry_);
    }
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 1) ATTNCAMP_THROW(path_, ": [", out_->size(), "] is an array, expected an object");
    if (depth_ == 2 && field_ == Field::kBbox) {
      in_bbox_ = true;
      bbox_count_ = 0;
    } else if (depth_ == 2 && field_ != Field::kOther) {
      fail_field("is an array, expected " + expected());
    } else if (in_bbox_) {
      fail_field("holds an array, expected 4 numbers [x, y, width, height]");
    }
    ++depth_;
    return true;
  }
  bool end_array() override {
    if (--depth_ == 2 && in_bbox_) {
      in_bbox_ = false;
      if (bbox_count_ != 4) {
        fail_field("has " + std::to_string(bbox_count_) + " numbers, expected 4 numbers [x, y, width, height]");
      }
      seen_ |= field_bit(Field::kBbox);
    }
    return true;
  }
  bool parse_error(std::size_t byte, const std::string&, const nlohmann::detail::exception& e) override {
    ATTNCAMP_THROW(path_, ": malformed JSON at byte ", byte, " (", e.what(), ")");
  }

 private:
  // What the current field must hold, for messages.
  std::string expected() const {
    return field_ == Field::kBbox    ? "4 numbers [x, y, width, height]"
           : field_ == Field::kScore ? "a number"
                                     : "an integer";
  }
  [[noreturn]] void fail_field(const std::string& what) const {
    ATTNCAMP_THROW(path_, ": [", out_->size(), "]: field '", field_name(field_), "' ", what);
  }
  // A string, boolean or null: wrong wherever a read field expects a value.
  bool scalar(const std::string& what) {
    if (depth_ == 0) ATTNCAMP_THROW(path_, ": top level is ", what, ", expected an array of detections");
    if (depth_ == 1) ATTNCAMP_THROW(path_, ": [", out_->size(), "] is ", what, ", expected an object");
    if (depth_ == 2 && field_ != Field::kOther) fail_field("is " + what + ", expected " + expected());
    if (in_bbox_ && depth_ == 3) fail_field("holds " + what + ", expected 4 numbers [x, y, width, height]");
    return true;
  }
  bool integer(int64_t v) {
    (field_ == Field::kImageId ? entry_.image_id : entry_.category_id) = v;
    seen_ |= field_bit(field_);
    return true;
  }
  bool number(double v, const std::string& text) {
    if (depth_ == 0) ATTNCAMP_THROW(path_, ": top level is the number ", text, ", expected an array of detections");
    if (depth_ == 1) ATTNCAMP_THROW(path_, ": [", out_->size(), "] is the number ", text, ", expected an object");
    if (depth_ == 2 && field_ == Field::kScore) {
      entry_.score = v;
      seen_ |= field_bit(Field::kScore);
    } else if (depth_ == 2 && field_ == Field::kBbox) {
      fail_field("is the number " + text + ", expected 4 numbers [x, y, width, height]");
    } else if (in_bbox_ && depth_ == 3) {
      if (bbox_count_ < 4) entry_.bbox[bbox_count_] = v;
      ++bbox_count_;
    }
    return true;
  }

  const std::string& path_;
  std::vector<CocoResult>* out_;
  CocoResult entry_;
  int depth_ = 0;
  Field field_ = Field::kOther;  // the entry's field whose value comes next (depth 2)
  unsigned seen_ = 0;            // field_bit of the fields the current entry has given
  bool in_bbox_ = false;
  int bbox_count_ = 0;
};

}  // namespace

std::vector<CocoResult> read_coco_results_f64(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  std::vector<CocoResult> out;
  out.reserve(bytes.size() / 96);  // a typical entry's size in bytes
  ResultsReader reader(path, &out);
  json::sax_parse(bytes.begin(), bytes.end(), &reader);
  return out;
}

std::vector<CocoDetection> read_coco_results(const std::string& path) {
  const std::vector<CocoResult> all = read_coco_results_f64(path);
  std::vector<CocoDetection> out(all.size());
  for (size_t q = 0; q < all.size(); ++q) {
    const CocoResult& r = all[q];
    if (r.category_id < std::numeric_limits<int32_t>::min() || r.category_id > std::numeric_limits<int32_t>::max()) {
      ATTNCAMP_THROW(path, ": [", q, "]: field 'category_id' = ", r.category_id, " does not fit in int32");
    }
    out[q].image_id = r.image_id;
    out[q].category_id = static_cast<int32_t>(r.category_id);
    for (int e = 0; e < 4; ++e) out[q].bbox[e] = static_cast<float>(r.bbox[e]);
    out[q].score = static_cast<float>(r.score);
  }
  return out;
}

}  // namespace attncamp::data
