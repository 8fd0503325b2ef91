// examples/sweep_util.h: the pieces shared by the loss-weight sweeps of issue 6
// (examples/pets_hierarchy.cpp, examples/fashion_hierarchy.cpp).
//
//   std::vector<double> grid = sweep::parse_grid("0:1:0.25");          // or "0,0.5,1"
//   sweep::Table t{"epoch,train_loss,valid_loss,accuracy_fine,accuracy_coarse,w,id,severity,hd@5"};
//   std::vector<sweep::Row> rows = sweep::read_results(path, t);     // resume: what is there
//   std::map<int64_t, int> done = sweep::keep_finished(rows, epochs); // drops half-written runs
//   ... train run `id`, push its rows ...
//   write_text_atomic(path, sweep::format_rows(rows, t));           // after every run
//   sweep::summarize(rows, out_dir, {"fine", "coarse", "w (...)"});   // summary.csv + plot
//
// Every sweep writes the same nine columns: epoch, train_loss, valid_loss, the fine and the
// coarse accuracy, w, the run id, mistake severity and hd@5. Only the two accuracy names
// differ (the blog's accuracy_breed / accuracy_species for Pets), so a Table is its header.
#pragma once

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/Files.h"
#include "ember.h"

namespace ember {
namespace sweep {

// "0:1:0.05" (start:stop:step, stop included) or "0,0.5,1"; every value in [0, 1].
inline std::vector<double> parse_grid(const std::string& text) {
  std::vector<double> out;
  auto number = [&](const std::string& s) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    EMBER_CHECK(used == s.size() && !s.empty(), "--w: '", s, "' in '", text, "' is not a number");
    return v;
  };
  if (text.find(':') != std::string::npos) {
    std::stringstream ss(text);
    std::string a, b, c;
    std::getline(ss, a, ':'), std::getline(ss, b, ':'), std::getline(ss, c, ':');
    const double lo = number(a), hi = number(b), step = number(c);
    EMBER_CHECK(step > 0 && hi >= lo, "--w: '", text, "' must be start:stop:step with step > 0 and stop >= start");
    const int64_t n = static_cast<int64_t>(std::floor((hi - lo) / step + 1e-9));
    EMBER_CHECK(n < 100000, "--w: '", text, "' gives too many values");
    for (int64_t i = 0; i <= n; ++i) out.push_back(std::round((lo + static_cast<double>(i) * step) * 1e9) / 1e9);
  } else {
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(number(item));
  }
  EMBER_CHECK(!out.empty(), "--w: no values in '", text, "'");
  for (double w : out) EMBER_CHECK(w >= 0 && w <= 1, "--w: ", w, " is outside [0, 1]");
  return out;
}

// One epoch of one run: a line of results.csv.
struct Row {
  int epoch = 0;
  double train_loss = 0, valid_loss = 0, acc_fine = 0, acc_coarse = 0, w = 0;
  int64_t id = 0;
  double severity = 0, hd5 = 0;
};

struct Table {
  std::string header;  // the nine column names, comma-separated
};

// The rows of `path` ({} when it does not exist). A file with another header is refused (it is
// someone else's results), and so is a malformed line; errors name the file and line.
inline std::vector<Row> read_results(const std::string& path, const Table& t) {
  std::vector<Row> rows;
  std::ifstream f(path);
  if (!f.good()) return rows;
  std::string line;
  std::getline(f, line);
  EMBER_CHECK(line == t.header, path, " is not a results file of this program (header '", line,
              "'); use another --out");
  int n = 1;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty()) continue;
    Row r;
    char tail = 0;
    long long id = 0;
    int got = std::sscanf(line.c_str(), "%d,%lf,%lf,%lf,%lf,%lf,%lld,%lf,%lf%c", &r.epoch, &r.train_loss, &r.valid_loss,
                          &r.acc_fine, &r.acc_coarse, &r.w, &id, &r.severity, &r.hd5, &tail);
    EMBER_CHECK(got == 9, path, " line ", n, " is malformed: '", line, "'");
    r.id = id;
    rows.push_back(r);
  }
  return rows;
}

