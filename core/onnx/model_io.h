// Parsing and writing one ONNX model, for code outside this folder that works
// on a graph itself (the calibration flow): the same parse errors, side files
// for models over 2 GB and atomic 0640 writes as the passes' own files.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "onnx/exported_initializer.h"
#include "onnx/onnx_files.h"
#include "text/atomic_file.h"

namespace openamct {
namespace onnx_passes {

// RuntimeError "<what> is not a valid ONNX model ..." when the bytes do not parse.
onnx::ModelProto parse_model(std::string_view bytes, const std::string& what);
// ValueError "The input onnx pb file is not exist." when the file cannot be read.
std::string read_whole_file(const std::string& path);
// parse_model of the file at `path` (mapped, not copied); the same errors.
// Initializers in side files (ONNX external data, as prepare_model writes a
// model over 2 GB) are read back into their raw data; RuntimeError naming the
// initializer and the file when one is missing, short or outside the model's
// folder.
onnx::ModelProto parse_model_file(const std::string& path, const std::string& what);

// Adds torch.onnx.export's parameters to a model exported without them
// (export_params=False), as the exporter would have written them: one
// initializer per graph input that has a value, in graph-input order, raw
// data. RuntimeError when a value matches no graph input or the model has
// initializers already (exported_initializers.cpp says why).
void add_exported_initializers(onnx::ModelProto* model,
                               const std::vector<ExportedInitializer>& values);

// A model ready to be written: the model (which must outlive the write) and
// the side files it refers to.
struct PreparedFile {
  std::string path;
  const onnx::ModelProto* model = nullptr;
  std::vector<std::pair<std::string, std::string>> side_files;  // path, content
};

// Readies `m` for `path` (moving its largest initializers to
// `<initializer>_<suffix>.external` side files when over 2 GB); writes nothing.
PreparedFile prepare_model(onnx::ModelProto* m, const std::string& path,
                           const std::string& suffix);
// Writes the side files, then the model, each atomically with mode 0640; the
// model is serialised straight into its file (no model-sized buffer).
void write_prepared(const PreparedFile& f, const WriteCall& write_call = {});

// Writes the models `formats` asks for, in the order deploy, fake-quant, QDQ,
// qdq_full, each only after all of them were built (a failure to build any
// writes nothing). Returns their paths in that order. The last model built
// takes the parsed modified ONNX over (the others copy it): save_model has
// parsed it for the record checks already.
std::vector<std::string> save_quant_models_from_model(
    onnx::ModelProto&& modified, const std::vector<LayerQuantParams>& layers,
    const std::string& save_path, const SaveFormats& formats, const QdqOptions& qdq = {});

}  // namespace onnx_passes
}  // namespace openamct
