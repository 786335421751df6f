// IFMR (spec §6): percentile extremes forced to contain 0, then a search of
// the upper clip bound over torch.arange ratios for the smallest MSE of
// round-to-grid(clamp(x)) against x; the first minimum wins.
//
// Speed: the percentiles come from a radix selection (radix_select.h), not a
// sort. Every candidate's loss is then estimated without the reference's
// pass over all kept data per candidate and its five temporaries: for up to
// kMaxChunkedCandidates candidates by one chunked vector scan of the data
// (chunked_losses.h), for longer lists from the data radix-sorted once, in
// O(cells + n / 4096) per candidate (sorted_losses.h). Only the candidates
// within a relative kTieTolerance of the best are then re-evaluated exactly
// as the reference does (its float32 clamp / round / squared error over the
// data in call order, and torch's mean), so the chosen index is bit-identical.
//
// Memory: the kept data (4 bytes per element of batches 1..batch_num: the
// loss runs over every element, in order). While finalising, the selection
// keeps the elements that share a percentile's top key byte (4-8 B each), the
// chunked scan nothing more, and an exact re-evaluation one 4 B/element
// buffer of squared errors. For long candidate lists the sorted copy (4
// B/element; the radix sort's two 4 B/element key buffers are freed before
// the search) and 24 bytes per 64 elements of block moments come first.
#include <algorithm>
#include <cmath>
#include <memory>

#include "activation_result.h"
#include "chunked_losses.h"
#include "numeric.h"
#include "openamct/algorithms.h"
#include "openamct/errors.h"
#include "radix_select.h"
#include "sorted_losses.h"

