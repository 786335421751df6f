// IFMR's percentiles without sorting the data: the k-th smallest element,
// found a byte of its sort key (sort_key.h) at a time. The top byte's counts
// are tallied while the calibrator copies each batch in, so one pass over the
// data keeps only the elements that share an answer's top byte (few, for the
// extreme percentiles IFMR takes), and each later byte narrows those down.
// The result is the element torch.topk gives.
#pragma once

#include <cstddef>
#include <vector>

#include "numeric.h"

namespace openamct::algorithms::detail {

// Counts of the 256 values of the sort key's top byte (sign and exponent).
constexpr size_t kTopDigits = 256;

// dst[i] = src[i] for i < n (n > 0), adding each element's top key byte to
// top_counts[kTopDigits], and the copy's smallest and largest element
// (finite_min_max). When an element is NaN or infinite, `finite` is false and
// nothing is added to top_counts (dst may be partly written).
FiniteRange copy_and_count_top_digits(const float* src, size_t n, float* dst,
                                      size_t* top_counts);

// The ranks[j]-th smallest (1 <= rank <= n) of x[0, n) in sort-key order
// (-0.0 before +0.0), given the top-byte counts of exactly x. Extra memory:
// 4 bytes per element sharing an answer's top key byte, 4 more per element
// sharing the one being narrowed down (few, for extreme percentiles; up to 8
// bytes per element for data within one binade).
std::vector<float> kth_smallest(const float* x, size_t n, const size_t* top_counts,
                                const std::vector<size_t>& ranks);

}  // namespace openamct::algorithms::detail
