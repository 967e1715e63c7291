// CPU NMS and the tensor-level API (CUDA tensors go to ops/cuda/nms.cu). The boxes are sorted by
// (score key, index) (cpu::topk_indices) and copied in that order into columns (x1, y1, x2, y2,
// area, class); the greedy pass then takes the first box still alive, keeps it and clears the
// alive flag of every later box above the threshold in one branch-free (vectorised) loop, and
// compacts the columns whenever more than half of the rest is dead. The per-class path groups the
// sorted boxes by class, runs the same pass on each group (OpenMP over groups) and merges the kept
// boxes back into score order, so its result does not depend on the thread count. This file is
// compiled with -ffp-contract=off (ops/nms_math.h) and -fno-trapping-math (ops/CMakeLists.txt).
#include "ops/nms.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "ops/cpu/nms_radix_sort.h"
#include "ops/dispatch.h"
#include "ops/nms_math.h"
#include "ops/nms_topk.h"

namespace attncamp::ops {
namespace cpu {
namespace {

// The boxes of one greedy pass as columns, in visiting order. `rank` is each box's position in the
// score order.
template <class T>
struct Columns {
  std::vector<T> x1, y1, x2, y2, area;
  std::vector<int64_t> cls, rank;
  std::vector<uint8_t> alive;

  // Boxes order[ranks[k]] for each k (cls from class_ids, or 0).
  Columns(const T* boxes, const int64_t* class_ids, const std::vector<int64_t>& order,
          const std::vector<int64_t>& ranks) {
    const size_t n = ranks.size();
    for (auto* v : {&x1, &y1, &x2, &y2, &area}) v->resize(n);
    cls.resize(n);
    rank.resize(n);
    alive.assign(n, 1);
    for (size_t k = 0; k < n; ++k) {
      const int64_t i = order[ranks[k]];
      const T* b = boxes + 4 * i;
      x1[k] = b[0];
      y1[k] = b[1];
      x2[k] = b[2];
      y2[k] = b[3];
      area[k] = box_area(b[0], b[1], b[2], b[3]);
      cls[k] = class_ids != nullptr ? class_ids[i] : 0;
      rank[k] = ranks[k];
    }
  }

