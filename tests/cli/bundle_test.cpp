// Tests of scripts/bundle.sh: it packs attncamp and one test binary into a temporary folder that is
// then moved (relocated) and checked with an empty environment: ldd resolves every library except
// glibc and CUDA's inside the bundle, and the bundled binaries and run_tests.sh run from there.
// CUDA builds: the CUDA and NCCL libraries are the machine's, so the environment holds just their
// folders found at configure time on LD_LIBRARY_PATH, as `module load cuda` would set it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/test_util.h"

namespace attncamp {
namespace {

namespace fs = std::filesystem;

const fs::path kBuildDir = fs::path(ATTNCAMP_BINARY).parent_path().parent_path();
const fs::path kScript = fs::path(ATTNCAMP_SOURCE_DIR) / "scripts" / "bundle.sh";
#ifdef ATTNCAMP_TEST_CUDA_LIBRARY_DIRS
const std::string kCudaLibraryDirs = ATTNCAMP_TEST_CUDA_LIBRARY_DIRS;  // "DIR[:DIR]"
#else
const std::string kCudaLibraryDirs;  // not a CUDA build
#endif
// Runs with no inherited environment, as on a machine that has never seen the build but has CUDA.
const std::string kCleanEnv = "env -i PATH=/usr/bin:/bin 'LD_LIBRARY_PATH=" + kCudaLibraryDirs + "' ";

test::CommandResult run(const std::string& cmd) {
  test::CommandResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, got);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string sh_quote(const fs::path& p) { return "'" + p.string() + "'"; }

// Why the bundle cannot be made here, or empty.
std::string unavailable_reason() {
  const fs::path self = fs::read_symlink("/proc/self/exe");
  if (self.parent_path() != kBuildDir / "tests") return "runs from the build tree only, not from " + self.string();
  if (!fs::exists(kScript)) return kScript.string() + " is absent (tests run outside the checkout)";
  if (!fs::exists(kBuildDir / "tests" / "test_runtime_tensor")) return "no build tree at " + kBuildDir.string();
  for (const char* tool : {"patchelf", "ldd", "readelf"}) {
    if (run(std::string("command -v ") + tool).exit_code != 0) {
      return std::string(tool) + " is not installed (apt-get install patchelf binutils)";
    }
  }
  return "";
}

// CUDA, NCCL and driver libraries that ldd does not find for `file` in kCleanEnv, space-separated
// (bundle.sh's "cuda" kind, which it leaves to the machine); empty when all are found.
std::string unresolved_cuda_libraries(const fs::path& file) {
  std::istringstream lines(run(kCleanEnv + "ldd " + sh_quote(file)).output);
  std::string missing;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string name;
    words >> name;
    const bool cuda = name.rfind("libcu", 0) == 0 || name.rfind("libnccl", 0) == 0 || name.rfind("libnv", 0) == 0;
    if (cuda && line.find("=> not found") != std::string::npos) missing += (missing.empty() ? "" : " ") + name;
  }
  return missing;
}

class Bundle : public ::testing::Test {
 protected:
  // Bundles once for the suite, then moves the bundle so that no path from bundling time holds.
  static void SetUpTestSuite() {
    why_not_ = new std::string(unavailable_reason());
    if (!why_not_->empty()) return;
    const fs::path base = test::temp_dir();
    const fs::path first = base / "first";
    made_ = new test::CommandResult(run("bash " + sh_quote(kScript) + " " + sh_quote(kBuildDir) + " " +
                                        sh_quote(first) + " --only attncamp,test_runtime_tensor"));
    dir_ = new fs::path(base / "moved" / "bundle");
    fs::create_directories(dir_->parent_path());
    if (made_->exit_code == 0) fs::rename(first, *dir_);
  }
  static void TearDownTestSuite() {
    if (dir_) fs::remove_all(dir_->parent_path().parent_path());
    delete dir_;
    delete made_;
    delete why_not_;
    dir_ = nullptr;
    made_ = nullptr;
    why_not_ = nullptr;
  }
  void SetUp() override {
    if (!why_not_->empty()) GTEST_SKIP() << *why_not_;
    ASSERT_EQ(made_->exit_code, 0) << made_->output;
  }
  static std::string manifest() {
    std::ifstream in(*dir_ / "MANIFEST");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  static std::string* why_not_;
  static test::CommandResult* made_;
  static fs::path* dir_;
};
std::string* Bundle::why_not_ = nullptr;
test::CommandResult* Bundle::made_ = nullptr;
fs::path* Bundle::dir_ = nullptr;

// One test, so that ctest (one process per test) bundles once for it: what is in the bundle, where
// its executables look for libraries, and that it runs after the move with an empty environment.
TEST_F(Bundle, MovedBundleIsSelfContainedAndRuns) {
  EXPECT_TRUE(fs::exists(*dir_ / "bin" / "attncamp"));
  EXPECT_TRUE(fs::exists(*dir_ / "tests" / "test_runtime_tensor"));
  EXPECT_FALSE(fs::exists(*dir_ / "tests" / "test_ops_gemm"));
  EXPECT_TRUE(fs::exists(*dir_ / "lib" / "libopenblas.so.0"));
  EXPECT_TRUE(fs::exists(*dir_ / "lib" / "libhdf5_serial.so.103"));
  for (const auto& entry : fs::recursive_directory_iterator(*dir_ / "lib")) {
    const std::string name = entry.path().filename().string();
    for (const char* forbidden : {"libc.so", "libm.so", "ld-linux", "libcuda", "libcublas", "libnccl"}) {
      EXPECT_EQ(name.rfind(forbidden, 0), std::string::npos) << entry.path();
    }
  }
  const std::string m = manifest();
  EXPECT_NE(m.find("lib/libopenblas.so.0 <- "), std::string::npos) << m;
  EXPECT_NE(m.find("commit: "), std::string::npos) << m;

  const auto rpath = run("readelf -d " + sh_quote(*dir_ / "bin" / "attncamp"));
  EXPECT_NE(rpath.output.find("Library rpath: [$ORIGIN/../lib]"), std::string::npos) << rpath.output;

  const auto libs = run(kCleanEnv + sh_quote(*dir_ / "check_libs.sh"));
  EXPECT_EQ(libs.exit_code, 0) << libs.output;
  EXPECT_NE(libs.output.find("check_libs: OK"), std::string::npos) << libs.output;

  // What the bundle leaves to the machine (CUDA, NCCL) must be there for the binaries to start.
  const std::string missing = unresolved_cuda_libraries(*dir_ / "bin" / "attncamp");
  if (!missing.empty()) {
    GTEST_SKIP() << "the bundled attncamp needs " << missing
                 << " from the machine (the bundle leaves CUDA out), found neither on the loader path"
                 << (kCudaLibraryDirs.empty()
                         ? ""
                         : " nor in " + kCudaLibraryDirs + " (the CUDA library folders found at configure time)")
                 << "; the bundled binaries were not run";
  }

  const auto help = run(kCleanEnv + sh_quote(*dir_ / "bin" / "attncamp") + " --help");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_NE(help.output.find("Usage:"), std::string::npos) << help.output;

  const auto tests = run(kCleanEnv + sh_quote(*dir_ / "run_tests.sh"));
  EXPECT_EQ(tests.exit_code, 0) << tests.output;
  EXPECT_NE(tests.output.find("PASS    test_runtime_tensor"), std::string::npos) << tests.output;
  EXPECT_NE(tests.output.find("binaries: 1 pass, 0 all-skipped, 0 fail"), std::string::npos) << tests.output;
}

TEST_F(Bundle, CheckLibsNamesALibraryFromOutsideTheBundle) {
  // The build tree's own attncamp finds OpenBLAS through its build-time RUNPATH, not the bundle.
  const fs::path stray = *dir_ / "bin" / "stray";
  fs::copy_file(kBuildDir / "bin" / "attncamp", stray);
  const auto r = run(kCleanEnv + sh_quote(*dir_ / "check_libs.sh"));
  fs::remove(stray);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("bin/stray: libopenblas.so.0 => /"), std::string::npos) << r.output;
}

TEST(BundleScript, RefusesAMissingBuildFolder) {
  if (!fs::exists(kScript)) GTEST_SKIP() << kScript.string() << " is absent (tests run outside the checkout)";
  const auto r = run("bash " + sh_quote(kScript) + " /nonexistent/build " + sh_quote(test::temp_dir() + "/out"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("build folder /nonexistent/build does not exist"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace attncamp
