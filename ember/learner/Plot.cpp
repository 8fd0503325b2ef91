// learner/Plot.cpp: CSV + gnuplot script writers and the gnuplot runner.
#include "ember/learner/Plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>

#include "ember/learner/Callbacks.h"
#include "ember/tensor/AtomicFile.h"

namespace ember {
namespace learner {

namespace {
std::mutex g_mu;
std::string g_binary = "gnuplot";
int g_available = -1;  // -1 unknown
bool g_noticed = false;

// Single quotes for the shell: 'it'\''s'.
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Single quotes for gnuplot strings: '' inside.
std::string gp_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

// Writes the script and runs gnuplot on it. False (after one notice) without gnuplot.
bool run_gnuplot(const std::string& png, const std::string& script) {
  std::string gp = sibling_path(png, ".gp");
  write_text_atomic(gp, script, "plot");
  if (!gnuplot_available()) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!g_noticed) {
      std::cerr << "ember: gnuplot not found; writing plot data as CSV only (install gnuplot-nox for PNGs)\n";
      g_noticed = true;
    }
    return false;
  }
  std::string bin;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    bin = g_binary;
  }
  std::string cmd = shell_quote(bin) + " " + shell_quote(gp) + " 2>&1";
  int rc = std::system(cmd.c_str());
  EMBER_CHECK(rc == 0, "plot: gnuplot failed (exit ", rc, ") on '", gp, "' for '", png, "'");
  return true;
}

std::string num(double v) {
  std::ostringstream os;
  os << std::setprecision(10) << v;
  return os.str();
}

std::string short_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

std::string png_header(const std::string& png, int w, int h) {
  return "set terminal pngcairo size " + std::to_string(w) + "," + std::to_string(h) + "\nset output " +
         gp_quote(png) + "\nset datafile separator ','\n";
}
}  // namespace

void set_gnuplot_binary(const std::string& binary) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_binary = binary;
  g_available = -1;
  g_noticed = false;
}

bool gnuplot_available() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_available < 0) {
    if (g_binary.empty()) {
      g_available = 0;
    } else {
      std::string cmd = shell_quote(g_binary) + " --version >/dev/null 2>&1";
      g_available = std::system(cmd.c_str()) == 0 ? 1 : 0;
    }
  }
  return g_available == 1;
}

std::string sibling_path(const std::string& png, const std::string& ext) {
  size_t slash = png.find_last_of('/');
  size_t dot = png.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return png + ext;
  return png.substr(0, dot) + ext;
}

bool plot_loss(const Recorder& rec, const std::string& png) {
  std::ostringstream csv;
  csv << "iteration,train_loss,raw_loss,lr\n";
  for (size_t i = 0; i < rec.losses.size(); ++i)
    csv << i << "," << num(rec.losses[i]) << "," << num(i < rec.raw_losses.size() ? rec.raw_losses[i] : 0) << ","
        << num(i < rec.lrs.size() ? rec.lrs[i] : 0) << "\n";
  std::string csv_path = sibling_path(png, ".csv");
  write_text_atomic(csv_path, csv.str(), "plot");
  std::ostringstream vcsv;
  vcsv << "epoch,iteration,valid_loss\n";
  for (size_t e = 0; e < rec.values.size() && e < rec.epoch_end_iters.size(); ++e)
    vcsv << e << "," << rec.epoch_end_iters[e] << "," << num(rec.values[e].size() > 1 ? rec.values[e][1] : 0) << "\n";
  std::string vcsv_path = sibling_path(png, "_valid.csv");
  write_text_atomic(vcsv_path, vcsv.str(), "plot");

  std::string s = png_header(png, 800, 500);
  s += "set title 'Loss'\nset xlabel 'iteration'\nset ylabel 'loss'\nset grid\nset key top right\n";
  s += "plot " + gp_quote(csv_path) + " using 1:2 skip 1 with lines lw 2 title 'train (smoothed)'";
  if (!rec.values.empty())
    s += ", " + gp_quote(vcsv_path) + " using 2:3 skip 1 with linespoints lw 2 pt 7 title 'valid'";
  s += "\n";
  return run_gnuplot(png, s);
}

