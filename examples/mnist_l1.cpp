// examples/mnist_l1.cpp: the MNIST example of the blog post "Custom Models and Loss Functions in
// FastAI", made faithful in C++ with Ember.
//
//   model:  Linear(784, 100) -> Sigmoid -> Linear(100, 10) -> Sigmoid -> Softmax
//   loss:   |pred - onehot(target)| summed over the 10 classes, averaged over the batch
//   train:  SGD at lr 1, bs 64, 10 epochs, 20% of the training set held out for validation
//   metric: batch_accuracy = argmax(pred) == argmax(onehot)
// It prints fastai's results table, predicts one validation image, prints the confusion
// matrix, and writes the table as CSV and the plots as PNG (gnuplot) + CSV.
//
//   ./build/bin/mnist_l1 --data ../shared/data/mnist --epochs 10
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iomanip>
#include <iostream>

#include "ember/datasets/ImageFolder.h"
#include "ember/datasets/Mnist.h"
#include "ember/ember.h"
#include "example_util.h"
#include "ember/learner/Cli.h"

using namespace ember;
using namespace ember::examples;

namespace {

// loss = |pred - onehot| summed over classes, averaged over the batch
class MnistL1Loss : public nn::Loss {
 public:
  MnistL1Loss() : Loss("mnist_loss") {}
  Tensor forward(const Tensor& pred, const Tensor& onehot) override {
    return (pred - onehot).abs().sum({1}).mean();
  }
};

std::shared_ptr<nn::Sequential> mnist_model() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(28 * 28, 100), std::make_shared<nn::Sigmoid>(),
      std::make_shared<nn::Linear>(100, 10), std::make_shared<nn::Sigmoid>(), std::make_shared<nn::Softmax>(1)});
}

// A 28x28 digit as text, darker pixels as denser characters.
void print_digit(const Tensor& img784) {
  const char* shades = " .:-=+*#%@";
  std::vector<float> v = img784.to_vector<float>();
  for (int r = 0; r < 28; ++r) {
    std::string line;
    for (int c = 0; c < 28; ++c) line += shades[std::min(9, static_cast<int>(v[r * 28 + c] * 9.999f))];
    std::cout << "    " << line << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ember: an MNIST MLP trained with an L1 loss on softmax outputs, fastai-style"};
  std::string data, csv, out = "mnist_l1_out", device = "cpu";
  int epochs = 10, threads = 0;
  int64_t bs = 64;
  double lr = 1.0, valid_pct = 0.2;
  uint64_t seed = 125;
  app.add_option("--data", data, "IDX or mnist_png folder (default: $EMBER_DATA_DIR/mnist or ~/.cache/ember/mnist, fetched when absent)");
  app.add_option("--epochs", epochs, "epochs to train")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--lr", lr, "SGD learning rate")->check(kFinite)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--bs", bs, "batch size")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  app.add_option("--seed", seed, "seed of the split, the initial weights and the batch order")->capture_default_str();
  app.add_option("--valid-pct", valid_pct, "fraction of the training set held out")->check(kFinite)->check(CLI::Range(0.01, 0.99))->capture_default_str();
  add_device_flags(app, threads, device);
  app.add_option("--csv", csv, "write the results table here (epoch,train_loss,valid_loss,batch_accuracy,time)");
  app.add_option("--out", out, "folder for the plots (PNG + CSV)")->capture_default_str();
  std::string checkpoint, resume;
  app.add_option("--checkpoint", checkpoint, "save a resumable checkpoint here after every epoch (and on Ctrl-C)");
  app.add_option("--resume", resume, "continue the same training from this checkpoint, bit for bit")->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  try {
    Device dev = Device::parse(device);
    learner::set_threads(threads);
    learner::ensure_dir(out);  // outputs are checked before training, not after
    if (!csv.empty()) learner::check_writable_file(csv, "--csv");
    // --- data: a 20% validation split of the 60,000 training images -------------------
    std::string dir = mnist_dir(data);
    Mnist mnist = load_mnist(dir, /*train=*/true);
    Split split = RandomSplitter(valid_pct, seed)(mnist.size());
    Tensor x = mnist.images.reshape({mnist.size(), 28 * 28}).to(DType::f32) / 255.0;
    Tensor y = one_hot(mnist.labels, 10);
    auto rows = [](const Tensor& t, const std::vector<int64_t>& idx) { return index_select(t, 0, from_vector(idx)); };
    auto train = std::make_shared<DataLoader>(rows(x, split.train), rows(y, split.train),
                                              DataLoaderOptions{bs, true, true, seed});
    auto valid = std::make_shared<DataLoader>(rows(x, split.valid), rows(y, split.valid), DataLoaderOptions{bs});
    std::vector<std::string> vocab;
    for (int i = 0; i < 10; ++i) vocab.push_back(std::to_string(i));
    std::cout << "MNIST from " << dir << ": " << split.train.size() << " training, " << split.valid.size()
              << " validation images\n";

    // --- model, loss, learner ---------------------------------------------------------------
    manual_seed(seed);
    auto model = mnist_model();
    std::cout << *model << "\n";
    learner::Metric acc{"batch_accuracy", learner::batch_accuracy};
    learner::Learner learn({train, valid, vocab}, model, std::make_shared<MnistL1Loss>(), learner::sgd(), {acc});
    if (dev != Device::cpu()) learn.to(dev);
    learn.config = run_config(app);  // a checkpoint of other settings is refused, not mixed in
    if (!resume.empty()) learn.resume(resume);
    learner::CallbackList fit_cbs;
    if (!checkpoint.empty()) fit_cbs.push_back(std::make_shared<learner::CheckpointCallback>(checkpoint));
    learn.fit(epochs, lr, fit_cbs);
    if (!csv.empty()) learn.recorder->write_csv(csv);

    // --- look at the results ----------------------------------------------------------------
    Example first = valid->dataset().get(0);
    Tensor item = first.x;
    learner::Prediction p = learn.predict(item);
    std::cout << "\nOne validation image (label " << first.y.argmax(0).item<int64_t>()
              << "), predicted " << p.label << " with probability " << std::fixed << std::setprecision(3)
              << p.probs.select(0, p.index).item() << ":\n";
    print_digit(item);

    auto interp = learner::ClassificationInterpretation::from_learner(learn);
    std::cout << "\n" << interp.format_confusion_matrix() << interp.format_most_confused(5) << "\n";

    bool plotted = interp.plot_confusion_matrix(out + "/confusion_matrix.png");
    plotted = learner::plot_loss(*learn.recorder, out + "/loss.png") && plotted;
    std::cout << "Plots" << (plotted ? " and their CSV" : " (CSV only)") << " written to " << out << "/\n";
    return 0;
  } catch (const learner::TrainingInterrupted& e) {
    std::cerr << "mnist_l1: " << e.what() << "\n";
    return 130;
  } catch (const std::exception& e) {
    std::cerr << "mnist_l1: " << e.what() << "\n";
    return 1;
  }
}
