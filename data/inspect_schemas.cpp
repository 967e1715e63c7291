// The schema checks of inspect_file: classification/1, checkpoint/1, detection/1 (image sizes and
// ids, box offsets and labels, each box inside its image) and eeg/1 (attributes, per-channel
// signal statistics streamed by row ranges). Each records every problem it finds.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "data/detection.h"
#include "data/inspect_internal.h"

namespace attncamp::data::inspect_detail {

void Inspector::classification() {
  check_classes();
  Shape raw;
  const int64_t n = check_images(&raw);
  Shape ls;
  if (expect("labels", "int32", 1, &ls)) {
    if (n >= 0 && ls[0] != n) problem("/labels: has ", ls[0], " rows but /images has ", n);
    r_.n = ls[0];
    check_labels("labels", "class histogram");
  }
  if (link_exists(f_, "sources")) expect_rows("sources", "string", 1, r_.n);
  if (r_.n < 0) r_.n = n;
  line("N: ", r_.n, ", num_classes: ", r_.num_classes);
}

void Inspector::checkpoint() {
  std::vector<std::string> names;
  H5Lvisit(f_, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &names);
  static const std::set<std::string> kTypes = {"float32", "float64", "int32", "int64", "uint8"};
  for (const auto& name : names) {
    const std::string t = dataset_type_name(f_, name);
    if (kTypes.count(t) == 0) {
      problem("/", name, ": dtype is ", t, ", expected float32, float64, int32, int64 or uint8");
      continue;
    }
    if (t != "float32" && t != "float64") continue;
    const Tensor x = read_tensor(f_, name);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double v = t == "float32" ? x.data<float>()[i] : x.data<double>()[i];
      if (!std::isfinite(v) && bad++ == 0) first = i;
    }
    if (bad > 0) problem("/", name, ": ", bad, " NaN/Inf values (first at flat index ", first, ")");
  }
  line("tensors: ", names.size());
}

void Inspector::detection() {
  check_classes();
  Shape raw, s;
  int64_t n = check_images(&raw);
  Tensor sizes, offsets, labels;
  if (expect_rows("image_sizes", "int32", 2, n, &s)) {
    if (s[1] != 2) {
      problem("/image_sizes: shape is ", shape_str(s), ", expected [N, 2] (height, width)");
    } else {
      sizes = read_tensor(f_, "image_sizes", DType::kI32, 2);
      const int32_t* hw = sizes.data<int32_t>();
      int32_t lo[2] = {std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::max()}, hi[2] = {0, 0};
      for (int64_t i = 0; i < s[0]; ++i) {
        const int32_t h = hw[2 * i], w = hw[2 * i + 1];
        if (h <= 0 || w <= 0) problem("/image_sizes[", i, "] = [", h, ", ", w, "] is not positive");
        if (raw.size() == 4 && (h != raw[1] || w != raw[2])) {
          problem("/image_sizes[", i, "] = [", h, ", ", w, "] but /images rows are ", raw[1], "x", raw[2]);
        }
        for (int d = 0; d < 2; ++d) lo[d] = std::min(lo[d], hw[2 * i + d]), hi[d] = std::max(hi[d], hw[2 * i + d]);
      }
      if (s[0] > 0) line("image height ", lo[0], "..", hi[0], ", width ", lo[1], "..", hi[1]);
      if (n < 0) n = s[0];
    }
  }
  r_.n = n;
  if (expect_rows("image_ids", "int64", 1, n, &s)) {
    const Tensor ids = read_tensor(f_, "image_ids", DType::kI64, 1);
    std::map<int64_t, int64_t> first;
    for (int64_t i = 0; i < ids.numel(); ++i) {
      const int64_t id = ids.data<int64_t>()[i];
      const auto [it, fresh] = first.emplace(id, i);
      if (!fresh) problem("/image_ids[", i, "] = ", id, " repeats /image_ids[", it->second, "]");
    }
  }
  int64_t m = -1;
  if (expect("boxes", "float32", 2, &s)) {
    if (s[1] != 4)
      problem("/boxes: shape is ", shape_str(s), ", expected [M, 4] (x, y, w, h)");
    else
      m = s[0];
  }
  r_.boxes = m;
  if (expect_rows("box_offsets", "int64", 1, n >= 0 ? n + 1 : -1, &s) && s[0] > 0) {
    offsets = read_tensor(f_, "box_offsets", DType::kI64, 1);
    const int64_t* o = offsets.data<int64_t>();
    const int64_t before = r_.problem_count;
    if (o[0] != 0) problem("/box_offsets[0] = ", o[0], ", expected 0");
    for (int64_t i = 1; i < s[0]; ++i) {
      if (o[i] < o[i - 1])
        problem("/box_offsets[", i, "] = ", o[i], " is less than /box_offsets[", i - 1, "] = ", o[i - 1]);
    }
    if (m >= 0 && o[s[0] - 1] != m) problem("/box_offsets[", s[0] - 1, "] = ", o[s[0] - 1], ", expected M = ", m);
    if (r_.problem_count != before) {
      offsets = Tensor();
    } else if (s[0] > 1) {
      int64_t lo = o[1] - o[0], hi = lo;
      for (int64_t i = 1; i < s[0]; ++i) lo = std::min(lo, o[i] - o[i - 1]), hi = std::max(hi, o[i] - o[i - 1]);
      r_.min_boxes_per_image = lo, r_.max_boxes_per_image = hi;
      line("boxes per image: min ", lo, " mean ", fmt(static_cast<double>(o[s[0] - 1]) / (s[0] - 1)), " max ", hi);
    }
  }
  if (expect_rows("box_labels", "int32", 1, m)) {
    check_labels("box_labels", "boxes per class");
    labels = read_tensor(f_, "box_labels", DType::kI32, 1);
  }
  if (expect_rows("box_iscrowd", "uint8", 1, m, &s)) {
    const Tensor c = read_tensor(f_, "box_iscrowd", DType::kU8, 1);
    int64_t crowd = 0;
    for (int64_t j = 0; j < c.numel(); ++j) {
      const int v = c.data<uint8_t>()[j];
      if (v > 1) problem("/box_iscrowd[", j, "] = ", v, " is not 0 or 1");
      crowd += v == 1;
    }
    line("crowd boxes: ", crowd);
  }
  if (expect_rows("box_areas", "float32", 1, m)) {
    const Tensor a = read_tensor(f_, "box_areas", DType::kF32, 1);
    for (int64_t j = 0; j < a.numel(); ++j) {
      const float v = a.data<float>()[j];
      if (!std::isfinite(v) || v < 0) problem("/box_areas[", j, "] = ", v, " is negative or not finite");
    }
  }
  if (expect_rows("category_ids", "int32", 1, r_.num_classes)) {
    const Tensor ids = read_tensor(f_, "category_ids", DType::kI32, 1);
    std::map<int32_t, int64_t> first;
    for (int64_t k = 0; k < ids.numel(); ++k) {
      const auto [it, fresh] = first.emplace(ids.data<int32_t>()[k], k);
      if (!fresh) problem("/category_ids[", k, "] = ", it->first, " repeats /category_ids[", it->second, "]");
    }
  }
  if (link_exists(f_, "box_ids")) expect_rows("box_ids", "int64", 1, m);
  if (link_exists(f_, "sources")) expect_rows("sources", "string", 1, n);
  if (m >= 0) check_boxes(offsets, sizes, labels, m);
}

