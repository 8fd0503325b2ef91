// datasets/Pets.h: the Oxford-IIIT Pet images (37 breeds: 12 cats, 25 dogs), where they live and
// how they are labelled, as in the blog's fastai DataBlock.
//
//   PetsData pets = load_pets(pets_dir(flag_data));        // 7390 items (940 in the subset)
//   Split split = RandomSplitter(0.2, 42)(pets.items.size());
//
// Labels: RegexLabeller(r'(.+)_\d+.jpg$') on the file name; classes sorted, so the 12 cat breeds
// (capitalised names) are 0..11 and the 25 dog breeds 12..36. species_of[c] is 0 (cat) or 1 (dog).
//
// Where the images are (pets_dir), the first folder that holds <Breed>_<n>.jpg files, directly or
// in images/:
//   --data DIR               DIR, DIR/oxford-iiit-pet, DIR/oxford-pets-subset (an error if none)
//   $EMBER_DATA_DIR          $EMBER_DATA_DIR/oxford-iiit-pet, then .../oxford-pets-subset (the
//                            940-image subset in shared/data, used by the tests and CI)
//   ~/.cache/ember/oxford-iiit-pet
// and otherwise fetch_pets downloads the official images.tar.gz (~790 MB) into
// $EMBER_DATA_DIR/oxford-iiit-pet (or ~/.cache/ember/oxford-iiit-pet); set EMBER_NO_DOWNLOAD=1 to
// get the instructions instead.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/datasets/ImageFolder.h"

namespace ember {

// fastai's pattern from the blog, applied with regex_search to the file name.
constexpr const char* kPetsPattern = R"((.+)_\d+.jpg$)";
constexpr const char* kPetsUrl = "https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz";

struct PetsData {
  std::string images_dir;          // the folder the files are in
  LabelledFiles items;             // sorted paths, breed labels, 37 sorted breed names
  std::vector<int64_t> species_of;  // per class: 0 cat (capitalised name), 1 dog
  std::vector<std::string> species{"cat", "dog"};
  int64_t n_cat_classes() const;
};

// The folder holding the Pets .jpg files, following the order above (fetching last).
std::string pets_dir(const std::string& cli_dir = "");
// `dir` itself or dir/images when that holds Pets-named .jpg files; "" when neither does.
std::string find_pets_images(const std::string& dir);
// Lists and labels the images in `dir` (or dir/images). Errors name the folder: missing, or
// holding no file that matches kPetsPattern.
PetsData load_pets(const std::string& dir);
// 0 for a capitalised class name (a cat breed), else 1.
int64_t pets_species(const std::string& breed);

// Downloads kPetsUrl with curl (else wget) and extracts it so that dest/images/ holds the files.
// On failure the error says what was tried and where to put the images by hand.
void fetch_pets(const std::string& dest, const std::string& url = kPetsUrl);

}  // namespace ember
