// ARQ (spec §8.2): min-max scale/offset per output channel (or per tensor)
// of a weight, its int8 values and the fake-quantised weight, for the
// conv / linear / deconv layouts. Weights are small (a 4096 x 4096 Linear is
// 16M elements): one pass for the row extremes, one for the quantisation.
#include <cmath>
#include <cstdint>

#include "numeric.h"
#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct::algorithms {

WeightLayout parse_weight_layout(const std::string& name) {
  static const std::pair<const char*, WeightLayout> kLayouts[] = {
      {"conv", WeightLayout::kConv}, {"linear", WeightLayout::kLinear},
      {"deconv", WeightLayout::kDeconv}};
  for (const auto& [n, l] : kLayouts)
    if (name == n) return l;
  throw_value_error("arq: layout '" + name + "' is not supported, use 'conv', 'linear' or 'deconv'");
}

at::Tensor deconv_to_cout_first(const at::Tensor& weight, int64_t groups) {
  if (groups == 1) return weight.transpose(0, 1).contiguous();
  std::vector<int64_t> shape = weight.sizes().vec();
  std::vector<int64_t> grouped = {groups, shape[0] / groups};
  grouped.insert(grouped.end(), shape.begin() + 1, shape.end());
  at::Tensor t = weight.reshape(grouped).transpose(1, 2).contiguous();
  std::vector<int64_t> out = {shape[1] * groups, shape[0] / groups};
  out.insert(out.end(), shape.begin() + 2, shape.end());
  return t.reshape(out);
}

namespace {

void check_arq_shape(const at::Tensor& w, const ArqOptions& o) {
  const auto sizes = w.sizes();
  const std::string shape = c10::str(sizes);
  if (o.groups < 1)
    throw_value_error("arq: groups " + std::to_string(o.groups) + " must be at least 1");
  if (w.numel() == 0) throw_value_error("arq: the weight " + shape + " is empty");
  switch (o.layout) {
    case WeightLayout::kLinear:
      if (w.dim() != 2)
        throw_value_error("arq: a linear weight must be 2-D (Cout, Cin), got " + shape);
      if (o.groups != 1) throw_value_error("arq: a linear weight has groups 1, got " +
                                           std::to_string(o.groups));
      break;
    case WeightLayout::kConv:
      if (w.dim() < 3 || w.dim() > 5)
        throw_value_error("arq: a conv weight must be 3-D to 5-D (Cout, Cin/groups, k...), got " +
                          shape);
      if (sizes[0] % o.groups != 0)
        throw_value_error("arq: Cout " + std::to_string(sizes[0]) +
                          " of the conv weight is not a multiple of groups " +
                          std::to_string(o.groups));
      break;
    case WeightLayout::kDeconv:
      if (w.dim() < 3 || w.dim() > 5)
        throw_value_error(
            "arq: a deconv weight must be 3-D to 5-D (Cin, Cout/groups, k...), got " + shape);
      if (sizes[0] % o.groups != 0)
        throw_value_error("arq: Cin " + std::to_string(sizes[0]) +
                          " of the deconv weight is not a multiple of groups " +
                          std::to_string(o.groups));
      break;
  }
}

// One row's integers and fake-quantised values, a function of its own so
// that the compiler sees non-aliasing pointers and vectorises the loop
// (written inline in arq() it stayed scalar: a third of quantize_model's
// weight pass on ResNet-18).
void quantise_row(const float* __restrict in, int64_t n, float s, float off, float qmin,
                  float qmax, int8_t* __restrict ints, float* __restrict fake) {
  for (int64_t j = 0; j < n; ++j) {
    const float q = std::min(std::max(detail::rne(in[j] / s + off), qmin), qmax);
    ints[j] = static_cast<int8_t>(static_cast<int32_t>(q));
    fake[j] = (q - off) * s;
  }
}

}  // namespace

ArqResult arq(const at::Tensor& weight, const ArqOptions& o) {
  detail::check_num_bits("arq", o.num_bits, {4, 5, 6, 7, 8});
  if (!weight.defined()) throw_value_error("arq: the weight is undefined");
  detail::check_quant_data(weight, "weight");
  check_arq_shape(weight, o);

  at::Tensor w = detail::as_float32(weight);
  if (o.layout == WeightLayout::kDeconv) w = deconv_to_cout_first(w, o.groups);
  const int64_t rows = o.channel_wise ? w.size(0) : 1;
  const int64_t cols = w.numel() / rows;
  const float* p = w.data_ptr<float>();

  ArqResult r;
  r.scale.resize(rows);
  r.offset.resize(rows);
  for (int64_t i = 0; i < rows; ++i) {
    // The row's extremes as a running std::max / std::min gives them (the
    // first of equal values), in one vectorised pass.
    const detail::FiniteRange e =
        detail::finite_min_max(p + i * cols, cols, detail::ZeroSign::kFirst);
    const ScaleOffset so = minmax_scale_offset(e.max, e.min, o.with_offset, o.num_bits);
    r.scale[i] = so.scale;
    r.offset[i] = so.offset;
  }

  const float qmin = -static_cast<float>(int64_t{1} << (o.num_bits - 1));
  const float qmax = static_cast<float>((int64_t{1} << (o.num_bits - 1)) - 1);
  at::Tensor fake = at::empty_like(w);
  at::Tensor ints = at::empty(w.sizes(), at::TensorOptions().dtype(at::kChar));
  float* fp = fake.data_ptr<float>();
  int8_t* ip = ints.data_ptr<int8_t>();
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t base = i * cols;
    quantise_row(p + base, cols, r.scale[i], static_cast<float>(r.offset[i]), qmin, qmax,
                 ip + base, fp + base);
  }
  if (o.layout == WeightLayout::kDeconv) {  // back to (Cin, Cout/groups, k...)
    fake = deconv_to_cout_first(fake, o.groups);
    ints = deconv_to_cout_first(ints, o.groups);
  }
  r.fake_quant_weight = fake.to(weight.scalar_type()).contiguous();
  r.int_weight = ints.contiguous();
  return r;
}

}  // namespace openamct::algorithms
