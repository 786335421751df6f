// HFMG (spec §7): a histogram grown batch by batch (histogram.h), then a
// greedy trim of its tails; each trimmed range is scored by the L2 error of
// mapping the histogram onto 2^b equal bins (PyTorch HistogramObserver's
// model) and the first minimum goes through the min-max rule.
//
// Exactness and speed: the reference builds nbins x candidates float32
// matrices, a few dozen of them. Here a candidate whose tails alone cost more
// than the best screen so far is dropped (O(1)); the others are screened in
// O(2^b) from integer moments of the counts; the survivors get every per-bin
// term with the reference's float32 operations, summed in double; those
// within kTieTolerance of the best are re-summed with torch's own float32
// reduction in the reference's column order (column_sums.h), so the chosen
// index is the reference's.
//
// Memory: nbins counts (8 bytes each) and the float32 range, whatever the
// number of batches; the search adds a few arrays of nbins numbers, and an
// nbins x (the tied columns, rounded up to 32 or 64) float matrix only while
// re-summing near ties.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

#include "activation_result.h"
#include "column_sums.h"
#include "histogram.h"
#include "numeric.h"
#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct::algorithms {

namespace {

constexpr double kStepDivisor = 100000.0;  // step = ceil(total / 100000)
constexpr int64_t kMinBinRatio = 4;        // stop at ceil(nbins / 4) bins
constexpr double kTieTolerance = 1e-4;     // phase 2 -> exact torch sums
constexpr double kScreenTolerance = 2e-3;  // phase 1 -> phase 2
constexpr int64_t kMaxBins = int64_t{1} << 20;

void check_options(const HfmgOptions& o) {
  detail::check_num_bits("hfmg", o.num_bits, {4, 8, 16});
  if (o.nbins < 3 || o.nbins > kMaxBins)
    throw_value_error("hfmg: nbins " + std::to_string(o.nbins) +
                      " is not supported, use 3 to 1048576 bins (AMCT uses 1024 to 8192)");
  if (o.batch_num < 1)
    throw_value_error("hfmg: batch_num " + std::to_string(o.batch_num) + " must be at least 1");
}

using Range = std::pair<int64_t, int64_t>;

// Step 4: trim the side whose walk to `step` counts covered more bins (ties:
// the right side); every trimmed range is a candidate, the full one never.
std::vector<Range> search_ranges(const std::vector<int64_t>& counts) {
  const int64_t n = static_cast<int64_t>(counts.size());
  double total = 0.0;
  for (int64_t c : counts) total += static_cast<double>(c);
  const double step = std::max(std::ceil(total / kStepDivisor), 1.0);
  const int64_t min_bins = (n + kMinBinRatio - 1) / kMinBinRatio;
  std::vector<Range> out;
  int64_t left = 0, right = n - 1;
  while (right - left > min_bins) {
    int64_t tl = left, tr = right;
    double left_sum = 0.0, right_sum = 0.0;
    while (tl < tr && left_sum < step) left_sum += static_cast<double>(counts[tl++]);
    while (tl < tr && right_sum < step) right_sum += static_cast<double>(counts[tr--]);
    if (right - tr >= tl - left)
      right = tr;
    else
      left = tl;
    out.emplace_back(left, right);
  }
  return out;
}

// ((e^3 - a^3) / 3) * rho, cubes as (x * x) * x, all float32.
inline float norm(float a, float e, float rho) {
  const float e3 = (e * e) * e;
  const float a3 = (a * a) * a;
  return ((e3 - a3) / 3.0f) * rho;
}

// The four per-bin terms of one candidate (same-bin, left part, middle bins,
// right part), exactly as the reference's float32 matrices hold them.
struct Terms {
  float same, left, mid, right;
};

struct LossModel {
  const std::vector<int64_t>* counts;
  float width;      // w' (step 3)
  float dst_bins;   // 2^b
  std::vector<float> rho;  // count / w'

  float dst_width(const Range& r) const {
    return width * static_cast<float>(r.second - r.first + 1) / dst_bins;
  }

