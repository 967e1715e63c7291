// Tests for reductions: exact sums and means of hand-made inputs, thread-count independence,
// argmax/topk tie order and top-k accuracy counts with ignored rows.
#include "ops/reduce.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <vector>

#include "tests/test_util.h"

namespace attncamp {
namespace {

Tensor f32(const Shape& shape, const std::vector<float>& v) {
  Tensor t = Tensor::empty(shape);
  for (size_t i = 0; i < v.size(); ++i) t.data<float>()[i] = v[i];
  return t;
}

Tensor i32(const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, DType::kI32);
  for (size_t i = 0; i < v.size(); ++i) t.data<int32_t>()[i] = v[i];
  return t;
}

TEST(Reduce, SumAndMeanExact) {
  EXPECT_EQ(ops::sum(f32({4}, {1.5f, -2.0f, 0.25f, 3.0f})), 2.75);
  EXPECT_EQ(ops::mean(f32({2, 2}, {1.5f, -2.0f, 0.25f, 3.0f})), 0.6875);
  // 10001 elements (not a multiple of the chunk or lane count), exactly representable partial sums.
  Tensor big = Tensor::empty({10001}, DType::kF64);
  for (int64_t i = 0; i < big.numel(); ++i) big.data<double>()[i] = static_cast<double>(i % 7) - 3.0;
  double want = 0;
  for (int64_t i = 0; i < big.numel(); ++i) want += static_cast<double>(i % 7) - 3.0;
  EXPECT_EQ(ops::sum(big), want);
  EXPECT_EQ(ops::sum(Tensor::empty({0})), 0.0);
  EXPECT_THROW(ops::mean(Tensor::empty({0})), Error);
  EXPECT_THROW(ops::sum(Tensor::zeros({3}, DType::kI32)), Error);
}

TEST(Reduce, SumIndependentOfThreadCount) {
  Tensor x = test::random_tensor({100003}, DType::kF32, 5);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const double a = ops::sum(x);
  omp_set_num_threads(3);
  const double b = ops::sum(x);
  omp_set_num_threads(saved);
  EXPECT_EQ(a, b);
}

TEST(Reduce, ArgmaxTiesGoToLowerIndex) {
  Tensor x = f32({3, 4}, {1, 5, 5, 2, -1, -3, -2, -1, 0, 0, 0, 7});
  Tensor idx = Tensor::empty({3}, DType::kI32);
  idx.poison();
  ops::argmax(x, idx);
  EXPECT_EQ(idx.data<int32_t>()[0], 1);
  EXPECT_EQ(idx.data<int32_t>()[1], 0);
  EXPECT_EQ(idx.data<int32_t>()[2], 3);
  Tensor bad = Tensor::empty({2}, DType::kI32);
  EXPECT_THROW(ops::argmax(x, bad), Error);
}

TEST(Reduce, TopkDescendingWithTies) {
  Tensor x = f32({2, 5}, {3, 1, 4, 1, 5, 2, 2, 9, 2, 0});
  Tensor values = Tensor::empty({2, 3}), idx = Tensor::empty({2, 3}, DType::kI32);
  values.poison();
  idx.poison();
  ops::topk(x, 3, values, idx);
  const std::vector<float> want_v = {5, 4, 3, 9, 2, 2};
  const std::vector<int32_t> want_i = {4, 2, 0, 2, 0, 1};
  for (int j = 0; j < 6; ++j) {
    EXPECT_EQ(values.data<float>()[j], want_v[j]) << j;
    EXPECT_EQ(idx.data<int32_t>()[j], want_i[j]) << j;
  }
  Tensor v6 = Tensor::empty({2, 6}), i6 = Tensor::empty({2, 6}, DType::kI32);
  EXPECT_THROW(ops::topk(x, 6, v6, i6), Error);
  EXPECT_THROW(ops::topk(x, 0, values, idx), Error);
  EXPECT_THROW(ops::topk(x, 2, values, idx), Error);  // outputs sized for k = 3
}

TEST(Reduce, CountTopkCorrect) {
  Tensor logits = f32({4, 4}, {0.1f, 0.9f, 0.5f, 0.2f,    // top1 = 1, top2 = {1,2}
                               1.0f, 1.0f, 0.0f, 0.0f,    // tie: class 0 ranks before class 1
                               0.3f, 0.2f, 0.1f, 0.0f,    // top1 = 0
                               0.0f, 0.0f, 0.0f, 1.0f});  // ignored row
  Tensor labels = i32({2, 1, 0, -1});
  EXPECT_EQ(ops::count_topk_correct(logits, labels, 1), 1);  // row 2
  EXPECT_EQ(ops::count_topk_correct(logits, labels, 2), 3);  // rows 0, 1, 2
  EXPECT_EQ(ops::count_topk_correct(logits, labels, 4), 3);
  EXPECT_THROW(ops::count_topk_correct(logits, i32({2, 1, 4, -1}), 1), Error);
  EXPECT_THROW(ops::count_topk_correct(logits, i32({2, 1, 0}), 1), Error);
  EXPECT_THROW(ops::count_topk_correct(logits, labels, 5), Error);
}

}  // namespace
}  // namespace attncamp
