// nn/Weights.h: a module's weights in and out of files, whatever their format.
//
//   nn::save_weights(*net, "net.safetensors");          // always safetensors
//   nn::load_weights(*net, "resnet18-5c106cde.pth");   // .safetensors or .pth, by content
//
// The format is told by the file's first bytes, never by its name: "PK\3\4" is a
// torch.save zip, 0x80 a pickle (legacy torch.save), a little-endian u64 header length
// followed by '{' is safetensors (nn/Safetensors.h, nn/Pth.h). load_weights goes through
// Module::load_state_dict, so a wrong key or shape is reported with the file's name.
#pragma once

#include <string>

#include "ember/nn/Module.h"
#include "ember/nn/Safetensors.h"

namespace ember {
namespace nn {

enum class WeightsFormat { Safetensors, PthZip, PthLegacy, Unknown };
WeightsFormat detect_weights_format(const std::string& path);  // throws when the file cannot be opened
const char* format_name(WeightsFormat f);                      // "safetensors", "pth (zip)", ...

// The tensors of a .safetensors or .pth file (cpu). Unknown content is an error naming the file.
NamedTensors load_weights_file(const std::string& path);

void save_weights(const Module& module, const std::string& path, const Metadata& metadata = {});
void load_weights(Module& module, const std::string& path, bool strict = true);

}  // namespace nn
}  // namespace ember
