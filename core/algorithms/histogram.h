// HFMG's histogram (spec §7 steps 1-2): torch.histc's binning of a batch and
// the reference's merge of an old histogram into a wider range.
#pragma once

#include <cstdint>
#include <vector>

namespace openamct::algorithms::detail {

// torch.histc(x, nbins, lo, hi) on float32 data: bin
// trunc((x - left) * nbins / (right - left)) in float32, corrected against
// the float32 torch.linspace edges of that bin and its neighbours, the last
// edge in the last bin, values outside ignored; lo == hi bins over
// [lo - 1, hi + 1]. A count saturates at 2^24 as histc's float32 counts do.
std::vector<int64_t> histc(const float* x, int64_t n, int64_t nbins, float lo, float hi);

// Merges `old` (range [lo, hi]) into `merged` (range [new_lo, new_hi], the
// new batch's histogram there): bin by bin when both ends are within
// FLT_EPSILON (math.isclose), else each old bin whole to the new bin holding
// it or split trunc(count * overlap / width) / rest between two.
void merge_histogram(const std::vector<int64_t>& old, float lo, float hi,
                     std::vector<int64_t>& merged, float new_lo, float new_hi);

}  // namespace openamct::algorithms::detail
