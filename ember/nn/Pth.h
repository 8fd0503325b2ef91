// nn/Pth.h: reading a PyTorch state_dict saved with torch.save (.pth / .pt / .bin).
//
// Two layouts exist:
//   zip (torch >= 1.6): a zip archive of stored (uncompressed) entries
//       <prefix>/data.pkl      the pickled state_dict; each tensor's storage is a
//                              persistent id ('storage', torch.FloatStorage, key, location, numel)
//       <prefix>/data/<key>    the raw little-endian bytes of storage <key>
//       <prefix>/version       the format version
//     The zip reader handles zip64 fields and refuses compressed entries by name.
//   legacy (torch < 1.6, e.g. torchvision's resnet18-5c106cde.pth, or
//     _use_new_zipfile_serialization=False): five pickles in a row (the magic number
//     0x1950a86a20f9469cfc6c, the protocol version 1001, the system info, the
//     state_dict with persistent ids ('storage', type, key, location, numel, view),
//     the list of storage keys), then each storage in that order as u64 numel + raw bytes.
//
// The unpickler (nn/Pickle.h) runs no code. The only globals allowed are
// collections.OrderedDict, torch._utils._rebuild_tensor(_v2), torch._utils._rebuild_parameter,
// torch._tensor._rebuild_from_type_v2 (with torch.Tensor / torch.nn.Parameter) and the
// storage types torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage;
// any other one is refused with its name:
//   load_pth: evil.pth: pickle asks for global 'os.system', which is not allowed in a state_dict
//
// Tensors come back on the CPU as contiguous copies, honouring the stored sizes,
// strides and storage offsets (each view is checked to lie inside its storage);
// tensors sharing a storage each get their own copy. Half, BFloat16 -> f32; Int,
// Short, Char -> i64; Bool -> u8 (as nn/Safetensors.h).
//
// The top-level object must be a dict of tensors (a state_dict), or a checkpoint dict
// holding one under 'state_dict' or 'model' (e.g. {'epoch': 3, 'state_dict': {...}}),
// which is what load_pth then returns.
#pragma once

#include <cstdint>
#include <string>

#include "ember/nn/Module.h"
#include "ember/nn/Pickle.h"

namespace ember {
namespace nn {

struct PthLimits {
  pickle::PickleLimits pickle;
  uint64_t max_elements = uint64_t(1) << 34;  // all tensors together
};

NamedTensors load_pth(const std::string& path, const PthLimits& limits = {});

}  // namespace nn
}  // namespace ember
