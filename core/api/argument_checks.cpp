#include "api/argument_checks.h"

#include <sys/stat.h>

#include <filesystem>
#include <string_view>

#include "rules/capability_table.h"
#include "text/python_repr.h"

namespace openamct {

std::string check_config_file(const std::string& config_file) {
  const std::string fix = " Pass the path of a file, e.g. './quant_config.json'.";
  if (config_file.empty())
    throw_value_error("config_file '' is invalid: it is empty." + fix);
  if (config_file.find('\0') != std::string::npos)
    throw_value_error("config_file " + python_str_repr(config_file) +
                      " is invalid: it contains a NUL character, which no file name can hold." +
                      fix);
  if (config_file.back() == '/')
    throw_value_error("config_file " + python_str_repr(config_file) +
                      " is invalid: it ends with '/', which names a directory." + fix);
  struct stat st {};
  const bool exists = ::stat(config_file.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode))
    throw_value_error("config_file " + python_str_repr(config_file) +
                      " is invalid: it is an existing directory." + fix);
  // The config replaces the file by a rename, which would replace a device
  // node, a FIFO or a socket with a plain file (and merely opening a FIFO
  // waits for a writer forever).
  if (exists && !S_ISREG(st.st_mode)) {
    const char* what = S_ISCHR(st.st_mode)    ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    throw_value_error("config_file " + python_str_repr(config_file) + " is invalid: it is " +
                      what + ", not a regular file." + fix);
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(fs::absolute(config_file, ec), ec);
  if (ec) resolved = config_file;
  const std::string base = resolved.filename().string();
  if (base.empty() || base.size() > 254)
    throw_value_error("config_file's name{" + base +
                      "} is invalid, '/' is reserved characters, length should be less than 255.");
  return resolved.string();
}

std::string check_file_name(const std::string& arg, const std::string& value) {
  if (value.empty()) throw_value_error("empty string is an invalid value for " + arg);
  if (value.find('\0') != std::string::npos)
    throw_value_error(arg + " " + python_str_repr(value) +
                      " is invalid: it contains a NUL character, which no file name can hold.");
  struct stat st {};
  if (value.back() == '/' || (::stat(value.c_str(), &st) == 0 && S_ISDIR(st.st_mode)))
    throw_value_error(arg + "{" + value + "} should be a file's name but a path.");
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(fs::absolute(value, ec), ec);
  if (ec) resolved = value;
  const std::string base = resolved.filename().string();
  if (base.empty() || base.size() > 254)
    throw_value_error(arg + "'s name{" + base +
                      "} is invalid, '/' is reserved characters, length should be less than 255.");
  return resolved.string();
}

void check_config_definition(const std::string& config_definition) {
  if (config_definition.find('\0') != std::string::npos)
    throw_value_error("config_defination " + python_str_repr(config_definition) +
                      " is invalid: it contains a NUL character, which no file name can hold.");
}

void check_batch_num(int64_t batch_num, const std::string& digits) {
  if (batch_num <= 0)
    throw_value_error("The batch_num must be greater than zero. Got " +
                      (digits.empty() ? std::to_string(batch_num) : digits) +
                      "; pass a positive number of batches.");
}

// Module classes of the reference's own quantization wrappers; a model that
// contains one has been quantized already and is rejected.
constexpr std::string_view kAmctOperations[] = {
    "IFMR", "HFMG", "Recorder", "AscendQuant", "AscendDeQuant", "RetrainQuant",
    "RNNRetrainQuant", "MarkedQuantizableModule", "QuantIdentity",
    "SelectiveMaskGen", "DMQBalancer", "Conv2dQAT", "LinearQAT", "LSTMQAT",
    "GRUQAT", "OFMRQuant", "ConvTranspose1dQAT"};

void check_no_amct_operations(const std::vector<ModuleEntry>& modules) {
  std::string found;
  for (const auto& m : modules)
    for (auto op : kAmctOperations)
      if (m.type_name == op)
        found += (found.empty() ? "" : ", ") + python_str_repr(m.name) + ": " +
                 python_str_repr(m.type_name);
  if (!found.empty())
    throw_runtime_error(
        "The model cannot be quantized for following quant layers are in the model {" + found +
        "}");
}

}  // namespace openamct
