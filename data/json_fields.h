// Reading COCO-style JSON files field by field (nlohmann-json): each helper checks one field's
// presence and type and throws one line naming the file, the item ("annotations[12] (id 508910)")
// and the field. Shared by the COCO converter (data/coco.cpp) and the COCO evaluator's readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace attncamp::data::json_fields {

using nlohmann::json;

// Parses the whole file, dropping every "segmentation" value while parsing (polygons and RLE
// masks are most of a COCO file's size and no reader here keeps them), so the DOM of
// instances_train2017.json stays small. Malformed JSON: "FILE: malformed JSON at byte B (...)".
json parse_file_without_segmentations(const std::string& path);

// Where a JSON value sits, for messages: path = the file, item = "annotations[12] (id 508910)".
struct Where {
  const std::string& path;
  std::string item;
};

// "NAME[I]" before an item's id is known, "NAME[I] (id ID)" after.
std::string item(const char* array, size_t i);
std::string item(const char* array, size_t i, int64_t id);

// The field `name` of `obj`; a missing field is an error.
const json& field(const json& obj, const char* name, const Where& w);
// An integer field that fits in int64.
int64_t int_field(const json& obj, const char* name, const Where& w);
// Any JSON number, as a double (integers converted, floats as parsed).
double number_field(const json& obj, const char* name, const Where& w);
std::string string_field(const json& obj, const char* name, const Where& w);
// A field "bbox" of exactly 4 numbers [x, y, width, height], written into box[0..3].
void bbox_field(const json& obj, const Where& w, double box[4]);

// The top-level array root[name], every element of which is an object.
const json& array_of_objects(const json& root, const char* name, const std::string& path);

}  // namespace attncamp::data::json_fields
