// IFMR's loss for a few dozen candidates without sorting: the data is read
// once, in chunks that stay in the L1 cache while every candidate scores
// them, 16 floats at a time. On 4M elements and the default 61 candidates
// this is about twice as fast as radix-sorting the data (sorted_losses.h),
// whose scatter passes are bound by random access; the sorted form stays the
// better one for long candidate lists (its cost barely grows with them).
#pragma once

#include <cstddef>
#include <vector>

#include "grid_candidate.h"

namespace openamct::algorithms::detail {

// mean((q_c(x) - x)^2) over x[0, n) for every candidate c that may be within
// relative_gap (plus absolute_gap) of the smallest, and +infinity for the
// rest. Each term is the reference's float32 term bit for bit (clamp,
// x / scale, round half to even, * scale, - x, squared); the terms are summed
// in float32, at most 64 per vector lane, then in double, so a returned loss
// is within a relative kChunkedSumError of the exact mean of those terms.
// When one candidate alone is within reach, nothing can tie with it and its
// loss is the first scan's (chunked_losses.cpp: within 48 * 2^-24 * (the
// largest |bound| / scale + 1) more). Needs chunked_losses_apply(cands).
std::vector<double> chunked_mean_squared_errors(const float* x, size_t n,
                                                const std::vector<GridCandidate>& cands,
                                                double relative_gap, double absolute_gap);

// Whether the chunked scan can take these candidates: |clamp bound| / scale
// below 2^21 for each (8-bit grids reach about 255, 16-bit 65535), where
// adding and subtracting 1.5 * 2^23 rounds a float to an integer.
bool chunked_losses_apply(const std::vector<GridCandidate>& cands);

// Float32 sums of at most 64 non-negative terms: 63 roundings of 2^-24.
constexpr double kChunkedSumError = 63.0 * 5.9604644775390625e-8;

}  // namespace openamct::algorithms::detail
