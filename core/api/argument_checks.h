// Checks of the call's arguments that need no forward pass (spec §1.2, §4.1,
// deviations D2/D3). They all run before the model runs, so a bad call fails
// in milliseconds and writes nothing.
#pragma once

#include <string>
#include <vector>

#include "openamct/openamct.h"

namespace openamct {

// config_file must name a file: not '', no NUL, not ending in '/', not an
// existing directory, device, FIFO or socket, basename shorter than 255 bytes. Returns the path to write,
// with symlinks resolved like the reference's os.path.realpath.
std::string check_config_file(const std::string& config_file);

// The path of a simple config: a file name cannot hold a NUL character (the
// file itself is read and checked by SimpleConfig::read).
void check_config_definition(const std::string& config_definition);

// digits: QuantConfigOptions::batch_num_digits (a number beyond int64).
void check_batch_num(int64_t batch_num, const std::string& digits = "");

// The name check of a file the calibration calls read or write (spec §2.1),
// in the reference's order: '' -> "empty string is an invalid value for
// <arg>"; a trailing '/' (or an existing directory, D3) -> "<arg>{<value>}
// should be a file's name but a path."; a last component of the resolved
// path longer than 254 bytes -> "<arg>'s name{<base>} is invalid, ...".
// Returns the resolved path (symlinks and '..' resolved).
std::string check_file_name(const std::string& arg, const std::string& value);

// A model that contains the reference's own quantization modules has been
// quantized already.
void check_no_amct_operations(const std::vector<ModuleEntry>& modules);

}  // namespace openamct
