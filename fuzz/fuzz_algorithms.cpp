// Fuzz target: the calibration algorithms (core/algorithms) on arbitrary
// tensors. The first byte picks the algorithm, the next ones its options and
// shape, the rest the values: raw float32 bits (NaN, Inf, denormals, -0.0 all
// come through) or, when a mode byte says so, one repeated constant.
//
// A finding is a crash, a sanitizer report, a hang, an exception other than
// openamct::Error (a c10::Error or std::logic_error is a bug), or a result
// that breaks an invariant: a finite positive scale, an offset inside the
// integer range, int8 values inside [-2^(b-1), 2^(b-1) - 1], fake-quant values
// equal to (int - offset) * scale, DMQ factors inside (FLT_EPS, 1/FLT_EPS).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>

#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace alg = openamct::algorithms;

namespace {

struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  float value() {
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u = (u << 8) | byte();
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
};

void check(bool ok) {
  if (!ok) std::abort();
}

at::Tensor make_tensor(Reader& r, std::vector<int64_t> shape) {
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
  float* p = t.data_ptr<float>();
  const bool constant = (r.byte() & 3) == 0;
  const float c = r.value();
  for (int64_t i = 0; i < numel; ++i) p[i] = constant ? c : r.value();
  if (r.byte() & 1) t = t.to(at::kHalf);
  return t;
}

void check_activation(const alg::ActivationQuant& q, int64_t bits) {
  check(std::isfinite(q.scale) && q.scale > 0.0f);
  const int64_t half = int64_t{1} << (bits - 1);
  check(q.offset >= -half - 1 && q.offset <= half);  // K10-free: within one step of the range
}

void run(Reader& r) {
  const uint8_t which = r.byte() % 8;
  const int64_t bits_table[] = {4, 8, 16};
  switch (which) {
    case 0: {  // IFMR over 1-3 batches
      alg::IfmrOptions o;
      o.num_bits = bits_table[r.byte() % 3];
      o.with_offset = r.byte() & 1;
      // Percentiles that select inside the data, and search lists short (the
      // chunked scan) and long (more than 160 candidates: the sorted search),
      // all ratios positive as the reference's configs have them.
      const uint8_t options = r.byte();
      if (options & 1) {
        o.max_percentile = 0.5 + r.byte() / 510.0;
        o.min_percentile = 0.5 + r.byte() / 510.0;
      }
      if (options & 2) {
        o.search_start = 0.1 + r.byte() / 283.0;
        o.search_end = o.search_start + 0.05 + r.byte() / 128.0;
        o.search_step = (options & 4) ? 0.002 : 0.005 + r.byte() / 5100.0;
      }
      const int nb = 1 + r.byte() % 3;
      std::vector<at::Tensor> batches;
      for (int i = 0; i < nb; ++i) batches.push_back(make_tensor(r, {1 + r.byte() % 200}));
      check_activation(alg::ifmr(batches, o), o.num_bits);
      break;
    }
    case 1: {  // HFMG over 1-3 batches
      alg::HfmgOptions o;
      o.num_bits = bits_table[r.byte() % 3];
      o.with_offset = r.byte() & 1;
      o.nbins = 3 + r.byte() % 64;
      const int nb = 1 + r.byte() % 3;
      std::vector<at::Tensor> batches;
      for (int i = 0; i < nb; ++i) batches.push_back(make_tensor(r, {1 + r.byte() % 40}));
      check_activation(alg::hfmg(batches, o), o.num_bits);
      break;
    }
    case 2: {  // min-max
      const int64_t bits = 2 + r.byte() % 15;
      const alg::ScaleOffset so = alg::minmax_scale_offset(r.value(), r.value(), r.byte() & 1, bits);
      check(std::isfinite(so.scale) && so.scale > 0.0f);
      break;
    }
    case 3: {  // ARQ
      alg::ArqOptions o;
      o.num_bits = 4 + r.byte() % 5;
      o.channel_wise = r.byte() & 1;
      o.with_offset = r.byte() & 1;
      o.layout = static_cast<alg::WeightLayout>(r.byte() % 3);
      o.groups = 1 + r.byte() % 3;
      std::vector<int64_t> shape;
      if (o.layout == alg::WeightLayout::kLinear) {
        shape = {1 + r.byte() % 6, 1 + r.byte() % 6};
        o.groups = 1;
      } else {
        shape = {o.groups * (1 + r.byte() % 3), 1 + r.byte() % 3, 1 + r.byte() % 3};
      }
      const at::Tensor w = make_tensor(r, shape);
      const alg::ArqResult res = alg::arq(w, o);
      const int64_t lo = -(int64_t{1} << (o.num_bits - 1)), hi = -lo - 1;
      const at::Tensor ints = res.int_weight.to(at::kLong);
      check(ints.min().item<int64_t>() >= lo && ints.max().item<int64_t>() <= hi);
      check(res.fake_quant_weight.sizes() == w.sizes());
      for (float s : res.scale) check(std::isfinite(s) && s > 0.0f);
      break;
    }
    case 4: {  // DMQ on a Linear or a grouped Conv1d
      const bool linear = r.byte() & 1;
      const int64_t groups = linear ? 1 : 1 + r.byte() % 2;
      const int64_t cin = groups * (1 + r.byte() % 4), cout = groups * (1 + r.byte() % 3);
      const at::Tensor x = make_tensor(r, linear ? std::vector<int64_t>{2, cin}
                                                 : std::vector<int64_t>{1, cin, 3});
      const at::Tensor w = make_tensor(r, linear ? std::vector<int64_t>{cout, cin}
                                                 : std::vector<int64_t>{cout, cin / groups, 2});
      const double alpha = 0.1 + (r.byte() % 9) * 0.1;
      const auto res = alg::dmq_layer(linear ? alg::DmqLayerType::kLinear : alg::DmqLayerType::kConv1d,
                                      x, w, alpha, groups, "fuzz");
      const float* f = res.factor.data_ptr<float>();
      for (int64_t j = 0; j < res.factor.numel(); ++j)
        check(f[j] > alg::kFltEpsilon && f[j] < 1.0f / alg::kFltEpsilon);
      break;
    }
    case 6: {  // Hessian-guided rounding of a Linear over a fuzzed input
      const int64_t rows = 1 + r.byte() % 4, k = 1 + r.byte() % 5;
      const at::Tensor x = make_tensor(r, {1 + r.byte() % 6, k});
      const at::Tensor w = make_tensor(r, {1, rows, k});
      const at::Tensor h =
          alg::layer_input_hessian(x, alg::LayerGeometry{k, {}, {}, {}, {}, 1});
      alg::HessianRoundingOptions o;
      o.num_bits = 2 + r.byte() % 7;
      const at::Tensor q =
          alg::hessian_round(w, h, make_tensor(r, {1, rows}).abs(), o);
      const double hi = std::ldexp(1.0, static_cast<int>(o.num_bits - 1)) - 1.0;
      check(q.sizes() == w.sizes() && at::equal(q, at::round(q)));
      check(q.min().item<double>() >= -hi - 1.0 && q.max().item<double>() <= hi);
      break;
    }
    case 7: {  // per-row ARQ of an LSTM / GRU weight: factors follow the gate reorder
      const auto kind = (r.byte() & 1) ? alg::RnnKind::kLstm : alg::RnnKind::kGru;
      const int64_t gates = kind == alg::RnnKind::kLstm ? 4 : 3;
      const int64_t hidden = 1 + r.byte() % 3;
      const at::Tensor w = make_tensor(r, {gates * hidden, 1 + r.byte() % 4});
      const int64_t bits = 4 + r.byte() % 5;
      const alg::ArqResult q = alg::rnn_arq(kind, w, true, bits);
      alg::ArqOptions o;
      o.layout = alg::WeightLayout::kLinear;
      o.num_bits = bits;
      check(q.scale == alg::rnn_gates_to_onnx(kind, alg::arq(w, o).scale));
      check(q.fake_quant_weight.sizes() == w.sizes());
      break;
    }
    default: {  // Conv+BN
      const int64_t cout = 1 + r.byte() % 4;
      const at::Tensor w = make_tensor(r, {cout, 1 + r.byte() % 3, 1 + r.byte() % 3});
      std::optional<at::Tensor> bias;
      if (r.byte() & 1) bias = make_tensor(r, {cout});
      const at::Tensor g = make_tensor(r, {cout}), b = make_tensor(r, {cout}),
                       m = make_tensor(r, {cout}), v = make_tensor(r, {cout});
      const auto res = alg::fuse_conv_bn(w, bias, g, b, m, v, 1e-5, r.byte() & 1);
      check(res.weight.sizes() == w.sizes());
      break;
    }
  }
}

}  // namespace

// One intra-op thread: a finding must replay the same way, and the fuzzer
// runs one input at a time anyway.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  try {
    run(r);
  } catch (const openamct::Error&) {
    // A user error with the reference's type and message: expected.
  }
  return 0;
}
