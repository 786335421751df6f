// Hessian-guided rounding (an OpenAMCT extension): the layer input's Hessian
// checked against what a convolution computes, and the rounding against its
// two defining properties: with uncorrelated inputs it is nearest rounding;
// with correlated ones the layer's output error is smaller than nearest
// rounding's, on the same grid.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace alg = openamct::algorithms;

namespace {

openamct::ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const openamct::Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no openamct::Error thrown";
  return openamct::ErrorKind::kType;
}

// Per-row symmetric 8-bit scale max|w| / 127, as ARQ's.
at::Tensor row_scales(const at::Tensor& rows) {
  return rows.abs().amax(2) / 127.0;
}

at::Tensor nearest(const at::Tensor& rows, const at::Tensor& scale) {
  return at::clamp(at::round(rows / scale.unsqueeze(2)), -128, 127);
}

}  // namespace

TEST(HessianRounding, ConvHessianIsTheSquaredOutputOfEveryWeight) {
  // vᵀ H_g v = Σ conv(x, v)² for a one-output-channel weight v of group g.
  at::manual_seed(1);
  const at::Tensor x = at::randn({3, 4, 7, 6});
  alg::LayerGeometry g{4, {3, 2}, {2, 1}, {1, 0}, {1, 2}, 2};
  const at::Tensor h = alg::layer_input_hessian(x, g);
  ASSERT_TRUE(h.sizes().equals({2, 2 * 3 * 2, 2 * 3 * 2}));
  for (int64_t group = 0; group < 2; ++group) {
    const at::Tensor v = at::randn({1, 2, 3, 2});
    const at::Tensor y = at::conv2d(x.slice(1, 2 * group, 2 * group + 2), v, {}, {2, 1}, {1, 0},
                                    {1, 2});
    const at::Tensor flat = v.reshape({-1, 1});
    const double quad = at::mm(flat.t(), at::mm(h[group], flat)).item<double>();
    EXPECT_NEAR(quad, y.pow(2).sum().item<double>(), 1e-3 * quad) << "group " << group;
  }
}

TEST(HessianRounding, LinearHessianTakesEveryLeadingPositionAsASample) {
  at::manual_seed(2);
  const at::Tensor x = at::randn({2, 5, 3});
  const at::Tensor h = alg::layer_input_hessian(x, alg::LayerGeometry{3, {}, {}, {}, {}, 1});
  const at::Tensor cols = x.reshape({10, 3});
  EXPECT_TRUE(at::allclose(h[0], at::mm(cols.t(), cols), 1e-5, 1e-5));
}

TEST(HessianRounding, UncorrelatedInputsRoundToNearest) {
  // A diagonal Hessian passes no error between columns.
  at::manual_seed(3);
  const at::Tensor rows = at::randn({2, 5, 7});
  const at::Tensor h = at::diag_embed(at::rand({2, 7}) + 0.5);
  const at::Tensor s = row_scales(rows);
  const at::Tensor q = alg::hessian_round(rows, h, s, {});
  EXPECT_TRUE(at::equal(q, nearest(rows, s)));
}

TEST(HessianRounding, CorrelatedInputsGiveALowerOutputErrorOnTheSameGrid) {
  at::manual_seed(4);
  // Inputs with strongly correlated features, as neighbouring pixels are.
  const at::Tensor base = at::randn({512, 6});
  const at::Tensor x = at::cat({base, base + 0.1 * at::randn({512, 6})}, 1);  // (512, 12)
  const at::Tensor rows = at::randn({1, 16, 12});
  const at::Tensor s = row_scales(rows);
  const at::Tensor h = at::mm(x.t(), x).unsqueeze(0);
  const at::Tensor q = alg::hessian_round(rows, h, s, {});
  const at::Tensor n = nearest(rows, s);
  EXPECT_TRUE(at::equal(q, at::round(q)));
  EXPECT_LE(q.max().item<float>(), 127.0f);
  EXPECT_GE(q.min().item<float>(), -128.0f);
  auto output_error = [&](const at::Tensor& ints) {
    const at::Tensor w = (ints * s.unsqueeze(2))[0];
    return (at::mm(x, (w - rows[0]).t())).pow(2).sum().item<double>();
  };
  EXPECT_LT(output_error(q), 0.7 * output_error(n));  // measured: 0.51x
  EXPECT_FALSE(at::equal(q, n));
}

TEST(HessianRounding, DeadInputsAndLowBitsStayOnTheGrid) {
  at::manual_seed(5);
  const at::Tensor rows = at::randn({1, 4, 5});
  at::Tensor h = at::zeros({1, 5, 5});
  h[0][1][1] = 2.0;  // only input 1 is ever non-zero
  const at::Tensor s = rows.abs().amax(2) / 7.0;
  alg::HessianRoundingOptions o;
  o.num_bits = 4;
  const at::Tensor q = alg::hessian_round(rows, h, s, o);
  EXPECT_TRUE(at::equal(q, at::clamp(at::round(rows / s.unsqueeze(2)), -8, 7)));
}

TEST(HessianRounding, BadArgumentsAreValueErrorsAndNonFiniteDataRuntimeErrors) {
  const at::Tensor rows = at::randn({1, 2, 3});
  const at::Tensor h = at::eye(3).unsqueeze(0);
  const at::Tensor s = at::ones({1, 2});
  using K = openamct::ErrorKind;
  EXPECT_EQ(kind_of([&] { alg::hessian_round(rows, at::eye(2).unsqueeze(0), s, {}); }), K::kValue);
  EXPECT_EQ(kind_of([&] { alg::hessian_round(rows, h, at::ones({2}), {}); }), K::kValue);
  EXPECT_EQ(kind_of([&] { alg::hessian_round(rows, h, s, {9, 0.01, 128}); }), K::kValue);
  EXPECT_EQ(kind_of([&] { alg::hessian_round(rows, h, s, {8, 0.0, 128}); }), K::kValue);
  at::Tensor bad = rows.clone();
  bad[0][0][0] = NAN;
  EXPECT_EQ(kind_of([&] { alg::hessian_round(bad, h, s, {}); }), K::kRuntime);
  EXPECT_EQ(kind_of([&] { alg::hessian_round(rows, h, at::zeros({1, 2}), {}); }), K::kRuntime);
  EXPECT_EQ(kind_of([&] {
              alg::layer_input_hessian(at::randn({1, 3, 4, 4}),
                                       alg::LayerGeometry{4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1});
            }),
            K::kValue);
  EXPECT_EQ(kind_of([&] {
              alg::layer_input_hessian(at::full({2, 3}, INFINITY),
                                       alg::LayerGeometry{3, {}, {}, {}, {}, 1});
            }),
            K::kRuntime);
}
