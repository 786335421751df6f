// See column_sums.h. Why a narrower matrix gives the same sums: on one
// thread, ATen's CPU sum over dim 0 of a contiguous [rows, cols] float matrix
// (SumKernel.cpp, "vectorized_outer_sum") adds each column's rows in one of
// two orders, chosen by the column's place only:
//   A: the columns in whole groups of G = 4 vector widths from the left, one
//      cascade over the rows in order;
//   B: the rest (fewer than G columns at the right end), rows split four ways
//      (row % 4), each cascaded, then joined.
// So a matrix that keeps the needed A columns in whole groups of G at its
// left and the needed B columns after them (fewer than G) sums every one of
// them as the full matrix does. G depends on the vector width ATen picked at
// run time (AVX2: 32, AVX-512: 64); a probe finds it once and checks the
// whole model against torch's own full sums, and any doubt, more than one
// thread on a matrix large enough to be split across them, or a matrix
// narrower than G (ATen's scalar path) falls back to the full matrix.
#include "column_sums.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace openamct::algorithms::detail {

namespace {

constexpr int64_t kGrainSize = 32768;  // at::internal::GRAIN_SIZE: below it, one thread

// Positions of `which` in the narrow layout for group size g, and its width.
int64_t narrow_layout(int64_t cols, int64_t g, const std::vector<size_t>& which,
                      std::vector<int64_t>* pos) {
  const int64_t a_end = cols / g * g;  // columns [0, a_end) add in order A
  int64_t n_a = 0;
  for (size_t j : which) n_a += static_cast<int64_t>(j) < a_end;
  const int64_t b_start = (n_a + g - 1) / g * g;
  int64_t next_a = 0, next_b = b_start;
  pos->clear();
  for (size_t j : which) pos->push_back(static_cast<int64_t>(j) < a_end ? next_a++ : next_b++);
  // With no A column the B columns alone must still take the vector path
  // (at least g / 4 columns wide), where every column adds in order B.
  return std::max(next_b, b_start == 0 ? g / 4 : b_start);
}

std::vector<float> sums_in(int64_t rows, int64_t width, const std::vector<size_t>& which,
                           const std::vector<int64_t>& pos, const ColumnValues& fill) {
  at::Tensor mat = at::zeros({rows, width}, at::TensorOptions().dtype(at::kFloat));
  float* p = mat.data_ptr<float>();
  for (size_t k = 0; k < which.size(); ++k) fill(static_cast<int64_t>(which[k]), p + pos[k], width);
  const at::Tensor s = mat.sum(0);
  const float* sp = s.data_ptr<float>();
  std::vector<float> out;
  for (int64_t q : pos) out.push_back(sp[q]);
  return out;
}

// Values whose sum depends on the order of the adds (a wide spread of
// magnitudes and signs), from a fixed LCG.
void probe_column(int64_t col, float* out, int64_t stride, int64_t rows) {
  uint64_t s = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(col + 1);
  for (int64_t i = 0; i < rows; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const int64_t mant = static_cast<int64_t>((s >> 33) % 2000001) - 1000000;
    const int shift = static_cast<int>((s >> 20) % 24);
    out[i * stride] = static_cast<float>(mant) * std::ldexp(1.0f, shift - 12);
  }
}

// G, or 0 when neither width reproduces torch's full sums.
int64_t probe_group_size() {
  constexpr int64_t rows = 200, cols = 150;  // rows * cols < kGrainSize: one thread
  std::vector<size_t> all(cols);
  for (size_t j = 0; j < all.size(); ++j) all[j] = j;
  const ColumnValues fill = [](int64_t col, float* out, int64_t stride) {
    probe_column(col, out, stride, rows);
  };
  std::vector<int64_t> identity(all.begin(), all.end());
  const std::vector<float> want = sums_in(rows, cols, all, identity, fill);
  // Subsets: A columns only, B only, both, one of each group's edges.
  const std::vector<std::vector<size_t>> subsets = {
      {0, 5, 31, 32, 63, 64, 100, 127}, {128, 131, 149}, {3, 64, 140}, {127, 128}, {149}};
  for (int64_t g : {int64_t{32}, int64_t{64}}) {
    bool same = true;
    for (const auto& which : subsets) {
      std::vector<int64_t> pos;
      const int64_t width = narrow_layout(cols, g, which, &pos);
      const std::vector<float> got = sums_in(rows, width, which, pos, fill);
      for (size_t k = 0; k < which.size(); ++k)
        same &= std::memcmp(&got[k], &want[which[k]], sizeof(float)) == 0;
    }
    if (same) return g;
  }
  return 0;
}

}  // namespace

int64_t torch_sum_group_size() {
  static std::once_flag once;
  static int64_t g = 0;
  std::call_once(once, [] { g = probe_group_size(); });
  return g;
}

std::vector<float> torch_column_sums(int64_t rows, int64_t cols, const std::vector<size_t>& which,
                                     const ColumnValues& fill) {
  const bool one_thread = at::get_num_threads() == 1 || rows * cols < kGrainSize;
  const int64_t g = one_thread && cols >= 64 ? torch_sum_group_size() : 0;
  std::vector<int64_t> pos;
  if (g == 0) {  // the full matrix
    pos.assign(which.begin(), which.end());
    return sums_in(rows, cols, which, pos, fill);
  }
  const int64_t width = narrow_layout(cols, g, which, &pos);
  return sums_in(rows, width, which, pos, fill);
}

}  // namespace openamct::algorithms::detail
