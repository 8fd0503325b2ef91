// nn/models/ResNet.h: torchvision's ResNet-18 and ResNet-34, with its exact module tree,
// so state_dict keys and shapes are torchvision's ("layer1.0.conv1.weight", ...) and its
// weight files load as they are (nn/Weights.h reads .pth and safetensors).
//
//   conv1 7x7/2 -> bn1 -> relu -> maxpool 3/2 -> layer1..layer4 -> avgpool -> flatten -> fc
//   BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)), where downsample is
//   a 1x1/stride conv + BN when the stride or the width changes, else the identity.
// Init as torchvision: convs kaiming_normal_(fan_out, relu), BN weight 1 and bias 0, fc as Linear.
#pragma once

#include <memory>
#include <vector>

#include "ember/nn/Conv.h"
#include "ember/nn/Layers.h"
#include "ember/nn/Norm.h"
#include "ember/nn/Pool.h"

namespace ember {
namespace nn {

class BasicBlock : public Module {
 public:
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<Sequential> downsample;  // null when the shortcut is the identity
};

class ResNet : public Module {
 public:
  // blocks per stage: {2, 2, 2, 2} for ResNet-18, {3, 4, 6, 3} for ResNet-34.
  ResNet(std::vector<int> blocks, int64_t num_classes = 1000);
  Tensor forward(const Tensor& x) override;
  // The children in torchvision's order (conv1, bn1, relu, maxpool, layer1..4, avgpool, fc):
  // cnn_learner's body is the first 8 (fastai cuts at -2).
  std::vector<std::shared_ptr<Module>> layers() const;

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<MaxPool2d> maxpool;
  std::shared_ptr<Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Linear> fc;
};

std::shared_ptr<ResNet> resnet18(int64_t num_classes = 1000);
std::shared_ptr<ResNet> resnet34(int64_t num_classes = 1000);

}  // namespace nn
}  // namespace ember