bool plot_sched(const Recorder& rec, const std::string& png) {
  std::ostringstream csv;
  csv << "iteration,lr,mom\n";
  for (size_t i = 0; i < rec.lrs.size(); ++i)
    csv << i << "," << num(rec.lrs[i]) << "," << num(i < rec.moms.size() ? rec.moms[i] : 0) << "\n";
  std::string csv_path = sibling_path(png, ".csv");
  write_text_atomic(csv_path, csv.str(), "plot");
  std::string s = png_header(png, 1000, 400);
  s += "set multiplot layout 1,2\nset grid\nset key off\nset xlabel 'iteration'\n";
  s += "set title 'learning rate'\nplot " + gp_quote(csv_path) + " using 1:2 skip 1 with lines lw 2\n";
  s += "set title 'momentum'\nplot " + gp_quote(csv_path) + " using 1:3 skip 1 with lines lw 2\n";
  s += "unset multiplot\n";
  return run_gnuplot(png, s);
}

bool plot_lr_find(const LRFindResult& r, const std::string& png) {
  std::ostringstream csv;
  csv << "lr,loss\n";
  for (size_t i = 0; i < r.lrs.size() && i < r.losses.size(); ++i) csv << num(r.lrs[i]) << "," << num(r.losses[i]) << "\n";
  std::string csv_path = sibling_path(png, ".csv");
  write_text_atomic(csv_path, csv.str(), "plot");
  std::string s = png_header(png, 800, 500);
  s += "set title 'Learning rate finder'\nset xlabel 'learning rate'\nset ylabel 'loss (smoothed)'\n";
  s += "set logscale x\nset format x '%.0e'\nset grid\nset key top left\n";
  s += "plot " + gp_quote(csv_path) + " using 1:2 skip 1 with lines lw 2 title 'loss'";
  if (r.valley_index < r.lrs.size() && r.valley_index < r.losses.size())
    s += ", '-' using 1:2 with points pt 7 ps 2 lc rgb 'red' title 'valley " + short_num(r.valley_lr) + "'\n" +
         num(r.lrs[r.valley_index]) + "," + num(r.losses[r.valley_index]) + "\ne";
  s += "\n";
  return run_gnuplot(png, s);
}

bool plot_errorbars(const std::vector<double>& x, const std::vector<Series>& series, const std::string& xlabel,
                    const std::string& ylabel, const std::string& png) {
  std::ostringstream csv;
  csv << "x";
  for (auto& se : series) csv << "," << se.name << "_mean," << se.name << "_sd";
  csv << "\n";
  for (size_t i = 0; i < x.size(); ++i) {
    csv << num(x[i]);
    for (auto& se : series)
      csv << "," << num(i < se.mean.size() ? se.mean[i] : 0) << "," << num(i < se.sd.size() ? se.sd[i] : 0);
    csv << "\n";
  }
  std::string csv_path = sibling_path(png, ".csv");
  write_text_atomic(csv_path, csv.str(), "plot");
  std::string s = png_header(png, 800, 500);
  s += "set grid\nset key bottom right\nset xlabel " + gp_quote(xlabel) + "\nset ylabel " + gp_quote(ylabel) + "\n";
  s += "plot ";
  for (size_t k = 0; k < series.size(); ++k) {
    const std::string m = std::to_string(2 + 2 * k), d = std::to_string(3 + 2 * k);
    s += (k ? ", " : "") + gp_quote(csv_path) + " using 1:" + m + ":" + d + " skip 1 with yerrorlines lw 2 title " +
         gp_quote(series[k].name);
  }
  s += "\n";
  return run_gnuplot(png, s);
}

std::vector<double> histogram_counts(const std::vector<double>& values, int bins, double lo, double hi, bool fraction) {
  EMBER_CHECK(bins >= 1 && hi > lo, "histogram_counts: need bins >= 1 and hi > lo, got ", bins, " bins over [", lo, ", ",
              hi, "]");
  std::vector<double> counts(static_cast<size_t>(bins), 0.0);
  for (double v : values) {
    if (std::isnan(v)) continue;
    auto b = static_cast<int64_t>(std::floor((v - lo) / (hi - lo) * bins));
    b = std::min<int64_t>(std::max<int64_t>(b, 0), bins - 1);
    counts[static_cast<size_t>(b)] += 1;
  }
  if (fraction && !values.empty())
    for (double& c : counts) c /= static_cast<double>(values.size());
  return counts;
}

