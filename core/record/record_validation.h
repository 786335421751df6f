// The checks of spec §11.4 that save_model (and quantize_model in the DMQ
// flow) apply to a record file before using it, over plain data: the record
// and a list of the ONNX graph's layers (name, whether quantisable, input
// channels). The ONNX passes build that list; nothing here reads a graph.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "record/layer_record.h"

namespace openamct {

// A node of the modified ONNX graph, as far as the record check needs it.
struct RecordGraphLayer {
  std::string name;            // the node's name: the layer name in the record
  bool quantizable = false;    // Conv / ConvTranspose / Gemm / MatMul / AvgPool / RNN
  bool is_avg_pool = false;    // takes no tensor_balance_factor
  int64_t input_channels = -1; // Conv dims[1]*group, ConvTranspose / MatMul
                               // dims[0], Gemm dims[0] (dims[1] with transB);
                               // -1 = not known, length not checked
  bool is_rnn = false;         // LSTM / GRU: needs the hidden-state and recurrent factors too
};

// What the checks found for one entry, in record order.
struct CheckedLayerRecord {
  const LayerRecord* record = nullptr;  // points into the checked RecordContent
  bool has_quant_params = false;  // false: only its factors (if any) are used
  int act_bits = 8;               // from act_type ("INT8" when absent)
  int wts_bits = 8;               // from wts_type ("INT8" when absent)
};

// Checks every entry in order and throws at the first violation with the
// reference's type and message (RuntimeError / ValueError, §11.4). Missing
// act_type / wts_type only log a WARNING and count as 8 bits. `onnx_path`
// and `record_path` are only used in messages.
std::vector<CheckedLayerRecord> check_record(const RecordContent& record,
                                             const std::vector<RecordGraphLayer>& graph,
                                             const std::string& onnx_path,
                                             const std::string& record_path);

}  // namespace openamct