  Terms terms(int64_t i, const Range& r, float dw, float hdw) const {
    const float rh = rho[i];
    const float sb = static_cast<float>(i - r.first) * width;
    const float se = sb + width;
    const float top = dst_bins - 1.0f;
    const float t1 = std::max(detail::floor_divide(sb, dw), 0.0f);
    const float t2 = std::max(detail::floor_divide(se, dw), 0.0f);
    const float jb = std::min(top, t1), je = std::min(top, t2);
    const float cb = jb * dw + hdw;
    const float db = sb - cb, de = se - cb;
    Terms t{0.0f, 0.0f, 0.0f, 0.0f};
    if (jb == je) {
      t.same = norm(db, de, rh);
    } else {
      t.left = norm(db, hdw, rh);
      t.mid = ((je - jb) - 1.0f) * norm(-hdw, hdw, rh);
      t.right = norm(-hdw, (se - je * dw) - hdw, rh);
    }
    return t;
  }

  // The four sums in double (zero-count bins add exact zeros and are skipped).
  double approx_loss(const Range& r) const {
    const float dw = dst_width(r);
    if (dw < kFltEpsilon) return 0.0;
    const float hdw = dw / 2.0f;
    double s = 0.0;
    const int64_t n = static_cast<int64_t>(rho.size());
    for (int64_t i = 0; i < n; ++i) {
      if ((*counts)[i] == 0) continue;
      const Terms t = terms(i, r, dw, hdw);
      s += static_cast<double>(t.same) + t.left + t.mid + t.right;
    }
    return s;
  }
};

// Exact integer moments of the counts: prefix sums of c_i, i*c_i, i^2*c_i.
// Counts saturate at 2^24, so 64-bit integers hold them for up to ~4096 bins
// (int64 arithmetic is several times faster than __int128 here); larger
// histograms use Int = __int128. Beside them the counts as doubles, padded
// with a zero count at -1, n and n + 1, so that screening_loss reads the
// split bins at the ends without a branch.
template <typename Int>
struct Moments {
  std::vector<Int> p0, p1, p2;
  std::vector<double> padded;
  explicit Moments(const std::vector<int64_t>& counts) {
    const size_t n = counts.size();
    p0.assign(n + 1, 0);
    p1.assign(n + 1, 0);
    p2.assign(n + 1, 0);
    padded.assign(n + 3, 0.0);
    for (size_t i = 0; i < n; ++i) {
      const Int c = counts[i], ii = static_cast<Int>(i);
      p0[i + 1] = p0[i] + c;
      p1[i + 1] = p1[i] + c * ii;
      p2[i + 1] = p2[i] + c * ii * ii;
      padded[i + 1] = static_cast<double>(counts[i]);
    }
  }

  // Count i as a double, for -1 <= i <= n + 1 (0 outside the histogram).
  double count(int64_t i) const { return padded[static_cast<size_t>(i + 1)]; }

