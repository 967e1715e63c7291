// Detector: the backbone, the RPN, the second stage with region attention, their losses and
// explicit backward (the pipeline is described in models/detector.h).
#include "models/detector.h"

#include <algorithm>
#include <cmath>

#include "ops/anchors.h"
#include "ops/box_coding.h"
#include "ops/boxes.h"
#include "ops/cast.h"
#include "ops/cross_entropy.h"
#include "ops/detection_loss.h"
#include "ops/elementwise.h"
#include "ops/matching.h"
#include "ops/matching_sampler.h"
#include "ops/nms.h"
#include "ops/nms_topk.h"
#include "ops/roi_align.h"
#include "ops/tokens.h"

namespace attncamp::models {

namespace {

constexpr double kRpnBeta = 1.0 / 9.0;  // torchvision's smooth-L1 beta of the RPN and the box head
const ops::BoxCoderWeights kRpnWeights{1, 1, 1, 1};
const ops::BoxCoderWeights kRoiWeights{10, 10, 5, 5};

// `t` as a contiguous host f64 tensor (t itself when it already is one).
Tensor host_f64(const Tensor& t) {
  Tensor src = t;
  if (!t.device().is_cpu()) {
    if (t.dtype() != DType::kF32) {
      Tensor f = Tensor::empty(t.shape(), DType::kF32, t.device());
      ops::cast(t, f);
      src = f;
    }
    src = src.to(Device::cpu());
  }
  if (src.dtype() == DType::kF64) return src;
  Tensor out = Tensor::empty(src.shape(), DType::kF64);
  ops::cast(src, out);
  return out;
}

// dst (any float dtype, any device, allocated) = the host f64 tensor h.
void from_host_f64(const Tensor& h, Tensor& dst) {
  if (dst.device().is_cpu()) {
    ops::cast(h, dst);
    return;
  }
  Tensor f = Tensor::empty(h.shape(), DType::kF32);
  ops::cast(h, f);
  const Tensor d = f.to(dst.device());
  ops::cast(d, dst);
}

// Rows idx[0..n) of a host f64 tensor [N, C] (or [N]).
Tensor gather_rows(const Tensor& src, const int64_t* idx, int64_t n) {
  Shape shape = src.shape();
  const int64_t cols = src.dim() == 1 ? 1 : src.numel() / std::max<int64_t>(src.size(0), 1);
  shape[0] = n;
  Tensor out = Tensor::empty(shape, DType::kF64);
  const double* s = src.data<double>();
  double* o = out.data<double>();
  for (int64_t r = 0; r < n; ++r) std::copy(s + idx[r] * cols, s + (idx[r] + 1) * cols, o + r * cols);
  return out;
}

// The ground-truth boxes of image i as a host f64 [g, 4] tensor.
Tensor image_gt(const DetectorBatch& b, int64_t i) {
  const int64_t g = b.offsets[i + 1] - b.offsets[i];
  Tensor out = Tensor::empty({g, 4}, DType::kF64);
  std::copy(b.boxes.begin() + 4 * b.offsets[i], b.boxes.begin() + 4 * b.offsets[i + 1], out.data<double>());
  return out;
}

// match_proposals of candidates [P, 4] against gt [g, 4]: i64 [P] (all background without gt).
Tensor match(const Tensor& gt, const Tensor& candidates, double high, double low, bool low_quality) {
  const int64_t p = candidates.size(0);
  Tensor matches = Tensor::empty({p}, DType::kI64);
  if (gt.size(0) == 0 || p == 0) {
    std::fill(matches.data<int64_t>(), matches.data<int64_t>() + p, ops::kMatchBackground);
    return matches;
  }
  Tensor iou = Tensor::empty({gt.size(0), p}, DType::kF64);
  ops::box_iou(gt, candidates, iou);
  ops::match_proposals(iou, ops::MatcherOptions{high, low, low_quality}, matches);
  return matches;
}

double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }

// Smooth-L1 of pred vs target ([n, 4] host f64): returns the summed loss and writes
// dpred = scale * d(sum)/d(pred).
double smooth_l1(const Tensor& pred, const Tensor& target, double scale, Tensor& dpred) {
  Tensor loss = Tensor::empty(pred.shape(), DType::kF64);
  ops::smooth_l1_loss_forward(pred, target, kRpnBeta, loss);
  dpred = Tensor::empty(pred.shape(), DType::kF64);
  ops::smooth_l1_loss_backward(Tensor(), pred, target, kRpnBeta, scale, dpred);
  double sum = 0;
  for (int64_t k = 0; k < loss.numel(); ++k) sum += loss.data<double>()[k];
  return sum;
}

}  // namespace