  // Keeps the alive boxes of [from, len) at [from, ...); returns the new length.
  int64_t compact(int64_t from, int64_t len) {
    int64_t w = from;
    for (int64_t k = from; k < len; ++k) {
      if (!alive[k]) continue;
      x1[w] = x1[k];
      y1[w] = y1[k];
      x2[w] = x2[k];
      y2[w] = y2[k];
      area[w] = area[k];
      cls[w] = cls[k];
      rank[w] = rank[k];
      alive[w] = 1;
      ++w;
    }
    return w;
  }
};

// Clears alive[j] for j in [from, len) where box j has box i's class and IoU(i, j) > thr; returns
// how many boxes it killed.
template <class T>
int64_t suppress(Columns<T>& c, int64_t i, int64_t from, int64_t len, T thr) {
  const T ax1 = c.x1[i], ay1 = c.y1[i], ax2 = c.x2[i], ay2 = c.y2[i], aa = c.area[i];
  const int64_t ac = c.cls[i];
  const T *x1 = c.x1.data(), *y1 = c.y1.data(), *x2 = c.x2.data(), *y2 = c.y2.data(), *area = c.area.data();
  const int64_t* cls = c.cls.data();
  uint8_t* alive = c.alive.data();
  int64_t killed = 0;
#pragma omp simd reduction(+ : killed)
  for (int64_t j = from; j < len; ++j) {
    const bool hit = (cls[j] == ac) & (box_iou(ax1, ay1, ax2, ay2, aa, x1[j], y1[j], x2[j], y2[j], area[j]) > thr);
    killed += alive[j] & static_cast<uint8_t>(hit);
    alive[j] &= static_cast<uint8_t>(!hit);
  }
  return killed;
}

// The greedy pass over all of c; appends the kept boxes' ranks (ascending) to `kept`.
template <class T>
void greedy(Columns<T>& c, T thr, std::vector<int64_t>& kept) {
  constexpr int64_t kMinCompact = 256;                          // compacting shorter tails costs more than it saves
  int64_t len = static_cast<int64_t>(c.rank.size()), dead = 0;  // dead: boxes of (i, len) not alive
  for (int64_t i = 0; i < len; ++i) {
    if (!c.alive[i]) {
      --dead;
      continue;
    }
    kept.push_back(c.rank[i]);
    dead += suppress(c, i, i + 1, len, thr);
    if (len - i - 1 >= kMinCompact && 2 * dead > len - i - 1) {
      len = c.compact(i + 1, len);
      dead = 0;
    }
  }
}

}  // namespace

template <class T>
int64_t nms(const NmsParams<T>& p, int64_t* keep) {
  const int64_t m = p.max_candidates < 0 ? p.n : std::min(p.n, p.max_candidates);
  std::vector<int64_t> order(static_cast<size_t>(m));
  topk_indices(p.scores, p.n, m, order.data());
  const T thr = nms_threshold<T>(p.iou_threshold);
  std::vector<int64_t> kept;
  if (!p.per_class || p.class_ids == nullptr) {
    std::vector<int64_t> ranks(static_cast<size_t>(m));
    std::iota(ranks.begin(), ranks.end(), 0);
    Columns<T> c(p.boxes, p.class_ids, order, ranks);
    greedy(c, thr, kept);
  } else {
    // Ranks grouped by class, each class in score order: a stable sort of the ranks by class (the
    // class's bits with the sign flipped, so that negative ids come first).
    std::vector<uint64_t> class_keys(static_cast<size_t>(m));
    std::vector<int64_t> ranks(static_cast<size_t>(m)), starts;
    for (int64_t k = 0; k < m; ++k) {
      class_keys[k] = static_cast<uint64_t>(p.class_ids[order[k]]) ^ (uint64_t{1} << 63);
      ranks[k] = k;
    }
    radix_sort_pairs(class_keys, ranks);
    for (int64_t k = 0; k < m; ++k) {
      if (k == 0 || class_keys[k] != class_keys[k - 1]) starts.push_back(k);
    }
    starts.push_back(m);
    const int64_t groups = static_cast<int64_t>(starts.size()) - 1;
    std::vector<std::vector<int64_t>> group_kept(static_cast<size_t>(groups));
#pragma omp parallel for schedule(dynamic) if (groups > 1)
    for (int64_t g = 0; g < groups; ++g) {
      const std::vector<int64_t> group(ranks.begin() + starts[g], ranks.begin() + starts[g + 1]);
      Columns<T> c(p.boxes, p.class_ids, order, group);
      greedy(c, thr, group_kept[g]);
    }
    std::vector<uint8_t> is_kept(static_cast<size_t>(m), 0);  // by rank: back into score order
    for (const auto& g : group_kept) {
      for (int64_t r : g) is_kept[r] = 1;
    }
    for (int64_t r = 0; r < m; ++r) {
      if (is_kept[r]) kept.push_back(r);
    }
  }
  for (size_t k = 0; k < kept.size(); ++k) keep[k] = order[kept[k]];
  return static_cast<int64_t>(kept.size());
}

template int64_t nms<float>(const NmsParams<float>&, int64_t*);
template int64_t nms<double>(const NmsParams<double>&, int64_t*);

}  // namespace cpu

BatchedNmsPath batched_nms_path(int64_t n, bool cuda) {
  return n >= (cuda ? kPerClassMinBoxesCuda : kPerClassMinBoxes) ? BatchedNmsPath::kPerClass
                                                                 : BatchedNmsPath::kCoordinateTrick;
}

namespace {

Tensor nms_impl(const char* op, const Tensor& boxes, const Tensor& scores, const Tensor* class_ids,
                double iou_threshold, const NmsOptions& options) {
  const bool cuda = on_cuda(op, {&boxes, &scores, class_ids});
  check_arg(op, "boxes", boxes, cuda ? DTypeSet{DType::kF32} : kCpuFloat);
  check_dim(op, "boxes", boxes, 2, "[N,4]");
  const int64_t n = boxes.size(0);
  check_shape(op, "boxes", boxes, {n, 4});
  check_exact(op, "scores", scores, {n}, boxes.dtype());
  if (class_ids != nullptr) {
    check_arg(op, "class_ids", *class_ids, {DType::kI32, DType::kI64});
    check_shape(op, "class_ids", *class_ids, {n});
  }
  ATTNCAMP_CHECK(!std::isnan(iou_threshold), op, ": iou_threshold must be a number; got NaN");
  ATTNCAMP_CHECK(options.max_candidates >= -1, op, ": options.max_candidates must be -1 (all) or >= 0; got ",
                 options.max_candidates);
  const Device device = boxes.device();
  const int64_t m = options.max_candidates < 0 ? n : std::min(n, options.max_candidates);
  if (m == 0) return Tensor::empty({0}, DType::kI64, device);
  BatchedNmsPath path = options.path;
  if (path == BatchedNmsPath::kAuto) path = batched_nms_path(m, cuda);
  const bool per_class = class_ids != nullptr && path == BatchedNmsPath::kPerClass;
  if (cuda) {
#ifdef ATTNCAMP_WITH_CUDA
    ATTNCAMP_CHECK(m <= kMaxNmsBoxesCuda, op, ": boxes on CUDA must number at most ", kMaxNmsBoxesCuda,
                   " after pre-selection (set options.max_candidates); got ", m);
    cuda::NmsArgs a;
    a.n = n;
    a.boxes = boxes.data<float>();
    a.scores = scores.data<float>();
    a.class_ids = class_ids != nullptr ? class_ids->raw_data() : nullptr;
    a.class_dtype = class_ids != nullptr ? class_ids->dtype() : DType::kI64;
    a.iou_threshold = iou_threshold;
    a.max_candidates = options.max_candidates;
    a.per_class = per_class;
    a.device = device.index;
    return cuda::nms(a);
#endif
  }
  std::vector<int64_t> classes;
  if (class_ids != nullptr) {
    classes.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      classes[i] = class_ids->dtype() == DType::kI32 ? class_ids->data<int32_t>()[i] : class_ids->data<int64_t>()[i];
    }
  }
  std::vector<int64_t> keep(static_cast<size_t>(m));
  const int64_t k = dispatch_float(boxes.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::NmsParams<T> p;
    p.n = n;
    p.boxes = boxes.data<T>();
    p.scores = scores.data<T>();
    p.class_ids = class_ids != nullptr ? classes.data() : nullptr;
    p.iou_threshold = iou_threshold;
    p.max_candidates = options.max_candidates;
    p.per_class = per_class;
    return cpu::nms(p, keep.data());
  });
  Tensor out = Tensor::empty({k}, DType::kI64);
  std::copy(keep.begin(), keep.begin() + k, out.data<int64_t>());
  return out;
}

}  // namespace

Tensor nms(const Tensor& boxes, const Tensor& scores, double iou_threshold, const NmsOptions& options) {
  return nms_impl("nms", boxes, scores, nullptr, iou_threshold, options);
}

Tensor batched_nms(const Tensor& boxes, const Tensor& scores, const Tensor& class_ids, double iou_threshold,
                   const NmsOptions& options) {
  return nms_impl("batched_nms", boxes, scores, &class_ids, iou_threshold, options);
}

}  // namespace attncamp::ops