  // sum over source bins a <= i < b of count_i / W times the integral over
  // bin i of t^2, t measured from a point `ap` right of bin a's lower edge.
  double whole_bins_loss(int64_t a, int64_t b, double ap, double W) const {
    const Int c0 = p0[b] - p0[a];
    const Int s1 = p1[b] - p1[a], s2 = p2[b] - p2[a];
    const Int i0 = a;
    const double d1 = static_cast<double>(s1 - i0 * c0);
    const double d2 = static_cast<double>(s2 - 2 * i0 * s1 + i0 * i0 * c0);
    return W * W * d2 + (W * W - 2.0 * W * ap) * d1 +
           (ap * ap - ap * W + W * W / 3.0) * static_cast<double>(c0);
  }
};

// A lower bound of screening_loss: the source bins outside the range alone
// (all in the first or the last dst bin, whose centres they are measured
// from there too); the bins inside add terms >= 0.
template <typename Int>
double tails_loss(const LossModel& m, const Moments<Int>& mo, const Range& r) {
  const double W = m.width, DW = m.dst_width(r), l = static_cast<double>(r.first);
  const int64_t n = static_cast<int64_t>(m.rho.size());
  const double first_centre = 0.5 * DW, last_centre = (m.dst_bins - 0.5) * DW;
  const int64_t right = r.second + 1;
  return mo.whole_bins_loss(0, r.first, first_centre + l * W, W) +
         mo.whole_bins_loss(right, n, last_centre - (static_cast<double>(right) - l) * W, W);
}

// Whether every moment sum and the products screening_loss forms from them
// (up to 4 * total * nbins^2) fit in int64.
bool moments_fit_int64(const std::vector<int64_t>& counts) {
  __int128 total = 0;
  for (int64_t c : counts) total += c;
  const __int128 n = static_cast<__int128>(counts.size());
  return 4 * total * n * n < (static_cast<__int128>(1) << 62);
}

// Phase 1 (screening): the same loss as the exact real integral
// sum_i rho_i * integral over bin i of (t - centre of its dst bin)^2, one dst
// bin at a time: whole source bins from the integer moments, the (at most
// two) split ones directly. O(2^b) per candidate instead of O(nbins). Its gap
// to the reference's float32 value is far below kScreenTolerance.
template <typename Int>
double screening_loss(const LossModel& m, const Moments<Int>& mo, const Range& r) {
  const float dwf = m.dst_width(r);
  if (dwf < kFltEpsilon) return 0.0;
  const int64_t n = static_cast<int64_t>(m.rho.size());
  const int64_t dst = static_cast<int64_t>(m.dst_bins);
  const double W = m.width, DW = dwf, l = static_cast<double>(r.first);
  const double ratio = DW / W, third_w = 1.0 / (3.0 * W);
  // Piece of source bin i over [xa, xb] (source-bin index units) against
  // centre c; an empty piece (xa == xb) is an exact 0.
  auto piece = [&](int64_t i, double xa, double xb, double c) {
    const double ta = (xa - l) * W - c, tb = (xb - l) * W - c;
    return mo.count(i) * third_w * (tb * tb * tb - ta * ta * ta);
  };
  // Three sums (split bins on the left and on the right, whole bins), so
  // that the adds of one dst bin do not wait for each other. The loop has no
  // branch: which pieces exist is data, and they are walked left to right
  // (each dst bin's upper edge is the next one's lower edge; the end bins
  // reach out to -1 and n + 1, so a cast truncates an edge to its floor).
  double left_parts = 0.0, right_parts = 0.0, whole = 0.0;
  double xlo = -1.0;
  int64_t flo = -1;
  for (int64_t k = 0; k < dst; ++k) {
    const double c = (static_cast<double>(k) + 0.5) * DW;
    const double xhi = k == dst - 1 ? static_cast<double>(n) + 1.0
                                    : l + static_cast<double>(k + 1) * ratio;
    const int64_t fhi = static_cast<int64_t>(xhi);
    const bool one_bin = flo == fhi;
    const bool lo_whole = static_cast<double>(flo) == xlo;  // an edge on a bin edge splits nothing
    // The split bin at the lower edge (or the one bin holding the dst bin) ...
    left_parts += piece(flo, xlo, one_bin ? xhi : lo_whole ? xlo : static_cast<double>(flo + 1), c);
    // ... the split bin at the upper edge, and the whole bins between.
    right_parts += piece(fhi, one_bin ? xhi : static_cast<double>(fhi), xhi, c);
    const int64_t first = lo_whole ? flo : flo + 1;
    const int64_t a = std::clamp<int64_t>(first, 0, n);
    const int64_t b = std::clamp<int64_t>(fhi, a, n);
    whole += mo.whole_bins_loss(a, b, c - (static_cast<double>(a) - l) * W, W);
    xlo = xhi;
    flo = fhi;
  }
  return (left_parts + right_parts) + whole;
}

// The reference's float32 losses of the candidates in `which`: the terms of
// each part in an nbins x candidates matrix, summed over dim 0 by torch, so
// each column gets the reference's reduction order (column_sums.h builds
// only the columns it needs).
std::vector<float> exact_losses(const LossModel& m, const std::vector<Range>& ranges,
                                const std::vector<size_t>& which) {
  const int64_t n = static_cast<int64_t>(m.rho.size());
  const int64_t cols = static_cast<int64_t>(ranges.size());
  std::array<std::vector<float>, 4> sums;
  for (int part = 0; part < 4; ++part) {
    sums[part] = detail::torch_column_sums(
        n, cols, which, [&](int64_t j, float* out, int64_t stride) {
          const float dw = m.dst_width(ranges[j]);
          const float hdw = dw / 2.0f;
          for (int64_t i = 0; i < n; ++i) {
            const Terms t = m.terms(i, ranges[j], dw, hdw);
            const float v[4] = {t.same, t.left, t.mid, t.right};
            out[i * stride] = v[part];
          }
        });
  }
  std::vector<float> out;
  for (size_t k = 0; k < which.size(); ++k) {
    const float dw = m.dst_width(ranges[which[k]]);
    float l = sums[0][k];
    l += sums[1][k];
    l += sums[2][k];
    l += sums[3][k];
    out.push_back(dw < kFltEpsilon ? 0.0f : l);
  }
  return out;
}

ActivationQuant hfmg_search(const std::vector<int64_t>& counts, float lo, float hi,
                            const HfmgOptions& o) {
  const int64_t n = static_cast<int64_t>(counts.size());
  const float bins = static_cast<float>(n);
  // Step 3: the bin width from the last bin's upper edge.
  const float w = (hi - lo) / bins;
  const float data_min = lo + 0.0f * w;
  const float data_max = lo + bins * w;
  // A range wider than float32 holds gives an infinite bin width, and the
  // reference an infinite scale: its scale check fails.
  if (!std::isfinite(hi - lo) || !std::isfinite(data_max - data_min))
    throw_runtime_error("Param scale has invalid value inf, nan or zeros!");
  LossModel m;
  m.counts = &counts;
  m.width = (data_max - data_min) / bins;
  m.dst_bins = static_cast<float>(int64_t{1} << o.num_bits);
  m.rho.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) m.rho[i] = static_cast<float>(counts[i]) / m.width;

