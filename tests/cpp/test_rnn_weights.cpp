// RNN weight factors (spec §15): torch's gate blocks in ONNX's order, per-row
// ARQ whose factors follow that order while the weight keeps the module's.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <vector>

#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct {
namespace algorithms {
namespace {

// Rows tagged by their torch block: block b, row j holds 10*b + j.
at::Tensor tagged_rows(int64_t gates, int64_t hidden, int64_t cols) {
  at::Tensor t = at::empty({gates * hidden, cols}, at::kFloat);
  for (int64_t b = 0; b < gates; ++b)
    for (int64_t j = 0; j < hidden; ++j) t[b * hidden + j].fill_(static_cast<float>(10 * b + j));
  return t;
}

std::vector<float> first_column(const at::Tensor& t) {
  at::Tensor c = t.select(1, 0).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

TEST(RnnGates, LstmIfgoBecomesIofg) {
  const at::Tensor onnx = rnn_gates_to_onnx(RnnKind::kLstm, tagged_rows(4, 2, 3));
  EXPECT_EQ(first_column(onnx), (std::vector<float>{0, 1, 30, 31, 10, 11, 20, 21}));
  EXPECT_EQ(onnx.sizes(), (std::vector<int64_t>{8, 3}));
}

TEST(RnnGates, GruRznBecomesZrn) {
  const at::Tensor onnx = rnn_gates_to_onnx(RnnKind::kGru, tagged_rows(3, 2, 1));
  EXPECT_EQ(first_column(onnx), (std::vector<float>{10, 11, 0, 1, 20, 21}));
  EXPECT_EQ(rnn_gates_to_onnx(RnnKind::kGru, std::vector<int32_t>{0, 1, 2}),
            (std::vector<int32_t>{1, 0, 2}));
}

TEST(RnnGates, RowsThatAreNoWholeGatesAreAValueError) {
  try {
    rnn_gates_to_onnx(RnnKind::kLstm, at::zeros({6, 2}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_NE(std::string(e.what()).find("6 rows"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_rnn_kind("RNN"), Error);
  EXPECT_EQ(parse_rnn_kind("GRU"), RnnKind::kGru);
}

TEST(RnnArq, FactorsInOnnxOrderWeightInTorchOrder) {
  // Row r of block b has max |w| = b + 1 + r / 10: every row its own scale.
  const int64_t hidden = 2;
  at::Tensor w = at::empty({4 * hidden, 3}, at::kFloat);
  for (int64_t row = 0; row < 4 * hidden; ++row) {
    const float m = static_cast<float>(row / hidden + 1) + 0.1f * static_cast<float>(row % hidden);
    w[row] = at::tensor({m, -0.5f * m, 0.25f}, at::kFloat);
  }
  ArqOptions o;
  o.layout = WeightLayout::kLinear;
  const ArqResult plain = arq(w, o);
  const ArqResult r = rnn_arq(RnnKind::kLstm, w, true, 8);
  EXPECT_EQ(r.scale, rnn_gates_to_onnx(RnnKind::kLstm, plain.scale));
  EXPECT_EQ(r.offset, std::vector<int32_t>(8, 0));
  EXPECT_TRUE(at::equal(r.fake_quant_weight, plain.fake_quant_weight));
  EXPECT_NE(r.scale, plain.scale);  // the reorder moved something
}

TEST(RnnArq, PerTensorIsARuntimeError) {
  try {
    rnn_arq(RnnKind::kGru, at::ones({3, 2}), false, 8);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kRuntime);
    EXPECT_NE(std::string(e.what()).find("channel_wise"), std::string::npos) << e.what();
  }
  EXPECT_THROW(rnn_arq(RnnKind::kGru, at::ones({3, 2, 1}), true, 8), Error);
}

}  // namespace
}  // namespace algorithms
}  // namespace openamct
