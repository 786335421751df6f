// Reading and writing the ONNX files (see onnx_files.h): parse, run the
// passes, order, externalise oversized initializers, write atomically.
#include "onnx/onnx_files.h"

#include <fcntl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <optional>
#include <sstream>

#include "text/atomic_file.h"
#include "onnx/ceil_mode_pools.h"
#include "onnx/deploy_pass.h"
#include "onnx/fake_quant_pass.h"
#include "onnx/model_io.h"
#include "onnx/modified_pass.h"
#include "onnx/node_order.h"
#include "onnx/onnx_graph.h"
#include "onnx/opset13.h"
#include "onnx/qdq_full_pass.h"
#include "onnx/qdq_pass.h"
#include "onnx/reader_quantizers.h"
#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {
namespace {

// protobuf cannot serialise a message of 2 GB or more.
constexpr int64_t kProtobufLimit = (int64_t{1} << 31) - 1;
std::atomic<int64_t> g_external_threshold{-1};

int64_t external_threshold() {
  const int64_t t = g_external_threshold.load();
  return t < 0 ? kProtobufLimit : t;
}

}  // namespace

onnx::ModelProto parse_model(std::string_view bytes, const std::string& what) {
  onnx::ModelProto m;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    throw_runtime_error(what + " is not a valid ONNX model (protobuf parse failed)");
  }
  return m;
}

// One read(2) into a string of the file's size: the stream copy it replaces
// (ostringstream << rdbuf) grew its buffer by doubling and copied it out again,
// a fifth of save_model's time on ResNet-18's 45 MB.
std::string read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_value_error("The input onnx pb file is not exist. ('" + path + "')");
  struct stat st {};
  std::string bytes;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) bytes.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  char more[1 << 16];  // past the size fstat gave: a file that grew, or no size at all
  for (;;) {
    const bool spare = done < bytes.size();
    const ssize_t n = spare ? ::read(fd, &bytes[done], bytes.size() - done)
                            : ::read(fd, more, sizeof more);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw_runtime_error("cannot read '" + path + "': " + std::strerror(err));
    }
    if (n == 0) break;
    if (!spare) bytes.append(more, static_cast<size_t>(n));
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  return bytes;
}

namespace {

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

std::string external_data_value(const onnx::TensorProto& t, const std::string& key) {
  for (const auto& e : t.external_data())
    if (e.key() == key) return e.value();
  return std::string();
}

uint64_t external_data_number(const onnx::TensorProto& t, const std::string& key,
                              const std::string& path) {
  const std::string v = external_data_value(t, key);
  if (v.empty()) return 0;
  if (v.find_first_not_of("0123456789") != std::string::npos || v.size() > 18) {
    throw_runtime_error("initializer '" + t.name() + "' of '" + path + "' has external data " +
                        key + " '" + v + "', which is not a byte count");
  }
  return std::stoull(v);
}

// Reads the side files of a model over 2 GB (written by prepare_model, or any
// ONNX external data next to the model) back into the initializers' raw data:
// the passes work on whole tensors. The location must name a file in the
// model's folder or below it (as the ONNX checker requires).
void load_external_data(onnx::ModelProto* m, const std::string& path) {
  for (auto& t : *m->mutable_graph()->mutable_initializer()) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
    const std::string location = external_data_value(t, "location");
    if (location.empty() || location[0] == '/' || location == ".." ||
        location.rfind("../", 0) == 0 || location.find("/../") != std::string::npos) {
      throw_runtime_error("initializer '" + t.name() + "' of '" + path +
                          "' has external data at '" + location +
                          "'; it must name a file next to the model or in a folder below it");
    }
    const std::string file = directory_of(path) + location;
    const uint64_t offset = external_data_number(t, "offset", path);
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      throw_runtime_error("initializer '" + t.name() + "' of '" + path +
                          "' has its data in '" + file + "', which cannot be read; keep the "
                          "model's side files next to it");
    }
    in.seekg(0, std::ios::end);
    const uint64_t size = static_cast<uint64_t>(in.tellg());
    const uint64_t length = external_data_value(t, "length").empty()
                                ? (size > offset ? size - offset : 0)
                                : external_data_number(t, "length", path);
    if (offset > size || length > size - offset) {
      throw_runtime_error("initializer '" + t.name() + "' of '" + path + "' needs " +
                          std::to_string(length) + " bytes at offset " + std::to_string(offset) +
                          " of '" + file + "', which holds " + std::to_string(size) +
                          "; the side file is damaged, write the model again");
    }
    std::string data(static_cast<size_t>(length), '\0');
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(data.data(), static_cast<std::streamsize>(length));
    if (!in) throw_runtime_error("reading '" + file + "' failed");
    t.set_raw_data(std::move(data));
    t.clear_external_data();
    t.clear_data_location();
  }
}

