// RNN weight factors (spec §15). Why a reorder at all: torch stores the
// gates of weight_ih_l0 / weight_hh_l0 as LSTM (i, f, g, o) / GRU (r, z, n)
// row blocks, ONNX's LSTM / GRU nodes as (i, o, f, c) / (z, r, h). The
// exporter permutes the blocks of W, R and B; the record's per-row factors
// must follow the same rows, so that save_model pairs each scale with the
// row the ONNX graph holds.
#include <cstdint>
#include <vector>

#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct {
namespace algorithms {
namespace {

// ONNX block k comes from torch block kOrder[k].
const std::vector<int64_t>& gate_order(RnnKind kind) {
  static const std::vector<int64_t> lstm = {0, 3, 1, 2};  // i, o, f, g
  static const std::vector<int64_t> gru = {1, 0, 2};      // z, r, n
  return kind == RnnKind::kLstm ? lstm : gru;
}

int64_t gate_rows(RnnKind kind, int64_t rows) {
  const int64_t gates = static_cast<int64_t>(gate_order(kind).size());
  if (rows <= 0 || rows % gates != 0) {
    throw_value_error(std::string(kind == RnnKind::kLstm ? "LSTM" : "GRU") + " weight has " +
                      std::to_string(rows) + " rows; it must be " + std::to_string(gates) +
                      " gates of hidden_size rows each");
  }
  return rows / gates;
}

}  // namespace

RnnKind parse_rnn_kind(const std::string& name) {
  if (name == "LSTM") return RnnKind::kLstm;
  if (name == "GRU") return RnnKind::kGru;
  throw_value_error("rnn layer type '" + name + "' is not supported, use LSTM or GRU");
}

at::Tensor rnn_gates_to_onnx(RnnKind kind, const at::Tensor& rows) {
  if (rows.dim() < 1) throw_value_error("rnn_gates_to_onnx: a 0-dim tensor has no gate rows");
  const int64_t h = gate_rows(kind, rows.size(0));
  std::vector<at::Tensor> blocks;
  for (int64_t k : gate_order(kind)) blocks.push_back(rows.narrow(0, k * h, h));
  return at::cat(blocks, 0).contiguous();
}

template <typename T>
std::vector<T> rnn_gates_to_onnx(RnnKind kind, const std::vector<T>& rows) {
  const int64_t h = gate_rows(kind, static_cast<int64_t>(rows.size()));
  std::vector<T> out;
  out.reserve(rows.size());
  for (int64_t k : gate_order(kind))
    out.insert(out.end(), rows.begin() + k * h, rows.begin() + (k + 1) * h);
  return out;
}
template std::vector<float> rnn_gates_to_onnx(RnnKind, const std::vector<float>&);
template std::vector<int32_t> rnn_gates_to_onnx(RnnKind, const std::vector<int32_t>&);

ArqResult rnn_arq(RnnKind kind, const at::Tensor& weight, bool channel_wise, int64_t num_bits) {
  if (weight.dim() != 2) {
    throw_value_error("rnn_arq: an RNN weight is 2-D (gates*hidden_size, inputs), got " +
                      c10::str(weight.sizes()));
  }
  gate_rows(kind, weight.size(0));
  if (!channel_wise) {
    // The reference reorders the per-row factors by gate blocks; one
    // per-tensor factor has no blocks and its reorder fails.
    throw_runtime_error("the weights of an LSTM or GRU layer are quantised per row "
                        "(channel_wise true); channel_wise false cannot be reordered into "
                        "ONNX's gate order");
  }
  ArqOptions o;
  o.channel_wise = true;
  o.num_bits = num_bits;
  o.layout = WeightLayout::kLinear;
  ArqResult r = arq(weight, o);
  r.scale = rnn_gates_to_onnx(kind, r.scale);
  r.offset = rnn_gates_to_onnx(kind, r.offset);
  return r;
}

}  // namespace algorithms
}  // namespace openamct
