// datasets/Pets.cpp: finding, fetching and labelling the Oxford-IIIT Pet images.
#include "ember/datasets/Pets.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <regex>

#include "ember/datasets/Files.h"

namespace fs = std::filesystem;

namespace ember {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string how_to_provide(const std::string& dest) {
  return detail::concat(
      "To provide the Pets images by hand, download ", kPetsUrl, " (about 790 MB) and extract it so that ",
      (fs::path(dest) / "images" / "Abyssinian_1.jpg").string(),
      " exists; or pass --data DIR with DIR holding <Breed>_<n>.jpg files (directly, in DIR/images, or in "
      "DIR/oxford-iiit-pet/images); or set EMBER_DATA_DIR so that $EMBER_DATA_DIR/oxford-iiit-pet or "
      "$EMBER_DATA_DIR/oxford-pets-subset holds them");
}

std::string default_pets_dest() {
  std::string data = env("EMBER_DATA_DIR");
  if (!data.empty()) return (fs::path(data) / "oxford-iiit-pet").string();
  std::string home = env("HOME");
  if (!home.empty()) return (fs::path(home) / ".cache" / "ember" / "oxford-iiit-pet").string();
  return (fs::temp_directory_path() / "ember" / "oxford-iiit-pet").string();
}

// A folder that is there but cannot be read (permission denied, I/O error) is an error that says
// so: not "no images here", which would send the user off to download 790 MB.
bool holds_pets(const fs::path& dir) {
  std::error_code ec;
  const bool is_dir = fs::is_directory(dir, ec);
  EMBER_CHECK(!ec || ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory,
              "pets: cannot read ", dir.string(), " (", ec.message(), ")");
  if (!is_dir) return false;
  static const std::regex re(kPetsPattern);
  fs::directory_iterator it(dir, ec);
  EMBER_CHECK(!ec, "pets: cannot list the folder ", dir.string(), " (", ec.message(), ")");
  for (const fs::directory_entry& e : it) {
    std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && std::regex_search(name, re)) return true;
  }
  return false;
}

std::string last_line(const std::string& out) {
  std::string s = out;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t nl = s.rfind('\n');
  s = nl == std::string::npos ? s : s.substr(nl + 1);
  return s.empty() ? "(no output)" : s.substr(0, 300);
}
}  // namespace

int64_t PetsData::n_cat_classes() const {
  int64_t n = 0;
  for (int64_t s : species_of) n += s == 0;
  return n;
}

int64_t pets_species(const std::string& breed) {
  return !breed.empty() && std::isupper(static_cast<unsigned char>(breed[0])) ? 0 : 1;
}

std::string find_pets_images(const std::string& dir) {
  if (dir.empty()) return "";
  fs::path images = fs::path(dir) / "images";
  if (holds_pets(images)) return images.string();
  if (holds_pets(dir)) return dir;
  return "";
}

std::string pets_dir(const std::string& cli_dir) {
  if (!cli_dir.empty()) {
    std::error_code ec;
    EMBER_CHECK(fs::exists(cli_dir, ec), "pets_dir: data folder ", cli_dir, " does not exist. ",
                how_to_provide(default_pets_dest()));
    for (const fs::path& c : {fs::path(cli_dir), fs::path(cli_dir) / "oxford-iiit-pet",
                              fs::path(cli_dir) / "oxford-pets-subset"}) {
      std::string found = find_pets_images(c.string());
      if (!found.empty()) return found;
    }
    EMBER_FAIL("pets_dir: no Pets images (<Breed>_<n>.jpg) in ", cli_dir, ", ", cli_dir, "/images, ",
               cli_dir, "/oxford-iiit-pet or ", cli_dir, "/oxford-pets-subset. ", how_to_provide(cli_dir));
  }
  std::vector<std::string> candidates;
  std::string data = env("EMBER_DATA_DIR");
  if (!data.empty()) {
    candidates.push_back((fs::path(data) / "oxford-iiit-pet").string());
    candidates.push_back((fs::path(data) / "oxford-pets-subset").string());
  }
  std::string home = env("HOME");
  if (!home.empty()) candidates.push_back((fs::path(home) / ".cache" / "ember" / "oxford-iiit-pet").string());
  for (const std::string& c : candidates) {
    std::string found = find_pets_images(c);
    if (!found.empty()) return found;
  }
  std::string dest = default_pets_dest();
  std::string no_dl = env("EMBER_NO_DOWNLOAD");
  if (!no_dl.empty() && no_dl != "0") {
    std::string list;
    for (const std::string& c : candidates) list += "\n  - " + c;
    EMBER_FAIL("pets_dir: no Pets images in any of:", list.empty() ? "\n  - (no candidate folder)" : list,
               "\nand EMBER_NO_DOWNLOAD is set. ", how_to_provide(dest));
  }
  fetch_pets(dest);
  std::string found = find_pets_images(dest);
  EMBER_CHECK(!found.empty(), "pets_dir: ", dest, " holds no Pets images after fetching. ", how_to_provide(dest));
  return found;
}

