// The record file on disk: the bytes the reference writes for a
// RecordContent (Python protobuf text, python_text_printer.h), parsing with
// libprotobuf's TextFormat, and the atomic write of deviation D11.
#pragma once

#include <string>

#include "record/layer_record.h"
#include "text/atomic_file.h"
#include "scale_offset_record.pb.h"

namespace openamct {

// Plain data <-> message. Every entry gets a `value` (PTQ never writes an
// entry without one); kv_cache_value and prune_record are not carried.
AMCTPytorchProto::ScaleOffsetRecord to_record_proto(const RecordContent& content);
RecordContent from_record_proto(const AMCTPytorchProto::ScaleOffsetRecord& proto);

// The file's bytes: "" for no entry.
std::string to_record_text(const RecordContent& content);

// Parses record text. On failure throws RuntimeError "the record_file{<path>}
// cannot be parsered, please ensure it matches with scale_offset_record.proto!"
// followed by where libprotobuf stopped; `path` is only used in that message.
RecordContent parse_record_text(const std::string& text, const std::string& path);

// Reads and parses `path` (resolved by the caller). A missing file is a
// FileNotFoundError "[Errno 2] No such file or directory: '<path>'", as the
// reference's open() raises; other read failures are OSError.
RecordContent read_record_file(const std::string& path);

// Writes the record atomically with mode 0640 (D11): a temporary file in the
// target's folder, renamed over `path` when complete; on failure an existing
// file is left byte-identical. With `warn_if_exists`, logs the reference's
// WARNING "The file already exists at <path>, and it will be overwritten by
// AMCT" when `path` exists (the calls that start a record from empty do).
// `write_call` is write_file_atomically's write(2) seam (tests fill the disk).
void write_record_file(const std::string& path, const RecordContent& content,
                       bool warn_if_exists = false, const WriteCall& write_call = {});

}  // namespace openamct