onnx::ModelProto parse_model_bytes_of(const std::string& path, const std::string& what);

}  // namespace

onnx::ModelProto parse_model_file(const std::string& path, const std::string& what) {
  onnx::ModelProto m = parse_model_bytes_of(path, what);
  load_external_data(&m, path);
  return m;
}

namespace {

// The file mapped read-only and parsed from the page cache: a model save_model
// reads was mostly just written, so its pages are there, and the mapping
// spares read(2)'s copy into a model-sized buffer of fresh pages (on
// ResNet-18's 45 MB, 10 ms instead of 40 for read and parse). Files that
// cannot be mapped (empty, special) are read as before.
onnx::ModelProto parse_model_bytes_of(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_value_error("The input onnx pb file is not exist. ('" + path + "')");
  struct stat st {};
  void* mapped = MAP_FAILED;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    mapped = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                    fd, 0);
  }
  ::close(fd);
  if (mapped == MAP_FAILED) return parse_model(read_whole_file(path), what);
  const size_t size = static_cast<size_t>(st.st_size);
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{mapped, size};
  return parse_model(std::string_view(static_cast<const char*>(mapped), size), what);
}

}  // namespace

namespace {

// A side file's name: the initializer name with '/' replaced (it is a path separator).
std::string side_file_name(const std::string& initializer, const std::string& suffix) {
  std::string n = initializer;
  std::replace(n.begin(), n.end(), '/', '_');
  return n + "_" + suffix + ".external";
}

// Serialises `m` for `path`, first moving its largest initializers to side
// files next to it until it fits under the threshold (§2.4). Nothing is
// written here, so a model that cannot fit fails before any file changes.
}  // namespace