// Box sizes and coordinates; with valid offsets and sizes also whether each box lies inside its
// image, and with labels the images per class.
void Inspector::check_boxes(const Tensor& offsets, const Tensor& sizes, const Tensor& labels, int64_t m) {
  const Tensor boxes = read_tensor(f_, "boxes", DType::kF32, 2);
  const float* b = boxes.data<float>();
  const bool per_image = offsets.defined() && sizes.defined() && offsets.numel() == sizes.size(0) + 1;
  float lo[4], hi[4];
  std::fill(lo, lo + 4, std::numeric_limits<float>::infinity());
  std::fill(hi, hi + 4, -std::numeric_limits<float>::infinity());
  int64_t image = 0;
  for (int64_t j = 0; j < m; ++j) {
    const float* x = b + 4 * j;
    const std::string box = str_cat("/boxes[", j, "] = [", x[0], ", ", x[1], ", ", x[2], ", ", x[3], "]");
    if (!(std::isfinite(x[0]) && std::isfinite(x[1]) && std::isfinite(x[2]) && std::isfinite(x[3]))) {
      problem(box, " is not finite");
      continue;
    }
    for (int d = 0; d < 4; ++d) lo[d] = std::min(lo[d], x[d]), hi[d] = std::max(hi[d], x[d]);
    if (!per_image) {
      if (x[2] <= 0 || x[3] <= 0) problem(box, " has non-positive width or height");
      continue;
    }
    while (offsets.data<int64_t>()[image + 1] <= j) ++image;
    const int32_t h = sizes.data<int32_t>()[2 * image], w = sizes.data<int32_t>()[2 * image + 1];
    const std::string why = box_problem(x[0], x[1], x[2], x[3], h, w);
    if (!why.empty()) problem(box, " (x, y, w, h) of image ", image, " ", why);
  }
  if (m > 0) {
    line("boxes: ", m, "; x ", lo[0], "..", hi[0], ", y ", lo[1], "..", hi[1], ", w ", lo[2], "..", hi[2], ", h ",
         lo[3], "..", hi[3]);
  }
  if (!offsets.defined() || !labels.defined() || r_.num_classes <= 0) return;
  r_.images_per_class.assign(r_.num_classes, 0);
  const int64_t* o = offsets.data<int64_t>();
  for (int64_t i = 0; i + 1 < offsets.numel(); ++i) {
    std::set<int32_t> seen;
    for (int64_t j = o[i]; j < o[i + 1]; ++j) {
      const int32_t c = labels.data<int32_t>()[j];
      if (c >= 0 && c < r_.num_classes && seen.insert(c).second) ++r_.images_per_class[c];
    }
  }
  line("images per class:");
  for (int64_t c = 0; c < r_.num_classes; ++c) line("  ", class_label(c), ": ", r_.images_per_class[c]);
}

