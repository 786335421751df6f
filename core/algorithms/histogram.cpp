// See histogram.h. Every float expression mirrors one torch/Python operation
// of the reference, in its order, in float32.
#include "histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "numeric.h"

namespace openamct::algorithms::detail {

namespace {

constexpr int64_t kFloatCountLimit = int64_t{1} << 24;  // float32 += 1 stops here
constexpr double kPyFltEpsilon = 1.192092896e-7;

// Python's math.isclose(a, b, abs_tol=FLT_EPSILON) with rel_tol 1e-9, on doubles.
bool isclose(double a, double b) {
  if (a == b) return true;
  const double diff = std::fabs(a - b);
  return diff <= std::max(1e-9 * std::max(std::fabs(a), std::fabs(b)), kPyFltEpsilon);
}

}  // namespace

std::vector<int64_t> histc(const float* x, int64_t n, int64_t nbins, float lo, float hi) {
  double left_d = lo, right_d = hi;
  if (left_d == right_d) {  // histc widens an empty range in double
    left_d -= 1.0;
    right_d += 1.0;
  }
  // torch.histc bins against edges from torch.linspace (float32): the
  // division below gives a first guess, then the element is compared with
  // the edges of that bin and its neighbours (ATen's linear interpolation
  // with local search). The guess alone is one bin off for a few elements in
  // 10^5 that lie within rounding of an edge.
  const at::Tensor edge_tensor = at::linspace(left_d, right_d, nbins + 1,
                                              at::TensorOptions().dtype(at::kFloat));
  const float* edges = edge_tensor.data_ptr<float>();
  const float left = edges[0], right = edges[nbins];
  // The edges with -inf before and +inf after: upper_bound over the window
  // [b - 1, b + 2) is then three compares whatever b (-inf counts as the
  // window's start clipped at 0, +inf as its end clipped at nbins + 1).
  std::vector<float> padded(static_cast<size_t>(nbins) + 3);
  padded[0] = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i <= nbins; ++i) padded[static_cast<size_t>(i) + 1] = edges[i];
  padded.back() = std::numeric_limits<float>::infinity();
  const float* window = padded.data() + 1;  // window[-1] .. window[nbins + 1]
  const float width = right - left;
  const float bins = static_cast<float>(nbins);
  // A range so wide that the division overflows (near FLT_MAX): no local
  // search, the guess clamped into range as before.
  const bool search = std::isfinite(width);
  // Slot nbins collects what lies outside [left, right]. The bin indices of a
  // chunk are computed first (a loop the compiler vectorises: the division
  // stays a true float32 division), then counted into four interleaved
  // tables: activations pile up in a few bins (half of a ReLU's output is 0),
  // and increments of one counter one after the other wait for each other.
  constexpr int64_t kTables = 4;
  const size_t slots = static_cast<size_t>(nbins) + 1;
  std::vector<int64_t> tables(slots * kTables, 0);
  constexpr int64_t kChunk = 1024;
  int32_t pos[kChunk];
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t m = std::min(kChunk, n - start);
    const float* p = x + start;
    for (int64_t j = 0; j < m; ++j) {
      const float v = p[j];
      const float t0 = (v - left) * bins / width;
      const float t = t0 >= 0.0f ? std::min(t0, bins) : 0.0f;  // NaN (infinite range) -> 0
      pos[j] = static_cast<int32_t>(t);
    }
    for (int64_t j = 0; j < m; ++j) {
      const float v = p[j];
      int32_t b = pos[j];
      if (search)  // upper_bound over edges [b - 1, b + 2), minus one
        b = b - 2 + (window[b - 1] <= v) + (window[b] <= v) + (window[b + 1] <= v);
      b = std::min(b, static_cast<int32_t>(nbins - 1));  // the last edge belongs to the last bin
      const bool inside = v >= left && v <= right;
      pos[j] = inside ? static_cast<int32_t>(b) : static_cast<int32_t>(nbins);
    }
    int64_t j = 0;
    for (; j + kTables <= m; j += kTables)
      for (int64_t k = 0; k < kTables; ++k) ++tables[static_cast<size_t>(k) * slots + pos[j + k]];
    for (; j < m; ++j) ++tables[static_cast<size_t>(pos[j])];
  }
  std::vector<int64_t> counts(static_cast<size_t>(nbins));
  for (size_t b = 0; b < counts.size(); ++b) {
    int64_t c = 0;
    for (int64_t k = 0; k < kTables; ++k) c += tables[static_cast<size_t>(k) * slots + b];
    counts[b] = std::min(c, kFloatCountLimit);
  }
  return counts;
}

void merge_histogram(const std::vector<int64_t>& old, float lo, float hi,
                     std::vector<int64_t>& merged, float new_lo, float new_hi) {
  const int64_t nbins = static_cast<int64_t>(old.size());
  if (isclose(new_lo, lo) && isclose(new_hi, hi)) {
    for (int64_t i = 0; i < nbins; ++i) merged[i] += old[i];
    return;
  }
  const float bins = static_cast<float>(nbins);
  const float width = (hi - lo) / bins;
  const float merged_width = (new_hi - new_lo) / bins;
  for (int64_t i = 0; i < nbins; ++i) {
    const int64_t count = old[i];
    const float lower = lo + static_cast<float>(i) * width;
    const float upper = lo + static_cast<float>(i + 1) * width;
    const int64_t idx_low = trunc_index(floor_divide(lower - new_lo, merged_width), 0, nbins - 1);
    const int64_t idx_high = trunc_index(floor_divide(upper - new_lo, merged_width), 0, nbins - 1);
    if (idx_low == idx_high) {
      merged[idx_low] += count;
      continue;
    }
    const float low_upper = new_lo + static_cast<float>(idx_low + 1) * merged_width;
    const float share = (low_upper - lower) / (upper - lower);
    const int64_t count_low = trunc_index(static_cast<float>(count) * share, 0, count);
    merged[idx_low] += count_low;
    merged[idx_high] += count - count_low;
  }
}

}  // namespace openamct::algorithms::detail
