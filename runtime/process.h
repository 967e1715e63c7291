// Process-wide facts that error messages and logs need: the rank of this
// process (or -1 when none is set) and the host name.
#pragma once

#include <string>

namespace attncamp {

// Rank of this process in the job, -1 before a communicator sets it.
int process_rank();
void set_process_rank(int rank);
// Host name of this machine.
std::string host_name();

}  // namespace attncamp