void Inspector::eeg() {
  check_classes();
  Shape s;
  int64_t n = -1, ch = -1, t = -1;
  if (expect("signals", "float32", 3, &s)) n = s[0], ch = s[1], t = s[2];
  if (expect_rows("labels", "int32", 1, n, &s)) {
    check_labels("labels", "class histogram");
    if (n < 0) n = s[0];
  }
  r_.n = n;
  for (const char* name : {"subjects", "runs"}) {
    if (!expect_rows(name, "int32", 1, n)) continue;
    const Tensor v = read_tensor(f_, name, DType::kI32, 1);
    std::map<int32_t, int64_t> counts;
    for (int64_t i = 0; i < v.numel(); ++i) ++counts[v.data<int32_t>()[i]];
    std::string text;
    for (const auto& [id, c] : counts) text += str_cat(" ", id, " (", c, ")");
    line(name, " (epochs):", text);
  }
  std::vector<std::string> channel_names;
  if (expect_rows("channel_names", "string", 1, ch)) channel_names = read_string_dataset(f_, "channel_names");
  if (!has_attr(f_, "sample_rate_hz") || attr_kind(f_, "sample_rate_hz") != AttrKind::kFloat) {
    problem("root attribute sample_rate_hz is missing or not a float");
  } else if (!(read_attr_double(f_, "sample_rate_hz") > 0)) {
    problem("sample_rate_hz is ", read_attr_double(f_, "sample_rate_hz"), ", expected > 0");
  }
  if (!has_attr(f_, "tmin_s") || attr_kind(f_, "tmin_s") != AttrKind::kFloat) {
    problem("root attribute tmin_s is missing or not a float");
  }
  if (!has_attr(f_, "band_hz")) {
    problem("root attribute band_hz is missing");
  } else {
    std::vector<double> band;
    try {
      band = read_attr_doubles(f_, "band_hz");
    } catch (const Error&) {
    }
    if (band.size() != 2 || !(band[0] >= 0 && band[0] <= band[1] && std::isfinite(band[1]))) {
      problem("band_hz is ", attr_text(f_, "band_hz"), ", expected [low, high] with 0 <= low <= high");
    }
  }
  if (!has_attr(f_, "source_files")) problem("root attribute source_files is missing");
  if (ch <= 0 || t <= 0) return;

  std::vector<double> sum(ch, 0), sumsq(ch, 0);
  std::vector<int64_t> count(ch, 0);
  r_.channels.assign(
      ch, ChannelStats{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 0, 0, 0});
  const int64_t step = chunk_rows(o_.chunk_bytes, ch * t * 4);
  for (int64_t start = 0; start < n; start += step) {
    const int64_t end = std::min(n, start + step);
    const Tensor rows = read_rows(f_, "signals", start, end, DType::kF32);
    for (int64_t e = start; e < end; ++e) {
      int64_t bad = 0, first_c = 0, first_t = 0;
      for (int64_t c = 0; c < ch; ++c) {
        const float* x = rows.data<float>() + ((e - start) * ch + c) * t;
        ChannelStats& st = r_.channels[c];
        for (int64_t k = 0; k < t; ++k) {
          const double v = x[k];
          if (!std::isfinite(v)) {
            if (bad++ == 0) first_c = c, first_t = k;
            ++st.nonfinite;
            continue;
          }
          st.min = std::min(st.min, v), st.max = std::max(st.max, v);
          sum[c] += v, sumsq[c] += v * v, ++count[c];
        }
      }
      if (bad > 0) {
        const std::string nm = first_c < static_cast<int64_t>(channel_names.size()) ? " " + channel_names[first_c] : "";
        problem("/signals[", e, "]: ", bad, " NaN/Inf values (first at channel ", first_c, nm, ", sample ", first_t,
                ")");
      }
    }
  }
  line("signals (uV), per channel over ", n, " epochs x ", t, " samples:");
  for (int64_t c = 0; c < ch; ++c) {
    ChannelStats& st = r_.channels[c];
    if (count[c] > 0) {
      st.mean = sum[c] / count[c];
      st.std = std::sqrt(std::max(0.0, sumsq[c] / count[c] - st.mean * st.mean));
    } else {
      st.min = st.max = 0;
    }
    const std::string nm = c < static_cast<int64_t>(channel_names.size()) ? channel_names[c] : std::to_string(c);
    line("  ", nm, ": min ", fmt(st.min), " max ", fmt(st.max), " mean ", fmt(st.mean), " std ", fmt(st.std),
         st.nonfinite > 0 ? str_cat(" NaN/Inf ", st.nonfinite) : "");
  }
}

}  // namespace attncamp::data::inspect_detail
