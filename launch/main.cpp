// attncamp command-line entry point: runs a subcommand and turns any error into
// one line naming rank, host and the problem, with a non-zero exit code (in a multi-process job
// the whole job is aborted, so no rank waits forever for the one that failed).
#include <cstdio>
#include <exception>

#include "launch/cli.h"
#include "runtime/communicator.h"
#include "runtime/error.h"
#include "runtime/process.h"

int main(int argc, char** argv) {
  try {
    return attncamp::launch::run_cli(argc, argv);
  } catch (const attncamp::Error& e) {
    std::fprintf(stderr, "attncamp: error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attncamp: error: %s\n", e.what());
  }
  std::fflush(stderr);
  attncamp::abort_distributed_job(1);  // never leave the other ranks of a job hanging
  return 1;
}