  const std::vector<Range> ranges = search_ranges(counts);
  // Phase 1: screen every candidate in O(2^b) when the dst bins hold several
  // source bins each; phase 2: the per-bin float32 terms, summed in double,
  // for the survivors (for every candidate when 2^b is large).
  std::vector<double> approx(ranges.size(), std::numeric_limits<double>::infinity());
  std::vector<double> screen(ranges.size());
  // Candidates whose tails alone already cost more than the best screen so
  // far (with the tolerance, and a margin for the bound's own rounding) can
  // never pass it: they are not screened. A sparse first sweep finds a good
  // best early.
  auto screen_all = [&](const auto& moments) {
    constexpr size_t kStride = 16;
    double best = std::numeric_limits<double>::infinity();
    for (size_t pass = 0; pass < 2; ++pass) {
      for (size_t j = 0; j < ranges.size(); ++j) {
        if ((j % kStride == 0) != (pass == 0)) continue;
        const Range& r = ranges[j];
        if (2 * (int64_t{1} << o.num_bits) > r.second - r.first + 1) {
          screen[j] = std::numeric_limits<double>::quiet_NaN();
          continue;
        }
        const double bound = tails_loss(m, moments, r);
        if (bound * (1.0 - 1e-6) > best + std::fabs(best) * kScreenTolerance) {
          screen[j] = std::numeric_limits<double>::infinity();
          continue;
        }
        screen[j] = screening_loss(m, moments, r);
        best = std::min(best, screen[j]);
      }
    }
  };
  if (moments_fit_int64(counts))
    screen_all(Moments<int64_t>(counts));
  else
    screen_all(Moments<__int128>(counts));
  double min_screen = std::numeric_limits<double>::infinity();
  for (double v : screen)
    if (!std::isnan(v)) min_screen = std::min(min_screen, v);
  const double screen_limit = min_screen + std::fabs(min_screen) * kScreenTolerance;
  for (size_t j = 0; j < ranges.size(); ++j)
    if (std::isnan(screen[j]) || screen[j] <= screen_limit) approx[j] = m.approx_loss(ranges[j]);
  const double min_approx = *std::min_element(approx.begin(), approx.end());

