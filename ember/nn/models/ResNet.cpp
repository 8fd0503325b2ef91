// nn/models/ResNet.cpp: torchvision's ResNet-18/34 (see ResNet.h).
#include "ember/nn/models/ResNet.h"

#include "ember/nn/Init.h"

namespace ember {
namespace nn {

namespace {
std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<Conv2d>(in, out, 3, stride, 1, false);
}
}  // namespace

BasicBlock::BasicBlock(int64_t inplanes, int64_t planes, int64_t stride) : Module("BasicBlock") {
  conv1 = register_module("conv1", conv3x3(inplanes, planes, stride));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  relu = register_module("relu", std::make_shared<ReLU>());
  conv2 = register_module("conv2", conv3x3(planes, planes, 1));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  if (stride != 1 || inplanes != planes)
    downsample = register_module("downsample", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                                                   std::make_shared<Conv2d>(inplanes, planes, 1, stride, 0, false),
                                                   std::make_shared<BatchNorm2d>(planes)}));
}

Tensor BasicBlock::forward(const Tensor& x) {
  // Children are called through operator(), which names them in anomaly mode.
  Tensor out = (*relu)((*bn1)((*conv1)(x)));
  out = (*bn2)((*conv2)(out));
  return (*relu)(out + (downsample ? (*downsample)(x) : x));
}

ResNet::ResNet(std::vector<int> blocks, int64_t num_classes) : Module("ResNet") {
  EMBER_CHECK(blocks.size() == 4, "ResNet: needs 4 stages of blocks, got ", blocks.size());
  conv1 = register_module("conv1", std::make_shared<Conv2d>(3, 64, 7, 2, 3, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(64));
  relu = register_module("relu", std::make_shared<ReLU>());
  maxpool = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t inplanes = 64;
  auto stage = [&](const char* name, int64_t planes, int n, int64_t stride) {
    auto seq = std::make_shared<Sequential>();
    for (int i = 0; i < n; ++i) {
      seq->push_back(std::make_shared<BasicBlock>(inplanes, planes, i == 0 ? stride : 1));
      inplanes = planes;
    }
    return register_module(name, seq);
  };
  layer1 = stage("layer1", 64, blocks[0], 1);
  layer2 = stage("layer2", 128, blocks[1], 2);
  layer3 = stage("layer3", 256, blocks[2], 2);
  layer4 = stage("layer4", 512, blocks[3], 2);
  avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
  fc = register_module("fc", std::make_shared<Linear>(512, num_classes));
  for (auto& [name, m] : named_modules())
    if (auto* conv = dynamic_cast<Conv2d*>(m)) init::kaiming_normal_(conv->weight, 0, "relu", true);
}

Tensor ResNet::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& m : layers()) h = m == fc ? (*fc)(h.flatten(1)) : (*m)(h);
  return h;
}

std::vector<std::shared_ptr<Module>> ResNet::layers() const {
  return {conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool, fc};
}

std::shared_ptr<ResNet> resnet18(int64_t num_classes) { return std::make_shared<ResNet>(std::vector<int>{2, 2, 2, 2}, num_classes); }
std::shared_ptr<ResNet> resnet34(int64_t num_classes) { return std::make_shared<ResNet>(std::vector<int>{3, 4, 6, 3}, num_classes); }

}  // namespace nn
}  // namespace ember