Detector::Detector(const DetectorConfig& c, DType dtype, Device device, DType compute_dtype) : config_(c) {
  ATTNCAMP_CHECK(c.patch > 0 && c.image_size % c.patch == 0, "detector: image_size ", c.image_size,
                 " is not divisible by patch ", c.patch);
  ATTNCAMP_CHECK(c.num_classes > 0, "detector: num_classes must be > 0, got ", c.num_classes);
  const int64_t g = c.image_size / c.patch, a = num_anchors_per_location(), h = c.box_head_dim;
  embed_ = std::make_unique<PatchEmbed>(store_, "backbone.patch_embed", c.patch, c.channels, c.dim, c.pixel_mean,
                                        c.pixel_std);
  pos_embed_ = store_.add("backbone.pos_embed", {g * g, c.dim}, Init::kNormal02, false);
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks_.push_back(std::make_unique<TransformerBlock>(store_, "backbone.blocks." + std::to_string(i), c.dim, c.heads,
                                                         c.mlp_dim, c.dropout));
  }
  norm_ = std::make_unique<LayerNorm>(store_, "backbone.norm", c.dim);
  rpn_conv_ =
      std::make_unique<Linear>(store_, "rpn.conv", c.dim, c.dim, true, Init::kUniformFanIn, Linear::Activation::kGelu);
  rpn_cls_ = std::make_unique<Linear>(store_, "rpn.objectness", c.dim, a, true, Init::kNormal02);
  rpn_box_ = std::make_unique<Linear>(store_, "rpn.deltas", c.dim, 4 * a, true, Init::kNormal02);
  fc1_ = std::make_unique<Linear>(store_, "roi.fc1", c.roi_size * c.roi_size * c.dim, h, true, Init::kUniformFanIn,
                                  Linear::Activation::kGelu);
  fc2_ = std::make_unique<Linear>(store_, "roi.fc2", h, h, true, Init::kUniformFanIn, Linear::Activation::kGelu);
  if (c.region_attention) {
    region_block_ =
        std::make_unique<TransformerBlock>(store_, "roi.region_attention", h, c.region_heads, 2 * h, c.dropout);
  }
  cls_ = std::make_unique<Linear>(store_, "roi.cls", h, c.num_classes + 1, true, Init::kNormal02);
  box_ = std::make_unique<Linear>(store_, "roi.deltas", h, 4 * c.num_classes, true, Init::kNormal02);
  store_.allocate(dtype, device, compute_dtype);
  anchors_ = Tensor::empty({g * g * a, 4}, DType::kF64);
  ops::grid_anchors(c.anchor_sizes, c.aspect_ratios, g, g, c.patch, c.patch, anchors_);
}

Detector::~Detector() = default;

int64_t Detector::num_anchors_per_location() const {
  return static_cast<int64_t>(config_.anchor_sizes.size() * config_.aspect_ratios.size());
}

