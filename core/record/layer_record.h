// The record file's content as plain data: one LayerRecord per
// `record { key: ... value { ... } }` entry, in file order. The calibration
// flow fills and reads these; record_file.h turns them into the file's bytes
// and back. Raw calibration results only: what a layer is quantised with is
// derived from them when the ONNX models are written (STYLE.md 9).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace openamct {

// SingleLayerRecord (spec §11.1). An absent optional / empty vector is a
// field that is not set, and is not written.
struct LayerRecord {
  std::string key;  // the layer's name

  std::optional<float> scale_d;     // 1: activation scale
  std::optional<int32_t> offset_d;  // 2: activation offset
  std::vector<float> scale_w;       // 3: weight scales (Cout or 1)
  std::vector<int32_t> offset_w;    // 4: weight offsets (all 0)
  std::vector<uint32_t> shift_bit;  // 5: never written by PTQ
  std::vector<float> tensor_balance_factor;  // 6: DMQ, one per Cin
  std::optional<bool> skip_fusion;           // 9
  std::optional<std::string> dst_type;       // 10
  std::optional<std::string> act_type;       // 11: "INT8", ...
  std::optional<std::string> wts_type;       // 12: absent for AvgPool2d
  std::optional<std::string> fakequant_precision_mode;  // 13
  std::optional<float> scale_h;     // 21: RNN hidden state
  std::optional<int32_t> offset_h;  // 22
  std::vector<float> scale_r;       // 23: RNN recurrent weights
  std::vector<int32_t> offset_r;    // 24

  bool operator==(const LayerRecord& other) const;
};

// ScaleOffsetRecord: the entries in file order (the order is part of the
// bytes: first-run order after quantize_preprocess, module order otherwise).
struct RecordContent {
  std::vector<LayerRecord> layers;

  // nullptr when no entry has this key (the first one when several have).
  const LayerRecord* find(const std::string& key) const;
  LayerRecord* find(const std::string& key);
  // The entry with this key, appended (with only the key set) when absent.
  LayerRecord& find_or_append(const std::string& key);

  bool operator==(const RecordContent& other) const { return layers == other.layers; }
};

}  // namespace openamct