  std::vector<size_t> close;  // may tie under float32 arithmetic
  // Candidates the screen ruled out hold +Inf on purpose; a NaN, or no finite
  // estimate at all, means the estimate itself broke down.
  const bool estimates_hold =
      std::isfinite(min_approx) &&
      std::none_of(approx.begin(), approx.end(), [](double v) { return std::isnan(v); });
  if (estimates_hold) {
    const double limit = min_approx + std::fabs(min_approx) * kTieTolerance;
    for (size_t j = 0; j < approx.size(); ++j) {
      if (approx[j] <= limit) close.push_back(j);
      if (approx[j] == 0.0 && min_approx == 0.0) break;  // an exact zero: nothing later wins
    }
  } else {
    // Bins so wide that the float32 terms overflow (a range near FLT_MAX):
    // the estimate says nothing, and torch's losses hold Inf or NaN, where
    // argmin's NaN rule decides. Score every candidate exactly.
    close.resize(approx.size());
    for (size_t j = 0; j < close.size(); ++j) close[j] = j;
  }
  size_t best = close[0];
  if (close.size() > 1) {
    // Candidates whose dw < FLT_EPSILON are exact zeros; the others are re-summed.
    const std::vector<float> exact = exact_losses(m, ranges, close);
    best = close[detail::torch_argmin(exact)];
  }

  const Range r = ranges[best];
  const float clip_min = data_min + static_cast<float>(r.first) * m.width;
  const float clip_max = data_min + static_cast<float>(r.second + 1) * m.width;
  const ScaleOffset so = minmax_scale_offset(clip_max, clip_min, o.with_offset, o.num_bits);
  return detail::make_activation_quant(so.scale, static_cast<float>(so.offset), o.num_bits);
}

}  // namespace

HfmgCalibrator::HfmgCalibrator(const HfmgOptions& options) : options_(options) {
  check_options(options_);
}

std::optional<ActivationQuant> HfmgCalibrator::add_batch(const at::Tensor& batch) {
  if (result_) return std::nullopt;  // later batches change nothing
  if (!batch.defined()) throw_value_error("hfmg: the batch is undefined");
  detail::check_quant_dtype(batch, "activation");
  if (batch.numel() == 0)
    throw_value_error("hfmg: batch " + std::to_string(seen_ + 1) +
                      " is empty; every calibration batch needs at least one element");
  const at::Tensor x = detail::as_float32(batch);
  const float* p = x.data_ptr<float>();
  const int64_t n = x.numel();
  const detail::FiniteRange range = detail::finite_min_max(p, n);
  if (!range.finite) detail::throw_invalid_value("activation");
  if (seen_ == 0) {
    lo_ = range.min;
    hi_ = range.max;
    counts_ = detail::histc(p, n, options_.nbins, lo_, hi_);
  } else {
    const float new_lo = std::min(range.min, lo_), new_hi = std::max(range.max, hi_);
    std::vector<int64_t> merged = detail::histc(p, n, options_.nbins, new_lo, new_hi);
    detail::merge_histogram(counts_, lo_, hi_, merged, new_lo, new_hi);
    counts_ = std::move(merged);
    lo_ = new_lo;
    hi_ = new_hi;
  }
  if (++seen_ < options_.batch_num) return std::nullopt;
  result_ = hfmg_search(counts_, lo_, hi_, options_);
  return result_;
}

ActivationQuant hfmg(const std::vector<at::Tensor>& batches, HfmgOptions options) {
  if (batches.empty())
    throw_value_error("hfmg: batches is empty; pass a list of at least one batch");
  options.batch_num = static_cast<int64_t>(batches.size());
  HfmgCalibrator cal(options);
  std::optional<ActivationQuant> r;
  for (const auto& b : batches) r = cal.add_batch(b);
  return *r;
}

}  // namespace openamct::algorithms
