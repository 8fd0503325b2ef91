// tests/datasets/test_folder.cpp: listing files, labelling them, splitting deterministically.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "ember/datasets/Files.h"
#include "ember/datasets/ImageFolder.h"
#include "helpers.h"

using namespace ember;
using ember_test::expect_error;
namespace fs = std::filesystem;

namespace {
void touch(const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << "x";
}
}  // namespace

TEST(ListFiles, SortedRecursiveByExtensionSkippingHidden) {
  TempDir tmp;
  touch(tmp / "dog/b.JPG");
  touch(tmp / "dog/a.png");
  touch(tmp / "cat/z.jpeg");
  touch(tmp / "cat/readme.txt");
  touch(tmp / ".hidden/x.png");
  touch(tmp / "cat/.x.png");
  std::vector<std::string> f = list_files(tmp.path());
  std::vector<std::string> want{tmp / "cat/z.jpeg", tmp / "dog/a.png", tmp / "dog/b.JPG"};
  EXPECT_EQ(f, want);
  EXPECT_EQ(list_files(tmp.path(), {}).size(), 4u);  // every file (not hidden)
  EXPECT_EQ(list_files(tmp / "cat", {".txt"}, false), std::vector<std::string>{tmp / "cat/readme.txt"});
  EXPECT_TRUE(list_files(tmp.path(), image_extensions(), false).empty());
}

TEST(ListFiles, MissingFolder) {
  TempDir tmp;
  expect_error([&] { list_files(tmp / "nope"); }, {"list_files: folder " + (tmp / "nope") + " does not exist"});
  touch(tmp / "file.png");
  expect_error([&] { list_files(tmp / "file.png"); }, {"is not a folder"});
  expect_error([&] { image_folder(tmp / "nope"); }, {"does not exist"});
  fs::create_directories(tmp / "empty");
  expect_error([&] { image_folder(tmp / "empty"); }, {"image_folder: no image files under " + (tmp / "empty")});
}

TEST(Labels, ByParentFolderWithSortedVocab) {
  TempDir tmp;
  touch(tmp / "train/dog/1.png");
  touch(tmp / "train/cat/2.png");
  touch(tmp / "train/cat/3.png");
  touch(tmp / "train/ant/4.png");
  LabelledFiles lf = image_folder(tmp / "train");
  EXPECT_EQ(lf.classes, (std::vector<std::string>{"ant", "cat", "dog"}));
  ASSERT_EQ(lf.size(), 4);
  // files sorted by path: ant/4, cat/2, cat/3, dog/1
  EXPECT_EQ(lf.labels, (std::vector<int64_t>{0, 1, 1, 2}));
  EXPECT_EQ(fs::path(lf.files[3]).filename(), "1.png");
}

TEST(Labels, ByRegexOnFileName) {
  std::vector<std::string> files{"/d/images/Abyssinian_1.jpg", "/d/images/american_bulldog_12.jpg",
                                 "/d/images/Abyssinian_34.jpg"};
  LabelledFiles lf = label_by_regex(files, R"(^(.*)_\d+\.jpg$)");
  EXPECT_EQ(lf.classes, (std::vector<std::string>{"Abyssinian", "american_bulldog"}));
  EXPECT_EQ(lf.labels, (std::vector<int64_t>{0, 1, 0}));
  // Without a group the whole match is the label.
  EXPECT_EQ(label_by_regex(files, "[A-Za-z]+").classes, (std::vector<std::string>{"Abyssinian", "american"}));
}

TEST(Labels, RegexErrorsNameFileAndPattern) {
  std::vector<std::string> files{"/d/cat_1.jpg", "/d/README.md"};
  expect_error([&] { label_by_regex(files, R"(^(.*)_\d+\.jpg$)"); },
               {"label_by_regex: pattern '^(.*)_\\d+\\.jpg$' does not match file name 'README.md'", "/d/README.md"});
  expect_error([&] { label_by_regex(files, "(unclosed"); }, {"label_by_regex: bad pattern '(unclosed'"});
}

TEST(Permutation, EqualsSeededRandpermWithoutTouchingTheGlobalGenerator) {
  manual_seed(123);
  std::vector<int64_t> ref = randperm(50).to_vector<int64_t>();
  manual_seed(7);
  Tensor before = rand({3});
  manual_seed(7);
  std::vector<int64_t> mine = permutation(50, 123);
  Tensor after = rand({3});
  EXPECT_EQ(mine, ref);
  EXPECT_EQ(before.to_vector<float>(), after.to_vector<float>());  // global stream unchanged
  std::vector<int64_t> sorted = mine;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[size_t(i)], i);
  EXPECT_NE(permutation(50, 124), mine);
  EXPECT_TRUE(permutation(0, 1).empty());
}

TEST(RandomSplitter, FastaiSemanticsAndDeterminism) {
  Split s = RandomSplitter(0.2, 42)(103);
  EXPECT_EQ(s.valid.size(), 20u);  // int(0.2 * 103)
  EXPECT_EQ(s.train.size(), 83u);
  std::vector<int64_t> perm = permutation(103, 42);
  EXPECT_EQ(s.valid, std::vector<int64_t>(perm.begin(), perm.begin() + 20));
  EXPECT_EQ(s.train, std::vector<int64_t>(perm.begin() + 20, perm.end()));
  std::set<int64_t> all(s.train.begin(), s.train.end());
  all.insert(s.valid.begin(), s.valid.end());
  EXPECT_EQ(all.size(), 103u);
  Split again = RandomSplitter(0.2, 42)(103);
  EXPECT_EQ(again.train, s.train);
  EXPECT_EQ(again.valid, s.valid);
  EXPECT_NE(RandomSplitter(0.2, 43)(103).valid, s.valid);
  EXPECT_TRUE(RandomSplitter(0.0, 1)(10).valid.empty());
  EXPECT_TRUE(RandomSplitter(1.0, 1)(10).train.empty());
  expect_error([] { RandomSplitter(1.5, 1); }, {"RandomSplitter: valid_pct must be in [0, 1], got 1.5"});
}
