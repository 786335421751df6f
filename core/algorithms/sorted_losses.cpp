// See sorted_losses.h. The squared error of the elements of one grid cell
// [begin, end) against its quantised value v is summed from per-block moments
// taken about each block's first element (no large prefix sums, so no
// cancellation), plus the few elements of the partial blocks at the ends.
#include "sorted_losses.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "numeric.h"

namespace openamct::algorithms::detail {

namespace {

constexpr int64_t kBlock = 64;

// Order-preserving map of a float's bits to an unsigned key (no NaN here).
inline uint32_t sort_key(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}


// LSD radix sort of the keys, 3 passes of 11/11/10 bits (2048-way scatters
// stay in cache), ping-ponging between two uninitialised n-sized buffers.
// The first pass reads the floats and makes each key as it scatters it, so
// no pass only writes keys out (on 4M elements that store pass was a third
// of the sort's time).
std::unique_ptr<uint32_t[]> radix_sorted_keys(const std::vector<float>& data) {
  const size_t n = data.size();
  std::unique_ptr<uint32_t[]> a(new uint32_t[n]), b(new uint32_t[n]);
  std::vector<size_t> count[3];
  for (auto& c : count) c.assign(2049, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t k = sort_key(data[i]);
    ++count[0][(k & 0x7ffu) + 1];
    ++count[1][((k >> 11) & 0x7ffu) + 1];
    ++count[2][(k >> 22) + 1];
  }
  for (auto& c : count)
    for (size_t d = 1; d < c.size(); ++d) c[d] += c[d - 1];
  for (size_t i = 0; i < n; ++i) {
    const uint32_t k = sort_key(data[i]);
    b[count[0][k & 0x7ffu]++] = k;
  }
  const int shifts[2] = {11, 22};
  for (int pass = 1; pass < 3; ++pass) {
    auto& c = count[pass];
    const int shift = shifts[pass - 1];
    const uint32_t* src = b.get();
    uint32_t* dst = a.get();
    for (size_t i = 0; i < n; ++i) dst[c[(src[i] >> shift) & 0x7ffu]++] = src[i];
    a.swap(b);
  }
  return b;  // after three scatters the sorted keys are where the last one wrote
}

inline float quantise_index(float x, const GridCandidate& c) {
  const float y = std::min(std::max(x, c.lo), c.hi);
  return rne(y / c.scale);
}

}  // namespace

SortedLosses::SortedLosses(const std::vector<float>& data)
    : keys_(radix_sorted_keys(data)), size_(data.size()) {
  const int64_t n = static_cast<int64_t>(size_);
  const int64_t blocks = n / kBlock;
  block_x0_.resize(blocks);
  block_s1_.resize(blocks);
  block_s2_.resize(blocks);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t base = b * kBlock;
    const double x0 = at(base);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < kBlock; ++i) {
      const double d = static_cast<double>(at(base + i)) - x0;
      s1 += d;
      s2 += d * d;
    }
    block_x0_[b] = x0;
    block_s1_[b] = s1;
    block_s2_[b] = s2;
  }
}

float SortedLosses::max_abs() const {
  if (size_ == 0) return 0.0f;
  return std::max(std::fabs(at(0)), std::fabs(at(static_cast<int64_t>(size_) - 1)));
}

size_t SortedLosses::bytes() const {
  return size_ * sizeof(uint32_t) + 3 * block_x0_.size() * sizeof(double);
}

double SortedLosses::range_squared_error(int64_t begin, int64_t end, double value) const {
  double sum = 0.0;
  const int64_t full_begin = (begin + kBlock - 1) / kBlock;  // first whole block
  const int64_t full_end = end / kBlock;                      // one past the last whole block
  auto direct = [&](int64_t i, int64_t j) {
    for (; i < j; ++i) {
      const double d = static_cast<double>(at(i)) - value;
      sum += d * d;
    }
  };
  if (full_begin >= full_end) {
    direct(begin, end);
    return sum;
  }
  direct(begin, full_begin * kBlock);
  for (int64_t b = full_begin; b < full_end; ++b) {
    const double d = block_x0_[b] - value;
    sum += block_s2_[b] + 2.0 * d * block_s1_[b] + static_cast<double>(kBlock) * d * d;
  }
  direct(full_end * kBlock, end);
  return sum;
}

double SortedLosses::mean_squared_error(const GridCandidate& c) const {
  const int64_t n = static_cast<int64_t>(size_);
  double total = 0.0;
  int64_t pos = 0;
  while (pos < n) {
    const float k = quantise_index(at(pos), c);
    // Gallop, then bisect, for the first element of the next cell.
    int64_t step = 1, good = pos;
    while (pos + step < n && quantise_index(at(pos + step), c) <= k) {
      good = pos + step;
      step *= 2;
    }
    int64_t lo = good + 1, hi = std::min(pos + step, n);  // answer in [lo, hi]
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (quantise_index(at(mid), c) <= k)
        lo = mid + 1;
      else
        hi = mid;
    }
    const float value = k * c.scale;
    total += range_squared_error(pos, lo, value);
    pos = lo;
  }
  return n ? total / static_cast<double>(n) : 0.0;
}

}  // namespace openamct::algorithms::detail
