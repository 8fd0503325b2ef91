// nn/Weights.cpp: format detection and the Module convenience functions of nn/Weights.h.
#include "ember/nn/Weights.h"

#include <algorithm>
#include <fstream>

#include "ember/nn/Pth.h"
#include "ember/tensor/InputFile.h"

namespace ember {
namespace nn {

WeightsFormat detect_weights_format(const std::string& path) {
  check_input_file(path, "load_weights");
  std::ifstream f(path, std::ios::binary);
  EMBER_CHECK(f.good(), "load_weights: cannot open '", path, "'");
  f.seekg(0, std::ios::end);
  auto size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  unsigned char head[9] = {0};
  f.read(reinterpret_cast<char*>(head), static_cast<std::streamsize>(std::min<uint64_t>(size, 9)));
  // Safetensors first: its first byte is the header length's low byte, which may be 0x80 (a
  // header of 128 + 256k bytes), the same as a pickle's PROTO opcode.
  if (size >= 9) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | head[i];
    if (n <= size - 8 && head[8] == '{') return WeightsFormat::Safetensors;
  }
  if (size >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return WeightsFormat::PthZip;
  if (size >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) return WeightsFormat::PthLegacy;  // PROTO 2..5
  return WeightsFormat::Unknown;
}

const char* format_name(WeightsFormat f) {
  switch (f) {
    case WeightsFormat::Safetensors: return "safetensors";
    case WeightsFormat::PthZip: return "pth (zip)";
    case WeightsFormat::PthLegacy: return "pth (legacy)";
    case WeightsFormat::Unknown: return "unknown";
  }
  return "?";
}

NamedTensors load_weights_file(const std::string& path) {
  switch (detect_weights_format(path)) {
    case WeightsFormat::Safetensors: return load_safetensors(path).tensors;
    case WeightsFormat::PthZip:
    case WeightsFormat::PthLegacy: return load_pth(path);
    case WeightsFormat::Unknown: break;
  }
  EMBER_FAIL("load_weights: '", path, "' is neither safetensors nor a torch.save .pth file");
}

void save_weights(const Module& module, const std::string& path, const Metadata& metadata) {
  save_safetensors(path, module.state_dict(), metadata);
}

void load_weights(Module& module, const std::string& path, bool strict) {
  NamedTensors sd = load_weights_file(path);
  try {
    module.load_state_dict(sd, strict);
  } catch (const Error& e) {
    EMBER_FAIL("load_weights: '", path, "': ", e.what());
  }
}

}  // namespace nn
}  // namespace ember
