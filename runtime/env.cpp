// Reading the 0/1 switches of runtime/env.h.
#include "runtime/env.h"

#include <cstdlib>
#include <string>

#include "runtime/error.h"

namespace attncamp::env {

bool flag(const char* name) {
  const char* value = std::getenv(name);
  const std::string s = value != nullptr ? value : "";
  ATTNCAMP_CHECK(s.empty() || s == "0" || s == "1", name, " must be 0 or 1, got '", s, "'");
  return s == "1";
}

}  // namespace attncamp::env
