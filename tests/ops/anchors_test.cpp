// Tests for ops/anchors.h on the CPU: cell anchors and whole multi-level grids against torchvision's
// AnchorGenerator bit for bit in f32, the row order by hand, f64 equal to f32 (whole numbers),
// torchvision's stride rule, and bad arguments.
#include "ops/anchors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/ops/torch_reference.h"
#include "tests/test_util.h"

namespace attncamp {
namespace {

using test::expect_error;

const std::vector<double> kSizes = {32, 64, 128, 256, 512};
const std::vector<double> kRatios = {0.5, 1.0, 2.0};

Tensor grid(const std::vector<double>& sizes, const std::vector<double>& ratios, int64_t fh, int64_t fw, int64_t sh,
            int64_t sw, DType dtype = DType::kF32) {
  Tensor t = Tensor::empty({fh * fw * static_cast<int64_t>(sizes.size() * ratios.size()), 4}, dtype);
  t.poison();
  ops::grid_anchors(sizes, ratios, fh, fw, sh, sw, t);
  return t;
}

TEST(Anchors, RowOrderIsLocationMajorThenRatioThenSize) {
  const std::vector<double> sizes = {16, 32}, ratios = {1.0, 4.0};  // whole-pixel anchors
  const int64_t fh = 2, fw = 3, sh = 10, sw = 7, a_n = 4;
  const Tensor cell = ops::cell_anchors(sizes, ratios);
  // ratio 4: height / width = 4, so w = size / 2, h = size * 2.
  const float want_cell[4][4] = {{-8, -8, 8, 8}, {-16, -16, 16, 16}, {-4, -16, 4, 16}, {-8, -32, 8, 32}};
  for (int a = 0; a < 4; ++a) {
    for (int k = 0; k < 4; ++k) EXPECT_EQ(cell.data<float>()[a * 4 + k], want_cell[a][k]) << a << "," << k;
  }
  const Tensor anchors = grid(sizes, ratios, fh, fw, sh, sw);
  for (int64_t y = 0; y < fh; ++y) {
    for (int64_t x = 0; x < fw; ++x) {
      for (int64_t a = 0; a < a_n; ++a) {
        const float* row = anchors.data<float>() + ((y * fw + x) * a_n + a) * 4;
        const float shift[4] = {static_cast<float>(x * sw), static_cast<float>(y * sh), static_cast<float>(x * sw),
                                static_cast<float>(y * sh)};
        for (int k = 0; k < 4; ++k) EXPECT_EQ(row[k], want_cell[a][k] + shift[k]);
      }
    }
  }
  EXPECT_EQ(test::max_abs_diff(grid(sizes, ratios, fh, fw, sh, sw, DType::kF64), anchors), 0.0);
}

TEST(Anchors, CellAnchorsRoundHalfToEven) {
  // size 1, ratio 1: +-0.5 rounds to 0; size 3: +-1.5 rounds to +-2; size 5: +-2.5 to +-2.
  const Tensor cell = ops::cell_anchors({1, 3, 5}, {1.0});
  const float want[3] = {0, 2, 2};
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(cell.data<float>()[s * 4 + 0], -want[s]);
    EXPECT_EQ(cell.data<float>()[s * 4 + 2], want[s]);
  }
}

// Cell anchors of odd sizes and ratios, and the anchors of a two-level pyramid over a 131 x 97
// image (maps 33 x 25 and 9 x 7, strides 131 // 33 = 3 and 97 // 25 = 3, then 14 and 13) filled
// level by level into one tensor, against AnchorGenerator.forward.
TEST(Anchors, MatchTorchvisionAnchorGenerator) {
  ATTNCAMP_REQUIRE_TORCH();
  const std::vector<double> odd_sizes = {23, 45.3, 100}, odd_ratios = {0.3, 1.0, 1.7, 2.5};
  const auto ref = test::run_torch(R"PY(
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
save("cell_std", AnchorGenerator(((32, 64, 128, 256, 512),), ((0.5, 1.0, 2.0),)).cell_anchors[0])
save("cell_odd", AnchorGenerator(((23, 45.3, 100),), ((0.3, 1.0, 1.7, 2.5),)).cell_anchors[0])
gen = AnchorGenerator(((32,), (64, 128)), ((0.5, 1.0, 2.0), (0.5, 1.0, 2.0)))
images = ImageList(torch.zeros(1, 3, 131, 97), [(131, 97)])
maps = [torch.zeros(1, 8, 33, 25), torch.zeros(1, 8, 9, 7)]
save("pyramid", gen(images, maps)[0])
)PY",
                                   {}, {"cell_std", "cell_odd", "pyramid"});
  ASSERT_EQ(ref.size(), 3u);
  EXPECT_EQ(test::max_abs_diff(ops::cell_anchors(kSizes, kRatios), ref.at("cell_std")), 0.0);
  EXPECT_EQ(test::max_abs_diff(ops::cell_anchors(odd_sizes, odd_ratios), ref.at("cell_odd")), 0.0);
  const int64_t rows0 = 33 * 25 * 3, rows1 = 9 * 7 * 6;
  Tensor pyramid = Tensor::empty({rows0 + rows1, 4});
  pyramid.poison();
  Tensor level0 = pyramid.slice(0, rows0), level1 = pyramid.slice(rows0, rows0 + rows1);
  ops::grid_anchors({32}, kRatios, 33, 25, ops::anchor_stride(131, 33), ops::anchor_stride(97, 25), level0);
  ops::grid_anchors({64, 128}, kRatios, 9, 7, ops::anchor_stride(131, 9), ops::anchor_stride(97, 7), level1);
  EXPECT_EQ(test::max_abs_diff(pyramid, ref.at("pyramid")), 0.0);
}

TEST(Anchors, StrideIsTheImageSizeOverTheMapSizeRoundedDown) {
  EXPECT_EQ(ops::anchor_stride(800, 200), 4);
  EXPECT_EQ(ops::anchor_stride(801, 200), 4);
  EXPECT_EQ(ops::anchor_stride(7, 7), 1);
  expect_error([] { ops::anchor_stride(100, 0); }, {"anchor_stride", "map_size 0"});
  expect_error([] { ops::anchor_stride(10, 20); }, {"anchor_stride", "image_size 10"});
}

TEST(Anchors, BadArgumentsNameTheOpAndTheArgument) {
  Tensor t = Tensor::empty({2 * 2 * 3, 4});
  expect_error([&] { ops::grid_anchors({}, kRatios, 2, 2, 4, 4, t); }, {"grid_anchors", "sizes must not be empty"});
  expect_error(
      [&] {
        ops::grid_anchors({32}, {1.0, -2.0}, 2, 2, 4, 4, t);
      },
      {"grid_anchors", "aspect_ratios[1]", "-2"});
  expect_error([&] { ops::grid_anchors({32}, kRatios, 2, 3, 4, 4, t); }, {"grid_anchors", "anchors", "[18,4]"});
  expect_error([&] { ops::grid_anchors({32}, kRatios, 2, 2, 0, 4, t); }, {"grid_anchors", "strides must be > 0"});
  Tensor ints = Tensor::empty({12, 4}, DType::kI32);
  expect_error([&] { ops::grid_anchors({32}, kRatios, 2, 2, 4, 4, ints); }, {"grid_anchors", "anchors", "i32"});
  expect_error([] { ops::cell_anchors({32, std::nan("")}, kRatios); }, {"cell_anchors", "sizes[1]", "nan"});
}

}  // namespace
}  // namespace attncamp
