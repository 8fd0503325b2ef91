// tests/learner/test_sweep.cpp: command-line values (learner/Cli.h), the results table, the
// statistics over runs, the resumable sweep and its summary (learner/Sweep.h).
#include <limits>
#include <set>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "ember/learner/Cli.h"
#include "ember/learner/Plot.h"
#include "ember/learner/Sweep.h"
#include "lib/temp_files.h"
#include "ember/tensor/Error.h"

using namespace ember;
using namespace ember::learner;
namespace fs = std::filesystem;

namespace {

// A fresh empty folder, removed at the end of the test.
struct TempDir {
  TempDir() {
    static int n = 0;
    path = (fs::temp_directory_path() / ("ember_sweep_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++)))
               .string();
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_all(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// The error message of f(), "" when it does not throw.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

ResultsTable sweep_table() {
  return ResultsTable({"epoch", "train_loss", "valid_loss", "accuracy_fine", "accuracy_coarse", "w", "id", "severity",
                       "hd@5"},
                      {"epoch", "id"});
}

}  // namespace

// ---------------------------------------------------------------------------
// Command-line values

TEST(Cli, ParseGridRangeAndList) {
  EXPECT_EQ(parse_grid("0:1:0.25"), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  std::vector<double> tenths = parse_grid("0:1:0.1");
  ASSERT_EQ(tenths.size(), 11u);  // the stop is included despite rounding
  EXPECT_EQ(tenths[3], 0.3);      // rounded to 9 decimals, so exactly the literal
  EXPECT_EQ(parse_grid("0,0.5,1"), (std::vector<double>{0, 0.5, 1}));
  EXPECT_EQ(parse_grid("0.5"), (std::vector<double>{0.5}));
  EXPECT_EQ(parse_grid("2:4:1", "--lr", 0, 10), (std::vector<double>{2, 3, 4}));
}

TEST(Cli, ParseGridErrorsNameFlagAndItem) {
  EXPECT_NE(error_of([] { parse_grid("0,x"); }).find("--w: 'x' in '0,x' is not a number"), std::string::npos);
  EXPECT_NE(error_of([] { parse_grid("1:0:0.1"); }).find("start:stop:step"), std::string::npos);
  EXPECT_NE(error_of([] { parse_grid("0:1:0"); }).find("start:stop:step"), std::string::npos);
  EXPECT_NE(error_of([] { parse_grid("0,1.5"); }).find("--w: 1.5 is outside [0, 1]"), std::string::npos);
  EXPECT_NE(error_of([] { parse_grid("3", "--beta", 0, 2); }).find("--beta: 3 is outside [0, 2]"), std::string::npos);
  EXPECT_NE(error_of([] { parse_grid(""); }).find("no values"), std::string::npos);
  // Junk after the grid, a fourth field, a trailing comma, NaN and infinities are refused.
  for (const char* bad : {"0:1:0.5:junk", "0:1:0.5:", "0:1", "0,1,", "nan", "0,nan", "0:1:nan", "inf", "0:inf:1"})
    EXPECT_NE(error_of([&] { parse_grid(bad); }).find("--w: "), std::string::npos) << bad;
  EXPECT_NE(error_of([] { parse_grid("0:1:0.5:junk"); }).find("must be start:stop:step (three numbers)"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_grid("0,nan"); }).find("'nan' in '0,nan' is not a number"), std::string::npos);
}

TEST(Cli, ParseNumberAndIntList) {
  long l = 0;
  double d = 0;
  EXPECT_TRUE(parse_number("42", l));
  EXPECT_EQ(l, 42);
  EXPECT_FALSE(parse_number("5x", l));
  EXPECT_FALSE(parse_number("", l));
  EXPECT_TRUE(parse_number("0.25", d));
  EXPECT_EQ(d, 0.25);
  EXPECT_FALSE(parse_number("abc", d));
  EXPECT_FALSE(parse_number("nan", d));
  EXPECT_FALSE(parse_number("-inf", d));
  EXPECT_FALSE(parse_number("1e999", d));                 // out of range for a double
  int i = 0;
  EXPECT_FALSE(parse_number("3000000000", i));            // fits a long, not an int
  EXPECT_FALSE(parse_number("99999999999999999999", l));  // fits nothing
  EXPECT_TRUE(parse_number("-2147483648", i));
  EXPECT_EQ(i, -2147483648);
  EXPECT_NE(error_of([] { parse_int_list("--k", "1,5,", 1, 100); }).find("ends with a comma"), std::string::npos);
  EXPECT_EQ(parse_int_list("--k", "1,5,10", 1, 100), (std::vector<int>{1, 5, 10}));
  EXPECT_NE(error_of([] { parse_int_list("--k", "1,x", 1, 100); }).find("--k: 'x' in '1,x' is not an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_int_list("--k", "0", 1, 100); }).find("--k: 0 is outside [1, 100]"), std::string::npos);
}

TEST(Cli, EnsureDirCreatesOrNamesTheFlag) {
  TempDir t;
  ensure_dir(t.path + "/new");
  EXPECT_TRUE(fs::is_directory(t.path + "/new"));
  ensure_dir(t.path + "/new");  // already there: fine
  write_all(t.path + "/file", "x");
  EXPECT_NE(error_of([&] { ensure_dir(t.path + "/file"); }).find("--out " + t.path + "/file is not a folder"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ensure_dir(t.path + "/file", "--dir"); }).find("--dir "), std::string::npos);
  EXPECT_NE(error_of([&] { ensure_dir(t.path + "/no/such/new"); }).find("cannot be created (No such file or directory)"),
            std::string::npos);
}

// Output files are checked before the work that would write them.
TEST(Cli, CheckWritableFileNamesTheProblem) {
  TempDir t;
  EXPECT_NO_THROW(check_writable_file(t.path + "/out.csv", "--csv"));
  EXPECT_NE(error_of([&] { check_writable_file(t.path, "--csv"); }).find("--csv " + t.path + " is a folder"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_writable_file(t.path + "/missing/out.csv", "--csv"); })
                .find("its folder " + t.path + "/missing does not exist"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_writable_file("", "--csv"); }).find("--csv: no file name given"), std::string::npos);
  // A read-only folder (as root the permission bits do not stop writes: checked as user nobody).
  fs::create_directory(t.path + "/ro");
  fs::permissions(t.path + "/ro", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::others_read |
                                      fs::perms::others_exec);
  fs::permissions(t.path, fs::perms::owner_all | fs::perms::others_exec);
  const pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(2);
    try {
      check_writable_file(t.path + "/ro/out.csv", "--csv");
    } catch (const Error& e) {
      _exit(std::string(e.what()).find("is not writable (Permission denied)") != std::string::npos ? 0 : 4);
    }
    _exit(5);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  fs::permissions(t.path + "/ro", fs::perms::owner_all);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot drop to user nobody here";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}

// ---------------------------------------------------------------------------
// ResultsTable

TEST(ResultsTable, FormatsIntegersAndTenDigits) {
  ResultsTable t = sweep_table();
  EXPECT_EQ(t.header(), "epoch,train_loss,valid_loss,accuracy_fine,accuracy_coarse,w,id,severity,hd@5");
  t.add({0, 1.0 / 3, 2, 0.5, 0.75, 0.25, 7, 1.5, 1e-12});
  t.add({1, 0.1234567890123, 1, 1, 1, 0.25, 7, NAN, 0});
  EXPECT_EQ(t.format(),
            "epoch,train_loss,valid_loss,accuracy_fine,accuracy_coarse,w,id,severity,hd@5\n"
            "0,0.3333333333,2,0.5,0.75,0.25,7,1.5,1e-12\n"
            "1,0.123456789,1,1,1,0.25,7,nan,0\n");
  EXPECT_THROW(t.add({1, 2, 3}), Error);
  EXPECT_THROW(t.column("nope"), Error);
  EXPECT_EQ(t.column("id"), 6u);
  EXPECT_EQ(t.key(), "id");
}

TEST(ResultsTable, WritesAtomicallyAndReadsBack) {
  TempDir d;
  const std::string path = d.path + "/results.csv";
  ResultsTable t = sweep_table();
  t.read(path);  // no file: no rows
  EXPECT_TRUE(t.rows().empty());
  t.add({0, 0.5, 0.25, 0.125, 1, 0, 1, 1, 2});
  t.add({1, 0.4, 0.2, 0.1, 0.9, 0, 1, 1.25, 2.5});
  t.write(path);
  EXPECT_TRUE(ember_test::temp_leftovers(path).empty());
  ResultsTable back = sweep_table();
  back.read(path);
  EXPECT_EQ(back.rows(), t.rows());
  EXPECT_EQ(read_all(path), t.format());
}

TEST(ResultsTable, RefusesForeignHeaderAndMalformedLines) {
  TempDir d;
  const std::string path = d.path + "/results.csv";
  write_all(path, "a,b,c\n1,2,3\n");
  ResultsTable t = sweep_table();
  EXPECT_NE(error_of([&] { t.read(path); }).find(path + " is not a results file of this program (header 'a,b,c')"),
            std::string::npos);
  EXPECT_EQ(read_all(path), "a,b,c\n1,2,3\n");  // untouched
  const std::string header = t.header() + "\n";
  for (const std::string bad : {"0,1,2,3,4,5,6,7", "0,1,2,3,4,5,6,7,8,9", "0,1,2,x,4,5,6,7,8", "0.5,1,2,3,4,5,6,7,8",
                                "0,1,2,3,4,5,6,7,", "0,1,,3,4,5,6,7,8"}) {
    write_all(path, header + "0,1,2,3,4,5,6,7,8\n\n" + bad + "\n");
    const std::string e = error_of([&] { t.read(path); });
    EXPECT_NE(e.find(path + " line 4 is malformed: '" + bad + "'"), std::string::npos) << bad << ": " << e;
  }
}

TEST(ResultsTable, KeepCompleteAndLastRows) {
  ResultsTable t = sweep_table();
  // id 1: epochs 0, 1; id 2: epoch 0 only; id 3: epochs 1, 0 (out of order)
  t.add({0, 0, 0, 0.1, 0, 0, 1, 0, 0});
  t.add({1, 0, 0, 0.2, 0, 0, 1, 0, 0});
  t.add({0, 0, 0, 0.3, 0, 0, 2, 0, 0});
  t.add({1, 0, 0, 0.5, 0, 1, 3, 0, 0});
  t.add({0, 0, 0, 0.4, 0, 1, 3, 0, 0});
  std::vector<ResultsTable::Row> last = t.last_rows();
  ASSERT_EQ(last.size(), 3u);
  EXPECT_EQ(last[0][3], 0.2);
  EXPECT_EQ(last[1][3], 0.3);
  EXPECT_EQ(last[2][3], 0.5);
  std::map<int64_t, int> done = t.keep_complete(2);
  EXPECT_EQ(done, (std::map<int64_t, int>{{1, 2}, {3, 2}}));
  EXPECT_EQ(t.rows().size(), 4u);
}

// ---------------------------------------------------------------------------
// Statistics

TEST(SweepStats, MeanAndSampleSd) {
  EXPECT_TRUE(std::isnan(mean({})));
  EXPECT_EQ(mean({1, 2, 3, 6}), 3.0);
  EXPECT_EQ(sample_sd({5}), 0.0);
  EXPECT_NEAR(sample_sd({1, 2, 3, 6}), std::sqrt(14.0 / 3), 1e-15);  // squares 4 + 1 + 0 + 9 over n - 1
}

TEST(SweepStats, SummarizeLastRowsPerGroup) {
  ResultsTable t = sweep_table();
  // w = 0: runs 1 (final fine 0.6) and 2 (final fine 0.8); w = 0.5: run 3 (final fine 0.9)
  t.add({0, 0, 0, 0.1, 0, 0, 1, 0, 0});
  t.add({1, 0, 0, 0.6, 0.5, 0, 1, 2, 1});
  t.add({0, 0, 0, 0.2, 0, 0, 2, 0, 0});
  t.add({1, 0, 0, 0.8, 0.7, 0, 2, 4, 3});
  t.add({0, 0, 0, 0.9, 1, 0.5, 3, 1, 1});
  std::vector<GroupSummary> g = summarize_last_rows(t, "w", {"accuracy_fine", "severity"});
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].group, 0.0);
  EXPECT_EQ(g[0].runs, 2u);
  EXPECT_NEAR(g[0].mean[0], 0.7, 1e-15);
  EXPECT_NEAR(g[0].sd[0], std::sqrt(0.02), 1e-15);
  EXPECT_EQ(g[0].mean[1], 3.0);
  EXPECT_EQ(g[1].group, 0.5);
  EXPECT_EQ(g[1].runs, 1u);
  EXPECT_EQ(g[1].sd[0], 0.0);
}

TEST(SweepStats, SummarizeSweepWritesSummaryCsv) {
  TempDir d;
  set_gnuplot_binary("");  // CSV only
  ResultsTable t = sweep_table();
  t.add({0, 0, 0, 0.5, 0.75, 0, 1, 1, 2});
  t.add({0, 0, 0, 0.25, 0.25, 0, 2, 3, 4});
  t.add({0, 0, 0, 1, 1, 1, 3, 0, 0});
  testing::internal::CaptureStdout();
  const bool plotted = summarize_sweep(t, d.path, {"fine", "coarse", "w"});
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_FALSE(plotted);
  EXPECT_EQ(read_all(d.path + "/summary.csv"),
            "w,runs,fine_mean,fine_sd,coarse_mean,coarse_sd,severity_mean,hd5_mean,severity_sd,hd5_sd\n"
            "0,2,0.375,0.176777,0.5,0.353553,2,3,1.41421,1.41421\n"
            "1,1,1,0,1,0,0,0,0,0\n");
  EXPECT_EQ(printed,
            "\nFinal epoch, mean +- sd over runs\n"
            "     w  runs   accuracy_fine   accuracy_coarse   severity          hd@5\n"
            "  0.00     2   0.3750 +- 0.1768   0.5000 +- 0.3536   2.0000 +- 1.4142   3.0000 +- 1.4142\n"
            "  1.00     1   1.0000 +- 0.0000   1.0000 +- 0.0000   0.0000 +- 0.0000   0.0000 +- 0.0000\n");
  EXPECT_TRUE(fs::exists(d.path + "/accuracy_vs_w.csv"));
  set_gnuplot_binary("gnuplot");
}

// ---------------------------------------------------------------------------
// Sweep

namespace {
// A fake training run: per epoch {train_loss, valid_loss, fine, coarse, severity, hd@5} from the
// run's place in the sweep.
std::vector<std::vector<double>> fake_run(const SweepRun& r, int epochs) {
  std::vector<std::vector<double>> v;
  for (int e = 0; e < epochs; ++e)
    v.push_back({static_cast<double>(r.index), e + 0.5, r.w, 1 - r.w, static_cast<double>(r.seed), 0.25});
  return v;
}

std::vector<int64_t> trained_indices(const SweepOptions& o, int epochs) {
  std::vector<int64_t> out;
  Sweep s(sweep_table(), o);
  s.run([&](const SweepRun& r) {
    out.push_back(r.index);
    return fake_run(r, epochs);
  });
  return out;
}
}  // namespace

TEST(Sweep, RunsTheGridAndWritesRowsInTableOrder) {
  TempDir d;
  std::vector<SweepRun> runs;
  testing::internal::CaptureStdout();
  Sweep s(sweep_table(), {{0, 0.5}, 2, 2, 100, false, d.path, "lr=1"});
  s.run([&](const SweepRun& r) {
    runs.push_back(r);
    EXPECT_EQ(r.seed, 100u + static_cast<uint64_t>(r.index));
    EXPECT_GT(r.id, 0);
    EXPECT_LT(r.id, int64_t{1} << 52);  // exact in a double
    EXPECT_EQ(r.checkpoint, d.path + "/run_" + std::to_string(r.id) + ".ckpt.safetensors");
    write_all(r.checkpoint, "ckpt");  // removed by the sweep once the rows are written
    return fake_run(r, 2);
  });
  const std::string printed = testing::internal::GetCapturedStdout();
  ASSERT_EQ(runs.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(runs[size_t(i)].index, i + 1);
  EXPECT_EQ(std::set<int64_t>({runs[0].id, runs[1].id, runs[2].id, runs[3].id}).size(), 4u);
  EXPECT_NE(printed.find("\n=== w = 0.5, run 2/2 (id " + std::to_string(runs[3].id) + ") ===\n"), std::string::npos)
      << printed;
  EXPECT_EQ(s.trained(), 4);
  EXPECT_EQ(s.skipped(), 0);
  const std::string csv = read_all(s.results_path());
  EXPECT_EQ(s.results_path(), d.path + "/results.csv");
  std::istringstream lines(csv);
  std::string header, first, second;
  std::getline(lines, header), std::getline(lines, first), std::getline(lines, second);
  EXPECT_EQ(header, sweep_table().header());
  EXPECT_EQ(first, "0,1,0.5,0,1,0," + std::to_string(runs[0].id) + ",101,0.25");
  EXPECT_EQ(second, "1,1,1.5,0,1,0," + std::to_string(runs[0].id) + ",101,0.25");
  EXPECT_EQ(s.results().rows().size(), 8u);
  for (const SweepRun& r : runs) EXPECT_FALSE(fs::exists(r.checkpoint));
}

TEST(Sweep, ResumesSkippingFinishedRunsAndRerunsPartialOnes) {
  TempDir d;
  const SweepOptions o{{0, 1}, 2, 2, 0, false, d.path, ""};
  testing::internal::CaptureStdout();
  EXPECT_EQ(trained_indices(o, 2), (std::vector<int64_t>{1, 2, 3, 4}));
  const std::string full = read_all(d.path + "/results.csv");
  // Again: nothing to do, the file stays as it was.
  EXPECT_EQ(trained_indices(o, 2), std::vector<int64_t>{});
  EXPECT_EQ(read_all(d.path + "/results.csv"), full);
  // Drop the last row (run 4, epoch 1): run 4 runs again, and the file ends up the same.
  write_all(d.path + "/results.csv", full.substr(0, full.rfind('\n', full.size() - 2) + 1));
  EXPECT_EQ(trained_indices(o, 2), (std::vector<int64_t>{4}));
  EXPECT_EQ(read_all(d.path + "/results.csv"), full);
  // restart: every run again.
  SweepOptions r = o;
  r.restart = true;
  EXPECT_EQ(trained_indices(r, 2), (std::vector<int64_t>{1, 2, 3, 4}));
  testing::internal::GetCapturedStdout();
  EXPECT_EQ(read_all(d.path + "/results.csv"), full);
}

// Resumable work is keyed by its configuration: another command into the same folder trains its
// own runs, and leaves the others' rows alone.
TEST(Sweep, RunsAreKeyedByTheirConfiguration) {
  TempDir d;
  testing::internal::CaptureStdout();
  const SweepOptions a{{0, 1}, 1, 2, 0, false, d.path, "lr=0.1"};
  EXPECT_EQ(trained_indices(a, 2).size(), 2u);
  // Another grid: w = 0 is the same run (same place, seed, settings), w = 0.5 is new.
  SweepOptions grid = a;
  grid.grid = {0, 0.5};
  EXPECT_EQ(trained_indices(grid, 2), (std::vector<int64_t>{2}));
  // Another lr or another epoch count: every run is new, and nothing is deleted.
  SweepOptions lr = a;
  lr.config = "lr=0.2";
  EXPECT_EQ(trained_indices(lr, 2).size(), 2u);
  SweepOptions epochs = a;
  epochs.epochs = 3;
  EXPECT_EQ(trained_indices(epochs, 3).size(), 2u);
  ResultsTable all = sweep_table();
  all.read(d.path + "/results.csv");
  EXPECT_EQ(all.rows().size(), 2u * 2 + 1 * 2 + 2 * 2 + 2 * 3);
  {
    Sweep s(sweep_table(), a);  // its own rows only
    EXPECT_EQ(s.results().rows().size(), 4u);
    EXPECT_EQ(s.skipped() + s.trained(), 0);
  }
  // A checkpoint is named by its run's id: another configuration's is never resumed.
  std::set<std::string> checkpoints;
  for (const SweepOptions& o : {a, lr, epochs}) {
    Sweep s(sweep_table(), o);
    s.run([&](const SweepRun& r) {
      checkpoints.insert(r.checkpoint);
      return fake_run(r, o.epochs);
    });
  }
  EXPECT_TRUE(checkpoints.empty());  // all done
  testing::internal::GetCapturedStdout();
}

TEST(Sweep, ARunWithANonFiniteLossIsNotDone) {
  TempDir d;
  testing::internal::CaptureStdout();
  const SweepOptions o{{0, 1}, 1, 1, 0, false, d.path, ""};
  {
    Sweep s(sweep_table(), o);
    s.run([](const SweepRun& r) {
      std::vector<std::vector<double>> v = fake_run(r, 1);
      if (r.index == 2) v[0][0] = std::numeric_limits<double>::quiet_NaN();  // train_loss
      return v;
    });
  }
  EXPECT_EQ(trained_indices(o, 1), (std::vector<int64_t>{2}));
  testing::internal::GetCapturedStdout();
}

TEST(Sweep, ASecondSweepIntoTheSameFolderIsRefused) {
  TempDir d;
  const SweepOptions o{{0}, 1, 1, 0, false, d.path, ""};
  Sweep first(sweep_table(), o);
  EXPECT_NE(error_of([&] { Sweep second(sweep_table(), o); }).find("Sweep: another sweep is writing to " + d.path),
            std::string::npos);
}

TEST(Sweep, RefusesAnotherProgramsResults) {
  TempDir d;
  write_all(d.path + "/results.csv", "a,b,c\n");
  EXPECT_NE(error_of([&] { Sweep s(sweep_table(), {{0}, 1, 1, 0, false, d.path, ""}); }).find("not a results file"),
            std::string::npos);
  EXPECT_EQ(read_all(d.path + "/results.csv"), "a,b,c\n");
}

TEST(Sweep, ARefusedSweepReleasesItsLock) {
  TempDir d;
  write_all(d.path + "/results.csv", "a,b,c\n");
  EXPECT_NE(error_of([&] { Sweep s(sweep_table(), {{0}, 1, 1, 0, false, d.path, ""}); }).find("not a results file"),
            std::string::npos);
  std::remove((d.path + "/results.csv").c_str());
  EXPECT_NO_THROW(Sweep(sweep_table(), {{0}, 1, 1, 0, false, d.path, ""}));
}

TEST(Sweep, TooFewValuesPerEpochIsAnError) {
  TempDir d;
  testing::internal::CaptureStdout();
  Sweep s(sweep_table(), {{0}, 1, 1, 0, false, d.path, ""});
  const std::string e = error_of([&] { s.run([](const SweepRun&) { return std::vector<std::vector<double>>{{1, 2}}; }); });
  testing::internal::GetCapturedStdout();
  EXPECT_NE(e.find("has 2 values"), std::string::npos) << e;
}