PetsData load_pets(const std::string& dir) {
  std::error_code ec;
  EMBER_CHECK(fs::is_directory(dir, ec), "load_pets: ", dir, " is not a folder. ", how_to_provide(dir));
  std::string images = find_pets_images(dir);
  EMBER_CHECK(!images.empty(), "load_pets: no file in ", dir, " (nor in ", (fs::path(dir) / "images").string(),
              ") matches ", kPetsPattern, ". ", how_to_provide(dir));
  std::vector<std::string> files = list_files(images, {".jpg"}, /*recursive=*/false);
  static const std::regex re(kPetsPattern);
  std::vector<std::string> pets;
  for (const std::string& f : files)
    if (std::regex_search(fs::path(f).filename().string(), re)) pets.push_back(f);
  PetsData out;
  out.images_dir = images;
  out.items = label_by_regex(pets, kPetsPattern);
  for (const std::string& c : out.items.classes) out.species_of.push_back(pets_species(c));
  return out;
}

void fetch_pets(const std::string& dest, const std::string& url) {
  fs::path target = fs::absolute(dest);
  if (!find_pets_images(target.string()).empty()) return;
  std::error_code ec;
  EMBER_CHECK(!fs::exists(target, ec) || (fs::is_directory(target, ec) && fs::is_empty(target, ec)),
              "fetch_pets: ", target.string(), " exists and is not an empty folder; remove it or pick another. ",
              how_to_provide(target.string()));
  fs::create_directories(target.parent_path(), ec);
  EMBER_CHECK(!ec, "fetch_pets: cannot create ", target.parent_path().string(), " (", ec.message(), "). ",
              how_to_provide(target.string()));
  bool curl = have_program("curl"), wget = have_program("wget");
  EMBER_CHECK(curl || wget, "fetch_pets: neither curl nor wget is installed, so ", url,
              " cannot be downloaded. ", how_to_provide(target.string()));
  TempDir staging("." + target.filename().string() + ".fetch-", target.parent_path().string());
  std::string tgz = staging / "images.tar.gz";
  std::string cmd = curl ? "curl -fsSL --connect-timeout 15 --max-time 3600 -o " + shell_quote(tgz) + " " +
                               shell_quote(url)
                         : "wget -q --timeout=15 --tries=2 -O " + shell_quote(tgz) + " " + shell_quote(url);
  std::fprintf(stderr, "fetch_pets: downloading %s (about 790 MB) into %s\n", url.c_str(), target.c_str());
  CommandResult r = run_command(cmd);
  EMBER_CHECK(r.ok(), "fetch_pets: ", curl ? "curl" : "wget", " ", url, " failed (exit ", r.exit_code, ": ",
              last_line(r.output), "). ", how_to_provide(target.string()));
  r = run_command("tar -xzf " + shell_quote(tgz) + " -C " + shell_quote(staging.path()));
  EMBER_CHECK(r.ok(), "fetch_pets: tar could not extract ", tgz, " (exit ", r.exit_code, ": ", last_line(r.output),
              "). ", how_to_provide(target.string()));
  fs::remove(tgz, ec);
  EMBER_CHECK(!find_pets_images(staging.path()).empty(), "fetch_pets: ", url,
              " did not hold images/<Breed>_<n>.jpg. ", how_to_provide(target.string()));
  fs::rename(staging.path(), target, ec);
  EMBER_CHECK(!ec, "fetch_pets: cannot move ", staging.path(), " to ", target.string(), " (", ec.message(), ")");
  staging.release();
}

}  // namespace ember
