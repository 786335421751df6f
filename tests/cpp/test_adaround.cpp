// AdaRound's numeric pieces (spec/calibration.md §10) on hand-computed data:
// the KL initial scale and the rectified-sigmoid rounding variable.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace alg = openamct::algorithms;

namespace {

at::Tensor f32(std::vector<float> v) {
  return at::tensor(at::ArrayRef<float>(v), at::TensorOptions().dtype(at::kFloat)).clone();
}

// A = 1, so bin width hw = 2/512 = 1/256 and the value v falls in bin
// floor((v + 1) * 256). -1 and 1 land in bins 0 and 511; 100 copies of
// -0.002 in bin 255, 50 copies of 0.002 in bin 256.
//
// A span of q holding two non-zero bins of p with different counts averages
// them, so KL > 0; a window where every span holds at most one non-zero bin
// has q == p, the same smoothing, and KL exactly 0. Bins 255/256 sit at
// window positions 255-i/256-i; the spans are [ceil(jW/255), ceil((j+1)W/255)):
//   i = 0, W = 512: span 127 = [255, 258) holds both  -> KL > 0
//   i = 1, W = 510: span 127 = [254, 256) holds both  -> KL > 0
//   i = 2, W = 508: span 126 = [252, 254) holds 253, span 127 = [254, 256) holds 254 -> KL = 0
// and no later window can improve strictly on 0: scale = (1 - 2/256) / 128.
std::vector<float> cluster_row() {
  std::vector<float> v = {-1.0f, 1.0f};
  v.insert(v.end(), 100, -0.002f);
  v.insert(v.end(), 50, 0.002f);
  return v;
}
constexpr float kClusterScale = 254.0f / 256.0f / 128.0f;  // 0.00775146484375

}  // namespace

TEST(AdaKlScale, AllZeroWeightGetsScaleOne) {
  EXPECT_EQ(alg::ada_kl_scale(at::zeros({2, 3}), false, alg::WeightLayout::kLinear, 1),
            std::vector<float>{1.0f});
}

TEST(AdaKlScale, EqualKlKeepsTheWidestWindow) {
  // p = q in every window (each outlier alone in its span): all KL are 0 and
  // only i = 0 is a strict improvement over +inf: A / 128.
  EXPECT_EQ(alg::ada_kl_scale(f32({-1.0f, 1.0f}).reshape({1, 2}), false,
                              alg::WeightLayout::kLinear, 1),
            std::vector<float>{1.0f / 128.0f});
}

TEST(AdaKlScale, FirstWindowThatSeparatesTheClusterWins) {
  const std::vector<float> row = cluster_row();
  EXPECT_EQ(alg::ada_kl_scale(f32(row).reshape({1, -1}), false, alg::WeightLayout::kLinear, 1),
            std::vector<float>{kClusterScale});
}

TEST(AdaKlScale, ScaleIsTheSameWhateverTheMagnitude) {
  // Scaling the weight by 4 scales the histogram's range, not its counts.
  std::vector<float> row = cluster_row();
  for (float& v : row) v *= 4.0f;
  EXPECT_EQ(alg::ada_kl_scale(f32(row).reshape({1, -1}), false, alg::WeightLayout::kLinear, 1),
            std::vector<float>{4.0f * kClusterScale});
}

TEST(AdaKlScale, PerChannelRowsAreOutputChannels) {
  std::vector<float> row0 = cluster_row();
  std::vector<float> row1(row0.size(), 0.0f);
  row1[0] = -1.0f;
  row1[1] = 1.0f;  // outliers and zeros, each bin alone in its span: A / 128
  std::vector<float> both = row0;
  both.insert(both.end(), row1.begin(), row1.end());
  const at::Tensor w = f32(both).reshape({2, static_cast<int64_t>(row0.size()), 1, 1});
  EXPECT_EQ(alg::ada_kl_scale(w, true, alg::WeightLayout::kConv, 1),
            (std::vector<float>{kClusterScale, 1.0f / 128.0f}));
  // Per tensor: one histogram of both rows (row 1's zeros join bin 256, the
  // outliers count twice): bins 255/256 still differ, the same window wins.
  EXPECT_EQ(alg::ada_kl_scale(w, false, alg::WeightLayout::kConv, 1),
            std::vector<float>{kClusterScale});
}

TEST(AdaKlScale, DeconvRowsAreDim1) {
  // ConvTranspose (Cin=1, Cout=2, 1, k): output channel c is w[:, c].
  std::vector<float> row0 = cluster_row();
  const int64_t k = static_cast<int64_t>(row0.size());
  std::vector<float> row1(k, 0.0f);
  row1[0] = -2.0f;
  row1[1] = 2.0f;
  std::vector<float> both = row0;
  both.insert(both.end(), row1.begin(), row1.end());
  const at::Tensor w = f32(both).reshape({1, 2, 1, k});
  EXPECT_EQ(alg::ada_kl_scale(w, true, alg::WeightLayout::kDeconv, 1),
            (std::vector<float>{kClusterScale, 2.0f / 128.0f}));
}

TEST(AdaKlScale, NanWeightIsTheArqRuntimeError) {
  try {
    alg::ada_kl_scale(f32({1.0f, NAN}).reshape({1, 2}), true, alg::WeightLayout::kLinear, 1);
    FAIL() << "no error";
  } catch (const openamct::Error& e) {
    EXPECT_EQ(e.kind(), openamct::ErrorKind::kRuntime);
    EXPECT_EQ(std::string(e.what()).rfind("The weight to be quantized has invalid value inf or nan!", 0), 0u);
  }
}

