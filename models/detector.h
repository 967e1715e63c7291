// Two-stage object detector with attention over candidate regions (issue 20):
//
//   images [B,S,S,C] -> ViT backbone (patch p, no class token) -> feature map [B,G,G,D], G = S/p
//   -> RPN: per location t = GELU(Linear(D,D)), objectness Linear(D,A), deltas Linear(D,4A) over
//      A anchors (torchvision's AnchorGenerator, one level, stride p); proposals = top-k, decode,
//      clip, remove small, NMS (no gradient flows through them, as in Faster R-CNN)
//   -> RoIAlign (aligned, roi_size x roi_size, sampling 2) -> flatten -> Linear+GELU -> Linear+GELU
//   -> region attention: a pre-norm transformer block over each image's regions (padded to the
//      largest count with a key mask, so a region attends only to regions of its own image);
//      a_ij = softmax_j(q_i . k_j / sqrt(d)). Off with region_attention = false (the ablation).
//   -> class logits Linear(H, K+1) (0 = background) and class-specific deltas Linear(H, 4K).
//
// Training follows torchvision's Faster R-CNN: anchors matched at IoU 0.7/0.3 (low-quality matches
// allowed) and 256 sampled per image (half positive at most); proposals plus the ground truth
// matched at 0.5 and 128 sampled (a quarter positive at most); binary and softmax cross-entropy,
// smooth-L1 (beta 1/9) on deltas encoded with weights (1,1,1,1) and (10,10,5,5). Every loss is
// normalised per image (by that image's sampled count), so a batch's loss is the mean of its
// images' losses and splitting a batch over ranks changes nothing. Sampling draws are keyed by
// (seed, step, sample index): the same on every rank and device.
//
// The dense parts (backbone, heads, RoIAlign) run on the model's device; the per-image glue
// (matching, sampling, proposal selection, losses on the sampled rows) runs on the host in f64 on
// small tensors (a few thousand anchors per image).
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "models/model.h"
#include "models/transformer.h"

namespace attncamp::models {

struct DetectorConfig {
  int64_t image_size = 128;  // canvas S (height = width)
  int64_t channels = 3;
  int64_t patch = 8;
  int64_t dim = 128;
  int64_t depth = 4;
  int64_t heads = 4;
  int64_t mlp_dim = 512;
  double dropout = 0.0;
  int64_t num_classes = 10;  // K, without background
  std::vector<double> pixel_mean{0.485, 0.456, 0.406};
  std::vector<double> pixel_std{0.229, 0.224, 0.225};
  // Anchors (pixels; ratio = height / width).
  std::vector<double> anchor_sizes{16, 32, 64};
  std::vector<double> aspect_ratios{0.5, 1.0, 2.0};
  // RPN.
  double rpn_fg_iou = 0.7, rpn_bg_iou = 0.3;
  int64_t rpn_batch_per_image = 256;
  double rpn_positive_fraction = 0.5;
  int64_t rpn_pre_nms_train = 1000, rpn_post_nms_train = 300;
  int64_t rpn_pre_nms_test = 500, rpn_post_nms_test = 100;
  double rpn_nms = 0.7;
  // Second stage.
  int64_t roi_size = 7;
  int64_t box_head_dim = 256;
  double roi_fg_iou = 0.5, roi_bg_iou = 0.5;
  int64_t roi_batch_per_image = 128;
  double roi_positive_fraction = 0.25;
  bool region_attention = true;
  int64_t region_heads = 4;
  // Detections.
  double score_threshold = 0.05;
  double nms_threshold = 0.5;
  int64_t detections_per_image = 100;
};

// The real image's part of a letterboxed canvas (its top-left height x width pixels).
struct ImageExtent {
  int64_t height = 0, width = 0;
};

// One batch as the detector takes it. images [B,S,S,C] on the model's device (u8, or float in
// pixel units); per image its extent and a sampling key (the sample's index in its file, so draws
// do not depend on how a batch is split over ranks). For training, the ground truth: image i's
// boxes are rows [offsets[i], offsets[i+1]) of boxes (xyxy canvas pixels) and labels (in [0, K)).
struct DetectorBatch {
  Tensor images;
  std::vector<ImageExtent> extents;
  std::vector<uint64_t> keys;
  std::vector<int64_t> offsets;
  std::vector<double> boxes;
  std::vector<int32_t> labels;
};

// Losses of one training batch: per image (the sum of its four terms) and each term summed over
// the batch's images.
struct DetectorLosses {
  std::vector<double> per_image;
  double rpn_objectness = 0, rpn_box = 0, roi_class = 0, roi_box = 0;
  double total() const { return rpn_objectness + rpn_box + roi_class + roi_box; }
};

// One detection in canvas pixels (xyxy), label in [0, K).
struct Detection {
  std::array<float, 4> box{};
  float score = 0;
  int32_t label = 0;
};

// Proposals of each image of a batch: host f64 tensors [P_i, 4] (xyxy canvas pixels).
using Proposals = std::vector<Tensor>;

class Detector : public Model {
 public:
  // dtype/device/compute_dtype as for the ViT (f64 for gradient checks).
  explicit Detector(const DetectorConfig& config, DType dtype = DType::kF32, Device device = Device::cpu(),
                    DType compute_dtype = DType::kF32);
  ~Detector() override;
  const DetectorConfig& config() const { return config_; }
  std::string kind() const override { return "detector"; }
  ParamStore& params() override { return store_; }
  int64_t num_anchors_per_location() const;