inline std::string format_rows(const std::vector<Row>& rows, const Table& t) {
  std::ostringstream os;
  os << t.header << "\n" << std::setprecision(10);
  for (const Row& r : rows)
    os << r.epoch << "," << r.train_loss << "," << r.valid_loss << "," << r.acc_fine << "," << r.acc_coarse << ","
       << r.w << "," << r.id << "," << r.severity << "," << r.hd5 << "\n";
  return os.str();
}


// Resume: keeps the rows of the runs that have all `epochs` rows (a run is written whole, so
// normally every run) and returns the number of rows per kept id.
inline std::map<int64_t, int> keep_finished(std::vector<Row>& rows, int epochs) {
  std::map<int64_t, int> count;
  for (const Row& r : rows) count[r.id]++;
  std::vector<Row> kept;
  std::map<int64_t, int> done;
  for (const Row& r : rows)
    if (count[r.id] == epochs) kept.push_back(r), done[r.id]++;
  rows = kept;
  return done;
}

inline double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}
inline double sd(const std::vector<double>& v) {  // sample standard deviation, as pandas' std()
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

struct SummaryNames {
  std::string fine, coarse;  // short names: summary columns <fine>_mean, ..., plot series
  std::string xlabel;        // the plot's x axis
};

// The final epoch of every run, averaged per w: prints a table, writes <out>/summary.csv
// (w,runs,<fine>_mean,<fine>_sd,<coarse>_mean,<coarse>_sd,severity_mean,hd5_mean,severity_sd,hd5_sd)
// and <out>/accuracy_vs_w.png with error bars (+ its CSV). Returns whether the PNG was drawn.
inline bool summarize(const std::vector<Row>& rows, const std::string& out, const SummaryNames& names) {
  std::map<int64_t, const Row*> final_row;
  for (const Row& r : rows)
    if (!final_row.count(r.id) || final_row[r.id]->epoch < r.epoch) final_row[r.id] = &r;
  std::map<double, std::vector<const Row*>> last;  // by w
  for (auto& [id, r] : final_row) last[r->w].push_back(r);
  std::ostringstream summary;
  summary << "w,runs," << names.fine << "_mean," << names.fine << "_sd," << names.coarse << "_mean," << names.coarse
          << "_sd,severity_mean,hd5_mean,severity_sd,hd5_sd\n";
  std::cout << "\nFinal epoch, mean +- sd over runs\n     w  runs   accuracy_" << names.fine << "   accuracy_"
            << names.coarse << "   severity          hd@5\n";
  std::vector<double> xs;
  learner::Series sf{names.fine, {}, {}}, sc{names.coarse, {}, {}};
  for (auto& [w, rs] : last) {
    std::vector<double> f, c, sev, hd;
    for (const Row* r : rs) f.push_back(r->acc_fine), c.push_back(r->acc_coarse), sev.push_back(r->severity), hd.push_back(r->hd5);
    summary << w << "," << rs.size() << "," << mean(f) << "," << sd(f) << "," << mean(c) << "," << sd(c) << ","
            << mean(sev) << "," << mean(hd) << "," << sd(sev) << "," << sd(hd) << "\n";
    std::cout << std::fixed << std::setprecision(2) << std::setw(6) << w << std::setw(6) << rs.size()
              << std::setprecision(4) << "   " << mean(f) << " +- " << sd(f) << "   " << mean(c) << " +- " << sd(c)
              << "   " << mean(sev) << " +- " << sd(sev) << "   " << mean(hd) << " +- " << sd(hd) << "\n";
    xs.push_back(w);
    sf.mean.push_back(mean(f)), sf.sd.push_back(sd(f)), sc.mean.push_back(mean(c)), sc.sd.push_back(sd(c));
  }
  std::cout << std::defaultfloat;
  write_text_atomic(out + "/summary.csv", summary.str());
  return learner::plot_errorbars(xs, {sf, sc}, names.xlabel, "validation accuracy", out + "/accuracy_vs_w.png");
}

}  // namespace sweep
}  // namespace ember