namespace openamct::algorithms {

namespace {

// The reference's FLT_EPSILON as a Python float (its percentile test is in double).
constexpr double kPyFltEpsilon = 1.192092896e-7;
// Relative gap below which two candidates are re-evaluated exactly. The
// estimates differ from torch's float32 result by torch's cascade summation
// error (~1e-6 relative at worst for 1e8 elements) and their own: the
// chunked scan sums torch's own terms in float32 runs of 64
// (kChunkedSumError, 3.8e-6), the sorted form computes each term in double
// (< 2^-23 relative); 4e-5 leaves a wide margin.
constexpr double kTieTolerance = 4e-5;
// Absolute slack (mean-loss units) for float32 underflow of tiny per-element terms.
constexpr double kTieAbsolute = 1e-40;
// Above this magnitude a float32 term or sum could overflow to inf, where the
// reference ties at inf: evaluate every candidate exactly instead.
constexpr float kExactOnlyMagnitude = 1e18f;

int64_t percentile_rank(double p, int64_t n) {
  if (1.0 - p < kPyFltEpsilon) return 1;
  return n - static_cast<int64_t>(p * static_cast<double>(n));
}

void check_options(const IfmrOptions& o) {
  detail::check_num_bits("ifmr", o.num_bits, {4, 8, 16});
  auto check_p = [](const char* name, double p) {
    if (!(p >= 0.0 && p <= 1.0))
      throw_value_error(std::string("ifmr: ") + name + " " + detail::py_float(p) +
                        " is out of range, it must be in [0, 1]");
  };
  check_p("max_percentile", o.max_percentile);
  check_p("min_percentile", o.min_percentile);
  if (!(std::isfinite(o.search_start) && std::isfinite(o.search_end) &&
        std::isfinite(o.search_step) && o.search_step > 0.0 && o.search_end > o.search_start))
    throw_value_error("ifmr: the search range [" + detail::py_float(o.search_start) + ", " +
                      detail::py_float(o.search_end) + ") with step " +
                      detail::py_float(o.search_step) +
                      " is empty; use search_start < search_end and search_step > 0");
  if ((o.search_end - o.search_start) / o.search_step > 1e6)
    throw_value_error("ifmr: the search range [" + detail::py_float(o.search_start) + ", " +
                      detail::py_float(o.search_end) + ") with step " +
                      detail::py_float(o.search_step) +
                      " has more than 1000000 candidates; use a larger search_step");
  if (o.batch_num < 1)
    throw_value_error("ifmr: batch_num " + std::to_string(o.batch_num) + " must be at least 1");
}

// Two candidates with the same scale that quantise the smallest and the
// largest element alike quantise every element alike (the quantiser is
// monotone and they differ only in where they clamp), so their squared
// errors, and their exact losses, are the same bits: only the first of them
// can be torch.argmin's answer. Tiny activations hit this for every
// candidate (all scales below FLT_EPSILON become 1.0), which would otherwise
// cost one exact pass per candidate.
struct QuantiserKey {
  float scale, q_min, q_max;
  bool operator==(const QuantiserKey& o) const {
    return detail::float_bits(scale) == detail::float_bits(o.scale) &&
           detail::float_bits(q_min) == detail::float_bits(o.q_min) &&
           detail::float_bits(q_max) == detail::float_bits(o.q_max);
  }
};

// The reference's loss of one candidate, mse_loss(round(clamp(x) / s) * s, x),
// with the bits torch gives: the element operations are exact IEEE float32
// operations, so one fused pass reproduces each squared error bit for bit
// (with none of torch's five temporaries); their mean is then torch's own
// at::mean, so the summation order, and with it the rounding, is torch's.
// `squares` is a scratch buffer of x's size (uninitialised: every element is
// written before it is read), made on first use and reused across candidates.
float exact_loss(const std::vector<float>& x, const detail::GridCandidate& c,
                 std::unique_ptr<float[]>& squares) {
  const size_t n = x.size();
  if (!squares) {
    squares.reset(new float[n]);
    detail::advise_huge_pages(squares.get(), n * sizeof(float));
  }
  const detail::GridCandidate local = c;  // a copy: the stores below cannot alias it
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float d = detail::quantised(v, local) - v;
    squares[i] = d * d;
  }
  const at::Tensor t = at::from_blob(squares.get(), {static_cast<int64_t>(n)},
                                     at::TensorOptions().dtype(at::kFloat));
  return at::mean(t).item<float>();
}

// Up to this many candidates (the default search has 61) one chunked scan of
// the data costs less than sorting it: on 4M elements the scan takes about
// 0.1 ns per element and candidate, the sort and its search 15-20 ns per element.
constexpr size_t kMaxChunkedCandidates = 160;

ActivationQuant ifmr_search(const std::vector<float>& data, const size_t* top_digit_counts,
                            float x_min, float x_max, const IfmrOptions& o) {
  const size_t count = data.size();
  const auto rank_of = [count](double p) {
    return static_cast<size_t>(percentile_rank(p, static_cast<int64_t>(count)));
  };
  // The percentiles are clipped at 0 (max0 >= 0 >= min0), so a rank that
  // falls among the elements on 0's other side needs no selection: a ReLU's
  // lower percentile is 0 however many zeros share its top key byte.
  const size_t max_rank = count + 1 - rank_of(o.max_percentile);
  const size_t min_rank = rank_of(o.min_percentile);
  size_t sign_bit_set = 0;  // the negative elements, -0.0 included
  for (size_t d = 0; d < detail::kTopDigits / 2; ++d) sign_bit_set += top_digit_counts[d];
  std::vector<size_t> ranks;
  if (max_rank > sign_bit_set) ranks.push_back(max_rank);
  if (min_rank <= sign_bit_set) ranks.push_back(min_rank);
  const std::vector<float> selected =
      detail::kth_smallest(data.data(), count, top_digit_counts, ranks);
  float max0 = max_rank > sign_bit_set ? selected.front() : 0.0f;
  float min0 = min_rank <= sign_bit_set ? selected.back() : 0.0f;
  max0 = max0 > 0.0f ? max0 : 0.0f;  // Python max(tensor(0.), v)
  min0 = min0 < 0.0f ? min0 : 0.0f;

  const std::vector<float> ratios = detail::arange_f32(o.search_start, o.search_end, o.search_step);
  float bound = max0;
  float divisor = static_cast<float>((int64_t{1} << o.num_bits) - 1);
  if (!o.with_offset) {
    const bool negative = std::fabs(max0) < std::fabs(min0);
    bound = std::fabs(min0) > std::fabs(max0) ? std::fabs(min0) : std::fabs(max0);
    divisor = static_cast<float>((int64_t{1} << (o.num_bits - 1)) - 1 + (negative ? 1 : 0));
  }
  std::vector<detail::GridCandidate> cands;
  for (float r : ratios) {
    const float c = r * bound;
    float s = o.with_offset ? (c - min0) / divisor : c / divisor;
    if (s < kFltEpsilon) s = 1.0f;
    if (!std::isfinite(s) || !std::isfinite(1.0f / s))  // the reference's process_scale check
      throw_runtime_error("Param scale has invalid value inf, nan or zeros!");
    cands.push_back({o.with_offset ? min0 : -c, c, s});
  }
  std::vector<QuantiserKey> keys;
  for (const auto& c : cands) keys.push_back({c.scale, detail::quantised(x_min, c), detail::quantised(x_max, c)});
  const bool exact_only = std::max(std::fabs(x_min), std::fabs(x_max)) > kExactOnlyMagnitude;
  std::vector<double> approx;
  if (!exact_only) {
    if (cands.size() <= kMaxChunkedCandidates && detail::chunked_losses_apply(cands)) {
      approx = detail::chunked_mean_squared_errors(data.data(), count, cands, kTieTolerance,
                                                   kTieAbsolute);
    } else {
      const detail::SortedLosses sorted(data);
      approx.reserve(cands.size());
      for (const auto& c : cands) approx.push_back(sorted.mean_squared_error(c));
    }  // the sorted copy is freed here
  }

  std::unique_ptr<float[]> squares;  // exact_loss's scratch
  size_t best = 0;
  if (exact_only) {
    std::vector<float> losses;
    for (size_t i = 0; i < cands.size(); ++i) {
      const size_t same = static_cast<size_t>(std::find(keys.begin(), keys.end(), keys[i]) -
                                              keys.begin());
      losses.push_back(same < i ? losses[same] : exact_loss(data, cands[i], squares));
      if (std::isnan(losses.back())) break;  // torch.argmin takes the first NaN
    }
    best = detail::torch_argmin(losses);
  } else {
    const double min_approx = *std::min_element(approx.begin(), approx.end());
    // Candidates that may tie with the best under float32 arithmetic.
    std::vector<size_t> close;
    size_t last = approx.size();
    if (min_approx == 0.0) {
      // An exact zero in double means every term is zero: torch's loss is 0
      // too. Only earlier near-zero candidates can still come first.
      last = static_cast<size_t>(std::find(approx.begin(), approx.end(), 0.0) - approx.begin());
    }
    const double limit = min_approx * (1.0 + kTieTolerance) + kTieAbsolute;
    for (size_t i = 0; i < last; ++i) {
      if (approx[i] > limit) continue;
      const bool repeats = std::any_of(close.begin(), close.end(),
                                       [&](size_t j) { return keys[j] == keys[i]; });
      if (!repeats) close.push_back(i);
    }
    if (last < approx.size()) close.push_back(last);
    if (close.size() == 1) {
      best = close[0];
    } else {
      float best_loss = 0.0f;
      bool have = false;
      for (size_t i : close) {
        const float l =
            (i == last && min_approx == 0.0) ? 0.0f : exact_loss(data, cands[i], squares);
        if (!have || l < best_loss) {
          best = i;
          best_loss = l;
          have = true;
        }
        if (l == 0.0f) break;  // nothing later can be smaller
      }
    }
  }

  const float scale = cands[best].scale;
  float offset = 0.0f;
  if (o.with_offset)
    offset = -detail::rne(min0 / scale) - static_cast<float>(int64_t{1} << (o.num_bits - 1));
  return detail::make_activation_quant(scale, offset, o.num_bits);
}

}  // namespace

