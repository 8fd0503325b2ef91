// datasets/Dataset.cpp: stacking, TensorDataset, Subset, ImageFileDataset.
//
// Batches are built with plain memcpy on cpu tensors (no tensor ops), so building them in
// the DataLoader's thread touches no shared state.
#include "ember/datasets/Dataset.h"

#include <cstring>

#include "ember/datasets/Image.h"

namespace ember {

namespace {
// Copies `src` (any layout, cpu) into `dst` bytes.
void copy_bytes(const Tensor& src, uint8_t* dst) {
  Tensor c = src.is_contiguous() ? src : src.contiguous();
  std::memcpy(dst, c.raw_data(), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
}

Tensor stack_part(const std::vector<Example>& items, bool take_x, const char* who) {
  const char* part = take_x ? "x" : "y";
  const Tensor& first = take_x ? items[0].x : items[0].y;
  EMBER_CHECK(first.defined(), who, ": item 0 has no ", part);
  Shape shape{static_cast<int64_t>(items.size())};
  shape.insert(shape.end(), first.shape().begin(), first.shape().end());
  Tensor out = empty(shape, first.dtype());
  size_t row = static_cast<size_t>(first.numel()) * dtype_size(first.dtype());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (size_t i = 0; i < items.size(); ++i) {
    const Tensor& t = take_x ? items[i].x : items[i].y;
    EMBER_CHECK(t.defined(), who, ": item ", i, " has no ", part);
    EMBER_CHECK(t.shape() == first.shape() && t.dtype() == first.dtype(), who, ": item ", i, " has ",
                part, " ", dtype_name(t.dtype()), " ", fmt(t.shape()), " but item 0 has ",
                dtype_name(first.dtype()), " ", fmt(first.shape()),
                "; items of one batch must have one shape (resize the images, or use batch_size 1)");
    EMBER_CHECK(t.device().is_cpu(), who, ": item ", i, " is on ", t.device().str(),
                "; datasets hand out cpu tensors");
    copy_bytes(t, dst + i * row);
  }
  return out;
}

void check_index(int64_t i, int64_t n, const char* who) {
  EMBER_CHECK(i >= 0 && i < n, who, ": index ", i, " out of range for ", n, " items");
}
}  // namespace

Example stack_examples(const std::vector<Example>& items, const char* who) {
  EMBER_CHECK(!items.empty(), who, ": cannot stack an empty list of items");
  return {stack_part(items, true, who), stack_part(items, false, who)};
}

Example Dataset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<Example> items;
  items.reserve(indices.size());
  for (int64_t i : indices) {
    check_index(i, size(), "Dataset::get_batch");
    items.push_back(get(i));
  }
  return stack_examples(items, "Dataset::get_batch");
}

// ---------------------------------------------------------------------------
TensorDataset::TensorDataset(Tensor x, Tensor y) {
  EMBER_CHECK(x.defined() && y.defined(), "TensorDataset: x and y must both be defined");
  EMBER_CHECK(x.dim() >= 1 && y.dim() >= 1, "TensorDataset: x ", fmt(x.shape()), " and y ",
              fmt(y.shape()), " need a first (item) dimension");
  EMBER_CHECK(x.size(0) == y.size(0), "TensorDataset: x has ", x.size(0), " items ", fmt(x.shape()),
              " but y has ", y.size(0), " ", fmt(y.shape()));
  x_ = x.detach().cpu().contiguous();
  y_ = y.detach().cpu().contiguous();
}

int64_t TensorDataset::size() const { return x_.size(0); }

Example TensorDataset::get(int64_t i) const {
  check_index(i, size(), "TensorDataset");
  return {x_.select(0, i), y_.select(0, i)};
}

Example TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  auto gather = [&](const Tensor& src) {
    Shape shape = src.shape();
    shape[0] = static_cast<int64_t>(indices.size());
    Tensor out = empty(shape, src.dtype());
    size_t row = static_cast<size_t>(src.numel() / std::max<int64_t>(src.size(0), 1)) *
                 dtype_size(src.dtype());
    const auto* s = static_cast<const uint8_t*>(src.raw_data());
    auto* d = static_cast<uint8_t*>(out.raw_data());
    for (size_t k = 0; k < indices.size(); ++k)
      std::memcpy(d + k * row, s + static_cast<size_t>(indices[k]) * row, row);
    return out;
  };
  for (int64_t i : indices) check_index(i, size(), "TensorDataset");
  return {gather(x_), gather(y_)};
}

// ---------------------------------------------------------------------------
Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  EMBER_CHECK(base_ != nullptr, "Subset: null base dataset");
  for (int64_t i : indices_) check_index(i, base_->size(), "Subset");
}

Example Subset::get(int64_t i) const {
  check_index(i, size(), "Subset");
  return base_->get(indices_[static_cast<size_t>(i)]);
}

std::vector<int64_t> Subset::map(const std::vector<int64_t>& indices) const {
  std::vector<int64_t> mapped;
  mapped.reserve(indices.size());
  for (int64_t i : indices) {
    check_index(i, size(), "Subset");
    mapped.push_back(indices_[static_cast<size_t>(i)]);
  }
  return mapped;
}

Example Subset::get_batch(const std::vector<int64_t>& indices) const { return base_->get_batch(map(indices)); }

Example Subset::get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const {
  return base_->get_epoch_batch(map(indices), epoch);
}

// ---------------------------------------------------------------------------
ImageFileDataset::ImageFileDataset(LabelledFiles files, int channels)
    : files_(std::move(files)), channels_(channels) {
  EMBER_CHECK(files_.labels.size() == files_.files.size(), "ImageFileDataset: ", files_.files.size(),
              " files but ", files_.labels.size(), " labels");
  EMBER_CHECK(channels >= 0 && channels <= 4, "ImageFileDataset: channels must be 0..4, got ", channels);
}

Example ImageFileDataset::get(int64_t i) const {
  check_index(i, size(), "ImageFileDataset");
  auto k = static_cast<size_t>(i);
  Tensor y = empty({}, DType::i64);
  *y.data<int64_t>() = files_.labels[k];
  return {read_image(files_.files[k], channels_), y};
}

}  // namespace ember