void Detector::forward_dense(const DetectorBatch& batch, const ForwardContext& ctx) {
  const DType dt = store_.compute_dtype();
  const Device dev = store_.device();
  const Tensor& images = batch.images;
  const int64_t s = config_.image_size;
  ATTNCAMP_CHECK(images.device() == dev, "detector is on ", dev.str(), " but the images are on ",
                 images.device().str());
  ATTNCAMP_CHECK(images.dim() == 4 && images.size(1) == s && images.size(2) == s && images.size(3) == config_.channels,
                 "detector expects images [B,", s, ",", s, ",", config_.channels, "], got ", shape_str(images.shape()));
  const int64_t b = images.size(0);
  ATTNCAMP_CHECK(static_cast<int64_t>(batch.extents.size()) == b && static_cast<int64_t>(batch.keys.size()) == b,
                 "detector: batch of ", b, " images has ", batch.extents.size(), " extents and ", batch.keys.size(),
                 " keys");
  const Tensor& patches = embed_->forward(images, dt);
  const int64_t n = patches.size(1), d = config_.dim;
  ensure_tensor(tokens_, {b, n, d}, dt, dev);
  tokens_.copy_from(patches);
  ops::add_position_forward(tokens_, pos_embed_->value);
  const Tensor* x = &tokens_;
  for (auto& blk : blocks_) x = &blk->forward(*x, Tensor(), ctx);
  feats_ = &norm_->forward(*x);
  const Tensor& t = rpn_conv_->forward(*feats_);
  rpn_obj_ = &rpn_cls_->forward(t);
  rpn_del_ = &rpn_box_->forward(t);
  const int64_t na = anchors_.size(0);
  obj_host_ = host_f64(*rpn_obj_).view({b, na});
  del_host_ = host_f64(*rpn_del_).view({b, na, 4});
}

void Detector::make_proposals(const DetectorBatch& batch, bool training) {
  const int64_t b = batch.images.size(0), na = anchors_.size(0);
  const int64_t pre = training ? config_.rpn_pre_nms_train : config_.rpn_pre_nms_test;
  const int64_t post = training ? config_.rpn_post_nms_train : config_.rpn_post_nms_test;
  proposals_.assign(static_cast<size_t>(b), Tensor());
  for (int64_t i = 0; i < b; ++i) {
    const Tensor scores = obj_host_.slice(i, i + 1).view({na});
    const Tensor deltas = del_host_.slice(i, i + 1).view({na, 4});
    const Tensor top = ops::topk_indices(scores, std::min(pre, na));
    const int64_t k = top.numel();
    const Tensor sel_scores = gather_rows(scores, top.data<int64_t>(), k);
    const Tensor sel_anchors = gather_rows(anchors_, top.data<int64_t>(), k);
    const Tensor sel_deltas = gather_rows(deltas, top.data<int64_t>(), k);
    Tensor boxes = Tensor::empty({k, 4}, DType::kF64);
    ops::box_decode_forward(sel_deltas, sel_anchors, kRpnWeights, ops::kBoxDecodeClip, boxes);
    ops::clip_boxes_to_image(boxes, batch.extents[i].height, batch.extents[i].width, boxes);
    const Tensor big = ops::remove_small_boxes(boxes, 1e-3);
    const Tensor kept_boxes = gather_rows(boxes, big.data<int64_t>(), big.numel());
    const Tensor kept_scores = gather_rows(sel_scores, big.data<int64_t>(), big.numel());
    const Tensor keep = ops::nms(kept_boxes, kept_scores, config_.rpn_nms);
    proposals_[i] = gather_rows(kept_boxes, keep.data<int64_t>(), std::min(post, keep.numel()));
  }
}

