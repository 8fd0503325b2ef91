// examples/ember_convert.cpp: convert PyTorch weights to safetensors, or list a weights file.
//
//   ember-convert resnet18-5c106cde.pth resnet18.safetensors
//   ember-convert --list model.safetensors
//
// The input format is told by content (nn/Weights.h): a torch.save .pth (zip or
// legacy) or a safetensors file. The output is always safetensors, written to
// OUT.tmp and renamed. --list prints each tensor's name, dtype (as Ember holds it:
// f16/bf16 are read as f32) and shape, then the count of tensors and parameters.
// Bad input prints a message naming the file and exits with status 1.
#include <CLI/CLI.hpp>

#include <iomanip>
#include <iostream>

#include "ember/nn/Pth.h"
#include "ember/nn/Weights.h"

using namespace ember;

namespace {

int list(const std::string& path) {
  nn::WeightsFormat format = nn::detect_weights_format(path);
  nn::NamedTensors tensors = nn::load_weights_file(path);
  size_t width = 4;
  for (auto& kv : tensors) width = std::max(width, kv.first.size());
  int64_t params = 0;
  for (auto& [name, t] : tensors) {
    std::cout << std::left << std::setw(static_cast<int>(width) + 2) << name << std::setw(5) << dtype_name(t.dtype())
              << fmt(t.shape()) << "\n";
    params += t.numel();
  }
  std::cout << path << ": " << nn::format_name(format) << ", " << tensors.size() << " tensors, " << params
            << " parameters\n";
  return 0;
}

int convert(const std::string& in, const std::string& out) {
  nn::WeightsFormat format = nn::detect_weights_format(in);
  nn::Metadata metadata;
  nn::NamedTensors tensors;
  if (format == nn::WeightsFormat::Safetensors) {
    nn::SafetensorsFile f = nn::load_safetensors(in);
    tensors = std::move(f.tensors);
    metadata = std::move(f.metadata);
  } else {
    tensors = nn::load_weights_file(in);
    metadata["format"] = "pt";  // what HuggingFace tools expect of torch weights
  }
  nn::save_safetensors(out, tensors, metadata);
  std::cout << in << " (" << nn::format_name(format) << ") -> " << out << ": " << tensors.size() << " tensors\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Convert PyTorch .pth weights to safetensors, or list a weights file"};
  std::vector<std::string> files;
  bool list_only = false;
  app.add_flag("--list,-l", list_only, "list FILE's tensors (name, dtype, shape) instead of converting");
  app.add_option("files", files, "IN OUT to convert, or FILE with --list")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    if (list_only) {
      if (files.size() != 1) throw CLI::ValidationError("--list takes one FILE, got " + std::to_string(files.size()));
      return list(files[0]);
    }
    if (files.size() != 2) throw CLI::ValidationError("expected IN OUT, got " + std::to_string(files.size()) + " files");
    return convert(files[0], files[1]);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {  // ember::Error names the file; anything else gets it here
    std::cerr << "ember-convert: " << e.what() << "\n";
    return 1;
  }
}
