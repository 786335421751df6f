// The qdq_full output scales: the scale and offset of each layer output that
// the qdq_full model quantizes (onnx/qdq_full_pass.h), calibrated by
// quantize_model(..., qdq_full=True) with the layer's own activation
// algorithm, beside the record rather than in it (the record stays the
// reference's, byte for byte). The file `<record_file>.qdq_full` is record text
// (one entry per layer: scale_d, offset_d, act_type) after one comment line
// that holds the FNV-1a hash of the record's bytes, so that save_model refuses
// scales calibrated with another record.
#pragma once

#include <string>
#include <vector>

#include "onnx/quant_params.h"
#include "record/layer_record.h"

namespace openamct {
namespace flow {

// `<record_path>.qdq_full`.
std::string output_scales_path(const std::string& record_path);

// The file's bytes for `outputs`, tied to the record whose bytes are `record_text`.
std::string output_scales_text(const RecordContent& outputs, const std::string& record_text);

// The output quantizers for the record at `record_path` whose bytes are
// `record_text`. FileNotFoundError when the file is missing, RuntimeError when
// it does not parse or belongs to another record (each says to calibrate with
// qdq_full=True again).
std::vector<onnx_passes::OutputQuantParams> read_output_scales(const std::string& record_path,
                                                               const std::string& record_text);

}  // namespace flow
}  // namespace openamct
