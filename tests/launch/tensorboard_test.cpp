// TensorBoard event files: CRC32C known answers, and an independent reader
// (Python: TFRecord framing checked with python3-crc32c, events decoded with
// protobuf from a protoc-generated module) reads back every scalar we wrote.
#include "launch/tensorboard.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tests/test_util.h"

namespace attncamp::launch {
namespace {

TEST(Crc32c, KnownAnswers) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);  // RFC 3720 B.4
}

TEST(EventWriter, IndependentReaderSeesScalars) {
  if (std::system("/usr/bin/python3 -c 'import crc32c, google.protobuf' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3-crc32c or python3-protobuf not installed (scripts/setup.sh installs them)";
  }
  const std::string dir = test::temp_dir();
  std::string path;
  {
    EventWriter w(dir);
    path = w.path();
    for (int s = 1; s <= 3; ++s) w.scalar("train/loss", s, 1.0 / s);
    w.scalar("test/top1", 3, 0.875);
  }
  const std::string py = dir + "/read.py";
  const std::string script = R"PY(
import sys, struct, crc32c, importlib
sys.path.insert(0, sys.argv[1])
pb = importlib.import_module("tensorboard_pb2")
def masked(b):
    c = crc32c.crc32c(b)
    return (((c >> 15) | (c << 17)) + 0xa282ead8) & 0xffffffff
data = open(sys.argv[2], "rb").read()
pos, out = 0, []
while pos < len(data):
    (n,) = struct.unpack_from("<Q", data, pos)
    assert struct.unpack_from("<I", data, pos + 8)[0] == masked(data[pos:pos + 8])
    body = data[pos + 12:pos + 12 + n]
    assert struct.unpack_from("<I", data, pos + 12 + n)[0] == masked(body)
    e = pb.Event(); e.ParseFromString(body)
    if e.HasField("file_version"): out.append("version " + e.file_version)
    for v in e.summary.value: out.append("%s %d %.4f" % (v.tag, e.step, v.simple_value))
    pos += 16 + n
print(";".join(out))
)PY";
  FILE* f = std::fopen(py.c_str(), "w");
  std::fputs(script.c_str(), f);
  std::fclose(f);
  const std::string proto_dir = test::source_dir() + "/launch/proto";
  ASSERT_EQ(
      std::system(("protoc -I" + proto_dir + " --python_out=" + dir + " " + proto_dir + "/tensorboard.proto").c_str()),
      0);
  const std::string cmd = "/usr/bin/python3 " + py + " " + dir + " " + path + " > " + dir + "/out.txt 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  FILE* o = std::fopen((dir + "/out.txt").c_str(), "r");
  char buf[1024] = {0};
  const size_t got = std::fread(buf, 1, sizeof(buf) - 1, o);
  std::fclose(o);
  std::string out(buf, got);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  EXPECT_EQ(out,
            "version brain.Event:2;train/loss 1 1.0000;train/loss 2 0.5000;train/loss 3 0.3333;test/top1 3 0.8750");
}

}  // namespace
}  // namespace attncamp::launch
