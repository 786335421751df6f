// See sorted_losses.h. The squared error of the elements of one grid cell
// [begin, end) against its quantised value v is summed from per-block and
// per-superblock moments, each taken about its own first element (no large
// prefix sums, so no cancellation), plus the few elements of the partial
// blocks at the ends.
#include "sorted_losses.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "numeric.h"
#include "sort_key.h"

namespace openamct::algorithms::detail {

namespace {

constexpr int64_t kBlock = 64;
constexpr int64_t kSuperBlock = 64;  // blocks

// The radix sort's digit counts: 4 digits of 8 bits of each element's key
// (digit d, 0 the lowest byte, at counts[256 d + its value]), then the counts
// of +0.0 and of -0.0.
constexpr size_t kKeyDigitCounts = 4 * 256 + 2;
constexpr size_t kPosZeros = 1024, kNegZeros = 1025;  // their slots in the counts

// Adds the digits of src's keys, and its zeros, to counts: two tables counted
// alternately, then added, because activations share their top bytes and one
// table would make each increment wait for the previous element's store to
// the same counter; the zeros are counted in registers for the same reason.
void count_keys(const float* src, size_t n, size_t* counts) {
  size_t odd[kKeyDigitCounts] = {};
  // Locals whose address is never taken (a lambda capturing them by reference
  // made the compiler keep them in memory, as counts might alias them).
  size_t pos_zeros = 0, neg_zeros = 0;
  auto tally = [](size_t* c, uint32_t k) {
    ++c[k & 0xffu];
    ++c[256 + ((k >> 8) & 0xffu)];
    ++c[512 + ((k >> 16) & 0xffu)];
    ++c[768 + (k >> 24)];
  };
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const float a = src[i], b = src[i + 1];
    const uint32_t ka = sort_key(a), kb = sort_key(b);
    tally(counts, ka);
    tally(odd, kb);
    pos_zeros += static_cast<size_t>(ka == kPosZeroKey) + static_cast<size_t>(kb == kPosZeroKey);
    neg_zeros += static_cast<size_t>(ka == kNegZeroKey) + static_cast<size_t>(kb == kNegZeroKey);
  }
  if (i < n) {
    const uint32_t k = sort_key(src[i]);
    tally(counts, k);
    pos_zeros += k == kPosZeroKey;
    neg_zeros += k == kNegZeroKey;
  }
  for (size_t d = 0; d < kKeyDigitCounts; ++d) counts[d] += odd[d];
  counts[kPosZeros] += pos_zeros;
  counts[kNegZeros] += neg_zeros;
}

// LSD radix sort of the keys, 4 passes of 8 bits, ping-ponging between two
// uninitialised n-sized buffers. With 256 runs per pass the scatter's write
// positions stay in L1; 3 passes of 11 bits kept 2048 of them in L2 and took
// 40-50 ms instead of 23-25 on 4M keys here (random access into L2 is what
// this machine's host slows down at times). A pass whose digit is the same
// for every key is skipped. The first pass reads the floats and makes each
// key as it scatters it, so no pass only writes keys out; one counting pass
// over the floats comes first.
struct SortedKeys {
  std::unique_ptr<uint32_t[]> keys;  // the non-zero elements' keys, sorted
  size_t nonzero = 0, neg_zeros = 0;
};

SortedKeys radix_sorted_keys(const std::vector<float>& data) {
  const size_t n = data.size();
  std::unique_ptr<uint32_t[]> a(new uint32_t[n]), b(new uint32_t[n]);
  advise_huge_pages(a.get(), n * sizeof(uint32_t));
  advise_huge_pages(b.get(), n * sizeof(uint32_t));
  size_t counts[kKeyDigitCounts] = {};
  count_keys(data.data(), n, counts);
  const size_t pos_zeros = counts[kPosZeros], neg_zeros = counts[kNegZeros];
  const size_t m = n - pos_zeros - neg_zeros;  // the keys that are sorted
  size_t(*count)[256] = reinterpret_cast<size_t(*)[256]>(counts);
  for (int pass = 0; pass < 4; ++pass) {
    count[pass][(kPosZeroKey >> (8 * pass)) & 0xffu] -= pos_zeros;
    count[pass][(kNegZeroKey >> (8 * pass)) & 0xffu] -= neg_zeros;
  }
  // The first pass drops the zeros without a branch (they are as random as
  // the data): each is written to b[m], past the m keys, and overwritten.
  const size_t trash = m;
  bool keys_made = false;  // the non-zero keys are in b[0, m) once a pass has run
  for (int pass = 0; pass < 4; ++pass) {
    size_t* c = count[pass];
    if (std::find(c, c + 256, m) != c + 256) continue;  // one digit value: order unchanged
    size_t start = 0;
    for (int d = 0; d < 256; ++d) {
      const size_t run = c[d];
      c[d] = start;
      start += run;
    }
    const int shift = 8 * pass;
    if (!keys_made) {
      for (size_t i = 0; i < n; ++i) {
        const uint32_t k = sort_key(data[i]);
        const size_t zero = static_cast<size_t>((k == kPosZeroKey) | (k == kNegZeroKey));
        const size_t keep = zero - 1;  // all ones for a key that is kept (a mask, not a
                                       // ?: that the compiler made a mispredicted branch)
        size_t& next = c[(k >> shift) & 0xffu];
        b[(next & keep) | (trash & ~keep)] = k;
        next += keep & 1;
      }
      keys_made = true;
      continue;
    }
    const uint32_t* src = b.get();
    uint32_t* dst = a.get();
    for (size_t i = 0; i < m; ++i) dst[c[(src[i] >> shift) & 0xffu]++] = src[i];
    a.swap(b);
  }
  if (!keys_made) {  // every non-zero key is the same
    size_t j = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t k = sort_key(data[i]);
      if (k != kPosZeroKey && k != kNegZeroKey) b[j++] = k;
    }
  }
  return {std::move(b), m, neg_zeros};
}

