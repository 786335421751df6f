// The calibration algorithms (include/openamct/algorithms.h) on literal data:
// the edge cases of spec/calibration.md §5-§9 one named test each, plus the
// fast IFMR/HFMG paths against torch transcriptions of the reference's rule.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "algorithms/chunked_losses.h"
#include "algorithms/column_sums.h"
#include "algorithms/histogram.h"
#include "algorithms/numeric.h"
#include "algorithms/radix_select.h"
#include "algorithms/sorted_losses.h"
#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace alg = openamct::algorithms;

namespace {

at::Tensor f32(std::vector<float> v) {
  return at::tensor(at::ArrayRef<float>(v), at::TensorOptions().dtype(at::kFloat)).clone();
}

uint32_t bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

alg::IfmrOptions ifmr_options(bool with_offset, int64_t num_bits = 8) {
  alg::IfmrOptions o;
  o.with_offset = with_offset;
  o.num_bits = num_bits;
  return o;
}

alg::HfmgOptions hfmg_options(bool with_offset, int64_t nbins = 1024) {
  alg::HfmgOptions o;
  o.with_offset = with_offset;
  o.nbins = nbins;
  return o;
}

template <typename F>
std::string error_of(F&& f, openamct::ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const openamct::Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "<no error>";
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The reference's IFMR in torch ops (kept data, arange, mse_loss per candidate).
std::pair<float, float> torch_ifmr(const at::Tensor& x, bool with_offset, int64_t b,
                                   double step = 0.01, double max_p = 0.999999,
                                   double min_p = 0.999999) {
  const int64_t n = x.numel();
  auto rank = [n](double p) {
    return 1.0 - p < 1.192092896e-7 ? int64_t{1} : n - static_cast<int64_t>(p * static_cast<double>(n));
  };
  float max0 = std::max(0.0f, std::get<0>(at::topk(x, rank(max_p))).index({-1}).item<float>());
  float min0 =
      std::min(0.0f, std::get<0>(at::topk(x, rank(min_p), 0, false)).index({-1}).item<float>());
  at::Tensor ratios = at::arange(0.7, 1.3, step, at::TensorOptions().dtype(at::kFloat));
  float bound = max0, div = static_cast<float>((1 << b) - 1);
  if (!with_offset) {
    const bool neg = std::fabs(max0) < std::fabs(min0);
    bound = std::max(std::fabs(max0), std::fabs(min0));
    div = static_cast<float>((1 << (b - 1)) - 1 + neg);
  }
  at::Tensor c = ratios * bound;
  at::Tensor s = with_offset ? (c - min0) / div : c / div;
  s = at::where(s < alg::kFltEpsilon, at::ones_like(s), s);
  at::Tensor losses = at::zeros_like(c);
  for (int64_t i = 0; i < c.numel(); ++i) {
    at::Tensor hi = c[i], lo = with_offset ? at::scalar_tensor(min0) : -c[i];
    at::Tensor q = at::round(at::clamp(x, lo, hi) / s[i]) * s[i];
    losses[i] = at::mse_loss(q, x);
  }
  const float scale = s[at::argmin(losses).item<int64_t>()].item<float>();
  const float offset =
      with_offset ? -std::nearbyint(min0 / scale) - static_cast<float>(1 << (b - 1)) : 0.0f;
  return {scale, offset};
}

// IFMR on each input, with and without offset, gives the transcription's bits.
void expect_ifmr_matches_torch(const std::vector<at::Tensor>& inputs) {
  for (const auto& x : inputs) {
    for (bool with_offset : {false, true}) {
      const auto got = alg::ifmr({x}, ifmr_options(with_offset));
      const auto want = torch_ifmr(x, with_offset, 8);
      EXPECT_EQ(bits(got.scale), bits(want.first))
          << "n=" << x.numel() << " max " << x.max().item<float>() << " offset=" << with_offset;
      EXPECT_EQ(static_cast<float>(got.offset), want.second);
    }
  }
}

// IFMR's loss of candidate c over x, element by element in double: what
// SortedLosses must reproduce.
double direct_mse(const std::vector<float>& x, const alg::detail::GridCandidate& c) {
  double sum = 0.0;
  for (float v : x) {
    const float q = alg::detail::rne(std::min(std::max(v, c.lo), c.hi) / c.scale) * c.scale;
    sum += (static_cast<double>(q) - v) * (static_cast<double>(q) - v);
  }
  return sum / static_cast<double>(x.size());
}

}  // namespace

// ---- numeric primitives ----------------------------------------------------------
TEST(AlgorithmsNumeric, FloorDivideMatchesTorchOnEdgeCases) {
  const std::vector<float> a = {7.0f, -7.0f, 0.3f, -0.3f, 1.0f, 0.0f, -0.0f, 5.0f, 1e-30f, 100.0f};
  const std::vector<float> b = {2.0f, 2.0f, 0.1f, 0.1f, 0.1f, 3.0f, 3.0f, -2.0f, 3.0f, 1e-5f};
  const at::Tensor want = at::floor_divide(f32(a), f32(b));
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(bits(alg::detail::floor_divide(a[i], b[i])), bits(want[i].item<float>()))
        << a[i] << " // " << b[i];
}

// Seeds 45, 356 and 615 each hold an element within rounding of a bin edge,
// where the division alone put it one bin low (torch compares it with the
// linspace edges); the test had passed or failed with the generator's state.
TEST(AlgorithmsNumeric, HistcMatchesTorchHistc) {
  for (int seed : {0, 45, 356, 615, 1000, 1001, 1002, 1003}) {
    at::manual_seed(seed);
    at::Tensor x = at::randn({5000}, at::TensorOptions().dtype(at::kFloat)) * 3.0;
    const float lo = x.min().item<float>(), hi = x.max().item<float>();
    const at::Tensor want = at::histc(x, 97, lo, hi).to(at::kLong);
    const std::vector<int64_t> got =
        alg::detail::histc(x.data_ptr<float>(), x.numel(), 97, lo, hi);
    for (int64_t i = 0; i < 97; ++i)
      EXPECT_EQ(got[i], want[i].item<int64_t>()) << "seed " << seed << ", bin " << i;
  }
}

TEST(AlgorithmsNumeric, HistcOfPiledUpDataMatchesTorchHistc) {
  // Half the elements in one bin, as after a ReLU, and a length that is not
  // a multiple of the four interleaved count tables.
  at::Tensor x = at::relu(at::randn({4099}, at::TensorOptions().dtype(at::kFloat)));
  const float lo = x.min().item<float>(), hi = x.max().item<float>();
  const at::Tensor want = at::histc(x, 64, lo, hi).to(at::kLong);
  const std::vector<int64_t> got = alg::detail::histc(x.data_ptr<float>(), x.numel(), 64, lo, hi);
  for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(got[i], want[i].item<int64_t>()) << "bin " << i;
}

TEST(AlgorithmsNumeric, FiniteMinMaxGivesTheValuesOfMinmaxElement) {
  // Lengths below, at and above the 16 lanes; the extremes at the ends too.
  for (int64_t n : {1, 5, 16, 17, 40, 1000}) {
    at::Tensor x = at::randn({n}, at::TensorOptions().dtype(at::kFloat));
    const float* p = x.data_ptr<float>();
    const auto [mn, mx] = std::minmax_element(p, p + n);
    const alg::detail::FiniteRange r = alg::detail::finite_min_max(p, n);
    EXPECT_TRUE(r.finite);
    EXPECT_EQ(bits(r.min), bits(*mn)) << n;
    EXPECT_EQ(bits(r.max), bits(*mx)) << n;
  }
}

TEST(AlgorithmsNumeric, FiniteMinMaxKeepsTheSignOfTheFirstMinAndTheLastMaxZero) {
  // minmax_element: the first of equal minima, the last of equal maxima.
  std::vector<float> x(37, 1.0f);
  x[3] = -0.0f;
  x[20] = 0.0f;
  alg::detail::FiniteRange r = alg::detail::finite_min_max(x.data(), 37);
  EXPECT_EQ(bits(r.min), bits(-0.0f));
  for (float& v : x) v = -v;
  x[3] = 0.0f;
  x[36] = -0.0f;
  r = alg::detail::finite_min_max(x.data(), 37);
  EXPECT_EQ(bits(r.max), bits(-0.0f));
  // A running std::max keeps the first of equal maxima (ARQ's rows).
  r = alg::detail::finite_min_max(x.data(), 37, alg::detail::ZeroSign::kFirst);
  EXPECT_EQ(bits(r.max), bits(0.0f));
}

TEST(AlgorithmsNumeric, FiniteMinMaxFindsNaNAndInfAnywhere) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (size_t at : {0u, 7u, 16u, 33u}) {  // a lane, the next block, the tail
      std::vector<float> x(34, 0.5f);
      x[at] = bad;
      EXPECT_FALSE(alg::detail::finite_min_max(x.data(), 34).finite) << bad << " at " << at;
    }
  }
}

