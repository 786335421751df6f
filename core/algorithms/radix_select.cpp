// See radix_select.h.
#include "radix_select.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "numeric.h"
#include "sort_key.h"
#include "vector_clones.h"

namespace openamct::algorithms::detail {

namespace {

// The digit value whose run holds the k-th smallest (1-based) of a 256-run
// histogram; k becomes its rank inside that run.
uint32_t find_run(const size_t* counts, size_t& k) {
  for (uint32_t d = 0; d < 256; ++d) {
    if (k <= counts[d]) return d;
    k -= counts[d];
  }
  throw std::logic_error("radix select: the rank is beyond the counted elements");
}

// Elements per test of the selection's first pass.
constexpr size_t kBlock = 1024;

// Whether any of x[0, kBlock) has one of the two top key bytes: the key's
// top byte in vector code (sort_key.h's xor with a mask from the sign). A
// match is a zero xor with a wanted byte, found as the lanes' minimum (a
// vector compare's mask would not stay in vector registers with every
// instruction set).
OPENAMCT_VECTOR_CLONES bool block_has_top_digit(const float* x, uint32_t first,
                                                uint32_t second) {
  const Uints16 first_digit = Uints16{} + first, second_digit = Uints16{} + second,
                sign_bit = Uints16{} + 0x80000000u;
  Uints16 nearest = Uints16{} + 0xffffffffu;
  for (size_t i = 0; i < kBlock; i += kVectorLanes) {
    Uints16 u;
    std::memcpy(&u, x + i, sizeof u);
    const Uints16 mask = (Uints16)((Ints16)u >> 31) | sign_bit;
    const Uints16 top = (u ^ mask) >> 24;
    const Uints16 a = top ^ first_digit, b = top ^ second_digit;
    const Uints16 both = a < b ? a : b;
    nearest = both < nearest ? both : nearest;
  }
  uint32_t smallest = 0xffffffffu;
  for (unsigned q = 0; q < kVectorLanes; ++q) smallest = std::min(smallest, nearest[q]);
  return smallest == 0;
}

}  // namespace

// In chunks that stay in L1: each is copied by memcpy (the batch comes from
// memory, and a copy loop that also counts stalled on every load), checked
// and counted from the copy, so the batch is read from memory once. Four
// count tables in turn, then added: neighbouring activations share their top
// byte, and with one table each increment would wait for the previous
// element's store to the same counter.
FiniteRange copy_and_count_top_digits(const float* src, size_t n, float* dst,
                                      size_t* top_counts) {
  constexpr size_t kTables = 4, kChunk = 4096;
  size_t tables[kTables][kTopDigits] = {};
  FiniteRange range{true, 0.0f, 0.0f};
  for (size_t begin = 0; begin < n; begin += kChunk) {
    const size_t end = std::min(n, begin + kChunk);
    std::memcpy(dst + begin, src + begin, (end - begin) * sizeof(float));
    const FiniteRange chunk = finite_min_max(dst + begin, static_cast<int64_t>(end - begin));
    if (!chunk.finite) return chunk;
    range.min = begin == 0 ? chunk.min : std::min(range.min, chunk.min);
    range.max = begin == 0 ? chunk.max : std::max(range.max, chunk.max);
    size_t i = begin;
    for (; i + kTables <= end; i += kTables)
      for (size_t t = 0; t < kTables; ++t) ++tables[t][sort_key(dst[i + t]) >> 24];
    for (; i < end; ++i) ++tables[0][sort_key(dst[i]) >> 24];
  }
  for (size_t t = 0; t < kTables; ++t)
    for (size_t d = 0; d < kTopDigits; ++d) top_counts[d] += tables[t][d];
  return range;
}

std::vector<float> kth_smallest(const float* x, size_t n, const size_t* top_counts,
                                const std::vector<size_t>& ranks) {
  if (ranks.empty()) return {};
  std::vector<uint32_t> top_digit(ranks.size());
  std::vector<size_t> rank(ranks);
  bool wanted[kTopDigits] = {};
  for (size_t j = 0; j < ranks.size(); ++j) {
    if (rank[j] < 1 || rank[j] > n) throw std::logic_error("radix select: rank out of range");
    top_digit[j] = find_run(top_counts, rank[j]);
    wanted[top_digit[j]] = true;
  }
  // One pass keeps the keys whose top byte an answer has; a block is tested
  // in vector code first: for the extreme percentiles IFMR takes, almost no
  // block holds such a key.
  std::vector<uint32_t> kept;
  auto keep_from = [&](size_t begin, size_t end) {
    for (size_t e = begin; e < end; ++e) {
      const uint32_t key = sort_key(x[e]);
      if (wanted[key >> 24]) kept.push_back(key);
    }
  };
  size_t i = 0;
  if (top_digit.size() <= 2) {
    const uint32_t first = top_digit.front(), second = top_digit.back();
    for (; i + kBlock <= n; i += kBlock)
      if (block_has_top_digit(x + i, first, second)) keep_from(i, i + kBlock);
  }
  keep_from(i, n);

  std::vector<float> out;
  for (size_t j = 0; j < ranks.size(); ++j) {
    std::vector<uint32_t> keys;
    for (uint32_t key : kept)
      if ((key >> 24) == top_digit[j]) keys.push_back(key);
    size_t k = rank[j];
    for (int shift = 16; shift >= 0; shift -= 8) {
      size_t counts[256] = {};
      for (uint32_t key : keys) ++counts[(key >> shift) & 0xffu];
      const uint32_t digit = find_run(counts, k);
      keys.erase(std::remove_if(keys.begin(), keys.end(),
                                [&](uint32_t key) { return ((key >> shift) & 0xffu) != digit; }),
                 keys.end());
    }
    out.push_back(from_sort_key(keys.front()));
  }
  return out;
}

}  // namespace openamct::algorithms::detail