inline float quantise_index(float x, const GridCandidate& c) {
  const float y = std::min(std::max(x, c.lo), c.hi);
  return rne(y / c.scale);
}

}  // namespace

SortedLosses::SortedLosses(const std::vector<float>& data) : size_(data.size()) {
  SortedKeys sorted = radix_sorted_keys(data);
  keys_ = std::move(sorted.keys);
  nonzero_ = sorted.nonzero;
  neg_zeros_ = sorted.neg_zeros;
  negative_ = static_cast<size_t>(
      std::lower_bound(keys_.get(), keys_.get() + nonzero_, kNegZeroKey) - keys_.get());
  const int64_t n = static_cast<int64_t>(nonzero_);
  const int64_t blocks = n / kBlock;
  blocks_.resize(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t base = b * kBlock;
    const double x0 = at(base);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < kBlock; ++i) {
      const double d = static_cast<double>(at(base + i)) - x0;
      s1 += d;
      s2 += d * d;
    }
    blocks_.x0[b] = x0;
    blocks_.s1[b] = s1;
    blocks_.s2[b] = s2;
  }
  // Superblock moments from the blocks', each shifted to the superblock's
  // first element: sum((x - X0)^2) = s2 + 2 (x0 - X0) s1 + m (x0 - X0)^2.
  const int64_t supers = blocks / kSuperBlock;
  super_.resize(static_cast<size_t>(supers));
  for (int64_t sb = 0; sb < supers; ++sb) {
    const int64_t first = sb * kSuperBlock;
    const double x0 = blocks_.x0[first];
    double s1 = 0.0, s2 = 0.0;
    for (int64_t b = first; b < first + kSuperBlock; ++b) {
      const double d = blocks_.x0[b] - x0;
      s1 += blocks_.s1[b] + static_cast<double>(kBlock) * d;
      s2 += blocks_.s2[b] + 2.0 * d * blocks_.s1[b] + static_cast<double>(kBlock) * d * d;
    }
    super_.x0[sb] = x0;
    super_.s1[sb] = s1;
    super_.s2[sb] = s2;
  }
}

float SortedLosses::element(int64_t i) const {
  const size_t u = static_cast<size_t>(i);
  const size_t zeros = size_ - nonzero_;
  if (u < negative_) return at(i);
  if (u < negative_ + neg_zeros_) return -0.0f;
  if (u < negative_ + zeros) return 0.0f;
  return at(static_cast<int64_t>(u - zeros));
}

float SortedLosses::max_abs() const {
  if (size_ == 0) return 0.0f;
  return std::max(std::fabs(element(0)), std::fabs(element(static_cast<int64_t>(size_) - 1)));
}

size_t SortedLosses::bytes() const {
  return size_ * sizeof(uint32_t) + 3 * (blocks_.size() + super_.size()) * sizeof(double);
}