TEST(AlgorithmsNumeric, HistcPutsTheLastEdgeInTheLastBin) {
  const std::vector<float> x = {0.0f, 1.0f, 2.0f, 3.0f};
  EXPECT_EQ(alg::detail::histc(x.data(), 4, 4, 0.0f, 3.0f), (std::vector<int64_t>{1, 1, 1, 1}));
}

TEST(AlgorithmsNumeric, HistcOfConstantDataFillsTheMiddleBin) {
  const std::vector<float> x = {5.0f, 5.0f, 5.0f};
  EXPECT_EQ(alg::detail::histc(x.data(), 3, 4, 5.0f, 5.0f), (std::vector<int64_t>{0, 0, 3, 0}));
}

TEST(AlgorithmsNumeric, MergeOfTheSameRangeAddsBinByBin) {
  std::vector<int64_t> merged = {4, 3, 2, 1};
  alg::detail::merge_histogram({1, 2, 3, 4}, -1.0f, 1.0f, merged, -1.0f, 1.0f);
  EXPECT_EQ(merged, (std::vector<int64_t>{5, 5, 5, 5}));
}

TEST(AlgorithmsNumeric, MergeSplitsABinThatStraddlesTwoNewBins) {
  // Old [0, 2] in 2 bins; new [0, 3] in 2 bins of 1.5: old bin [1, 2] is half in each.
  std::vector<int64_t> merged = {0, 0};
  alg::detail::merge_histogram({0, 10}, 0.0f, 2.0f, merged, 0.0f, 3.0f);
  EXPECT_EQ(merged, (std::vector<int64_t>{5, 5}));
}

// ---- min-max -------------------------------------------------------------------
TEST(AlgorithmsMinMax, PlusMinusOneAsymmetricRoundsTheWholeOffset) {
  const auto r = alg::minmax_scale_offset(1.0f, -1.0f, true, 8);
  EXPECT_EQ(bits(r.scale), bits(2.0f / 255.0f));
  EXPECT_EQ(r.offset, -1);
}

TEST(AlgorithmsMinMax, NegativeDominantSymmetricDividesBy128) {
  EXPECT_EQ(bits(alg::minmax_scale_offset(1.0f, -2.0f, false, 8).scale), bits(2.0f / 128.0f));
}

TEST(AlgorithmsMinMax, TieSymmetricDividesBy127) {
  EXPECT_EQ(bits(alg::minmax_scale_offset(2.0f, -2.0f, false, 8).scale), bits(2.0f / 127.0f));
}

TEST(AlgorithmsMinMax, ZeroRangeGivesScaleOneAndLowestOffset) {
  const auto r = alg::minmax_scale_offset(0.0f, 0.0f, true, 8);
  EXPECT_EQ(r.scale, 1.0f);
  EXPECT_EQ(r.offset, -128);
}

TEST(AlgorithmsMinMax, NaNIsAScaleError) {
  openamct::ErrorKind kind;
  const std::string m = error_of(
      [] { alg::minmax_scale_offset(std::numeric_limits<float>::quiet_NaN(), 0.0f, true, 8); },
      &kind);
  EXPECT_EQ(kind, openamct::ErrorKind::kRuntime);
  EXPECT_TRUE(starts_with(m, "Param scale has invalid value inf, nan or zeros!")) << m;
}

// ---- IFMR ------------------------------------------------------------------------
TEST(AlgorithmsIfmr, AllZerosGiveScaleOne) {
  const auto sym = alg::ifmr({at::zeros({100})}, ifmr_options(false));
  EXPECT_EQ(sym.scale, 1.0f);
  EXPECT_EQ(sym.offset, 0);
  const auto asym = alg::ifmr({at::zeros({100})}, ifmr_options(true));
  EXPECT_EQ(asym.scale, 1.0f);
  EXPECT_EQ(asym.offset, -128);
}

TEST(AlgorithmsIfmr, AllNegativeAsymmetricGivesOffset127) {
  const auto r = alg::ifmr({f32({-1.0f, -2.0f, -3.0f, -4.0f})}, ifmr_options(true));
  EXPECT_EQ(bits(r.scale), bits(4.0f / 255.0f));
  EXPECT_EQ(r.offset, 127);
}

TEST(AlgorithmsIfmr, AllPositiveAsymmetricGivesOffsetMinus128) {
  EXPECT_EQ(alg::ifmr({f32({0.5f, 1.0f, 2.0f})}, ifmr_options(true)).offset, -128);
}

