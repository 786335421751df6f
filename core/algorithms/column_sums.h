// Column sums of a float32 [rows, cols] matrix in the order torch's
// `sum(0)` adds them, without the matrix: the caller needs only a few of the
// columns (HFMG re-sums a handful of near-tied candidates out of ~1500, and
// the full matrix cost tens of milliseconds per layer to fill and reduce).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace openamct::algorithms::detail {

// Fills one column: value(row) for rows 0..rows-1 of column `col`.
using ColumnValues = std::function<void(int64_t col, float* out, int64_t stride)>;

// The sums of columns `which` (ascending, distinct) of a [rows, cols] matrix
// whose other columns are zero, each exactly as `mat.sum(0)` gives it in
// this process. `fill(col, out, stride)` writes column col's rows to out[0],
// out[stride], ...
std::vector<float> torch_column_sums(int64_t rows, int64_t cols, const std::vector<size_t>& which,
                                     const ColumnValues& fill);

// The group size G of the narrow layout found by the probe (column_sums.cpp),
// or 0 when this LibTorch's sums did not fit the model and every call builds
// the full matrix.
int64_t torch_sum_group_size();

}  // namespace openamct::algorithms::detail
