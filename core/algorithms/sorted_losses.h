// IFMR's loss for long candidate lists (more than the chunked scan of
// chunked_losses.h takes): the data sorted once, then the squared error of
// any clamp-round-to-grid quantiser in O(grid cells * 64 + elements / 4096)
// instead of a pass over every element. The result is double-precision
// arithmetic on the exact per-element float32 quantised values: close to, not
// bit-equal with, torch's float32 mse_loss; ifmr.cpp re-evaluates near ties
// with torch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "grid_candidate.h"
#include "sort_key.h"

namespace openamct::algorithms::detail {

class SortedLosses {
 public:
  // Sorts a copy of data (radix sort, O(n)); keeps it and per-block moments.
  explicit SortedLosses(const std::vector<float>& data);

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
  // The i-th of the sorted non-zero elements.
  float at(int64_t i) const { return from_sort_key(keys_[static_cast<size_t>(i)]); }
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