  // Forward of a training batch and its losses. The gradients of the losses (times grad_scale)
  // are kept for backward(). `fixed_proposals` (tests: finite differences) replaces the RPN's
  // proposals with given ones.
  DetectorLosses forward_train(const DetectorBatch& batch, const ForwardContext& ctx, double grad_scale,
                               const Proposals* fixed_proposals = nullptr);
  // Accumulates parameter gradients of the last forward_train, announcing each through grad_ready.
  void backward();
  // The proposals of the last forward_train or detect.
  const Proposals& proposals() const { return proposals_; }

  // Detections of each image (score descending, at most detections_per_image), canvas pixels.
  std::vector<std::vector<Detection>> detect(const DetectorBatch& batch, const ForwardContext& ctx);

  // Image i's regions in the last forward's second stage are rows [offsets[i], offsets[i+1]).
  const std::vector<int64_t>& region_offsets() const { return region_offsets_; }

 private:
  // Backbone + RPN head on the device; host copies of objectness [B, N*A] and deltas [B, N*A, 4].
  void forward_dense(const DetectorBatch& batch, const ForwardContext& ctx);
  void make_proposals(const DetectorBatch& batch, bool training);
  // Second stage over rois (host f64 [R,5]) with region_offsets_ set: class logits and deltas,
  // copied to the host.
  void forward_regions(const Tensor& rois, int64_t batch_size, const ForwardContext& ctx);

  DetectorConfig config_;
  ParamStore store_;
  std::unique_ptr<PatchEmbed> embed_;
  Param* pos_embed_ = nullptr;
  std::vector<std::unique_ptr<TransformerBlock>> blocks_;
  std::unique_ptr<LayerNorm> norm_;
  std::unique_ptr<Linear> rpn_conv_, rpn_cls_, rpn_box_;
  std::unique_ptr<Linear> fc1_, fc2_;
  std::unique_ptr<TransformerBlock> region_block_;
  std::unique_ptr<Linear> cls_, box_;

  Tensor anchors_;  // host f64 [N*A, 4]
  Tensor tokens_, dfeat_, drpn_t_;
  const Tensor* feats_ = nullptr;  // [B,N,D] (the backbone's last LayerNorm output)
  const Tensor* rpn_obj_ = nullptr;
  const Tensor* rpn_del_ = nullptr;
  Tensor obj_host_, del_host_;  // f64 [B, N*A], [B, N*A, 4]
  Proposals proposals_;
  // Second stage.
  std::vector<int64_t> region_offsets_;  // [B+1]
  Tensor rois_dev_, pooled_, packed_, key_valid_, unpacked_, dpacked_, dregions_, dpooled_, dfeat_roi_;
  const Tensor* cls_out_ = nullptr;
  const Tensor* box_out_ = nullptr;
  Tensor cls_host_, box_host_;  // f64 [R, K+1], [R, 4K]
  // Gradients of the last forward_train (host f64), for backward().
  Tensor dobj_host_, ddel_host_, dcls_host_, dbox_host_;
  bool have_regions_ = false;
  int64_t region_max_ = 0;
};

}  // namespace attncamp::models
