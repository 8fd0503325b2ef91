// learner/Sweep.cpp: the results table, the statistics over runs and the sweep loop (learner/Sweep.h).
#include "ember/learner/Sweep.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>
#include <utility>

#include "ember/learner/Plot.h"
#include "ember/tensor/AtomicFile.h"
#include "ember/tensor/Error.h"
#include "ember/tensor/InputFile.h"

namespace ember {
namespace learner {

// ---------------------------------------------------------------------------
// ResultsTable

ResultsTable::ResultsTable(std::vector<std::string> columns, std::vector<std::string> integer_columns,
                           std::string key)
    : columns_(std::move(columns)), integer_(columns_.size(), false) {
  EMBER_CHECK(!columns_.empty(), "ResultsTable: no columns");
  for (const std::string& c : integer_columns) integer_[column(c)] = true;
  key_ = column(key);
  EMBER_CHECK(integer_[key_], "ResultsTable: the key column '", key, "' must be an integer column");
}

std::string ResultsTable::header() const {
  std::string h;
  for (size_t i = 0; i < columns_.size(); ++i) h += (i ? "," : "") + columns_[i];
  return h;
}

size_t ResultsTable::column(const std::string& name) const {
  auto it = std::find(columns_.begin(), columns_.end(), name);
  EMBER_CHECK(it != columns_.end(), "ResultsTable: no column '", name, "' in '", header(), "'");
  return static_cast<size_t>(it - columns_.begin());
}

void ResultsTable::add(Row row) {
  EMBER_CHECK(row.size() == columns_.size(), "ResultsTable::add: ", row.size(), " values for ", columns_.size(),
              " columns (", header(), ")");
  rows_.push_back(std::move(row));
}

namespace {
// The whole of `s` as a number; false for an empty field or anything after the number.
bool read_field(const std::string& s, bool integer, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  if (integer) v = static_cast<double>(std::strtoll(s.c_str(), &end, 10));
  else v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}
}  // namespace

void ResultsTable::read(const std::string& path) {
  rows_.clear();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;  // no table yet
  check_input_file(path, "results table");
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  EMBER_CHECK(line == header(), path, " is not a results file of this program (header '", line,
              "'); use another --out");
  int n = 1;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty()) continue;
    Row r;
    std::stringstream ss(line);
    std::string field;
    bool ok = true;
    while (ok && std::getline(ss, field, ',')) {
      double v = 0;
      ok = r.size() < columns_.size() && read_field(field, integer_[r.size()], v);
      r.push_back(v);
    }
    ok = ok && r.size() == columns_.size() && line.back() != ',';
    EMBER_CHECK(ok, path, " line ", n, " is malformed: '", line, "'");
    rows_.push_back(std::move(r));
  }
}

std::map<int64_t, int> ResultsTable::keep_complete(int rows_per_key) {
  std::map<int64_t, int> count;
  for (const Row& r : rows_) count[key_of(r)]++;
  std::vector<Row> kept;
  std::map<int64_t, int> done;
  for (const Row& r : rows_)
    if (count[key_of(r)] == rows_per_key) kept.push_back(r), done[key_of(r)]++;
  rows_ = std::move(kept);
  return done;
}

void ResultsTable::erase_keys(const std::vector<int64_t>& keys) {
  const std::set<int64_t> drop(keys.begin(), keys.end());
  rows_.erase(std::remove_if(rows_.begin(), rows_.end(), [&](const Row& r) { return drop.count(key_of(r)) > 0; }),
              rows_.end());
}

std::string ResultsTable::format() const {
  std::ostringstream os;
  os << header() << "\n" << std::setprecision(10);
  for (const Row& r : rows_) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (i) os << ",";
      if (integer_[i]) os << static_cast<int64_t>(r[i]);
      else os << r[i];
    }
    os << "\n";
  }
  return os.str();
}

void ResultsTable::write(const std::string& path) const { write_text_atomic(path, format(), "ResultsTable::write"); }

