// IFMR's fast loss: the data sorted once, then the squared error of any
// clamp-round-to-grid quantiser in O(grid cells * 64 + elements / 4096) instead of
// a pass over every element. The result is double-precision arithmetic on
// the exact per-element float32 quantised values: close to, not bit-equal
// with, torch's float32 mse_loss; ifmr.cpp re-evaluates near ties with torch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/float_bits.h"

namespace openamct::algorithms::detail {

// One IFMR candidate: quantised value of x is round(clamp(x, lo, hi) / scale) * scale.
struct GridCandidate {
  float lo;
  float hi;
  float scale;
};

// The radix sort's digit counts (4 digits of 8 bits of each element's
// order-preserving key) and then the counts of +0.0 and of -0.0, tallied by
// the IFMR calibrator while it copies each batch in, so that the sort needs
// no counting pass of its own.
constexpr size_t kKeyDigitCounts = 4 * 256 + 2;
// dst[i] = src[i] for i < n (no copy when dst is null), adding the keys'
// digits and zeros to counts[kKeyDigitCounts].
void copy_and_count_keys(const float* src, size_t n, float* dst, size_t* counts);

class SortedLosses {
 public:
  // Sorts a copy of data (radix sort, O(n)); keeps it and per-block moments.
  explicit SortedLosses(const std::vector<float>& data);
  // The same with the digit counts of exactly `data` (copy_and_count_keys).
  SortedLosses(const std::vector<float>& data, const size_t* counts);

  // k-th smallest (k >= 1) and k-th largest element.
  float kth_smallest(int64_t k) const { return element(k - 1); }
  float kth_largest(int64_t k) const { return element(static_cast<int64_t>(size_) - k); }
  float max_abs() const;

  // mean((q(x) - x)^2) over all elements, in double.
  double mean_squared_error(const GridCandidate& c) const;

  size_t bytes() const;

 private:
  double range_squared_error(int64_t begin, int64_t end, double value) const;
  static uint32_t next_cell_key(float k, const GridCandidate& c);
  int64_t first_at_least(int64_t from, uint32_t key) const;
  static float from_key(uint32_t key) {
    return bits_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
  }
  // The i-th of the sorted non-zero elements.
  float at(int64_t i) const { return from_key(keys_[static_cast<size_t>(i)]); }
  // The i-th of all sorted elements, zeros included.
  float element(int64_t i) const;

  // The sorted non-zero data as order-preserving keys of the float bits.
  // Zeros are only counted: q(0) = 0 for every candidate (0 is always inside
  // the clamp range and on the grid), so they add nothing to a loss but its
  // element count, and post-ReLU activations are often half zeros.
  std::unique_ptr<uint32_t[]> keys_;
  size_t size_;       // all elements
  size_t nonzero_;    // the elements in keys_
  size_t negative_;   // those of them below zero
  size_t neg_zeros_;  // -0.0 elements (they sort before +0.0)
  // Per block of kBlock sorted elements: its first element x0, sum(x - x0), sum((x - x0)^2).
  struct Moments {
    std::vector<double> x0, s1, s2;
    void resize(size_t n) { x0.resize(n), s1.resize(n), s2.resize(n); }
    size_t size() const { return x0.size(); }
    // sum((x - value)^2) over the elements of entries [begin, end), each of `count` elements.
    double squared_error(int64_t begin, int64_t end, double count, double value) const;
  };
  Moments blocks_;
  // The same per superblock of kSuperBlock whole blocks, so that a long cell
  // sums a few superblocks instead of a run of blocks (the search is then
  // O(cells * kSuperBlock + n / (kBlock * kSuperBlock)) per candidate).
  Moments super_;
};

}  // namespace openamct::algorithms::detail
