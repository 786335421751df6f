// Small, pass-independent edits of an ONNX GraphProto: finding nodes and
// initializers by name, rewiring tensor names, inserting nodes at the front of
// the node list (where the reference's quantiser puts every node it creates,
// spec §12.1), and reading/writing tensor payloads. Every pass in this folder
// is built from these, so none of them touches protobuf details directly.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace openamct {
namespace onnx_passes {

// `n` itself after checking it has at least `inputs` inputs and `outputs`
// outputs; else RuntimeError (a damaged or hand-made file).
const onnx::NodeProto& with_io(const onnx::NodeProto& n, int inputs, int outputs);

// Index of the node called `name`, or -1.
int find_node(const onnx::GraphProto& g, const std::string& name);
// Index of the first node (in list order) that has `tensor` as an output, or -1.
int find_producer(const onnx::GraphProto& g, const std::string& tensor);
// Indices of the nodes that read `tensor`, in list order.
std::vector<int> find_consumers(const onnx::GraphProto& g, const std::string& tensor);
bool is_graph_output(const onnx::GraphProto& g, const std::string& tensor);

onnx::TensorProto* find_initializer(onnx::GraphProto* g, const std::string& name);
const onnx::TensorProto* find_initializer(const onnx::GraphProto& g, const std::string& name);
void remove_initializer(onnx::GraphProto* g, const std::string& name);
// True when some node still reads `tensor`.
bool is_read(const onnx::GraphProto& g, const std::string& tensor);

// Every node input equal to `from` becomes `to`, except in node `skip` (-1: none).
void rename_input(onnx::GraphProto* g, const std::string& from, const std::string& to,
                  int skip = -1);
void remove_node(onnx::GraphProto* g, int index);
// Adds `node` as the first node of the list and returns it.
onnx::NodeProto* prepend_node(onnx::GraphProto* g, const onnx::NodeProto& node);

onnx::NodeProto make_node(const std::string& op, const std::string& name,
                          const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs);
// A Constant node `name` with output `<name>.output0` holding `value`.
onnx::NodeProto make_constant(const std::string& name, const onnx::TensorProto& value);

const onnx::AttributeProto* find_attribute(const onnx::NodeProto& n, const std::string& name);
onnx::AttributeProto* find_attribute(onnx::NodeProto* n, const std::string& name);
void remove_attribute(onnx::NodeProto* n, const std::string& name);
void set_int_attribute(onnx::NodeProto* n, const std::string& name, int64_t v);
void set_float_attribute(onnx::NodeProto* n, const std::string& name, float v);
void set_string_attribute(onnx::NodeProto* n, const std::string& name, const std::string& v);
int64_t int_attribute(const onnx::NodeProto& n, const std::string& name, int64_t fallback);
// The attribute `name` of type `type`; RuntimeError naming the node when absent.
const onnx::AttributeProto& required_attribute(const onnx::NodeProto& n, const std::string& name,
                                               onnx::AttributeProto::AttributeType type);

// Tensor payloads (raw_data, little-endian, as torch's exporter writes them).
std::vector<float> float_values(const onnx::TensorProto& t);
// Product of the dims; RuntimeError for a negative dim or an overflow.
int64_t element_count(const onnx::TensorProto& t);
onnx::TensorProto float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<float>& values);
onnx::TensorProto int8_tensor(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<int8_t>& values);
onnx::TensorProto int32_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<int32_t>& values);
onnx::TensorProto int64_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<int64_t>& values);
onnx::TensorProto uint64_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                const std::vector<uint64_t>& values);
// t's raw_data, checked to hold element_count(t) elements of element_size
// bytes; RuntimeError naming the initializer when it is absent or of another size.
const std::string& checked_raw_data(const onnx::TensorProto& t, size_t element_size);
template <typename T>
std::vector<T> raw_values(const onnx::TensorProto& t);

}  // namespace onnx_passes
}  // namespace openamct