double SortedLosses::Moments::squared_error(int64_t begin, int64_t end, double count,
                                            double value) const {
  double even = 0.0, odd = 0.0;  // two chains of adds
  int64_t b = begin;
  for (; b + 2 <= end; b += 2) {
    const double d0 = x0[b] - value, d1 = x0[b + 1] - value;
    even += s2[b] + 2.0 * d0 * s1[b] + count * d0 * d0;
    odd += s2[b + 1] + 2.0 * d1 * s1[b + 1] + count * d1 * d1;
  }
  if (b < end) {
    const double d = x0[b] - value;
    even += s2[b] + 2.0 * d * s1[b] + count * d * d;
  }
  return even + odd;
}

double SortedLosses::range_squared_error(int64_t begin, int64_t end, double value) const {
  double sum = 0.0;
  // Four partial sums: the adds of one long chain were the loop's cost.
  auto direct = [&](int64_t i, int64_t j) {
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    for (; i + 4 <= j; i += 4)
      for (int64_t q = 0; q < 4; ++q) {
        const double d = static_cast<double>(at(i + q)) - value;
        part[q] += d * d;
      }
    for (; i < j; ++i) {
      const double d = static_cast<double>(at(i)) - value;
      part[0] += d * d;
    }
    sum += (part[0] + part[1]) + (part[2] + part[3]);
  };
  // [begin, end) = partial block, whole blocks, whole superblocks, whole blocks, partial block.
  const int64_t block_begin = (begin + kBlock - 1) / kBlock;  // first whole block
  const int64_t block_end = end / kBlock;                      // one past the last whole block
  if (block_begin >= block_end) {
    direct(begin, end);
    return sum;
  }
  direct(begin, block_begin * kBlock);
  const int64_t super_begin = (block_begin + kSuperBlock - 1) / kSuperBlock;
  const int64_t super_end = block_end / kSuperBlock;
  const double block_count = static_cast<double>(kBlock);
  if (super_begin < super_end) {
    sum += blocks_.squared_error(block_begin, super_begin * kSuperBlock, block_count, value);
    sum += super_.squared_error(super_begin, super_end, block_count * kSuperBlock, value);
    sum += blocks_.squared_error(super_end * kSuperBlock, block_end, block_count, value);
  } else {
    sum += blocks_.squared_error(block_begin, block_end, block_count, value);
  }
  direct(block_end * kBlock, end);
  return sum;
}

// The smallest key whose value quantises above cell k, for k below the top
// cell (quantise_index is monotone in the key order): from the float nearest
// the cell's upper edge, (k + 0.5) * scale, a step or two of one key either
// way. The walk ends: upward at hi's key at the latest (hi quantises to the
// top cell), downward just above the key of the cell's own first element.
uint32_t SortedLosses::next_cell_key(float k, const GridCandidate& c) {
  const float edge = (k + 0.5f) * c.scale;
  uint32_t key = sort_key(std::isfinite(edge) ? std::min(edge, c.hi) : c.hi);
  while (!(quantise_index(from_sort_key(key), c) > k)) ++key;
  while (quantise_index(from_sort_key(key - 1), c) > k) --key;
  return key;
}

// The first index >= from whose key is >= key: gallop, then bisect, on the
// integer keys.
int64_t SortedLosses::first_at_least(int64_t from, uint32_t key) const {
  const int64_t n = static_cast<int64_t>(nonzero_);
  int64_t lo = from, hi = n, step = 1;
  for (;;) {
    const int64_t probe = lo + step - 1;
    if (probe >= n) break;
    if (keys_[static_cast<size_t>(probe)] >= key) {
      hi = probe;
      break;
    }
    lo = probe + 1;
    step *= 2;
  }
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (keys_[static_cast<size_t>(mid)] < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

double SortedLosses::mean_squared_error(const GridCandidate& c) const {
  const int64_t n = static_cast<int64_t>(nonzero_);  // zeros add 0 to the sum
  // Everything from hi up is clamped into the top cell.
  const float top = quantise_index(c.hi, c);
  double total = 0.0;
  int64_t pos = 0;
  while (pos < n) {
    const float k = quantise_index(at(pos), c);
    const int64_t end = k >= top ? n : first_at_least(pos + 1, next_cell_key(k, c));
    const float value = k * c.scale;
    total += range_squared_error(pos, end, value);
    pos = end;
  }
  return size_ ? total / static_cast<double>(size_) : 0.0;
}

}  // namespace openamct::algorithms::detail
