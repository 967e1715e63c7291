// Thread interleavings for the emulated-kernel tests of the selection ops (emu_nms_test.cpp,
// emu_matching_test.cpp): both of the emulator's schedules, forwards and reversed, which the tests
// cycle through so that a missing barrier shows under one of them.
#pragma once

#include <vector>

#include "emu_runtime.h"

namespace attncamp::test {

struct EmuSchedule {
  emu::Schedule schedule;
  bool reverse;
};

inline const std::vector<EmuSchedule> kEmuSchedules = {{emu::Schedule::kWarpByWarp, false},
                                                       {emu::Schedule::kLockstep, true},
                                                       {emu::Schedule::kWarpByWarp, true},
                                                       {emu::Schedule::kLockstep, false}};

inline emu::LaunchOptions emu_options(const EmuSchedule& s) {
  emu::LaunchOptions o;
  o.schedule = s.schedule;
  o.reverse = s.reverse;
  return o;
}

}  // namespace attncamp::test