std::vector<ResultsTable::Row> ResultsTable::last_rows(const std::string& order) const {
  const size_t o = column(order);
  std::map<int64_t, const Row*> last;
  for (const Row& r : rows_) {
    auto it = last.find(key_of(r));
    if (it == last.end() || (*it->second)[o] < r[o]) last[key_of(r)] = &r;
  }
  std::vector<Row> out;
  for (const auto& [key, r] : last) out.push_back(*r);
  return out;
}

// ---------------------------------------------------------------------------
// Statistics

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}

double sample_sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

std::vector<GroupSummary> summarize_last_rows(const ResultsTable& table, const std::string& group,
                                              const std::vector<std::string>& values, const std::string& order) {
  const size_t g = table.column(group);
  std::vector<size_t> cols;
  for (const std::string& v : values) cols.push_back(table.column(v));
  std::map<double, std::vector<ResultsTable::Row>> groups;
  for (ResultsTable::Row& r : table.last_rows(order)) groups[r[g]].push_back(std::move(r));
  std::vector<GroupSummary> out;
  for (const auto& [value, rows] : groups) {
    GroupSummary s;
    s.group = value, s.runs = rows.size();
    for (size_t c : cols) {
      std::vector<double> v;
      for (const ResultsTable::Row& r : rows) v.push_back(r[c]);
      s.mean.push_back(mean(v)), s.sd.push_back(sample_sd(v));
    }
    out.push_back(std::move(s));
  }
  return out;
}

bool summarize_sweep(const ResultsTable& table, const std::string& out, const SweepSummaryNames& names) {
  const std::vector<GroupSummary> groups = summarize_last_rows(
      table, "w", {"accuracy_" + names.fine, "accuracy_" + names.coarse, "severity", "hd@5"});
  std::ostringstream summary;
  summary << "w,runs," << names.fine << "_mean," << names.fine << "_sd," << names.coarse << "_mean," << names.coarse
          << "_sd,severity_mean,hd5_mean,severity_sd,hd5_sd\n";
  std::cout << "\nFinal epoch, mean +- sd over runs\n     w  runs   accuracy_" << names.fine << "   accuracy_"
            << names.coarse << "   severity          hd@5\n";
  std::vector<double> xs;
  Series sf{names.fine, {}, {}}, sc{names.coarse, {}, {}};
  for (const GroupSummary& s : groups) {
    const std::vector<double>& m = s.mean;  // fine, coarse, severity, hd@5
    const std::vector<double>& sd = s.sd;
    summary << s.group << "," << s.runs << "," << m[0] << "," << sd[0] << "," << m[1] << "," << sd[1] << "," << m[2]
            << "," << m[3] << "," << sd[2] << "," << sd[3] << "\n";
    std::cout << std::fixed << std::setprecision(2) << std::setw(6) << s.group << std::setw(6) << s.runs
              << std::setprecision(4) << "   " << m[0] << " +- " << sd[0] << "   " << m[1] << " +- " << sd[1] << "   "
              << m[2] << " +- " << sd[2] << "   " << m[3] << " +- " << sd[3] << "\n";
    xs.push_back(s.group);
    sf.mean.push_back(m[0]), sf.sd.push_back(sd[0]), sc.mean.push_back(m[1]), sc.sd.push_back(sd[1]);
  }
  std::cout << std::defaultfloat;
  write_text_atomic(out + "/summary.csv", summary.str());
  return plot_errorbars(xs, {sf, sc}, names.xlabel, "validation accuracy", out + "/accuracy_vs_w.png");
}

// ---------------------------------------------------------------------------
// Sweep

namespace {
// A 52-bit FNV-1a hash, never 0: exact in a double, so it fits the table's integer id column.
int64_t run_id(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  h &= (uint64_t(1) << 52) - 1;
  return h == 0 ? 1 : static_cast<int64_t>(h);
}

// An exclusive lock on <out>/.sweep.lock, held while the Sweep exists (released when the process
// ends, however it ends).
int lock_folder(const std::string& out) {
  const std::string path = out + "/.sweep.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  EMBER_CHECK(fd >= 0, "Sweep: cannot create the lock file ", path, " (", std::strerror(errno), ")");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    EMBER_FAIL("Sweep: another sweep is writing to ", out, " (", path,
               " is locked); wait for it to finish, or give this one another --out");
  }
  return fd;
}
}  // namespace

