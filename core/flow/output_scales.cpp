// The qdq_full output scales file (output_scales.h).
#include "flow/output_scales.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "openamct/errors.h"
#include "record/record_file.h"

namespace openamct {
namespace flow {
namespace {

const char kHeader[] = "# OpenAMCT qdq_full output scales of the record with FNV-1a 64 ";

std::string fnv1a64(const std::string& bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

const char kFix[] = "; run quantize_model(..., qdq_full=True) and the calibration forwards "
                    "again, or save without \"qdq_full\"";

}  // namespace

std::string output_scales_path(const std::string& record_path) {
  return record_path + ".qdq_full";
}

std::string output_scales_text(const RecordContent& outputs, const std::string& record_text) {
  return kHeader + fnv1a64(record_text) + "\n" + to_record_text(outputs);
}

std::vector<onnx_passes::OutputQuantParams> read_output_scales(const std::string& record_path,
                                                               const std::string& record_text) {
  const std::string path = output_scales_path(record_path);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorKind::kFileNotFound,
                "the format \"qdq_full\" needs the output scales file '" + path +
                    "', which does not exist" + kFix);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::string header = kHeader + fnv1a64(record_text) + "\n";
  if (text.compare(0, sizeof kHeader - 1, kHeader) != 0) {
    throw_runtime_error("the output scales file '" + path + "' is not one OpenAMCT wrote" + kFix);
  }
  if (text.compare(0, header.size(), header) != 0) {
    throw_runtime_error("the output scales file '" + path + "' belongs to another calibration "
                        "(the record_file changed since it was written)" + kFix);
  }
  const RecordContent content = parse_record_text(text.substr(header.size()), path);
  std::vector<onnx_passes::OutputQuantParams> out;
  for (const LayerRecord& r : content.layers) {
    if (!r.scale_d || !r.offset_d) {
      throw_runtime_error("the output scales file '" + path + "' has no scale_d/offset_d for '" +
                          r.key + "'" + kFix);
    }
    out.push_back({r.key, *r.scale_d, *r.offset_d});
  }
  return out;
}

}  // namespace flow
}  // namespace openamct