IfmrCalibrator::IfmrCalibrator(const IfmrOptions& options) : options_(options) {
  check_options(options_);
}

std::optional<ActivationQuant> IfmrCalibrator::add_batch(const at::Tensor& batch) {
  if (result_) return std::nullopt;  // later batches change nothing
  if (!batch.defined()) throw_value_error("ifmr: the batch is undefined");
  detail::check_quant_dtype(batch, "activation");
  if (batch.numel() == 0)
    throw_value_error("ifmr: batch " + std::to_string(seen_ + 1) +
                      " is empty; every calibration batch needs at least one element");
  const at::Tensor x = detail::as_float32(batch);
  // Equal batches are the rule: reserve for all of them (up to 1 GiB) at once.
  if (seen_ == 0) {
    data_.reserve(static_cast<size_t>(std::min(
        static_cast<double>(x.numel()) * static_cast<double>(options_.batch_num), 268435456.0)));
    detail::advise_huge_pages(data_.data(), data_.capacity() * sizeof(float));
  }
  // The NaN/Inf check as the batch is copied in; a bad batch leaves nothing behind.
  if (top_digit_counts_.empty()) top_digit_counts_.assign(detail::kTopDigits, 0);
  const size_t kept = data_.size(), n = static_cast<size_t>(x.numel());
  data_.resize(kept + n);
  const detail::FiniteRange range = detail::copy_and_count_top_digits(
      x.data_ptr<float>(), n, data_.data() + kept, top_digit_counts_.data());
  if (!range.finite) {
    data_.resize(kept);
    detail::throw_invalid_value("activation");
  }
  min_ = seen_ == 0 ? range.min : std::min(min_, range.min);
  max_ = seen_ == 0 ? range.max : std::max(max_, range.max);
  if (++seen_ < options_.batch_num) return std::nullopt;
  result_ = ifmr_search(data_, top_digit_counts_.data(), min_, max_, options_);
  std::vector<float>().swap(data_);  // nothing is needed any more
  std::vector<size_t>().swap(top_digit_counts_);
  return result_;
}

ActivationQuant ifmr(const std::vector<at::Tensor>& batches, IfmrOptions options) {
  if (batches.empty())
    throw_value_error("ifmr: batches is empty; pass a list of at least one batch");
  options.batch_num = static_cast<int64_t>(batches.size());
  IfmrCalibrator cal(options);
  std::optional<ActivationQuant> r;
  for (const auto& b : batches) r = cal.add_batch(b);
  return *r;
}

}  // namespace openamct::algorithms