TEST(AlgorithmsIfmr, SingleElementMatchesTheTorchTranscription) {
  const at::Tensor x = f32({2.5f});
  const auto r = alg::ifmr({x}, ifmr_options(false));
  EXPECT_EQ(bits(r.scale), bits(torch_ifmr(x, false, 8).first));
}

TEST(AlgorithmsIfmr, DenormalsGiveScaleOne) {
  const auto r = alg::ifmr({f32({1e-40f, -1e-41f, 3e-42f})}, ifmr_options(true));
  EXPECT_EQ(r.scale, 1.0f);
  EXPECT_EQ(r.offset, -128);
}

TEST(AlgorithmsIfmr, RandomDataMatchesTheTorchTranscription) {
  at::manual_seed(7);
  for (int64_t n : {1, 37, 1000, 20000}) {
    for (bool with_offset : {false, true}) {
      const at::Tensor x = at::randn({n}) * 1.7 + 0.2;
      const auto got = alg::ifmr({x}, ifmr_options(with_offset));
      const auto want = torch_ifmr(x, with_offset, 8);
      EXPECT_EQ(bits(got.scale), bits(want.first)) << "n=" << n << " offset=" << with_offset;
      EXPECT_EQ(static_cast<float>(got.offset), want.second);
    }
  }
}

// Large inputs, where one grid cell spans many 4096-element superblocks of
// the sorted data (a ReLU's zeros, a heavy tail), so the search sums
// superblock moments as well as block moments and single elements.
TEST(AlgorithmsIfmr, LargeSkewedDataMatchesTheTorchTranscription) {
  at::manual_seed(5);
  const int64_t n = int64_t{1} << 19;
  const std::vector<at::Tensor> inputs = {at::relu(at::randn({n})), at::exp(at::randn({n}) * 2.0),
                                          at::randn({n}) * 0.01 + 3.0};
  expect_ifmr_matches_torch(inputs);
}