Sweep::Sweep(ResultsTable table, SweepOptions options)
    : table_(std::move(table)), o_(std::move(options)), path_(o_.out + "/results.csv") {
  EMBER_CHECK(o_.runs >= 1 && o_.epochs >= 1, "Sweep: runs (", o_.runs, ") and epochs (", o_.epochs,
              ") must be at least 1");
  lock_.fd = lock_folder(o_.out);
  if (o_.restart) table_.clear();
  else table_.read(path_);
  for (size_t wi = 0; wi < o_.grid.size(); ++wi)
    for (int run = 0; run < o_.runs; ++run) {
      SweepRun r;
      r.w = o_.grid[wi], r.run = run, r.index = static_cast<int64_t>(wi) * o_.runs + run + 1;
      r.seed = o_.seed + static_cast<uint64_t>(r.index);
      std::ostringstream key;
      key << std::setprecision(17) << o_.config << "|epochs=" << o_.epochs << "|w=" << r.w << "|run=" << run
          << "|seed=" << r.seed;
      r.id = run_id(key.str());
      r.checkpoint = o_.out + "/run_" + std::to_string(r.id) + ".ckpt.safetensors";
      plan_.push_back(r);
    }
  // A run is done when it has a row per epoch and finite losses; otherwise its rows go.
  std::vector<size_t> loss_cols;
  for (const char* name : {"train_loss", "valid_loss"})
    if (std::find(table_.columns().begin(), table_.columns().end(), name) != table_.columns().end())
      loss_cols.push_back(table_.column(name));
  std::map<int64_t, int> rows;
  std::map<int64_t, bool> finite;
  for (const ResultsTable::Row& row : table_.rows()) {
    const int64_t id = table_.key_of(row);
    ++rows[id];
    bool& ok = finite.emplace(id, true).first->second;
    for (size_t c : loss_cols) ok = ok && std::isfinite(row[c]);
  }
  std::vector<int64_t> redo;
  for (const SweepRun& r : plan_) {
    done_[r.id] = rows[r.id] == o_.epochs && finite[r.id];
    if (!done_[r.id] && rows[r.id] > 0) redo.push_back(r.id);
  }
  if (!redo.empty()) table_.erase_keys(redo);
}

Sweep::FolderLock::~FolderLock() {
  if (fd >= 0) ::close(fd);  // releases the lock
}

ResultsTable Sweep::results() const {
  ResultsTable out = table_;
  std::vector<int64_t> others;
  for (const ResultsTable::Row& row : table_.rows()) {
    const int64_t id = table_.key_of(row);
    if (!done_.count(id)) others.push_back(id);
  }
  out.erase_keys(others);
  return out;
}

void Sweep::run(const TrainFn& train) {
  const size_t c_epoch = table_.column("epoch"), c_w = table_.column("w"), c_key = table_.column(table_.key());
  const size_t n_values = table_.columns().size() - 3;
  const auto t0 = std::chrono::steady_clock::now();
  for (const SweepRun& r : plan_) {
    if (done_[r.id]) {
      ++skipped_;
      continue;
    }
    std::cout << "\n=== w = " << r.w << ", run " << r.run + 1 << "/" << o_.runs << " (id " << r.id << ") ===\n";
    const std::vector<std::vector<double>> epochs = train(r);
    for (size_t e = 0; e < epochs.size(); ++e) {
      EMBER_CHECK(epochs[e].size() >= n_values, "Sweep: run ", r.id, " epoch ", e, " has ", epochs[e].size(),
                  " values, the table (", table_.header(), ") needs ", n_values);
      ResultsTable::Row row(table_.columns().size());
      row[c_epoch] = static_cast<double>(e), row[c_w] = r.w, row[c_key] = static_cast<double>(r.id);
      size_t k = 0;
      for (size_t c = 0; c < row.size(); ++c)
        if (c != c_epoch && c != c_w && c != c_key) row[c] = epochs[e][k++];
      table_.add(std::move(row));
    }
    done_[r.id] = true;
    table_.write(path_);
    std::remove(r.checkpoint.c_str());  // the run's rows are safe in results.csv
    ++trained_;
  }
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace learner
}  // namespace ember
