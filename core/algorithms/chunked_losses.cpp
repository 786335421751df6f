// See chunked_losses.h.
//
// Two scans. The division x / scale, one per element and candidate, is what
// bounds a plain scan (the divider has a fraction of the multiplier's
// throughput), so the first scan multiplies by 1 / scale instead. The product
// is within 2 ulp of the quotient, so it rounds an element to the other of
// its two neighbouring grid points only when x / scale is that close to
// half-way between them. For an element inside the clamp bounds both points
// are then almost equally far from it: the exact x / scale is within 4 u t of
// half-way (u = 2^-24, t the largest |clamp bound| / scale), each computed
// error (a product and a difference, each rounded) within u (t + 2) steps
// more of half a step, so its term moves by at most 40 u t + 18 u of itself;
// the scan allows 48 u (t + 1), about 7.3e-4 for an 8-bit grid. An element
// outside the bounds is not rounded at all: it takes the bound's grid value,
// computed once per candidate with the division (a flip there would move its
// term by twice its whole distance to the bound times a step). The second scan
// recomputes, with the division, only the candidates the first leaves within
// reach of the smallest; for wide grids (16 bits), where that bound is no
// help, the first scan divides.
//
// The vector loop is built per instruction set (vector_clones.h).
#include "chunked_losses.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "vector_clones.h"