// The sorted-data loss against a plain double sum over every element: block
// and superblock moments reorder the sum but must not lose precision.
TEST(AlgorithmsIfmr, SortedLossesEqualTheDirectDoubleSum) {
  at::manual_seed(9);
  for (const at::Tensor& t : {at::randn({300001}) * 2.0 + 0.3, at::relu(at::randn({70000})),
                              at::randn({100})}) {
    const std::vector<float> x(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    const alg::detail::SortedLosses sorted(x);
    const float hi = sorted.kth_largest(1), lo = std::min(sorted.kth_smallest(1), 0.0f);
    for (float ratio : {0.5f, 0.9f, 1.0f}) {
      const alg::detail::GridCandidate c{lo, hi * ratio, (hi * ratio - lo) / 255.0f};
      const double direct = direct_mse(x, c);
      EXPECT_NEAR(sorted.mean_squared_error(c), direct, direct * 1e-12)
          << "n=" << x.size() << " ratio=" << ratio;
    }
  }
}

// The percentile selection (top key bytes tallied while batches are copied
// in, batch by batch) and the radix sort both give the sorted order: odd and
// even batch sizes, data whose top digits never change (skipped sort passes,
// one top byte for every rank), all-equal data (every pass skipped), -0.0
// before +0.0.
TEST(AlgorithmsIfmr, SelectionAndSortGiveTheSortedOrder) {
  at::manual_seed(10);
  const at::Tensor narrow = at::rand({5001}) * 0.001 + 1.0;  // one sign and exponent
  const at::Tensor mixed = at::randn({70001}) * 2.0 + 0.3;
  const at::Tensor zeros_both = at::cat({at::zeros({7}), -at::zeros({6}), at::relu(at::randn({999}))});
  const at::Tensor equal = at::full({1000}, 0.25);
  for (const at::Tensor& t : {narrow, mixed, zeros_both, equal}) {
    const at::Tensor shuffled = t.index_select(0, at::randperm(t.numel()));
    const float* p = shuffled.data_ptr<float>();
    const size_t n = static_cast<size_t>(shuffled.numel());
    std::vector<float> copied(n);
    std::vector<size_t> counts(alg::detail::kTopDigits, 0);
    const size_t first = n / 3 + 1;  // two batches of different parity
    const auto a = alg::detail::copy_and_count_top_digits(p, first, copied.data(), counts.data());
    const auto b = alg::detail::copy_and_count_top_digits(p + first, n - first,
                                                          copied.data() + first, counts.data());
    ASSERT_TRUE(a.finite && b.finite);
    EXPECT_EQ(std::min(a.min, b.min), t.min().item<float>());
    EXPECT_EQ(std::max(a.max, b.max), t.max().item<float>());
    const std::vector<float> x(p, p + n);
    ASSERT_EQ(copied, x);
    std::vector<float> sorted = x;
    std::sort(sorted.begin(), sorted.end(), [](float a, float b) {
      return a < b || (a == b && std::signbit(a) && !std::signbit(b));
    });
    const alg::detail::SortedLosses sort(x);
    for (size_t k = 1; k <= n; ++k)
      ASSERT_EQ(bits(sort.kth_smallest(static_cast<int64_t>(k))), bits(sorted[k - 1]))
          << "k=" << k;
    // Both ends (IFMR's percentiles), the middle, and ranks throughout.
    std::vector<size_t> ranks = {1, 2, 3, n / 2, n - 2, n - 1, n};
    for (size_t k = 7; k < n; k += n / 97 + 1) ranks.push_back(k);
    for (size_t j = 0; j + 1 < ranks.size(); j += 2) {
      const std::vector<float> got =
          alg::detail::kth_smallest(copied.data(), n, counts.data(), {ranks[j], ranks[j + 1]});
      ASSERT_EQ(bits(got[0]), bits(sorted[ranks[j] - 1])) << "k=" << ranks[j];
      ASSERT_EQ(bits(got[1]), bits(sorted[ranks[j + 1] - 1])) << "k=" << ranks[j + 1];
    }
    const std::vector<float> three =
        alg::detail::kth_smallest(copied.data(), n, counts.data(), {n, 1, n / 3 + 1});
    EXPECT_EQ(bits(three[0]), bits(sorted[n - 1]));
    EXPECT_EQ(bits(three[1]), bits(sorted[0]));
    EXPECT_EQ(bits(three[2]), bits(sorted[n / 3]));
    EXPECT_TRUE(alg::detail::kth_smallest(copied.data(), n, counts.data(), {}).empty());
  }
}

// The chunked scan against each candidate's reference terms (float32, as
// torch computes them) summed in double: every candidate that can be the
// smallest or tie with it within the caller's gap is returned, within
// kChunkedSumError; the others are +inf. Data: a tail shorter than a vector,
// a ReLU's zeros, elements exactly half-way between grid points and an ulp
// either side (where multiplying by 1 / scale may round the other way), and
// 16-bit grids (the scan divides from the start).
TEST(AlgorithmsIfmr, ChunkedLossesMatchTheReferenceTerms) {
  at::manual_seed(12);
  const float s = 0.037f;
  std::vector<float> edges;
  for (int j = -127; j < 127; ++j) {
    const float edge = (static_cast<float>(j) + 0.5f) * s;
    for (int r = 0; r < 40; ++r)
      edges.insert(edges.end(), {edge, std::nextafter(edge, -1e9f), std::nextafter(edge, 1e9f)});
  }
  const at::Tensor gaussian = at::randn({300001}) * 2.0 + 0.3;
  const at::Tensor relu = at::relu(at::randn({70000}));
  // Integers beyond both bounds of the candidate [-5, 5] (scale 10/255),
  // whose bounds lie half-way between grid points: 5 / scale rounds the other
  // way multiplied, and a clamped element's term would move by 2 |x - 5| steps.
  std::vector<float> clamped;
  for (int r = 0; r < 30; ++r)
    for (float v : {-8.0f, -5.0f, -3.0f, -1.0f, 1.0f, 4.0f, 7.0f, 9.0f}) clamped.push_back(v);
  const std::vector<std::vector<float>> inputs = {
      std::vector<float>(gaussian.data_ptr<float>(), gaussian.data_ptr<float>() + 300001),
      std::vector<float>(relu.data_ptr<float>(), relu.data_ptr<float>() + 70000), edges,
      {0.5f, -1.25f, 3.0f}, clamped,
      std::vector<float>(clamped.begin(), clamped.begin() + 17)};
  for (const auto& x : inputs) {
    const float hi = *std::max_element(x.begin(), x.end());
    const float lo = std::min(*std::min_element(x.begin(), x.end()), 0.0f);
    for (int64_t num_bits : {8, 16}) {
      const float levels = static_cast<float>((int64_t{1} << num_bits) - 1);
      std::vector<alg::detail::GridCandidate> cands;
      for (float r : alg::detail::arange_f32(0.7, 1.3, 0.01))
        cands.push_back({lo, r * hi, (r * hi - lo) / levels});
      cands.push_back({lo, 127.5f * s, 255.0f * s / levels});  // edges on the grid's half-way points
      cands.push_back({-5.0f, 5.0f, 10.0f / levels});          // bounds half-way (8 bits)
      ASSERT_TRUE(alg::detail::chunked_losses_apply(cands));
      std::vector<double> want;
      for (const auto& c : cands) {
        double sum = 0.0;
        for (float v : x) {
          const float d = alg::detail::rne(std::min(std::max(v, c.lo), c.hi) / c.scale) * c.scale - v;
          sum += static_cast<double>(d * d);
        }
        want.push_back(sum / static_cast<double>(x.size()));
      }
      const std::vector<double> got =
          alg::detail::chunked_mean_squared_errors(x.data(), x.size(), cands, 4e-5, 1e-40);
      const double best = *std::min_element(want.begin(), want.end());
      const size_t finite = static_cast<size_t>(
          std::count_if(got.begin(), got.end(), [](double v) { return std::isfinite(v); }));
      if (finite == 1) {  // the one candidate left must be the smallest
        EXPECT_EQ(std::min_element(got.begin(), got.end()) - got.begin(),
                  std::min_element(want.begin(), want.end()) - want.begin())
            << "n=" << x.size() << " bits " << num_bits;
      }
      for (size_t i = 0; i < cands.size(); ++i) {
        if (want[i] <= best * (1.0 + 4e-5)) {
          ASSERT_TRUE(std::isfinite(got[i])) << "candidate " << i << " n=" << x.size();
        }
        if (std::isfinite(got[i]) && finite > 1) {
          EXPECT_NEAR(got[i], want[i], want[i] * alg::detail::kChunkedSumError)
              << "candidate " << i << " n=" << x.size() << " bits " << num_bits;
        }
      }
    }
  }
  // Elements that x * (1 / scale) rounds to the other grid point than
  // x / scale does, far enough out on the grid (|x / scale| 500 to 1000) for
  // that to move their terms by about 1e-4, under two equal candidates (both
  // within reach, so both rescanned): the returned losses are the division's.
  const alg::detail::GridCandidate c{-1001.0f * s, 1001.0f * s, s};
  const float inverse = 1.0f / s;
  std::vector<float> flips;
  for (int j = 500; j < 1000; ++j)
    for (float sign : {-1.0f, 1.0f}) {
      const float half_way = sign * (static_cast<float>(j) + 0.5f) * s;
      float v = half_way;
      for (int step = 0; step < 8; ++step) v = std::nextafter(v, -1e9f);
      for (int step = 0; step < 16; ++step, v = std::nextafter(v, 1e9f))
        if (alg::detail::rne(v / s) != alg::detail::rne(v * inverse)) flips.push_back(v);
    }
  ASSERT_GT(flips.size(), 200u);
  double flip_sum = 0.0, multiplied_sum = 0.0;
  for (float v : flips) {
    const float d = alg::detail::rne(v / s) * s - v, e = alg::detail::rne(v * inverse) * s - v;
    flip_sum += static_cast<double>(d * d);
    multiplied_sum += static_cast<double>(e * e);
  }
  const double flip_want = flip_sum / static_cast<double>(flips.size());
  // What the test tells apart: the first scan's value is that far off.
  ASSERT_GT(std::fabs(multiplied_sum - flip_sum), 3.0 * alg::detail::kChunkedSumError * flip_sum);
  for (double got : alg::detail::chunked_mean_squared_errors(flips.data(), flips.size(), {c, c},
                                                             4e-5, 1e-40))
    EXPECT_NEAR(got, flip_want, flip_want * alg::detail::kChunkedSumError);

  const std::vector<alg::detail::GridCandidate> too_wide = {{-3e6f, 3e6f, 1.0f}};
  EXPECT_FALSE(alg::detail::chunked_losses_apply(too_wide));
}

// Integer data whose second smallest is the lower percentile (the smallest
// is clamped) and one of whose candidates, [-5, 5] at scale 10/255, has both
// bounds half-way between grid points: multiplied by 1 / scale, -5 rounds to
// the other grid point, and the clamped -8's term moved by 2.6 %, enough for a
// wrong candidate to win alone (found by a randomised comparison with the
// torch transcription).
TEST(AlgorithmsIfmr, ClampedElementsTakeTheBoundsExactGridValue) {
  const at::Tensor x = f32({-1.0f, 1.0f, 0.0f, -2.0f, -3.0f, -5.0f, 1.0f, 4.0f, 1.0f, -8.0f,
                            -5.0f, 1.0f, -4.0f, -0.0f, -4.0f, 4.0f, -2.0f});
  alg::IfmrOptions o = ifmr_options(true);
  o.max_percentile = 0.99;
  o.min_percentile = 0.9;
  const auto got = alg::ifmr({x.slice(0, 0, 6), x.slice(0, 6, 12), x.slice(0, 12)}, o);
  const auto want = torch_ifmr(x, true, 8, 0.01, 0.99, 0.9);
  EXPECT_EQ(bits(got.scale), bits(want.first));
  EXPECT_EQ(static_cast<float>(got.offset), want.second);
}

// More candidates than the chunked scan takes: the search runs on the
// sorted data. 16-bit grids: the chunked scan divides from the start.
TEST(AlgorithmsIfmr, LongCandidateListsAndWideGridsMatchTheTorchTranscription) {
  at::manual_seed(14);
  for (const at::Tensor& x : {at::randn({20000}) * 1.7 + 0.2, at::relu(at::randn({30000}))}) {
    for (bool with_offset : {false, true}) {
      alg::IfmrOptions o = ifmr_options(with_offset);
      o.search_step = 0.002;  // 300 candidates
      const auto got = alg::ifmr({x}, o);
      const auto want = torch_ifmr(x, with_offset, 8, 0.002);
      EXPECT_EQ(bits(got.scale), bits(want.first)) << "offset=" << with_offset;
      EXPECT_EQ(static_cast<float>(got.offset), want.second);
      const auto wide = alg::ifmr({x}, ifmr_options(with_offset, 16));
      const auto wide_want = torch_ifmr(x, with_offset, 16);
      EXPECT_EQ(bits(wide.scale), bits(wide_want.first)) << "16 bits offset=" << with_offset;
      EXPECT_EQ(static_cast<float>(wide.offset), wide_want.second);
    }
  }
}

// Zeros are counted, not sorted: the order still puts -0.0 before +0.0
// between the negatives and the positives, every loss is still the mean over
// all elements (zeros add 0), and data of zeros only has loss 0.
TEST(AlgorithmsIfmr, SortedLossesCountZerosInTheirPlace) {
  at::manual_seed(11);
  const at::Tensor t = at::cat({at::randn({500}), at::zeros({300}), -at::zeros({200}),
                                at::relu(at::randn({4000}))});
  const at::Tensor shuffled = t.index_select(0, at::randperm(t.numel()));
  const std::vector<float> x(shuffled.data_ptr<float>(),
                             shuffled.data_ptr<float>() + shuffled.numel());
  const alg::detail::SortedLosses sorted(x);
  std::vector<float> want = x;
  std::sort(want.begin(), want.end(), [](float a, float b) {
    return a < b || (a == b && std::signbit(a) && !std::signbit(b));
  });
  for (size_t k = 1; k <= x.size(); ++k) {
    ASSERT_EQ(alg::detail::float_bits(sorted.kth_smallest(static_cast<int64_t>(k))),
              alg::detail::float_bits(want[k - 1]))
        << "k=" << k;
  }
  EXPECT_EQ(sorted.kth_largest(1), want.back());
  for (const alg::detail::GridCandidate& c :
       {alg::detail::GridCandidate{want.front(), want.back(), (want.back() - want.front()) / 255.0f},
        alg::detail::GridCandidate{-want.back(), want.back(), want.back() / 127.0f}}) {
    const double direct = direct_mse(x, c);
    EXPECT_NEAR(sorted.mean_squared_error(c), direct, direct * 1e-12);
  }
  const std::vector<float> zeros = {0.0f, -0.0f, 0.0f};
  const alg::detail::SortedLosses only_zeros(zeros);
  EXPECT_EQ(only_zeros.mean_squared_error({0.0f, 1.0f, 1.0f / 255.0f}), 0.0);
  EXPECT_TRUE(std::signbit(only_zeros.kth_smallest(1)));
  EXPECT_FALSE(std::signbit(only_zeros.kth_largest(1)));
  EXPECT_EQ(only_zeros.max_abs(), 0.0f);
}

// The cells' edges are found from the float nearest (k + 0.5) * scale and
// a few key steps: elements exactly on the edges (round half to even), one
// ulp either side, -0.0 beside +0.0, and magnitudes near FLT_MAX.
TEST(AlgorithmsIfmr, SortedLossesFindTheCellEdgesExactly) {
  const float s = 0.037f;
  std::vector<float> x = {-0.0f, 0.0f, -0.0f};
  for (int j = -140; j < 140; ++j) {
    const float edge = (static_cast<float>(j) + 0.5f) * s;
    x.insert(x.end(), {edge, std::nextafter(edge, -1e9f), std::nextafter(edge, 1e9f), edge});
  }
  for (const alg::detail::GridCandidate& c :
       {alg::detail::GridCandidate{-128.0f * s, 127.0f * s, s},
        alg::detail::GridCandidate{-3.0f, 2.0f, s}, alg::detail::GridCandidate{0.0f, 4.0f, 0.02f}}) {
    const double want = direct_mse(x, c);
    EXPECT_NEAR(alg::detail::SortedLosses(x).mean_squared_error(c), want, want * 1e-12);
  }
  const std::vector<float> huge = {-3e38f, -1e38f, 0.0f, 1e38f, 2.5e38f, 3.3e38f};
  const alg::detail::GridCandidate wide{-3.3e38f, 3.3e38f, 2.6e36f};
  const double want = direct_mse(huge, wide);
  EXPECT_NEAR(alg::detail::SortedLosses(huge).mean_squared_error(wide), want, want * 1e-12);
}

// Magnitudes past 1e18 skip the fast estimate and score every candidate by
// the exact loss; integer-valued data makes many candidates tie exactly, so
// the first of the tied ones must win, as torch.argmin picks it.
TEST(AlgorithmsIfmr, ExactLossPathsMatchTheTorchTranscription) {
  at::manual_seed(11);
  const std::vector<at::Tensor> inputs = {
      at::randn({3000}) * 3e18, at::randn({3000}) * 1e20 + 5e19,
      at::round(at::randn({5000}) * 3.0), at::round(at::rand({4096}) * 255.0) - 128.0};
  expect_ifmr_matches_torch(inputs);
}

// Scales below FLT_EPSILON become 1.0, so for tiny activations some or all
// candidates quantise every element to the same value and tie bit for bit:
// the first of them must win (torch.argmin), whichever are evaluated.
TEST(AlgorithmsIfmr, CandidatesWithTheSameQuantiserTieAsTorchDoes) {
  at::manual_seed(13);
  const std::vector<at::Tensor> inputs = {
      at::randn({3000}) * 1e-6,                  // every candidate's scale is 1.0
      at::rand({4096}) * 3.1e-5,                 // the smaller ratios' scales are 1.0
      at::randn({4096}) * 3e-5 - 1e-5,           // both ends clamp differently
      at::relu(at::randn({70000})) * 2e-5};      // mostly zeros, then tiny values
  expect_ifmr_matches_torch(inputs);
}

TEST(AlgorithmsIfmr, StreamingEqualsOneCallOverTheList) {
  at::manual_seed(3);
  const std::vector<at::Tensor> batches = {at::randn({300}), at::randn({200}) * 2.0,
                                           at::randn({100})};
  alg::IfmrOptions o = ifmr_options(true);
  o.batch_num = 3;
  alg::IfmrCalibrator cal(o);
  EXPECT_FALSE(cal.add_batch(batches[0]).has_value());
  EXPECT_FALSE(cal.add_batch(batches[1]).has_value());
  const auto r = cal.add_batch(batches[2]);
  ASSERT_TRUE(r.has_value());
  const auto one = alg::ifmr(batches, ifmr_options(true));
  EXPECT_EQ(bits(r->scale), bits(one.scale));
  EXPECT_EQ(r->offset, one.offset);
  EXPECT_FALSE(cal.add_batch(at::randn({50}) * 100.0).has_value());  // later batches: nothing
  EXPECT_EQ(bits(cal.result()->scale), bits(one.scale));
}

TEST(AlgorithmsIfmr, NaNRaisesTheReferenceRuntimeError) {
  openamct::ErrorKind kind;
  const std::string m = error_of(
      [] { alg::ifmr({f32({1.0f, std::numeric_limits<float>::quiet_NaN()})}, ifmr_options(true)); },
      &kind);
  EXPECT_EQ(kind, openamct::ErrorKind::kRuntime);
  EXPECT_EQ(m, "The activation to be quantized has invalid value inf or nan!");
}

// The check runs as the batch is copied in, chunk by chunk: a NaN past the
// first chunk still raises, and the calibrator goes on as if it had never
// seen that batch (its elements and key counts are not kept).
TEST(AlgorithmsIfmr, ABadBatchLeavesTheCalibratorAsItWas) {
  at::manual_seed(4);
  const at::Tensor first = at::randn({3000}), second = at::randn({5000}) * 2.0;
  at::Tensor bad = at::randn({10000}) * 50.0;
  bad[9000] = std::numeric_limits<float>::quiet_NaN();
  alg::IfmrOptions o = ifmr_options(true);
  o.batch_num = 2;
  alg::IfmrCalibrator cal(o);
  EXPECT_FALSE(cal.add_batch(first).has_value());
  EXPECT_EQ(error_of([&] { cal.add_batch(bad); }),
            "The activation to be quantized has invalid value inf or nan!");
  EXPECT_EQ(cal.kept_bytes(), 3000 * sizeof(float));
  const auto r = cal.add_batch(second);
  ASSERT_TRUE(r.has_value());
  const auto want = alg::ifmr({first, second}, ifmr_options(true));
  EXPECT_EQ(bits(r->scale), bits(want.scale));
  EXPECT_EQ(r->offset, want.offset);
}

TEST(AlgorithmsIfmr, InfRaisesTheReferenceRuntimeError) {
  const std::string m = error_of([] {
    alg::ifmr({f32({std::numeric_limits<float>::infinity()})}, ifmr_options(false));
  });
  EXPECT_EQ(m, "The activation to be quantized has invalid value inf or nan!");
}

TEST(AlgorithmsIfmr, EmptyBatchListIsAValueError) {
  openamct::ErrorKind kind;
  const std::string m = error_of([] { alg::ifmr({}, ifmr_options(true)); }, &kind);
  EXPECT_EQ(kind, openamct::ErrorKind::kValue);
  EXPECT_TRUE(starts_with(m, "ifmr: batches is empty")) << m;
}

TEST(AlgorithmsIfmr, EmptyBatchIsAValueError) {
  openamct::ErrorKind kind;
  const std::string m = error_of([] { alg::ifmr({at::zeros({0})}, ifmr_options(true)); }, &kind);
  EXPECT_EQ(kind, openamct::ErrorKind::kValue);
  EXPECT_TRUE(starts_with(m, "ifmr: batch 1 is empty")) << m;
}

TEST(AlgorithmsIfmr, UnsupportedNumBitsIsAValueError) {
  openamct::ErrorKind kind;
  const std::string m = error_of([] { alg::ifmr({f32({1.0f})}, ifmr_options(true, 7)); }, &kind);
  EXPECT_EQ(kind, openamct::ErrorKind::kValue);
  EXPECT_EQ(m, "ifmr: num_bits 7 is not supported, use one of 4, 8, 16");
}

TEST(AlgorithmsIfmr, Float64IsATypeError) {
  openamct::ErrorKind kind;
  const std::string m = error_of(
      [] { alg::ifmr({at::ones({3}, at::TensorOptions().dtype(at::kDouble))}, ifmr_options(true)); },
      &kind);
  EXPECT_EQ(kind, openamct::ErrorKind::kType);
  EXPECT_EQ(m, "Only activation with dtype 'torch.float32' and 'torch.float16' is supported to be "
               "quantized, but got torch.float64.");
}

// ---- HFMG ------------------------------------------------------------------------
TEST(AlgorithmsHfmg, ConstantPositiveAsymmetric) {
  const auto r = alg::hfmg({at::full({100}, 2.0f)}, hfmg_options(true));
  EXPECT_EQ(bits(r.scale), bits(2.0f / 255.0f));
  EXPECT_EQ(r.offset, -128);
}

TEST(AlgorithmsHfmg, ConstantNegativeSymmetricIsATieDividingBy127) {
  const auto r = alg::hfmg({at::full({100}, -3.0f)}, hfmg_options(false));
  EXPECT_EQ(bits(r.scale), bits(3.0f / 127.0f));
}

TEST(AlgorithmsHfmg, ConstantNegativeAsymmetricGivesOffset127) {
  const auto r = alg::hfmg({at::full({10}, -1.0f)}, hfmg_options(true));
  EXPECT_EQ(bits(r.scale), bits(1.0f / 255.0f));
  EXPECT_EQ(r.offset, 127);
}

TEST(AlgorithmsHfmg, SingleElementZeroGivesScaleOne) {
  const auto r = alg::hfmg({f32({0.0f})}, hfmg_options(true));
  EXPECT_EQ(r.scale, 1.0f);
  EXPECT_EQ(r.offset, -128);
}

TEST(AlgorithmsHfmg, KeepsOnlyTheHistogramAcrossBatches) {
  alg::HfmgOptions o = hfmg_options(true, 64);
  o.batch_num = 2;
  alg::HfmgCalibrator cal(o);
  EXPECT_FALSE(cal.add_batch(f32({0.0f, 1.0f, 2.0f})).has_value());
  EXPECT_EQ(cal.counts().size(), 64u);
  EXPECT_EQ(cal.range_min(), 0.0f);
  EXPECT_EQ(cal.range_max(), 2.0f);
  EXPECT_TRUE(cal.add_batch(f32({-2.0f, 4.0f})).has_value());
  int64_t total = 0;
  for (int64_t c : cal.counts()) total += c;
  EXPECT_EQ(total, 5);
  EXPECT_EQ(cal.range_min(), -2.0f);
  EXPECT_EQ(cal.range_max(), 4.0f);
}

TEST(AlgorithmsHfmg, NaNRaisesTheReferenceRuntimeError) {
  const std::string m = error_of([] {
    alg::hfmg({f32({0.0f, std::numeric_limits<float>::quiet_NaN()})}, hfmg_options(true));
  });
  EXPECT_EQ(m, "The activation to be quantized has invalid value inf or nan!");
}

TEST(AlgorithmsHfmg, TooFewBinsIsAValueError) {
  openamct::ErrorKind kind;
  const std::string m = error_of([] { alg::hfmg({f32({1.0f})}, hfmg_options(true, 2)); }, &kind);
  EXPECT_EQ(kind, openamct::ErrorKind::kValue);
  EXPECT_TRUE(starts_with(m, "hfmg: nbins 2 is not supported")) << m;
}

// ---- ARQ -------------------------------------------------------------------------
TEST(AlgorithmsArq, ZeroChannelGetsScaleOne) {
  at::Tensor w = at::zeros({2, 1, 1, 2});
  w[1] = 0.5f;
  alg::ArqOptions o;
  const auto r = alg::arq(w, o);
  EXPECT_EQ(r.scale[0], 1.0f);
  EXPECT_EQ(bits(r.scale[1]), bits(0.5f / 127.0f));
  EXPECT_EQ(r.int_weight[1][0][0][0].item<int8_t>(), 127);
}

TEST(AlgorithmsArq, Int4ClampsToItsRange) {
  alg::ArqOptions o;
  o.num_bits = 4;
  o.channel_wise = false;
  const auto r = alg::arq(f32({-1.0f, 0.5f, 0.9f}).reshape({1, 1, 3}), o);
  EXPECT_EQ(bits(r.scale[0]), bits(1.0f / 8.0f));  // negative end dominates: 2^3
  EXPECT_EQ(r.int_weight.flatten()[0].item<int8_t>(), -8);
  EXPECT_EQ(r.int_weight.flatten()[2].item<int8_t>(), 7);  // 7.2 rounds to 7
}

TEST(AlgorithmsArq, DeconvResultsComeBackInTheInputLayout) {
  at::manual_seed(1);
  const at::Tensor w = at::randn({4, 3, 2, 2});  // (Cin, Cout/g, k, k), groups 2 -> Cout 6
  alg::ArqOptions o;
  o.layout = alg::WeightLayout::kDeconv;
  o.groups = 2;
  const auto r = alg::arq(w, o);
  EXPECT_EQ(r.scale.size(), 6u);
  EXPECT_EQ(r.fake_quant_weight.sizes(), w.sizes());
  // Same as quantising the Cout-first view as a conv weight, then rearranging back.
  alg::ArqOptions conv;
  const auto c = alg::arq(alg::deconv_to_cout_first(w, 2), conv);
  EXPECT_TRUE(at::equal(alg::deconv_to_cout_first(c.fake_quant_weight, 2), r.fake_quant_weight));
  EXPECT_EQ(c.scale, r.scale);
}

TEST(AlgorithmsArq, Float16WeightGivesFloat16FakeQuant) {
  const auto r = alg::arq(at::ones({2, 2, 1}, at::TensorOptions().dtype(at::kHalf)), {});
  EXPECT_EQ(r.fake_quant_weight.scalar_type(), at::kHalf);
  EXPECT_EQ(r.int_weight.scalar_type(), at::kChar);
}

TEST(AlgorithmsArq, NaNWeightRaisesTheReferenceRuntimeError) {
  const std::string m = error_of([] {
    alg::arq(f32({1.0f, std::numeric_limits<float>::quiet_NaN()}).reshape({2, 1, 1}), {});
  });
  EXPECT_EQ(m, "The weight to be quantized has invalid value inf or nan!");
}

TEST(AlgorithmsArq, LinearWeightMustBe2D) {
  alg::ArqOptions o;
  o.layout = alg::WeightLayout::kLinear;
  openamct::ErrorKind kind;
  const std::string m = error_of([&] { alg::arq(at::ones({2, 2, 2}), o); }, &kind);
  EXPECT_EQ(kind, openamct::ErrorKind::kValue);
  EXPECT_TRUE(starts_with(m, "arq: a linear weight must be 2-D")) << m;
}

TEST(AlgorithmsArq, UnknownLayoutListsTheAcceptedOnes) {
  EXPECT_EQ(error_of([] { alg::parse_weight_layout("rnn"); }),
            "arq: layout 'rnn' is not supported, use 'conv', 'linear' or 'deconv'");
}

// ---- DMQ -------------------------------------------------------------------------
TEST(AlgorithmsDmq, SpecExampleWithZeroChannels) {
  const auto f = alg::dmq_factor(f32({4.0f, 0.0f, 0.5f, 3.0f}), f32({1.0f, 2.0f, 0.0f, 0.25f}), 0.5);
  EXPECT_FALSE(f.warning.has_value());
  const float* s = f.factor.data_ptr<float>();
  EXPECT_EQ(s[0], 2.0f);
  EXPECT_EQ(s[1], 1.0f);
  EXPECT_EQ(s[2], 0.25f);
  EXPECT_EQ(bits(s[3]), bits(static_cast<float>(std::sqrt(3.0)) / 0.5f));
}

TEST(AlgorithmsDmq, AllZeroActivationGivesOnesAndAWarning) {
  const auto f = alg::dmq_factor(f32({0.0f, 0.0f}), f32({1.0f, 2.0f}), 0.5);
  ASSERT_TRUE(f.warning.has_value());
  EXPECT_TRUE(at::equal(f.factor, at::ones({2})));
}

TEST(AlgorithmsDmq, StrengthOutOfRangeIsTheReferenceValueError) {
  openamct::ErrorKind kind;
  const std::string m =
      error_of([] { alg::dmq_factor(f32({1.0f}), f32({1.0f}), 0.1); }, &kind);
  EXPECT_EQ(kind, openamct::ErrorKind::kValue);
  EXPECT_EQ(m, "migration_strength:0.1 not support, should be in [0.2, 0.8]!");
}

TEST(AlgorithmsDmq, ChannelMismatchIsTheReferenceValueError) {
  const std::string m = error_of([] {
    alg::dmq_layer(alg::DmqLayerType::kLinear, at::ones({2, 3}), at::ones({4, 5}), 0.5, 1, "fc");
  });
  EXPECT_EQ(m, "the activation channel_num[3] of fc must equal to weight channel_num[5]");
}

TEST(AlgorithmsDmq, GroupedConvBalancesEachGroupsInputChannels) {
  // Conv2d, groups 2, Cin 2, Cout 4: input channel g is column 0 of group g's filters.
  const at::Tensor x = f32({4.0f, 1.0f}).reshape({1, 2, 1, 1});
  const at::Tensor w = f32({1.0f, 1.0f, 1.0f, 1.0f}).reshape({4, 1, 1, 1});
  const auto r = alg::dmq_layer(alg::DmqLayerType::kConv2d, x, w, 0.5, 2, "conv");
  EXPECT_TRUE(at::equal(r.factor, f32({2.0f, 1.0f})));
  EXPECT_TRUE(at::equal(r.balanced_weight.flatten(), f32({2.0f, 2.0f, 1.0f, 1.0f})));
}

// ---- Conv+BN ---------------------------------------------------------------------
TEST(AlgorithmsConvBn, FusesWithoutBias) {
  const auto r = alg::fuse_conv_bn(at::ones({2, 1, 1}), std::nullopt, f32({2.0f, 4.0f}),
                                   f32({0.5f, 0.0f}), f32({1.0f, 1.0f}), f32({3.0f, 0.0f}), 1.0,
                                   false);
  ASSERT_TRUE(r.fused);
  EXPECT_TRUE(at::equal(r.weight.flatten(), f32({1.0f, 4.0f})));
  EXPECT_TRUE(at::equal(r.bias, f32({-0.5f, -4.0f})));
}

TEST(AlgorithmsConvBn, TrainingModeFusesNothing) {
  const at::Tensor w = at::ones({2, 1, 1});
  const auto r = alg::fuse_conv_bn(w, std::nullopt, f32({2.0f, 4.0f}), f32({0.5f, 0.0f}),
                                   f32({1.0f, 1.0f}), f32({3.0f, 0.0f}), 1e-5, true);
  EXPECT_FALSE(r.fused);
  EXPECT_TRUE(at::equal(r.weight, w));
  EXPECT_FALSE(r.bias.defined());
}

TEST(AlgorithmsConvBn, WrongBnShapeIsAValueError) {
  const std::string m = error_of([] {
    alg::fuse_conv_bn(at::ones({2, 1, 1}), std::nullopt, f32({1.0f}), f32({0.0f, 0.0f}),
                      f32({0.0f, 0.0f}), f32({1.0f, 1.0f}), 1e-5, false);
  });
  EXPECT_EQ(m, "fuse_conv_bn: bn_weight must have shape [2] (one value per output channel), got [1]");
}

// detail::rne is plain float arithmetic, not std::nearbyint: it must agree
// with nearbyint (and so with torch.round) bit for bit, the sign of zero
// included, on every float around the places where the trick could slip.
TEST(AlgorithmsNumeric, RoundHalfToEvenEqualsNearbyintBitForBit) {
  std::vector<float> values = {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49999997f,
                               4194303.5f, 4194304.5f, 8388607.5f, -8388607.5f, 8388608.0f,
                               16777217.0f, 1e30f, -1e30f, 1e-45f, -1e-45f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity()};
  // Every float whose magnitude lies within 2^16 ulps of 0.5, 2^22 and 2^23.
  for (float centre : {0.5f, 4194304.0f, 8388608.0f, 1.0f, 255.5f}) {
    uint32_t u;
    std::memcpy(&u, &centre, sizeof u);
    for (uint32_t d = 0; d < (1u << 16); ++d) {
      for (uint32_t bitsv : {u + d, u - d, (u + d) | 0x80000000u, (u - d) | 0x80000000u}) {
        float f;
        std::memcpy(&f, &bitsv, sizeof f);
        values.push_back(f);
      }
    }
  }
  at::manual_seed(3);
  const at::Tensor r = at::randn({200000}) * 300.0;
  const float* rp = r.data_ptr<float>();
  values.insert(values.end(), rp, rp + r.numel());
  for (float v : values)
    ASSERT_EQ(bits(alg::detail::rne(v)), bits(std::nearbyint(v))) << v;
  EXPECT_TRUE(std::isnan(alg::detail::rne(std::numeric_limits<float>::quiet_NaN())));
}

// ---- torch's column sums without the full matrix ---------------------------------
TEST(AlgorithmsColumnSums, TheProbeFindsTheGroupSizeOfThisLibTorch) {
  // Debian's LibTorch 1.13 on x86-64: 4 vectors of 8 (AVX2) or 16 (AVX-512)
  // floats. 0 would mean every HFMG near-tie builds the full matrix again.
  const int64_t g = alg::detail::torch_sum_group_size();
  EXPECT_TRUE(g == 32 || g == 64) << g;
}

TEST(AlgorithmsColumnSums, EqualTheFullMatrixSumOnOneThreadAndOnTwo) {
  const int threads = at::get_num_threads();
  at::manual_seed(7);
  for (int t : {1, 2}) {
    at::set_num_threads(t);
    for (int64_t rows : {5, 64, 300, 4096}) {
      for (int64_t cols : {64, 100, 1500, 3071}) {
        // Magnitudes spread over many octaves, so that the order of the adds shows.
        const at::Tensor full = at::randn({rows, cols}) * at::exp2(at::randint(-12, 12, {rows, cols}));
        for (const std::vector<size_t>& which :
             {std::vector<size_t>{0}, {static_cast<size_t>(cols - 1)}, {1, 2, 40},
              {0, static_cast<size_t>(cols / 2), static_cast<size_t>(cols - 3),
               static_cast<size_t>(cols - 1)}}) {
          const std::vector<float> got = alg::detail::torch_column_sums(
              rows, cols, which, [&](int64_t col, float* out, int64_t stride) {
                for (int64_t i = 0; i < rows; ++i) out[i * stride] = full[i][col].item<float>();
              });
          // The full matrix here has no zero columns: rebuild it with only `which`.
          at::Tensor only = at::zeros({rows, cols});
          for (size_t j : which) only.select(1, static_cast<int64_t>(j)).copy_(full.select(1, j));
          const at::Tensor only_sum = only.sum(0);
          for (size_t k = 0; k < which.size(); ++k)
            EXPECT_EQ(bits(got[k]), bits(only_sum[static_cast<int64_t>(which[k])].item<float>()))
                << t << " threads, " << rows << "x" << cols << ", column " << which[k];
        }
      }
    }
  }
  at::set_num_threads(threads);
}
