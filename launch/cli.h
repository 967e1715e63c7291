// The attncamp command line: subcommands convert, train, eval and bench.
#pragma once

namespace attncamp::launch {

// Parses argv and runs the chosen subcommand; returns the process exit code.
// Errors from the subcommands propagate as attncamp::Error to main().
int run_cli(int argc, char** argv);

}  // namespace attncamp::launch
