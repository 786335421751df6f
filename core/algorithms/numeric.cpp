// The input checks shared by every algorithm and the small helpers of
// numeric.h that are not inline.
#include "numeric.h"

#include <algorithm>

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <sstream>

#include "openamct/errors.h"

namespace openamct::algorithms::detail {

std::string torch_dtype_name(at::ScalarType t) {
  // Python's repr of the dtype, as the reference's messages print it.
  static const std::pair<at::ScalarType, const char*> kNames[] = {
      {at::kFloat, "torch.float32"}, {at::kHalf, "torch.float16"},
      {at::kDouble, "torch.float64"}, {at::kBFloat16, "torch.bfloat16"},
      {at::kByte, "torch.uint8"},     {at::kChar, "torch.int8"},
      {at::kShort, "torch.int16"},    {at::kInt, "torch.int32"},
      {at::kLong, "torch.int64"},     {at::kBool, "torch.bool"},
  };
  for (const auto& [type, name] : kNames)
    if (type == t) return name;
  return std::string("torch.") + c10::toString(t);
}

void check_quant_data(const at::Tensor& t, const char* what) {
  if (!t.defined()) throw_value_error(std::string("the ") + what + " tensor is undefined");
  if (t.scalar_type() != at::kFloat && t.scalar_type() != at::kHalf) {
    throw_type_error(std::string("Only ") + what +
                     " with dtype 'torch.float32' and 'torch.float16' is supported to be "
                     "quantized, but got " + torch_dtype_name(t.scalar_type()) + ".");
  }
  if (!t.device().is_cpu())
    throw_value_error(std::string("the ") + what + " tensor must be on the CPU, got " +
                      t.device().str());
  if (t.numel() == 0) return;
  // float32 in memory order: one vectorised pass, no data-sized bool tensor.
  const bool finite = t.scalar_type() == at::kFloat && t.is_contiguous()
                          ? finite_min_max(t.data_ptr<float>(), t.numel()).finite
                          : at::isfinite(t).all().item<bool>();
  if (!finite) throw_invalid_value(what);
}

void check_quant_dtype(const at::Tensor& t, const char* what) {
  at::Tensor empty = at::empty({0}, t.options());
  check_quant_data(empty, what);
}

void throw_invalid_value(const char* what) {
  throw_runtime_error(std::string("The ") + what + " to be quantized has invalid value inf or nan!");
}

namespace {

// Four floats in one SSE register (or its equivalent on another target). A
// running `v < m ? v : m` on scalars is not vectorised by GCC under its
// default -ftrapping-math (the float-compare select is not if-converted), so
// the lanes are written as vectors and the select is a vector select.
typedef float Float4 __attribute__((vector_size(16)));

inline Float4 load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

FiniteRange finite_min_max(const float* p, int64_t n, ZeroSign max_zero) {
  // Sixteen independent lanes (element i in lane i % 16, each keeping the
  // first of equal values, as a running std::min / std::max does); x * 0 is
  // 0 for a finite x and NaN otherwise, so one sum holds the finiteness of
  // every element.
  constexpr int kVectors = 4;
  constexpr int64_t kLanes = 4 * kVectors;
  Float4 mn[kVectors], mx[kVectors], nf[kVectors];
  for (int k = 0; k < kVectors; ++k) {
    mn[k] = mx[k] = Float4{p[0], p[0], p[0], p[0]};
    nf[k] = Float4{0.0f, 0.0f, 0.0f, 0.0f};
  }
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kVectors; ++k) {
      const Float4 v = load4(p + i + 4 * k);
      mn[k] = v < mn[k] ? v : mn[k];
      mx[k] = v > mx[k] ? v : mx[k];
      nf[k] += v * 0.0f;
    }
  }
  FiniteRange r{true, p[0], p[0]};
  for (int k = 0; k < kVectors; ++k) {
    for (int j = 0; j < 4; ++j) {
      r.min = mn[k][j] < r.min ? mn[k][j] : r.min;
      r.max = mx[k][j] > r.max ? mx[k][j] : r.max;
      r.finite &= nf[k][j] == 0.0f;
    }
  }
  for (; i < n; ++i) {
    r.min = p[i] < r.min ? p[i] : r.min;
    r.max = p[i] > r.max ? p[i] : r.max;
    r.finite &= p[i] * 0.0f == 0.0f;
  }
  if (!r.finite) return r;
  // A zero extreme: the sign of the first (min) or last (max) zero.
  if (r.min == 0.0f) r.min = *std::find(p, p + n, 0.0f);
  if (r.max == 0.0f) {
    if (max_zero == ZeroSign::kFirst) {
      r.max = *std::find(p, p + n, 0.0f);
    } else {
      int64_t j = n - 1;
      while (p[j] != 0.0f) --j;
      r.max = p[j];
    }
  }
  return r;
}

at::Tensor as_float32(const at::Tensor& t) {
  return t.to(at::kFloat).contiguous();
}

void advise_huge_pages(void* p, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

void check_num_bits(const char* func, int64_t num_bits, const std::vector<int64_t>& allowed) {
  for (int64_t b : allowed)
    if (b == num_bits) return;
  std::ostringstream m;
  m << func << ": num_bits " << num_bits << " is not supported, use one of ";
  for (size_t i = 0; i < allowed.size(); ++i) m << (i ? ", " : "") << allowed[i];
  throw_value_error(m.str());
}

std::vector<float> arange_f32(double start, double end, double step) {
  // torch's own arange, so the candidates are the reference's on this machine
  // (its vectorised path rounds a base to float32 first, not start + i * step).
  at::Tensor r = at::arange(start, end, step, at::TensorOptions().dtype(at::kFloat));
  return std::vector<float>(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
}

std::string py_float(double v) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s(buf);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

}  // namespace openamct::algorithms::detail