PreparedFile prepare_model(onnx::ModelProto* m, const std::string& path,
                           const std::string& suffix) {
  PreparedFile out;
  out.path = path;
  auto* inits = m->mutable_graph()->mutable_initializer();
  while (static_cast<int64_t>(m->ByteSizeLong()) > external_threshold()) {
    int largest = -1;
    for (int i = 0; i < inits->size(); ++i) {
      if (!inits->Get(i).has_raw_data()) continue;
      if (largest < 0 || inits->Get(i).raw_data().size() > inits->Get(largest).raw_data().size()) {
        largest = i;
      }
    }
    if (largest < 0) {
      throw_runtime_error("the model '" + path + "' is over the 2 GB protobuf limit even with "
                          "every initializer in a side file");
    }
    onnx::TensorProto* t = inits->Mutable(largest);
    const std::string file = side_file_name(t->name(), suffix);
    const auto size = t->raw_data().size();
    out.side_files.emplace_back(directory_of(path) + file, std::move(*t->mutable_raw_data()));
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [t](const std::string& k, const std::string& v) {
      auto* e = t->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    add("location", file);
    add("offset", "0");
    add("length", std::to_string(size));
  }
  out.model = m;
  return out;
}

namespace {

// protobuf's serialiser writing through write_stream_atomically's emit, in
// blocks of 1 MiB: a model-sized string would be one more buffer of fresh
// pages (35-40 ms of ResNet-18's 45 MB) before the same bytes are copied
// into the file.
class EmitStream : public google::protobuf::io::CopyingOutputStream {
 public:
  explicit EmitStream(const EmitBytes& emit) : emit_(emit) {}
  bool Write(const void* buffer, int size) override {
    error_ = emit_(static_cast<const char*>(buffer), static_cast<std::size_t>(size));
    return error_ == 0;
  }
  int error() const { return error_; }

 private:
  const EmitBytes& emit_;
  int error_ = 0;
};

constexpr int kSerialiseBlock = 1 << 20;

}  // namespace

// Side files first, so that the model never names a missing one.
void write_prepared(const PreparedFile& f, const WriteCall& write_call) {
  for (const auto& [path, content] : f.side_files) {
    write_file_atomically(path, content, 0640, write_call);
  }
  const onnx::ModelProto& m = *f.model;
  write_stream_atomically(
      f.path,
      [&m](const EmitBytes& emit) {
        EmitStream sink(emit);
        google::protobuf::io::CopyingOutputStreamAdaptor out(&sink, kSerialiseBlock);
        const bool serialised = m.SerializeToZeroCopyStream(&out) && out.Flush();
        if (sink.error() != 0) return sink.error();
        return serialised ? 0 : EIO;
      },
      0640, write_call);
}

namespace {

struct SavedGraphs {
  onnx::ModelProto deploy;
  onnx::ModelProto fake_quant;
};

// The deploy model's RNN replacement (Ascend's own RNN operators) is not
// specified; a deploy model with a float LSTM behind an AscendQuant would
// compute something no Ascend runtime expects, so it is refused, by name.
void refuse_rnn_deploy(const std::vector<LayerQuantParams>& layers) {
  for (const auto& p : layers) {
    if (!p.is_rnn) continue;
    throw_runtime_error("layer '" + p.layer + "' is an LSTM/GRU layer: OpenAMCT cannot write "
                        "the deploy model for it (Ascend's RNN replacement is not implemented); "
                        "save with formats=('fake_quant', 'qdq') (CLI: --format fake_quant,qdq), "
                        "or disable the layer in the config "
                        "(quant_enable: false) and calibrate again");
  }
}

SavedGraphs build_saved_models(onnx::ModelProto modified,
                               const std::vector<LayerQuantParams>& layers) {
  SavedGraphs s;
  s.deploy = std::move(modified);
  make_deploy_graph(s.deploy.mutable_graph(), layers);
  order_nodes(s.deploy.mutable_graph());  // the fake-quant pass works in file order
  s.fake_quant = s.deploy;
  make_fake_quant_graph(s.fake_quant.mutable_graph(), layers);
  for (onnx::ModelProto* m : {&s.deploy, &s.fake_quant}) {
    strip_op_data_type(m->mutable_graph());
    order_nodes(m->mutable_graph());
  }
  return s;
}

// The QDQ model: the modified ONNX moved to opset 13 first (the deploy pass is
// opset-agnostic; the upgrade needs a graph of standard ops only), then the
// deploy graph, then the QDQ rewrite.
// With `outputs`, the qdq_full model: the QDQ graph plus its output quantizers.
onnx::ModelProto build_qdq_model(onnx::ModelProto m, const std::vector<LayerQuantParams>& layers,
                                 const std::vector<OutputQuantParams>* outputs = nullptr,
                                 bool uint8_activations = false) {
  upgrade_to_opset13(&m);
  make_deploy_graph(m.mutable_graph(), layers);
  order_nodes(m.mutable_graph());
  make_qdq_graph(m.mutable_graph(), layers);
  if (outputs) {
    std::vector<std::string> names;
    for (const auto& p : layers) names.push_back(p.layer);
    make_qdq_full_graph(m.mutable_graph(), names, *outputs);
  }
  // int8: a Q per reader, so that ONNX Runtime converts every pair (reader_quantizers.h);
  // uint8 is the type its kernels take already.
  if (uint8_activations) {
    use_uint8_activations(m.mutable_graph());
  } else {
    give_each_reader_its_quantizer(m.mutable_graph());
  }
  strip_op_data_type(m.mutable_graph());
  order_nodes(m.mutable_graph());
  // On a graph of standard ops in file order: it needs shape inference.
  pad_ceil_mode_pools_before_quantizing(&m);
  order_nodes(m.mutable_graph());
  check_qdq_model(m);
  return m;
}

}  // namespace

SaveFormats parse_save_formats(const std::vector<std::string>& names,
                               const std::string& argument) {
  const std::string allowed = "allowed values: 'deploy', 'fake_quant', 'qdq', 'qdq_full'";
  auto listed = [&names] {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
    return "(" + s + ")";
  };
  if (names.empty()) throw_value_error(argument + " " + listed() + " is empty; " + allowed);
  SaveFormats f{false, false, false, false};
  for (const auto& n : names) {
    bool* slot = n == "deploy" ? &f.deploy : n == "fake_quant" ? &f.fake_quant
                 : n == "qdq" ? &f.qdq : n == "qdq_full" ? &f.qdq_full : nullptr;
    if (!slot) throw_value_error(argument + " " + listed() + " has an unknown format '" + n +
                                 "'; " + allowed);
    if (*slot) throw_value_error(argument + " " + listed() + " names '" + n + "' twice; " +
                                 allowed + ", each at most once");
    *slot = true;
  }
  return f;
}

bool parse_activation_dtype(const std::string& value, const std::string& argument) {
  if (value == "int8") return false;
  if (value == "uint8") return true;
  throw_value_error(argument + " '" + value + "' is invalid; allowed values: 'int8' (zero point "
                    "offset_d), 'uint8' (zero point offset_d + 128)");
}

void write_modified_onnx(const std::string& exported,
                         const std::vector<ExportedInitializer>& initializers,
                         const ModifiedOnnxSpec& spec, const std::string& path) {
  onnx::ModelProto m = parse_model(exported, "the exported model");
  add_exported_initializers(&m, initializers);
  make_modified_model(&m, spec);
  write_prepared(prepare_model(&m, path, "modified"));
}

std::pair<std::string, std::string> split_save_path(const std::string& save_path) {
  std::string dir, prefix;
  if (save_path.empty() || save_path.back() == '/') {
    dir = save_path;
  } else {
    const auto slash = save_path.rfind('/');
    dir = slash == std::string::npos ? std::string() : save_path.substr(0, slash + 1);
    prefix = slash == std::string::npos ? save_path : save_path.substr(slash + 1);
  }
  if (prefix.size() > 241) {
    throw_value_error("prefix{" + prefix + "} is invalid. '/' is reserved characters, length "
                      "should be less than 242.");
  }
  if (!dir.empty() && dir.back() != '/') dir += '/';
  return {dir, prefix};
}

std::pair<std::string, std::string> save_quant_models(const std::string& modified_path,
                                                      const std::vector<LayerQuantParams>& layers,
                                                      const std::string& save_path) {
  const auto paths = save_quant_models_from_model(
      parse_model_file(modified_path, "the modified ONNX file '" + modified_path + "'"), layers,
      save_path, SaveFormats{}, {});
  return {paths[0], paths[1]};
}

std::vector<std::string> save_quant_models_from_model(
    onnx::ModelProto&& modified, const std::vector<LayerQuantParams>& layers,
    const std::string& save_path, const SaveFormats& formats, const QdqOptions& qdq) {
  const auto [dir, prefix] = split_save_path(save_path);
  const std::string lead = prefix.empty() ? std::string() : prefix + "_";
  int uses = (formats.deploy || formats.fake_quant) + formats.qdq + formats.qdq_full;
  // A copy for every use but the last, which takes the model itself.
  auto next = [&]() { return --uses == 0 ? std::move(modified) : onnx::ModelProto(modified); };
  if (formats.deploy) refuse_rnn_deploy(layers);
  std::vector<PreparedFile> files;
  // Every model lives until its file is written (prepare_model keeps a pointer).
  std::optional<SavedGraphs> saved;
  std::optional<onnx::ModelProto> qdq_model, qdq_full_model;
  if (formats.deploy || formats.fake_quant) {
    saved = build_saved_models(next(), layers);
    if (formats.deploy) {
      files.push_back(prepare_model(&saved->deploy, dir + lead + "deploy_model.onnx", "deploy"));
    }
    if (formats.fake_quant) {
      files.push_back(
          prepare_model(&saved->fake_quant, dir + lead + "fake_quant_model.onnx", "fakequant"));
    }
  }
  if (formats.qdq) {
    qdq_model = build_qdq_model(next(), layers, nullptr, qdq.uint8_activations);
    files.push_back(prepare_model(&*qdq_model, dir + lead + "qdq_model.onnx", "qdq"));
  }
  if (formats.qdq_full) {
    qdq_full_model = build_qdq_model(next(), layers, &qdq.outputs, qdq.uint8_activations);
    files.push_back(prepare_model(&*qdq_full_model, dir + lead + "qdq_full_model.onnx", "qdq_full"));
  }
  std::vector<std::string> paths;
  for (const PreparedFile& f : files) {
    write_prepared(f);
    paths.push_back(f.path);
  }
  return paths;
}

std::string qdq_model_bytes(const std::string& modified_bytes,
                            const std::vector<LayerQuantParams>& layers) {
  onnx::ModelProto q = build_qdq_model(parse_model(modified_bytes, "the modified ONNX"), layers);
  std::string out;
  if (!q.SerializeToString(&out)) throw_runtime_error("the QDQ model could not be serialised");
  return out;
}

std::pair<std::string, std::string> saved_model_bytes(const std::string& modified_bytes,
                                                      const std::vector<LayerQuantParams>& layers) {
  refuse_rnn_deploy(layers);
  SavedGraphs s = build_saved_models(parse_model(modified_bytes, "the modified ONNX"), layers);
  std::pair<std::string, std::string> out;
  if (!s.deploy.SerializeToString(&out.first) || !s.fake_quant.SerializeToString(&out.second)) {
    throw_runtime_error("the saved models could not be serialised (over 2 GB?)");
  }
  return out;
}

namespace testing_hooks {
void set_external_data_threshold_for_testing(int64_t bytes) { g_external_threshold = bytes; }
}  // namespace testing_hooks

}  // namespace onnx_passes
}  // namespace openamct