namespace openamct::algorithms::detail {

namespace {

constexpr size_t kLanes = kVectorLanes;
constexpr size_t kAccumulators = 4;
constexpr size_t kGroup = kLanes * kAccumulators;  // floats per step of the inner loop
// 4096 floats (16 KB) stay in L1 while every candidate reads them, and give
// each lane of each accumulator 64 terms (kChunkedSumError).
constexpr size_t kChunk = 64 * kGroup;
// 1.5 * 2^23: (t + it) - it is t rounded half to even, for |t| < 2^22.
constexpr float kRoundingConstant = 12582912.0f;
constexpr double kUnitRoundoff = 5.9604644775390625e-8;  // 2^-24

// A candidate as the scans apply it. An element outside the clamp bounds
// quantises to the bound's own grid value, taken once per candidate with the
// division as the reference computes it: its error to the element can be far
// larger than half a step, so a flip there is not the small change bounded
// above. `low` is the lower bound unless the bounds cross (lo > hi, where
// every element clamps to hi).
struct ScanCandidate {
  float low, high, scale, inverse, q_low, q_high;
  explicit ScanCandidate(const GridCandidate& c)
      : low(std::min(c.lo, c.hi)),
        high(c.hi),
        scale(c.scale),
        inverse(1.0f / c.scale),
        q_low(quantised(low, c)),
        q_high(quantised(c.hi, c)) {}
};

// The squared errors of one candidate over x[0, vector_end), a multiple of
// kGroup, in kAccumulators x kLanes float32 partial sums. kClamp false: the
// caller knows no element lies outside [low, high], so the two selects of
// the bounds' values (4 of 11 operations per vector) are left out.
template <bool kDivide, bool kClamp>
__attribute__((always_inline)) inline double vector_square_sum(const float* x, size_t vector_end,
                                                               const ScanCandidate& c) {
  const Floats16 low = Floats16{} + c.low, high = Floats16{} + c.high,
                 q_low = Floats16{} + c.q_low, q_high = Floats16{} + c.q_high,
                 scale = Floats16{} + c.scale, inverse = Floats16{} + c.inverse,
                 rounding = Floats16{} + kRoundingConstant;
  Floats16 acc[kAccumulators] = {};
  for (size_t i = 0; i < vector_end; i += kGroup) {
    for (size_t a = 0; a < kAccumulators; ++a) {
      Floats16 v;
      std::memcpy(&v, x + i + a * kLanes, sizeof v);
      const Floats16 t = kDivide ? v / scale : v * inverse;
      Floats16 q = ((t + rounding) - rounding) * scale;
      if (kClamp) {
        q = v < low ? q_low : q;
        q = v > high ? q_high : q;
      }
      const Floats16 d = q - v;
      acc[a] += d * d;
    }
  }
  double sum = 0.0;
  for (size_t a = 0; a < kAccumulators; ++a)
    for (size_t q = 0; q < kLanes; ++q) sum += static_cast<double>(acc[a][q]);
  return sum;
}

// Adds each listed candidate's squared errors over x[0, m) to sums[candidate].
template <bool kDivide>
__attribute__((always_inline)) inline void score_chunk(const float* x, size_t m,
                                                       const ScanCandidate* cands,
                                                       const uint32_t* which, size_t count,
                                                       double* sums) {
  const size_t vector_end = m / kGroup * kGroup;
  // The chunk's range: candidates whose clamp bounds enclose it need no clamp.
  Floats16 low = Floats16{} + std::numeric_limits<float>::infinity(), high = -low;
  for (size_t i = 0; i < vector_end; i += kLanes) {
    Floats16 v;
    std::memcpy(&v, x + i, sizeof v);
    low = v < low ? v : low;
    high = v > high ? v : high;
  }
  float chunk_min = std::numeric_limits<float>::infinity(), chunk_max = -chunk_min;
  for (size_t q = 0; q < kLanes; ++q) {
    chunk_min = std::min(chunk_min, low[q]);
    chunk_max = std::max(chunk_max, high[q]);
  }
  for (size_t j = 0; j < count; ++j) {
    const ScanCandidate c = cands[which[j]];  // a copy: the stores below cannot alias it
    double sum = chunk_min >= c.low && chunk_max <= c.high
                     ? vector_square_sum<kDivide, false>(x, vector_end, c)
                     : vector_square_sum<kDivide, true>(x, vector_end, c);
    for (size_t i = vector_end; i < m; ++i) {  // the last chunk's few odd elements
      const float v = x[i];
      const float t = kDivide ? v / c.scale : v * c.inverse;
      float q = ((t + kRoundingConstant) - kRoundingConstant) * c.scale;
      q = v < c.low ? c.q_low : q;
      q = v > c.high ? c.q_high : q;
      const float d = q - v;
      sum += static_cast<double>(d * d);
    }
    sums[which[j]] += sum;
  }
}

OPENAMCT_VECTOR_CLONES void score_chunk_multiplying(const float* x, size_t m,
                                                    const ScanCandidate* cands,
                                                    const uint32_t* which, size_t count,
                                                    double* sums) {
  score_chunk<false>(x, m, cands, which, count, sums);
}

OPENAMCT_VECTOR_CLONES void score_chunk_dividing(const float* x, size_t m,
                                                 const ScanCandidate* cands,
                                                 const uint32_t* which, size_t count,
                                                 double* sums) {
  score_chunk<true>(x, m, cands, which, count, sums);
}

// Sums of the listed candidates' squared errors over all of x.
std::vector<double> scan(const float* x, size_t n, const std::vector<GridCandidate>& cands,
                         const std::vector<uint32_t>& which, bool divide) {
  std::vector<double> sums(cands.size(), 0.0);
  const std::vector<ScanCandidate> scan_cands(cands.begin(), cands.end());
  for (size_t begin = 0; begin < n; begin += kChunk) {
    const size_t m = std::min(kChunk, n - begin);
    if (divide)
      score_chunk_dividing(x + begin, m, scan_cands.data(), which.data(), which.size(),
                           sums.data());
    else
      score_chunk_multiplying(x + begin, m, scan_cands.data(), which.data(), which.size(),
                              sums.data());
  }
  return sums;
}

double largest_quotient(const std::vector<GridCandidate>& cands) {
  double t = 0.0;
  for (const auto& c : cands)
    t = std::max(t, std::max(std::fabs(static_cast<double>(c.lo)),
                             std::fabs(static_cast<double>(c.hi))) /
                        static_cast<double>(c.scale));
  return t;
}

}  // namespace

bool chunked_losses_apply(const std::vector<GridCandidate>& cands) {
  for (const auto& c : cands)
    if (!(c.scale > 0.0f)) return false;
  return largest_quotient(cands) < 2097152.0;  // 2^21
}

std::vector<double> chunked_mean_squared_errors(const float* x, size_t n,
                                                const std::vector<GridCandidate>& cands,
                                                double relative_gap, double absolute_gap) {
  std::vector<uint32_t> all(cands.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint32_t>(i);
  const double count = static_cast<double>(n);
  // The rounding flips' bound (top of the file), relative to each term.
  const double flip_error = 48.0 * kUnitRoundoff * (largest_quotient(cands) + 1.0);
  const bool divide_first = flip_error > 1e-3;
  std::vector<double> sums = scan(x, n, cands, all, divide_first);
  if (divide_first) {
    for (double& s : sums) s /= count;
    return sums;
  }
  // Those within reach of the smallest under both scans' errors: a candidate
  // left out is more than relative_gap above the smallest after the second.
  const double first_error = flip_error + kChunkedSumError;
  const double reach = 2.0 * (relative_gap + first_error + kChunkedSumError);
  const double smallest = *std::min_element(sums.begin(), sums.end());
  const double limit = smallest * (1.0 + reach) + 2.0 * absolute_gap * count;
  std::vector<uint32_t> near;
  for (uint32_t i = 0; i < sums.size(); ++i)
    if (sums[i] <= limit) near.push_back(i);
  std::vector<double> means(cands.size(), std::numeric_limits<double>::infinity());
  if (near.size() == 1) {  // the smallest alone: no second scan can change the choice
    means[near[0]] = sums[near[0]] / count;
    return means;
  }
  const std::vector<double> exact_terms = scan(x, n, cands, near, true);
  for (uint32_t i : near) means[i] = exact_terms[i] / count;
  return means;
}

}  // namespace openamct::algorithms::detail
