// Process-wide rank and host name used to label errors and logs.
#include "runtime/process.h"

#include <unistd.h>

#include <atomic>

namespace attncamp {

namespace {
std::atomic<int> g_rank{-1};
}

int process_rank() { return g_rank.load(); }
void set_process_rank(int rank) { g_rank.store(rank); }

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown-host";
  return buf;
}

}  // namespace attncamp