void Detector::forward_regions(const Tensor& rois, int64_t batch_size, const ForwardContext& ctx) {
  const DType dt = store_.compute_dtype();
  const Device dev = store_.device();
  const int64_t r = rois.size(0), ps = config_.roi_size, d = config_.dim, h = config_.box_head_dim;
  const int64_t g = config_.image_size / config_.patch;
  ensure_tensor(rois_dev_, {r, 5}, dev.is_cpu() ? dt : DType::kF32, dev);
  from_host_f64(rois, rois_dev_);
  ensure_tensor(pooled_, {r, ps, ps, d}, dt, dev);
  ops::RoiAlignOptions opt;
  opt.spatial_scale = 1.0 / static_cast<double>(config_.patch);
  opt.sampling_ratio = 2;
  ops::roi_align_forward(feats_->view({batch_size, g, g, d}), rois_dev_, opt, pooled_);
  const Tensor& h1 = fc1_->forward(pooled_.view({r, ps * ps * d}));
  const Tensor* x = &fc2_->forward(h1);
  if (region_block_) {
    region_max_ = 0;
    for (int64_t i = 0; i < batch_size; ++i) {
      region_max_ = std::max(region_max_, region_offsets_[i + 1] - region_offsets_[i]);
    }
    ensure_tensor(packed_, {batch_size, region_max_, h}, dt, dev);
    packed_.fill(0);
    Tensor valid = Tensor::zeros({batch_size, region_max_}, DType::kU8);
    const Tensor packed_rows = packed_.view({batch_size * region_max_, h});
    for (int64_t i = 0; i < batch_size; ++i) {
      const int64_t lo = region_offsets_[i], hi = region_offsets_[i + 1];
      if (hi == lo) continue;
      packed_rows.slice(i * region_max_, i * region_max_ + hi - lo).copy_from(x->slice(lo, hi));
      std::fill(valid.data<uint8_t>() + i * region_max_, valid.data<uint8_t>() + i * region_max_ + hi - lo, 1);
    }
    key_valid_ = valid.to(dev);
    const Tensor& y = region_block_->forward(packed_, key_valid_, ctx);
    const Tensor y_rows = y.view({batch_size * region_max_, h});
    ensure_tensor(unpacked_, {r, h}, dt, dev);
    for (int64_t i = 0; i < batch_size; ++i) {
      const int64_t lo = region_offsets_[i], hi = region_offsets_[i + 1];
      if (hi > lo) unpacked_.slice(lo, hi).copy_from(y_rows.slice(i * region_max_, i * region_max_ + hi - lo));
    }
    x = &unpacked_;
  }
  cls_out_ = &cls_->forward(*x);
  box_out_ = &box_->forward(*x);
  cls_host_ = host_f64(*cls_out_);
  box_host_ = host_f64(*box_out_);
}

