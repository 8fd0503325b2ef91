// learner/Vision.cpp: create_head, cnn_learner and the ResNet splitter (see Vision.h).
#include "ember/learner/Vision.h"

#include "ember/nn/Init.h"
#include "ember/nn/Weights.h"

namespace ember {
namespace learner {

const std::vector<double> kImagenetMean = {0.485, 0.456, 0.406};
const std::vector<double> kImagenetStd = {0.229, 0.224, 0.225};

Tensor normalize(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& std) {
  const int64_t c = static_cast<int64_t>(mean.size());
  EMBER_CHECK(x.dim() == 4 && x.shape()[1] == c && std.size() == mean.size(), "normalize: input ", fmt(x.shape()),
              " must be [N, ", c, ", H, W] for ", c, " channel means");
  TensorOptions o(x.dtype(), x.device());
  Tensor m = from_vector(mean, {1, c, 1, 1}).to(x.dtype()).to(x.device());
  Tensor s = from_vector(std, {1, c, 1, 1}).to(x.dtype()).to(x.device());
  return (x - m) / s;
}

namespace {
// fastai's BatchNorm: weight 1, bias 1e-3.
std::shared_ptr<nn::BatchNorm1d> fastai_bn(int64_t n) {
  auto bn = std::make_shared<nn::BatchNorm1d>(n);
  nn::init::constant_(bn->bias, 1e-3);
  return bn;
}
}  // namespace

std::shared_ptr<nn::Sequential> create_head(int64_t nf, int64_t n_out, std::vector<int64_t> lin_ftrs, double ps,
                                            bool concat_pool) {
  if (concat_pool) nf *= 2;
  std::vector<int64_t> sizes = {nf};
  sizes.insert(sizes.end(), lin_ftrs.begin(), lin_ftrs.end());
  sizes.push_back(n_out);
  // fastai: ps = [ps/2] * (len(lin_ftrs) - 1) + [ps], one per linear layer.
  const size_t n_lin = sizes.size() - 1;
  auto head = std::make_shared<nn::Sequential>();
  if (concat_pool) head->push_back(std::make_shared<nn::AdaptiveConcatPool2d>(1));
  else head->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
  head->push_back(std::make_shared<nn::Flatten>());
  for (size_t i = 0; i < n_lin; ++i) {
    const double p = i + 1 == n_lin ? ps : ps / 2;
    head->push_back(fastai_bn(sizes[i]));
    head->push_back(std::make_shared<nn::Dropout>(p));
    auto lin = std::make_shared<nn::Linear>(sizes[i], sizes[i + 1], false);
    nn::init::kaiming_normal_(lin->weight, 0, "leaky_relu");  // torch's default a=0: gain sqrt(2)
    head->push_back(lin);
    if (i + 1 < n_lin) head->push_back(std::make_shared<nn::ReLU>());
  }
  return head;
}

std::vector<std::vector<Tensor>> resnet_split(nn::Module& model) {
  auto kids = model.named_children();
  EMBER_CHECK(kids.size() == 2, "resnet_split: expected Sequential(body, head), got ", kids.size(), " children");
  auto body = std::dynamic_pointer_cast<nn::Sequential>(kids[0].second);
  EMBER_CHECK(body && body->size() >= 6, "resnet_split: the body must be a Sequential of at least 6 layers");
  std::vector<std::vector<Tensor>> groups(3);
  for (size_t i = 0; i < body->size(); ++i)
    for (auto& p : (*body)[i]->parameters()) groups[i < 6 ? 0 : 1].push_back(p);
  groups[2] = kids[1].second->parameters();
  return groups;
}

std::unique_ptr<Learner> cnn_learner(DataLoaders dls, const Arch& arch, int64_t n_out, CnnOptions opt) {
  std::shared_ptr<nn::ResNet> net = arch(1000);
  if (!opt.weights.empty()) nn::load_weights(*net, opt.weights);
  auto body = std::make_shared<nn::Sequential>();
  std::vector<std::shared_ptr<nn::Module>> layers = net->layers();
  for (size_t i = 0; i + 2 < layers.size(); ++i) body->push_back(layers[i]);  // cut at -2
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{body, create_head(512, n_out)});
  if (!opt.weights.empty() && opt.normalize) {
    auto before = dls.after_batch;
    dls.after_batch = [before](const Tensor& x) {
      return normalize(before ? before(x) : x, kImagenetMean, kImagenetStd);
    };
  }
  if (!opt.loss) opt.loss = std::make_shared<nn::CrossEntropyLoss>();
  if (opt.metrics.empty()) opt.metrics = {accuracy_metric()};
  auto learn = std::make_unique<Learner>(std::move(dls), model, opt.loss, opt.opt_func, opt.metrics, opt.cbs);
  learn->splitter = resnet_split;
  learn->lr = opt.lr;
  learn->freeze();
  return learn;
}

}  // namespace learner
}  // namespace ember
