// The record file: plain data <-> ScaleOffsetRecord, the reference's bytes,
// TextFormat parsing, atomic writes.
#include "record/record_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include "text/python_repr.h"
#include "text/atomic_file.h"
#include "openamct/errors.h"
#include "openamct/log.h"
#include "record/python_text_printer.h"

namespace openamct {
namespace {

namespace pb = google::protobuf;
using AMCTPytorchProto::ScaleOffsetRecord;
using AMCTPytorchProto::SingleLayerRecord;

template <typename T, typename Repeated>
void copy_to(const std::vector<T>& from, Repeated* to) {
  for (const T& v : from) to->Add(v);
}

template <typename T, typename Repeated>
std::vector<T> copy_from(const Repeated& from) {
  return std::vector<T>(from.begin(), from.end());
}

// Keeps the first error instead of printing it to stderr.
class FirstError : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (text.empty())
      text = "line " + std::to_string(line + 1) + ", column " + std::to_string(column + 1) +
             ": " + message;
  }
  std::string text;
};

[[noreturn]] void throw_errno(ErrorKind kind, int err, const std::string& path,
                              const std::string& hint) {
  std::string message = "[Errno " + std::to_string(err) + "] " + std::strerror(err) + ": " +
                        python_str_repr(path);
  if (!hint.empty()) message += " (" + hint + ")";
  throw Error(kind, message);
}

}  // namespace

bool LayerRecord::operator==(const LayerRecord& o) const {
  return key == o.key && scale_d == o.scale_d && offset_d == o.offset_d &&
         scale_w == o.scale_w && offset_w == o.offset_w && shift_bit == o.shift_bit &&
         tensor_balance_factor == o.tensor_balance_factor && skip_fusion == o.skip_fusion &&
         dst_type == o.dst_type && act_type == o.act_type && wts_type == o.wts_type &&
         fakequant_precision_mode == o.fakequant_precision_mode && scale_h == o.scale_h &&
         offset_h == o.offset_h && scale_r == o.scale_r && offset_r == o.offset_r;
}

const LayerRecord* RecordContent::find(const std::string& key) const {
  for (const auto& l : layers)
    if (l.key == key) return &l;
  return nullptr;
}

LayerRecord* RecordContent::find(const std::string& key) {
  for (auto& l : layers)
    if (l.key == key) return &l;
  return nullptr;
}

LayerRecord& RecordContent::find_or_append(const std::string& key) {
  if (LayerRecord* found = find(key)) return *found;
  layers.emplace_back();
  layers.back().key = key;
  return layers.back();
}

ScaleOffsetRecord to_record_proto(const RecordContent& content) {
  ScaleOffsetRecord proto;
  for (const LayerRecord& l : content.layers) {
    AMCTPytorchProto::MapFiledEntry* entry = proto.add_record();
    entry->set_key(l.key);
    SingleLayerRecord* v = entry->mutable_value();
    if (l.scale_d) v->set_scale_d(*l.scale_d);
    if (l.offset_d) v->set_offset_d(*l.offset_d);
    copy_to(l.scale_w, v->mutable_scale_w());
    copy_to(l.offset_w, v->mutable_offset_w());
    copy_to(l.shift_bit, v->mutable_shift_bit());
    copy_to(l.tensor_balance_factor, v->mutable_tensor_balance_factor());
    if (l.skip_fusion) v->set_skip_fusion(*l.skip_fusion);
    if (l.dst_type) v->set_dst_type(*l.dst_type);
    if (l.act_type) v->set_act_type(*l.act_type);
    if (l.wts_type) v->set_wts_type(*l.wts_type);
    if (l.fakequant_precision_mode) v->set_fakequant_precision_mode(*l.fakequant_precision_mode);
    if (l.scale_h) v->set_scale_h(*l.scale_h);
    if (l.offset_h) v->set_offset_h(*l.offset_h);
    copy_to(l.scale_r, v->mutable_scale_r());
    copy_to(l.offset_r, v->mutable_offset_r());
  }
  return proto;
}

RecordContent from_record_proto(const ScaleOffsetRecord& proto) {
  RecordContent content;
  for (const auto& entry : proto.record()) {
    LayerRecord l;
    l.key = entry.key();
    const SingleLayerRecord& v = entry.value();
    if (v.has_scale_d()) l.scale_d = v.scale_d();
    if (v.has_offset_d()) l.offset_d = v.offset_d();
    l.scale_w = copy_from<float>(v.scale_w());
    l.offset_w = copy_from<int32_t>(v.offset_w());
    l.shift_bit = copy_from<uint32_t>(v.shift_bit());
    l.tensor_balance_factor = copy_from<float>(v.tensor_balance_factor());
    if (v.has_skip_fusion()) l.skip_fusion = v.skip_fusion();
    if (v.has_dst_type()) l.dst_type = v.dst_type();
    if (v.has_act_type()) l.act_type = v.act_type();
    if (v.has_wts_type()) l.wts_type = v.wts_type();
    if (v.has_fakequant_precision_mode()) l.fakequant_precision_mode = v.fakequant_precision_mode();
    if (v.has_scale_h()) l.scale_h = v.scale_h();
    if (v.has_offset_h()) l.offset_h = v.offset_h();
    l.scale_r = copy_from<float>(v.scale_r());
    l.offset_r = copy_from<int32_t>(v.offset_r());
    content.layers.push_back(std::move(l));
  }
  return content;
}

std::string to_record_text(const RecordContent& content) {
  return python_text_format(to_record_proto(content));
}

RecordContent parse_record_text(const std::string& text, const std::string& path) {
  ScaleOffsetRecord proto;
  pb::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &proto)) {
    throw_runtime_error("the record_file{" + path +
                        "} cannot be parsered, please ensure it matches with "
                        "scale_offset_record.proto! (" +
                        (errors.text.empty() ? std::string("not a ScaleOffsetRecord")
                                             : errors.text) +
                        ")");
  }
  return from_record_proto(proto);
}

RecordContent read_record_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw_errno(err == ENOENT ? ErrorKind::kFileNotFound : ErrorKind::kOS, err, path,
                err == ENOENT ? "the record file is written by quantize_preprocess or "
                                "quantize_model; run the calibration first"
                              : "");
  }
  std::string text;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw_errno(ErrorKind::kOS, err, path, "cannot read the record file");
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse_record_text(text, path);
}

void write_record_file(const std::string& path, const RecordContent& content,
                       bool warn_if_exists, const WriteCall& write_call) {
  const std::string text = to_record_text(content);
  struct stat st {};
  if (warn_if_exists && ::stat(path.c_str(), &st) == 0)
    log_warning("The file already exists at " + path + ", and it will be overwritten by AMCT");
  try {
    write_file_atomically(path, text, 0640, write_call);
  } catch (const Error& e) {
    // atomic_file's hints (the final " (...)") speak of the config file, its
    // first user; the path before them is left as it is.
    std::string message = e.what();
    const std::size_t hint = message.rfind(" (");
    if (hint != std::string::npos) {
      for (const auto& [from, to] : {std::pair<std::string, std::string>{"config_file", "record_file"},
                                     {"config file", "record file"}}) {
        for (std::size_t at = message.find(from, hint); at != std::string::npos;
             at = message.find(from, at + to.size()))
          message.replace(at, from.size(), to);
      }
    }
    throw Error(e.kind(), message);
  }
}

}  // namespace openamct