DetectorLosses Detector::forward_train(const DetectorBatch& batch, const ForwardContext& ctx, double grad_scale,
                                       const Proposals* fixed_proposals) {
  forward_dense(batch, ctx);
  const int64_t b = batch.images.size(0), na = anchors_.size(0), k = config_.num_classes;
  ATTNCAMP_CHECK(static_cast<int64_t>(batch.offsets.size()) == b + 1 &&
                     static_cast<int64_t>(batch.boxes.size()) == 4 * batch.offsets[b] &&
                     static_cast<int64_t>(batch.labels.size()) == batch.offsets[b],
                 "detector: the batch's ground truth does not match its ", b, " images");
  for (size_t j = 0; j < batch.labels.size(); ++j) {
    ATTNCAMP_CHECK(batch.labels[j] >= 0 && batch.labels[j] < k, "detector: box label [", j, "] = ", batch.labels[j],
                   " is outside [0, ", k, ")");
  }
  if (fixed_proposals != nullptr) {
    ATTNCAMP_CHECK(static_cast<int64_t>(fixed_proposals->size()) == b, "detector: proposals for ",
                   fixed_proposals->size(), " images, batch of ", b);
    proposals_ = *fixed_proposals;
  } else {
    make_proposals(batch, /*training=*/true);
  }
  DetectorLosses losses;
  losses.per_image.assign(static_cast<size_t>(b), 0.0);
  dobj_host_ = Tensor::zeros({b, na}, DType::kF64);
  ddel_host_ = Tensor::zeros({b, na, 4}, DType::kF64);
  const double* obj = obj_host_.data<double>();
  double* dobj = dobj_host_.data<double>();
  double* ddel = ddel_host_.data<double>();

  // RPN: objectness and box losses on each image's sampled anchors.
  std::vector<Tensor> gts(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) {
    gts[i] = image_gt(batch, i);
    const Tensor m = match(gts[i], anchors_, config_.rpn_fg_iou, config_.rpn_bg_iou, true);
    Tensor labels = Tensor::empty({na}, DType::kI32);
    for (int64_t a = 0; a < na; ++a) {
      const int64_t v = m.data<int64_t>()[a];
      labels.data<int32_t>()[a] = v >= 0 ? 1 : (v == ops::kMatchBackground ? 0 : -1);
    }
    const ops::BalancedSample s =
        ops::balanced_sample(labels, ops::SamplerOptions{config_.rpn_batch_per_image, config_.rpn_positive_fraction},
                             ops::SampleKey{ctx.seed, static_cast<uint64_t>(ctx.step), 2 * batch.keys[i]});
    const int64_t np = s.positive.numel(), nn = s.negative.numel();
    if (np + nn == 0) continue;
    const double inv = 1.0 / static_cast<double>(np + nn);
    double obj_loss = 0;
    for (int pass = 0; pass < 2; ++pass) {
      const Tensor& idx = pass == 0 ? s.positive : s.negative;
      const double y = pass == 0 ? 1.0 : 0.0;
      for (int64_t j = 0; j < idx.numel(); ++j) {
        const int64_t a = i * na + idx.data<int64_t>()[j];
        obj_loss += softplus(obj[a]) - y * obj[a];
        dobj[a] = grad_scale * inv * (sigmoid(obj[a]) - y);
      }
    }
    losses.rpn_objectness += obj_loss * inv;
    losses.per_image[i] += obj_loss * inv;
    if (np == 0) continue;
    const int64_t* pos = s.positive.data<int64_t>();
    std::vector<int64_t> gt_rows(static_cast<size_t>(np)), rows(static_cast<size_t>(np));
    for (int64_t j = 0; j < np; ++j) {
      gt_rows[j] = m.data<int64_t>()[pos[j]];
      rows[j] = i * na + pos[j];
    }
    const Tensor ref = gather_rows(anchors_, pos, np);
    const Tensor tgt_boxes = gather_rows(gts[i], gt_rows.data(), np);
    Tensor target = Tensor::empty({np, 4}, DType::kF64);
    ops::box_encode(ref, tgt_boxes, kRpnWeights, target);
    const Tensor pred = gather_rows(del_host_.view({b * na, 4}), rows.data(), np);
    Tensor dpred;
    const double box_loss = smooth_l1(pred, target, grad_scale * inv, dpred) * inv;
    for (int64_t j = 0; j < np; ++j)
      std::copy(dpred.data<double>() + 4 * j, dpred.data<double>() + 4 * j + 4, ddel + 4 * rows[j]);
    losses.rpn_box += box_loss;
    losses.per_image[i] += box_loss;
  }

  // Second stage: sample proposals + ground truth, pool, classify and regress.
  std::vector<double> rois, targets, weights;
  std::vector<int32_t> labels;
  std::vector<int64_t> owner;
  region_offsets_.assign(1, 0);
  for (int64_t i = 0; i < b; ++i) {
    const Tensor& prop = proposals_[i];
    const int64_t p = prop.size(0), g = gts[i].size(0);
    Tensor cand = Tensor::empty({p + g, 4}, DType::kF64);
    std::copy(prop.data<double>(), prop.data<double>() + 4 * p, cand.data<double>());
    std::copy(gts[i].data<double>(), gts[i].data<double>() + 4 * g, cand.data<double>() + 4 * p);
    const Tensor m = match(gts[i], cand, config_.roi_fg_iou, config_.roi_bg_iou, false);
    Tensor cand_labels = Tensor::empty({p + g}, DType::kI32);
    for (int64_t c = 0; c < p + g; ++c) {
      const int64_t v = m.data<int64_t>()[c];
      cand_labels.data<int32_t>()[c] =
          v >= 0 ? batch.labels[batch.offsets[i] + v] + 1 : (v == ops::kMatchBackground ? 0 : -1);
    }
    const ops::BalancedSample s = ops::balanced_sample(
        cand_labels, ops::SamplerOptions{config_.roi_batch_per_image, config_.roi_positive_fraction},
        ops::SampleKey{ctx.seed, static_cast<uint64_t>(ctx.step), 2 * batch.keys[i] + 1});
    const int64_t np = s.positive.numel(), nn = s.negative.numel();
    const double w = np + nn > 0 ? 1.0 / static_cast<double>(np + nn) : 0.0;
    if (np > 0) {
      std::vector<int64_t> gt_rows(static_cast<size_t>(np));
      for (int64_t j = 0; j < np; ++j) gt_rows[j] = m.data<int64_t>()[s.positive.data<int64_t>()[j]];
      const Tensor ref = gather_rows(cand, s.positive.data<int64_t>(), np);
      const Tensor tgt_boxes = gather_rows(gts[i], gt_rows.data(), np);
      Tensor enc = Tensor::empty({np, 4}, DType::kF64);
      ops::box_encode(ref, tgt_boxes, kRoiWeights, enc);
      targets.insert(targets.end(), enc.data<double>(), enc.data<double>() + 4 * np);
    }
    for (int pass = 0; pass < 2; ++pass) {
      const Tensor& idx = pass == 0 ? s.positive : s.negative;
      for (int64_t j = 0; j < idx.numel(); ++j) {
        const int64_t c = idx.data<int64_t>()[j];
        rois.push_back(static_cast<double>(i));
        rois.insert(rois.end(), cand.data<double>() + 4 * c, cand.data<double>() + 4 * c + 4);
        labels.push_back(cand_labels.data<int32_t>()[c]);
        weights.push_back(w);
        owner.push_back(i);
        if (pass == 1) targets.insert(targets.end(), 4, 0.0);
      }
    }
    region_offsets_.push_back(static_cast<int64_t>(labels.size()));
  }
  if (labels.empty()) {
    // No region anywhere in the batch: one ignored region keeps every layer's shapes non-empty
    // (its label -1 gives no loss and no gradient).
    rois = {0, 0, 0, static_cast<double>(config_.image_size), static_cast<double>(config_.image_size)};
    labels = {-1};
    weights = {0};
    owner = {0};
    targets.assign(4, 0.0);
    for (int64_t i = 1; i <= b; ++i) region_offsets_[i] = 1;
  }
  const int64_t r = static_cast<int64_t>(labels.size());
  Tensor rois_t = Tensor::empty({r, 5}, DType::kF64);
  std::copy(rois.begin(), rois.end(), rois_t.data<double>());
  forward_regions(rois_t, b, ctx);
  have_regions_ = true;

  Tensor labels_t = Tensor::empty({r}, DType::kI32);
  std::copy(labels.begin(), labels.end(), labels_t.data<int32_t>());
  Tensor ce = Tensor::empty({r}, DType::kF64);
  dcls_host_ = Tensor::empty({r, k + 1}, DType::kF64);
  ops::cross_entropy_forward_backward(cls_host_, labels_t, 0.0, 1.0, ce, dcls_host_);
  dbox_host_ = Tensor::zeros({r, 4 * k}, DType::kF64);
  for (int64_t j = 0; j < r; ++j) {
    const double l = ce.data<double>()[j] * weights[j];
    losses.roi_class += l;
    losses.per_image[owner[j]] += l;
    double* row = dcls_host_.data<double>() + j * (k + 1);
    for (int64_t c = 0; c <= k; ++c) row[c] *= grad_scale * weights[j];
    if (labels[j] <= 0) continue;
    const int64_t c = labels[j] - 1;
    Tensor pred = Tensor::empty({1, 4}, DType::kF64), tgt = Tensor::empty({1, 4}, DType::kF64), dpred;
    std::copy(box_host_.data<double>() + j * 4 * k + 4 * c, box_host_.data<double>() + j * 4 * k + 4 * c + 4,
              pred.data<double>());
    std::copy(targets.begin() + 4 * j, targets.begin() + 4 * j + 4, tgt.data<double>());
    const double bl = smooth_l1(pred, tgt, grad_scale * weights[j], dpred) * weights[j];
    std::copy(dpred.data<double>(), dpred.data<double>() + 4, dbox_host_.data<double>() + j * 4 * k + 4 * c);
    losses.roi_box += bl;
    losses.per_image[owner[j]] += bl;
  }
  return losses;
}

