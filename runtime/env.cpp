// Reading the 0/1 switches of runtime/env.h, and scoped overrides.
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

Scoped::Scoped(const char* name, const char* value) : name_(name) {
  const char* old = std::getenv(name);
  had_ = old != nullptr;
  if (had_) old_ = old;
  if (value != nullptr) {
    setenv(name, value, 1);
  } else {
    unsetenv(name);
  }
}

Scoped::~Scoped() {
  if (had_) {
    setenv(name_.c_str(), old_.c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

}  // namespace attncamp::env
