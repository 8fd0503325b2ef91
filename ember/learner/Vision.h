// learner/Vision.h: fastai's vision_learner (cnn_learner) for ResNets: body + new head,
// three layer groups, ImageNet normalisation for pretrained weights, frozen at the start.
//
//   auto learn = learner::cnn_learner(dls, nn::resnet18, 37, {.weights = "resnet18.pth"});
//   learn->fine_tune(3);   // 1 frozen epoch, then 3 unfrozen, fastai's schedule
//
// The model is Sequential(body, head), as fastai's, so its state_dict keys are fastai's:
// "0.0.weight" (conv1), "0.4.0.conv1.weight" (layer1.0.conv1), "1.2.weight" (head BN), ...
//   body: the ResNet's children up to (not including) avgpool and fc (fastai cuts at -2)
//   head: create_head(512, n_out): AdaptiveConcatPool2d -> Flatten -> BN1d(1024) -> Dropout(0.25)
//         -> Linear(1024, 512, bias=False) -> ReLU -> BN1d(512) -> Dropout(0.5) -> Linear(512, n_out, bias=False)
//   groups: [body[:6], body[6:], head] (conv1..layer2, layer3..layer4, head)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ember/learner/Learner.h"
#include "ember/nn/models/ResNet.h"

namespace ember {
namespace learner {

// fastai's create_head for a body with nf output features. Linear weights get
// kaiming_normal_ (fan_in, gain sqrt(2)), BatchNorm weight 1 and bias 1e-3 (fastai's BatchNorm).
std::shared_ptr<nn::Sequential> create_head(int64_t nf, int64_t n_out, std::vector<int64_t> lin_ftrs = {512},
                                            double ps = 0.5, bool concat_pool = true);

// ImageNet's channel statistics; pretrained weights expect inputs normalised with them.
extern const std::vector<double> kImagenetMean;  // {0.485, 0.456, 0.406}
extern const std::vector<double> kImagenetStd;   // {0.229, 0.224, 0.225}
// x [N, C, H, W] -> (x - mean[c]) / std[c]
Tensor normalize(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& std);

using Arch = std::function<std::shared_ptr<nn::ResNet>(int64_t num_classes)>;

struct CnnOptions {
  std::string weights;          // torchvision weights (.pth or .safetensors) for the arch; empty: random init
  bool normalize = true;        // with weights: add ImageNet normalisation to dls.after_batch
  std::shared_ptr<nn::Loss> loss;  // default: CrossEntropyLoss
  std::vector<Metric> metrics;  // default: accuracy
  OptFactory opt_func = fastai_adam();
  double lr = 1e-3;
  CallbackList cbs;
};

// The Learner is frozen (only the head, and every BatchNorm, trains) as fastai's.
std::unique_ptr<Learner> cnn_learner(DataLoaders dls, const Arch& arch, int64_t n_out, CnnOptions opt = {});

// The body/head split of a Sequential(body, head) model into fastai's three groups.
std::vector<std::vector<Tensor>> resnet_split(nn::Module& model);

}  // namespace learner
}  // namespace ember