void Detector::backward() {
  ATTNCAMP_CHECK(have_regions_, "detector: backward() without a forward_train");
  have_regions_ = false;
  const DType dt = store_.compute_dtype();
  const Device dev = store_.device();
  const int64_t b = obj_host_.size(0), na = anchors_.size(0), a = num_anchors_per_location();
  const int64_t n = na / a, d = config_.dim, h = config_.box_head_dim, k = config_.num_classes;
  const int64_t g = config_.image_size / config_.patch, ps = config_.roi_size;
  const int64_t r = dcls_host_.size(0);

  // Second stage.
  Tensor dcls = Tensor::empty({r, k + 1}, dt, dev), dbox = Tensor::empty({r, 4 * k}, dt, dev);
  from_host_f64(dcls_host_, dcls);
  from_host_f64(dbox_host_, dbox);
  ensure_tensor(dregions_, {r, h}, dt, dev);
  dregions_.copy_from(cls_->backward(dcls));
  ops::add_(dregions_, box_->backward(dbox));
  if (region_block_) {
    ensure_tensor(dpacked_, {b, region_max_, h}, dt, dev);
    dpacked_.fill(0);
    const Tensor rows = dpacked_.view({b * region_max_, h});
    for (int64_t i = 0; i < b; ++i) {
      const int64_t lo = region_offsets_[i], hi = region_offsets_[i + 1];
      if (hi > lo) rows.slice(i * region_max_, i * region_max_ + hi - lo).copy_from(dregions_.slice(lo, hi));
    }
    const Tensor dy = region_block_->backward(dpacked_).view({b * region_max_, h});
    for (int64_t i = 0; i < b; ++i) {
      const int64_t lo = region_offsets_[i], hi = region_offsets_[i + 1];
      if (hi > lo) dregions_.slice(lo, hi).copy_from(dy.slice(i * region_max_, i * region_max_ + hi - lo));
    }
  }
  const Tensor& dh1 = fc2_->backward(dregions_);
  const Tensor& dpooled = fc1_->backward(dh1);
  ensure_tensor(dfeat_roi_, {b, g, g, d}, dt, dev);
  ops::RoiAlignOptions opt;
  opt.spatial_scale = 1.0 / static_cast<double>(config_.patch);
  opt.sampling_ratio = 2;
  ops::roi_align_backward(dpooled.view({r, ps, ps, d}), rois_dev_, opt, dfeat_roi_);

  // RPN.
  Tensor dobj = Tensor::empty({b, n, a}, dt, dev), ddel = Tensor::empty({b, n, 4 * a}, dt, dev);
  from_host_f64(dobj_host_.view({b, n, a}), dobj);
  from_host_f64(ddel_host_.view({b, n, 4 * a}), ddel);
  ensure_tensor(drpn_t_, {b, n, d}, dt, dev);
  drpn_t_.copy_from(rpn_cls_->backward(dobj));
  ops::add_(drpn_t_, rpn_box_->backward(ddel));
  const Tensor& dfeat_rpn = rpn_conv_->backward(drpn_t_);
  ensure_tensor(dfeat_, {b, n, d}, dt, dev);
  ops::add(dfeat_rpn, dfeat_roi_.view({b, n, d}), dfeat_);

  // Backbone.
  const Tensor* dx = &norm_->backward(dfeat_);
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) dx = &(*it)->backward(*dx);
  ops::add_position_backward(*dx, pos_embed_->grad);
  grad_ready(pos_embed_);
  embed_->backward(*dx);
}

