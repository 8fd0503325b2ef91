// fuzz/fuzz_class_tree.cpp: nn/Hierarchy.h text parsers: ClassTree::from_file (the parent file)
// and load_cost_matrix (the cost-matrix file).
// The first byte picks: even -> the parent file; odd -> the cost matrix with N = byte / 2 (0..127)
// classes. The rest is the file. ember::Error is the expected outcome; anything else is a finding.
#include <cstdint>
#include <exception>

#include "FuzzFile.h"
#include "ember/nn/Hierarchy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  std::string path = ember_fuzz::write_input("class_tree", data + 1, size - 1);
  try {
    if (mode % 2 == 0) {
      ember::hier::ClassTree t = ember::hier::ClassTree::from_file(path);
      (void)t;
    } else {
      ember::Tensor c = ember::hier::load_cost_matrix(path, int64_t(mode / 2));
      (void)c;
    }
  } catch (const std::exception&) {
  }
  return 0;
}
