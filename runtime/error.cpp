// Implementation of the error helpers: appends the source location (and rank,
// when one is set) to the message so a user can report it.
#include "runtime/error.h"

#include "runtime/process.h"

namespace attncamp::detail {

void throw_error(const char* file, int line, const std::string& msg) {
  std::string where = file;
  const auto slash = where.rfind('/');
  if (slash != std::string::npos) where = where.substr(slash + 1);
  std::string full = msg + " [" + where + ":" + std::to_string(line);
  if (process_rank() >= 0) full += ", rank " + std::to_string(process_rank());
  full += "]";
  throw Error(full);
}

}  // namespace attncamp::detail
