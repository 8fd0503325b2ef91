// tensor/InputFile.h: the check every reader of a user's file makes before it opens the file
// (weights, checkpoints, datasets, class trees, cost matrices, result tables). Only a regular
// file is read: a FIFO or a device given as a file (/dev/zero, a named pipe) would hang or never
// end, so it is refused with the file named, before any work starts.
//
//   check_input_file(path, "load_safetensors");
//   // "load_safetensors: w.safetensors: cannot open (No such file or directory)"
//   // "load_safetensors: /dev/zero: is not a regular file (a character device); give a file"
#pragma once

#include <string>

namespace ember {

void check_input_file(const std::string& path, const char* what);

}  // namespace ember