std::vector<std::vector<Detection>> Detector::detect(const DetectorBatch& batch, const ForwardContext& ctx) {
  forward_dense(batch, ctx);
  make_proposals(batch, /*training=*/false);
  const int64_t b = batch.images.size(0), k = config_.num_classes;
  std::vector<std::vector<Detection>> out(static_cast<size_t>(b));
  region_offsets_.assign(1, 0);
  for (int64_t i = 0; i < b; ++i) region_offsets_.push_back(region_offsets_.back() + proposals_[i].size(0));
  const int64_t r = region_offsets_.back();
  if (r == 0) return out;
  Tensor rois = Tensor::empty({r, 5}, DType::kF64), props = Tensor::empty({r, 4}, DType::kF64);
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = region_offsets_[i]; j < region_offsets_[i + 1]; ++j) {
      const double* p = proposals_[i].data<double>() + 4 * (j - region_offsets_[i]);
      rois.data<double>()[5 * j] = static_cast<double>(i);
      std::copy(p, p + 4, rois.data<double>() + 5 * j + 1);
      std::copy(p, p + 4, props.data<double>() + 4 * j);
    }
  }
  forward_regions(rois, b, ctx);
  Tensor boxes = Tensor::empty({r, 4 * k}, DType::kF64);
  ops::box_decode_forward(box_host_, props, kRoiWeights, ops::kBoxDecodeClip, boxes);
  for (int64_t i = 0; i < b; ++i) {
    std::vector<double> cand_boxes, cand_scores;
    std::vector<int32_t> cand_labels;
    const double hgt = static_cast<double>(batch.extents[i].height), wid = static_cast<double>(batch.extents[i].width);
    for (int64_t j = region_offsets_[i]; j < region_offsets_[i + 1]; ++j) {
      const double* logits = cls_host_.data<double>() + j * (k + 1);
      const double mx = *std::max_element(logits, logits + k + 1);
      double z = 0;
      for (int64_t c = 0; c <= k; ++c) z += std::exp(logits[c] - mx);
      for (int64_t c = 1; c <= k; ++c) {
        const double score = std::exp(logits[c] - mx) / z;
        if (!(score > config_.score_threshold)) continue;
        const double* bx = boxes.data<double>() + j * 4 * k + 4 * (c - 1);
        const double x1 = std::clamp(bx[0], 0.0, wid), y1 = std::clamp(bx[1], 0.0, hgt);
        const double x2 = std::clamp(bx[2], 0.0, wid), y2 = std::clamp(bx[3], 0.0, hgt);
        if (!(x2 - x1 >= 1e-2 && y2 - y1 >= 1e-2)) continue;
        cand_boxes.insert(cand_boxes.end(), {x1, y1, x2, y2});
        cand_scores.push_back(score);
        cand_labels.push_back(static_cast<int32_t>(c - 1));
      }
    }
    const int64_t m = static_cast<int64_t>(cand_scores.size());
    if (m == 0) continue;
    Tensor bt = Tensor::empty({m, 4}, DType::kF64), st = Tensor::empty({m}, DType::kF64),
           lt = Tensor::empty({m}, DType::kI32);
    std::copy(cand_boxes.begin(), cand_boxes.end(), bt.data<double>());
    std::copy(cand_scores.begin(), cand_scores.end(), st.data<double>());
    std::copy(cand_labels.begin(), cand_labels.end(), lt.data<int32_t>());
    const Tensor keep = ops::batched_nms(bt, st, lt, config_.nms_threshold);
    const int64_t kept = std::min(keep.numel(), config_.detections_per_image);
    for (int64_t q = 0; q < kept; ++q) {
      const int64_t c = keep.data<int64_t>()[q];
      Detection det;
      for (int e = 0; e < 4; ++e) det.box[e] = static_cast<float>(cand_boxes[4 * c + e]);
      det.score = static_cast<float>(cand_scores[c]);
      det.label = cand_labels[c];
      out[i].push_back(det);
    }
  }
  return out;
}

}  // namespace attncamp::models
