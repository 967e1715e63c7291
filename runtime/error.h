// Error type and check macros for attncamp.
// Every failure in library code throws attncamp::Error carrying the failed
// condition, file:line and a user hint; library code never exits or aborts.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace attncamp {

// Error thrown by all attncamp library code. what() is one line that a user can act on.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
// Builds a message from any streamable pieces.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace attncamp

// Throws attncamp::Error with a message and the source location.
#define ATTNCAMP_THROW(...) \
  ::attncamp::detail::throw_error(__FILE__, __LINE__, ::attncamp::detail::str_cat(__VA_ARGS__))

// Checks a condition; on failure throws attncamp::Error naming the condition.
#define ATTNCAMP_CHECK(cond, ...)                                                                              \
  do {                                                                                                         \
    if (!(cond)) {                                                                                             \
      ::attncamp::detail::throw_error(__FILE__, __LINE__,                                                      \
                                      ::attncamp::detail::str_cat(__VA_ARGS__, " (check failed: " #cond ")")); \
    }                                                                                                          \
  } while (0)
