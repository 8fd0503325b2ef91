// tensor/InputFile.cpp: refuse what is not a regular file before reading it.
#include "ember/tensor/InputFile.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "ember/tensor/Error.h"

namespace ember {

namespace {
const char* kind_of(mode_t m) {
  if (S_ISFIFO(m)) return "a named pipe";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a plain file";
}
}  // namespace

void check_input_file(const std::string& path, const char* what) {
  EMBER_CHECK(!path.empty(), what, ": the file name is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)  // follows symbolic links: a link to a file is fine
    EMBER_FAIL(what, ": ", path, ": cannot open (", std::strerror(errno), ")");
  if (S_ISDIR(st.st_mode)) EMBER_FAIL(what, ": ", path, ": is a folder, not a file");
  EMBER_CHECK(S_ISREG(st.st_mode), what, ": ", path, ": is not a regular file (", kind_of(st.st_mode),
              "); give a file");
}

}  // namespace ember
