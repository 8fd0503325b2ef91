// learner/Sweep.h: repeated training runs over a grid of one setting (a loss weight w, say), with
// a results table that survives a crash or Ctrl-C and a summary of the final epochs.
//
// ResultsTable: a CSV table of numbers (named columns, some of them integers) keyed by one
// integer column (the run id). It reads back what it wrote, refuses a file with another header
// (someone else's results) and names the file and line of a malformed row; it is always written
// atomically (tensor/AtomicFile.h), so a reader sees the old table or the new one.
//
// Sweep: runs the grid x runs. Every run is keyed by its configuration: its id is a hash of the
// settings that determine its result (SweepOptions::config, the epochs, w, the run index and its
// seed), so
//   * starting the same command again trains exactly the runs that are missing;
//   * a command with another --w, --epochs or --lr into the same folder trains its own runs and
//     never touches (or reports as its own) the rows of another configuration;
//   * a run's checkpoint is named by its id, so a stale checkpoint of another configuration is
//     never resumed;
//   * a run with fewer rows than epochs, or a non-finite train_loss / valid_loss, is not done:
//     its rows are dropped and it runs again;
//   * the folder is locked while a Sweep exists: a second sweep into it is refused, named.
//
//   ResultsTable table({"epoch", "train_loss", "valid_loss", "accuracy_fine", "accuracy_coarse", "w",
//                       "id", "severity", "hd@5"}, {"epoch", "id"});
//   Sweep sweep(table, {grid, runs, epochs, seed, restart, out, "lr=0.002 bs=64 size=64"});
//   sweep.run([&](const SweepRun& r) {   // r.w, r.id, r.seed, r.checkpoint
//     ... train with weight r.w, seeded with r.seed ...
//     return learn.recorder->values;      // per epoch: the columns other than epoch, w and id
//   });
//   summarize_sweep(sweep.results(), out, {"fine", "coarse", "w (weight of the fine loss)"});
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ember {
namespace learner {

// ---------------------------------------------------------------------------
// ResultsTable

class ResultsTable {
 public:
  using Row = std::vector<double>;  // one value per column, integer columns too

  // `columns` in file order; `integer_columns` are written and read as integers; `key` names the
  // integer column that identifies a run.
  ResultsTable(std::vector<std::string> columns, std::vector<std::string> integer_columns = {},
               std::string key = "id");

  const std::vector<std::string>& columns() const { return columns_; }
  std::string header() const;                     // the column names, comma-separated
  size_t column(const std::string& name) const;  // its index; throws for an unknown name
  const std::string& key() const { return columns_[key_]; }

  const std::vector<Row>& rows() const { return rows_; }
  void add(Row row);  // throws when it has the wrong number of values
  void clear() { rows_.clear(); }
  int64_t key_of(const Row& row) const { return static_cast<int64_t>(row[key_]); }

  // Replaces the rows with those of `path`; no rows when the file does not exist. Throws, naming
  // the file, for another header, and naming the line for a malformed row.
  void read(const std::string& path);
  // Keeps the rows of the keys that have exactly `rows_per_key` rows; returns the kept row count
  // per key.
  std::map<int64_t, int> keep_complete(int rows_per_key);
  void erase_keys(const std::vector<int64_t>& keys);  // drops every row of these keys
  // The header and the rows: integer columns as integers, the others with 10 significant digits.
  std::string format() const;
  void write(const std::string& path) const;  // format(), atomically

  // For every key (ascending), its row with the largest `order` value (the first of equal ones).
  std::vector<Row> last_rows(const std::string& order = "epoch") const;

 private:
  std::vector<std::string> columns_;
  std::vector<bool> integer_;
  size_t key_ = 0;
  std::vector<Row> rows_;
};

// ---------------------------------------------------------------------------
// Statistics over runs

double mean(const std::vector<double>& v);       // NaN when empty
double sample_sd(const std::vector<double>& v);  // divides by n - 1 (pandas' std()); 0 when n < 2

// The last row of every run grouped by the value of column `group` (ascending), with the mean and
// sample sd of each column of `values` over the runs of the group (runs in key order).
struct GroupSummary {
  double group = 0;
  size_t runs = 0;
  std::vector<double> mean, sd;  // one per column of `values`
};
std::vector<GroupSummary> summarize_last_rows(const ResultsTable& table, const std::string& group,
                                              const std::vector<std::string>& values,
                                              const std::string& order = "epoch");

// The summary of an accuracy sweep whose table has the columns w, accuracy_<fine>,
// accuracy_<coarse>, severity and hd@5: prints the final-epoch mean +- sd per w, writes
// <out>/summary.csv (w,runs,<fine>_mean,<fine>_sd,<coarse>_mean,<coarse>_sd,severity_mean,hd5_mean,
// severity_sd,hd5_sd) and <out>/accuracy_vs_w.png with error bars (+ its CSV). Returns whether the
// PNG was drawn.
struct SweepSummaryNames {
  std::string fine, coarse;  // short names: summary columns <fine>_mean, ..., plot series
  std::string xlabel;        // the plot's x axis
};
bool summarize_sweep(const ResultsTable& table, const std::string& out, const SweepSummaryNames& names);

// ---------------------------------------------------------------------------
// Sweep

struct SweepOptions {
  std::vector<double> grid;  // the values of w, in order
  int runs = 1;              // runs per value
  int epochs = 1;            // rows per finished run
  uint64_t seed = 0;         // run id k is seeded with seed + k
  bool restart = false;      // ignore (and replace) the results already in `out`
  std::string out;           // folder of results.csv and the run checkpoints
  // Every other setting that changes a run's result, as text ("lr=0.002 bs=64 data=/pets");
  // part of each run's id.
  std::string config;
};

struct SweepRun {
  double w = 0;
  int run = 0;       // 0-based, within this w
  int64_t index = 0; // grid index * runs + run + 1: its place in this sweep
  uint64_t seed = 0; // SweepOptions::seed + index
  int64_t id = 0;    // the key of its rows: a 52-bit hash of the configuration, w, run and seed
  std::string checkpoint;  // <out>/run_<id>.ckpt.safetensors, removed when the run is done
};

class Sweep {
 public:
  // Locks `out`, reads <out>/results.csv (unless restart) and drops the rows of this sweep's runs
  // that are not done (partial or non-finite); other configurations' rows are kept as they are.
  Sweep(ResultsTable table, SweepOptions options);
  Sweep(const Sweep&) = delete;
  Sweep& operator=(const Sweep&) = delete;

  // Every run not already done: prints "=== w = ..., run i/n (id k) ===", calls `train`, appends
  // its rows (one per epoch: the values of the columns other than epoch, w and the key, in table
  // order; `epoch` counts from 0), rewrites results.csv and removes the run's checkpoint.
  using TrainFn = std::function<std::vector<std::vector<double>>(const SweepRun&)>;
  void run(const TrainFn& train);

  // The rows of this sweep's runs (the file may hold other configurations' too).
  ResultsTable results() const;
  const std::string& results_path() const { return path_; }
  int trained() const { return trained_; }   // runs trained by run()
  int skipped() const { return skipped_; }   // runs found done
  double seconds() const { return seconds_; }  // wall time of run()

 private:
  ResultsTable table_;
  SweepOptions o_;
  std::string path_;
  std::vector<SweepRun> plan_;
  std::map<int64_t, bool> done_;  // by id
  // The exclusive lock on <out>/.sweep.lock: a member, so that it is released when the Sweep goes
  // and also when its constructor throws after taking it.
  struct FolderLock {
    int fd = -1;
    FolderLock() = default;
    FolderLock(const FolderLock&) = delete;
    FolderLock& operator=(const FolderLock&) = delete;
    ~FolderLock();
  };
  FolderLock lock_;
  int trained_ = 0, skipped_ = 0;
  double seconds_ = 0;
};

}  // namespace learner
}  // namespace ember