TEST(AdaScaleTensor, BroadcastsPerOutputChannelInEveryLayout) {
  const at::Tensor conv = at::zeros({2, 3, 1, 1});
  const at::Tensor s = alg::ada_scale_tensor({0.5f, 2.0f}, conv, alg::WeightLayout::kConv, 1);
  EXPECT_TRUE(s.sizes().equals(conv.sizes()));
  EXPECT_EQ(s[0][2][0][0].item<float>(), 0.5f);
  EXPECT_EQ(s[1][0][0][0].item<float>(), 2.0f);
  // Deconv (Cin=3, Cout=2): channel c along dim 1.
  const at::Tensor deconv = at::zeros({3, 2, 1, 1});
  const at::Tensor d = alg::ada_scale_tensor({0.5f, 2.0f}, deconv, alg::WeightLayout::kDeconv, 1);
  EXPECT_EQ(d[2][0][0][0].item<float>(), 0.5f);
  EXPECT_EQ(d[0][1][0][0].item<float>(), 2.0f);
  // Grouped deconv (Cin=4, Cout/g=1, g=2): Cout = 2, group 1's input channels
  // 2 and 3 feed output channel 1.
  const at::Tensor grouped = at::zeros({4, 1, 1, 1});
  const at::Tensor g = alg::ada_scale_tensor({0.5f, 2.0f}, grouped, alg::WeightLayout::kDeconv, 2);
  EXPECT_EQ(g[1][0][0][0].item<float>(), 0.5f);
  EXPECT_EQ(g[2][0][0][0].item<float>(), 2.0f);
  // One scale: a 0-dim tensor.
  EXPECT_EQ(alg::ada_scale_tensor({0.25f}, conv, alg::WeightLayout::kConv, 1).dim(), 0);
  EXPECT_THROW(alg::ada_scale_tensor({1.0f, 1.0f, 1.0f}, conv, alg::WeightLayout::kConv, 1),
               openamct::Error);
}

TEST(AdaRounding, InitialAlphaGivesTheFractionalPart) {
  // v = W/s = (0.5, -0.5, 2.0): frac (0.5, 0.5, 0).
  // frac 0.5: (1.2 / 0.6) - 1 = 1, alpha0 = -ln 1 = 0; frac 0: 1.2 / 0.1 - 1 = 11.
  const at::Tensor w = f32({0.25f, -0.25f, 1.0f});
  const at::Tensor s = at::tensor(0.5f);
  const at::Tensor a = alg::ada_init_alpha(w, s);
  EXPECT_NEAR(a[0].item<float>(), 0.0f, 1e-6);
  EXPECT_NEAR(a[1].item<float>(), 0.0f, 1e-6);
  EXPECT_NEAR(a[2].item<float>(), -std::log(11.0), 1e-6);
  const at::Tensor h = alg::ada_rectified_sigmoid(a);
  EXPECT_NEAR(h[0].item<float>(), 0.5f, 1e-6);  // sigmoid(0) * 1.2 - 0.1
  EXPECT_NEAR(h[2].item<float>(), 0.0f, 1e-6);  // 1.2 / 12 - 0.1
  // The soft weight at alpha0 is W again.
  const at::Tensor soft = alg::ada_soft_weight(w, s, a);
  EXPECT_NEAR(soft[0].item<float>(), 0.25f, 1e-6);
  EXPECT_NEAR(soft[1].item<float>(), -0.25f, 1e-6);
  EXPECT_NEAR(soft[2].item<float>(), 1.0f, 1e-6);
}

TEST(AdaRounding, RectifiedSigmoidSaturatesAtZeroAndOne) {
  const at::Tensor h = alg::ada_rectified_sigmoid(f32({-20.0f, 20.0f, 0.0f}));
  EXPECT_EQ(h[0].item<float>(), 0.0f);
  EXPECT_EQ(h[1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(h[2].item<float>(), 0.5f);
}

TEST(AdaRounding, SoftWeightIsClampedToInt8WhateverTheBits) {
  // floor(100 / 0.5) = 200 -> 127 (+h(20) = 1 is clamped too): 63.5;
  // floor(-100 / 0.5) + 0 = -200 -> -128: -64.
  const at::Tensor soft =
      alg::ada_soft_weight(f32({100.0f, -100.0f}), at::tensor(0.5f), f32({20.0f, -20.0f}));
  EXPECT_EQ(soft[0].item<float>(), 63.5f);
  EXPECT_EQ(soft[1].item<float>(), -64.0f);
}

TEST(AdaRounding, SoftWeightIsDifferentiableInAlpha) {
  at::Tensor alpha = f32({0.0f, 0.0f}).requires_grad_(true);
  const at::Tensor soft = alg::ada_soft_weight(f32({0.25f, 0.75f}), at::tensor(0.5f), alpha);
  soft.sum().backward();
  // d/dα [s · (1.2 sigmoid(α) - 0.1)] at α = 0 = 0.5 · 1.2 · 0.25 = 0.15.
  EXPECT_NEAR(alpha.grad()[0].item<float>(), 0.15f, 1e-6);
}
