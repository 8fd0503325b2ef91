// learner/Plot.h: PNG plots drawn by gnuplot from a generated script.
//
// Each plot writes, next to `png` (same path, other extension): the numbers as
// .csv (always, even without gnuplot) and the gnuplot script as .gp; then runs
// `gnuplot <script>`. When gnuplot is missing, one notice goes to stderr (once per
// process) and the functions return false; the CSV is still there.
#pragma once

#include <string>
#include <vector>

#include "ember/autograd/Ops.h"
#include "ember/tensor/Tensor.h"

namespace ember {
namespace learner {

class Recorder;
struct LRFindResult;

// The gnuplot binary to run (default "gnuplot"); "" turns plotting off.
void set_gnuplot_binary(const std::string& binary);
bool gnuplot_available();
// "dir/loss.png" -> "dir/loss.csv"
std::string sibling_path(const std::string& png, const std::string& ext);

// Smoothed training loss per batch and validation loss at each epoch's end (fastai's
// plot_loss). CSVs: <stem>.csv (iteration,train_loss,raw_loss,lr) and
// <stem>_valid.csv (epoch,iteration,valid_loss).
bool plot_loss(const Recorder& rec, const std::string& png);
// The learning rate and momentum of every training batch (fastai's plot_sched).
// CSV: iteration,lr,mom.
bool plot_sched(const Recorder& rec, const std::string& png);
// Loss against learning rate on a log axis, with the valley point. CSV: lr,loss.
bool plot_lr_find(const LRFindResult& r, const std::string& png);
// Lines with error bars: one series per name, mean +- sd at each x (e.g. accuracy against the
// loss weight w over repeated runs). CSV: x,<name>_mean,<name>_sd,...
struct Series {
  std::string name;
  std::vector<double> mean, sd;
};
bool plot_errorbars(const std::vector<double>& x, const std::vector<Series>& series, const std::string& xlabel,
                    const std::string& ylabel, const std::string& png);
// Histograms side by side: counts (or fractions) per bin for each series, over the bins
// [edges[i], edges[i+1]) (edges.size() = bins + 1), drawn as clustered boxes. CSV:
// bin_lo,bin_hi,<name>,...
struct Histogram {
  std::string name;
  std::vector<double> counts;  // one per bin
};
// Counts of `values` in `bins` equal bins over [lo, hi] (values outside are clamped into the first
// or last bin; the last bin includes hi). fraction: divide by values.size().
std::vector<double> histogram_counts(const std::vector<double>& values, int bins, double lo, double hi,
                                     bool fraction = false);
bool plot_histogram(const std::vector<double>& edges, const std::vector<Histogram>& series, const std::string& xlabel,
                    const std::string& ylabel, const std::string& png);
// Heatmap of cm [C, C] (rows actual) with the counts written in. CSV: the matrix with names.
bool plot_confusion_matrix(const Tensor& cm, const std::vector<std::string>& vocab, const std::string& png);

}  // namespace learner
}  // namespace ember