bool plot_histogram(const std::vector<double>& edges, const std::vector<Histogram>& series, const std::string& xlabel,
                    const std::string& ylabel, const std::string& png) {
  EMBER_CHECK(edges.size() >= 2, "plot_histogram: need at least 2 bin edges, got ", edges.size());
  const size_t bins = edges.size() - 1;
  for (const Histogram& h : series)
    EMBER_CHECK(h.counts.size() == bins, "plot_histogram: series '", h.name, "' has ", h.counts.size(),
                " counts for ", bins, " bins");
  std::ostringstream csv;
  csv << "bin_lo,bin_hi";
  for (const Histogram& h : series) {
    std::string n = h.name;
    for (char& ch : n)
      if (ch == ',' || ch == '\n' || ch == '"') ch = ' ';
    csv << "," << n;
  }
  csv << "\n";
  for (size_t i = 0; i < bins; ++i) {
    csv << num(edges[i]) << "," << num(edges[i + 1]);
    for (const Histogram& h : series) csv << "," << num(h.counts[i]);
    csv << "\n";
  }
  const std::string csv_path = sibling_path(png, ".csv");
  write_text_atomic(csv_path, csv.str(), "plot");
  // Clustered boxes: series k of bin i is a box at the bin centre shifted by its slot.
  const double k = static_cast<double>(std::max<size_t>(series.size(), 1));
  std::string s = png_header(png, 900, 500);
  s += "set termoption noenhanced\nset grid ytics\nset key top center\nset style fill solid 0.7 border -1\nset xlabel " + gp_quote(xlabel) +
       "\nset ylabel " + gp_quote(ylabel) + "\nset xrange [" + num(edges.front()) + ":" + num(edges.back()) + "]\n";
  s += "plot ";
  for (size_t j = 0; j < series.size(); ++j) {
    const std::string w = "(($2-$1)*0.9/" + num(k) + ")";
    const std::string x = "($1+($2-$1)*0.05+" + w + "*(" + std::to_string(j) + "+0.5))";
    s += (j ? ", " : "") + gp_quote(csv_path) + " using " + x + ":" + std::to_string(3 + j) + ":" + w +
         " skip 1 with boxes title " + gp_quote(series[j].name);
  }
  s += "\n";
  return run_gnuplot(png, s);
}

bool plot_confusion_matrix(const Tensor& cm, const std::vector<std::string>& vocab, const std::string& png) {
  EMBER_CHECK(cm.dim() == 2 && cm.size(0) == cm.size(1), "plot_confusion_matrix: expected a [C, C] matrix, got ",
              fmt(cm.shape()));
  int64_t c = cm.size(0);
  std::vector<int64_t> v = cm.to_vector<int64_t>();
  auto name = [&](int64_t i) {
    std::string n = i < static_cast<int64_t>(vocab.size()) ? vocab[static_cast<size_t>(i)] : std::to_string(i);
    for (char& ch : n)
      if (ch == ',' || ch == '\n' || ch == '"') ch = ' ';
    return n;
  };
  std::ostringstream csv;
  csv << "actual\\predicted";
  for (int64_t j = 0; j < c; ++j) csv << "," << name(j);
  csv << "\n";
  for (int64_t i = 0; i < c; ++i) {
    csv << name(i);
    for (int64_t j = 0; j < c; ++j) csv << "," << v[static_cast<size_t>(i * c + j)];
    csv << "\n";
  }
  std::string csv_path = sibling_path(png, ".csv");
  write_text_atomic(csv_path, csv.str(), "plot");
  int side = static_cast<int>(std::min<int64_t>(400 + 40 * c, 1600));
  std::string s = png_header(png, side + 100, side);
  std::string range = "[-0.5:" + num(static_cast<double>(c) - 0.5) + "]";
  s += "set title 'Confusion matrix'\nset xlabel 'Predicted'\nset ylabel 'Actual'\nset key off\n";
  s += "set xrange " + range + "\nset yrange [" + num(static_cast<double>(c) - 0.5) + ":-0.5]\n";
  s += "set palette defined (0 'white', 1 '#08306b')\nset xtics rotate by 45 right\n";
  s += "plot " + gp_quote(csv_path) + " matrix rowheaders columnheaders using 1:2:3 with image, " + gp_quote(csv_path) +
       " matrix rowheaders columnheaders using 1:2:(sprintf('%d', $3)) with labels tc rgb '#c04000'\n";
  return run_gnuplot(png, s);
}

}  // namespace learner
}  // namespace ember
