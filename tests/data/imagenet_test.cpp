// Tests for convert_imagenet: the real sample_1perclass folder with its labels.tsv (checked in
// h5py against Pillow/torchvision), and a small made-up folder with the kinds of file real
// ImageNet holds (CMYK and grey JPEGs, a PNG named .JPEG) plus a truncated JPEG.
#include "data/imagenet.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "data/classification.h"
#include "data/hdf5.h"
#include "data/image_codec.h"
#include "tests/test_util.h"

namespace attncamp::data {
namespace {

namespace fs = std::filesystem;
using test::expect_error;

// Runs /usr/bin/python3 on `script` with `args`; false (and the output in *log) on failure.
bool run_python(const std::string& script, const std::string& args, std::string* log) {
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/script.py") << script;
  const int rc = std::system(("/usr/bin/python3 " + dir + "/script.py " + args + " > " + dir + "/log 2>&1").c_str());
  std::ifstream in(dir + "/log");
  log->assign(std::istreambuf_iterator<char>(in), {});
  return rc == 0;
}

std::vector<uint8_t> bytes_of(const std::string& path) { return read_file_bytes(path); }

int max_abs_diff(const uint8_t* a, const uint8_t* b, size_t n) {
  int m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::abs(int{a[i]} - int{b[i]}));
  return m;
}

// --- The real sample: 109 ImageNet JPEGs and labels.tsv -------------------------------------

// Reads our file with h5py: writes meta.txt (num_classes, encoding, then "label<TAB>source<TAB>
// h<TAB>w" per image), h5py.bin (the raw array, or Pillow's decode of each stored JPEG) and
// ref.bin (torchvision's resize + centre crop of each original file, for raw files).
constexpr const char* kCheckScript = R"PY(
import sys, io, h5py, numpy as np
from PIL import Image
import torchvision.transforms.functional as F
path, root, out, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
f = h5py.File(path, "r")
enc = f["images"].attrs["encoding"]
enc = enc.decode() if isinstance(enc, bytes) else enc
meta = open(out + "/meta.txt", "w")
meta.write("%d %s %s\n" % (f.attrs["num_classes"], f.attrs["attncamp_schema"], enc))
img_out, ref_out = open(out + "/h5py.bin", "wb"), open(out + "/ref.bin", "wb")
for i, (label, src) in enumerate(zip(f["labels"][:], f["sources"][:])):
    src = src.decode()
    if enc == "jpeg":
        a = np.asarray(Image.open(io.BytesIO(f["images"][i].tobytes())).convert("RGB"))
    else:
        a = f["images"][i]
        ref = F.center_crop(F.resize(Image.open(root + "/" + src).convert("RGB"), size), size)
        ref_out.write(np.asarray(ref).tobytes())
    img_out.write(a.tobytes())
    meta.write("%d\t%s\t%d\t%d\n" % (label, src, a.shape[0], a.shape[1]))
)PY";

struct H5pyView {
  int64_t num_classes = 0;
  std::string schema, encoding;
  std::vector<int> labels, heights, widths;
  std::vector<std::string> sources;
  std::vector<uint8_t> pixels, ref;
};

H5pyView read_with_h5py(const std::string& h5, const std::string& root, int size) {
  const std::string out = test::temp_dir();
  std::string log;
  EXPECT_TRUE(run_python(kCheckScript, h5 + " " + root + " " + out + " " + std::to_string(size), &log)) << log;
  H5pyView v;
  std::ifstream meta(out + "/meta.txt");
  meta >> v.num_classes >> v.schema >> v.encoding;
  std::string line;
  std::getline(meta, line);
  while (std::getline(meta, line)) {
    std::istringstream in(line);
    int label = 0, h = 0, w = 0;
    std::string src;
    in >> label >> src >> h >> w;
    v.labels.push_back(label);
    v.sources.push_back(src);
    v.heights.push_back(h);
    v.widths.push_back(w);
  }
  v.pixels = bytes_of(out + "/h5py.bin");
  v.ref = bytes_of(out + "/ref.bin");
  return v;
}

class ImagenetSample : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::data_dir() + "/imagenet/sample_1perclass";
    if (!fs::exists(root_ + "/labels.tsv")) GTEST_SKIP() << root_ << "/labels.tsv not found (fixture data absent)";
    std::string log;
    if (!run_python("import h5py, numpy, PIL, torchvision", "", &log)) {
      GTEST_SKIP() << "/usr/bin/python3 lacks h5py/numpy/PIL/torchvision: " << log;
    }
    // Expected labels: labels.tsv's class_index per file, in sorted file order.
    std::ifstream in(root_ + "/labels.tsv");
    std::string line;
    std::getline(in, line);
    std::vector<std::pair<std::string, int>> rows;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      int label = 0;
      std::string wnid, file;
      fields >> label >> wnid >> file;
      rows.push_back({file, label});
    }
    std::sort(rows.begin(), rows.end());
    for (const auto& [file, label] : rows) {
      files_.push_back(file);
      labels_.push_back(label);
    }
  }
  ImagenetOptions options(const std::string& out) const {
    ImagenetOptions o;
    o.input_dir = root_;
    o.labels_file = root_ + "/labels.tsv";
    o.output = out;
    o.num_classes = 1000;
    return o;
  }
  std::string root_;
  std::vector<std::string> files_;
  std::vector<int> labels_;
};

TEST_F(ImagenetSample, JpegKeepAspectMatchesLabelsAndPillow) {
  ASSERT_EQ(files_.size(), 109u);
  ImagenetOptions o = options(test::temp_dir() + "/sample.h5");
  o.size = 48;
  int64_t last_done = -1, calls = 0;
  ConvertOptions c;
  c.threads = 2;
  c.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 109);
    EXPECT_GT(done, last_done);
    last_done = done;
    ++calls;
  };
  o.chunk = 50;
  const ConvertSummary s = convert_imagenet(o, c);
  EXPECT_EQ(s.written, 109);
  EXPECT_EQ(s.skipped, 0);
  EXPECT_EQ(last_done, 109);
  EXPECT_EQ(calls, 3);  // chunks of 50, 50, 9

  const H5pyView v = read_with_h5py(o.output, root_, o.size);
  EXPECT_EQ(v.num_classes, 1000);
  EXPECT_EQ(v.schema, "classification/1");
  EXPECT_EQ(v.encoding, "jpeg");
  EXPECT_EQ(v.sources, files_);
  EXPECT_EQ(v.labels, labels_);
  H5Id f = open_file(o.output);
  const auto names = read_string_dataset(f.get(), "class_names");
  ASSERT_EQ(names.size(), 1000u);
  EXPECT_EQ(names[0], "n01440764");
  EXPECT_EQ(names[990], "n12768682");
  EXPECT_EQ(names[1], "");
  // Our decoder and Pillow's agree on every stored JPEG, whose shorter side is 48.
  const auto jpegs = read_vlen_bytes_rows(f.get(), "images", 0, 109);
  size_t offset = 0;
  for (size_t i = 0; i < jpegs.size(); ++i) {
    const Image img = decode_image(jpegs[i].data(), jpegs[i].size(), 3, files_[i]);
    EXPECT_EQ(std::min(img.height, img.width), 48) << files_[i];
    ASSERT_EQ(img.height, v.heights[i]);
    ASSERT_EQ(img.width, v.widths[i]);
    ASSERT_LE(offset + img.pixels.size(), v.pixels.size());
    EXPECT_LE(max_abs_diff(img.pixels.data(), v.pixels.data() + offset, img.pixels.size()), 1) << files_[i];
    offset += img.pixels.size();
  }
  EXPECT_EQ(offset, v.pixels.size());
}

TEST_F(ImagenetSample, RawCropEqualsTorchvisionExactly) {
  ImagenetOptions o = options(test::temp_dir() + "/raw.h5");
  o.size = 24;
  o.crop = true;
  o.encoding = "raw";
  const ConvertSummary s = convert_imagenet(o);
  EXPECT_EQ(s.written, 109);
  const H5pyView v = read_with_h5py(o.output, root_, o.size);
  EXPECT_EQ(v.encoding, "raw");
  EXPECT_EQ(v.labels, labels_);
  ASSERT_EQ(v.pixels.size(), 109u * 24 * 24 * 3);
  ASSERT_EQ(v.ref.size(), v.pixels.size());
  // Same libjpeg-turbo decode and Pillow's exact bilinear arithmetic: bit-identical.
  EXPECT_EQ(max_abs_diff(v.pixels.data(), v.ref.data(), v.pixels.size()), 0);
  const ClassificationData d = load_classification(o.output);
  EXPECT_EQ(d.images.shape(), (Shape{109, 24, 24, 3}));
  EXPECT_EQ(max_abs_diff(d.images.data<uint8_t>(), v.pixels.data(), v.pixels.size()), 0);
}

// --- A made-up folder with ImageNet's odd files ------------------------------------------------

// argv[1]/a_cat: rgb.JPEG (red-ish 40x30), grey.JPEG, cmyk.JPEG; argv[1]/b_dog: png.JPEG (a PNG),
// truncated.JPEG (half a JPEG), notes.txt (ignored); argv[1]/labels.tsv lists them all.
constexpr const char* kFolderScript = R"PY(
import sys, os, numpy as np
from PIL import Image
d = sys.argv[1]
os.makedirs(d + "/a_cat"); os.makedirs(d + "/b_dog")
yy, xx = np.mgrid[0:30, 0:40]
rgb = np.stack([200 + 0 * xx, 40 + xx, 60 + yy], -1).astype(np.uint8)
Image.fromarray(rgb).save(d + "/a_cat/rgb.JPEG", quality=95)
Image.fromarray((100 + xx + yy).astype(np.uint8), "L").save(d + "/a_cat/grey.JPEG", quality=95)
Image.fromarray(rgb).convert("CMYK").save(d + "/a_cat/cmyk.JPEG", quality=95)
Image.fromarray(rgb[:, ::-1].copy()).save(d + "/b_dog/png.JPEG", format="PNG")
data = open(d + "/a_cat/rgb.JPEG", "rb").read()
open(d + "/b_dog/truncated.JPEG", "wb").write(data[: len(data) // 2])
open(d + "/b_dog/notes.txt", "w").write("not an image")
with open(d + "/labels.tsv", "w") as f:
    f.write("# num_classes: 5\nclass_index\twnid\tfile\n")
    for name in ["a_cat/rgb.JPEG", "b_dog/png.JPEG", "a_cat/cmyk.JPEG", "a_cat/grey.JPEG"]:
        f.write("%d\t%s\t%s\n" % (3 if name.startswith("a") else 1, name.split("/")[0], name))
)PY";

class ImagenetFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir() + "/in";
    std::string log;
    if (!run_python(kFolderScript, dir_, &log)) GTEST_SKIP() << "/usr/bin/python3 with numpy and PIL needed: " << log;
  }
  ImagenetOptions options() const {
    ImagenetOptions o;
    o.input_dir = dir_;
    o.output = test::temp_dir() + "/out/folder.h5";
    o.size = 16;
    o.crop = true;
    return o;
  }
  std::string dir_;
};

TEST_F(ImagenetFolder, FailNamesTheCorruptFileAndWritesNothing) {
  const ImagenetOptions o = options();
  expect_error([&] { convert_imagenet(o); }, {"sample 4", "b_dog/truncated.JPEG", "JPEG error", "--on-error skip"});
  EXPECT_FALSE(fs::exists(o.output));
  EXPECT_TRUE(fs::is_empty(fs::path(o.output).parent_path()));  // no temporary file left
}

TEST_F(ImagenetFolder, SkipConvertsOddFilesToRgb) {
  const ImagenetOptions o = options();
  ConvertOptions c;
  c.on_error = OnError::kSkip;
  const ConvertSummary s = convert_imagenet(o, c);
  EXPECT_EQ(s.written, 4);
  EXPECT_EQ(s.skipped, 1);
  ASSERT_EQ(s.skipped_samples.size(), 1u);
  EXPECT_EQ(s.skipped_samples[0].source, "b_dog/truncated.JPEG");
  EXPECT_NE(s.skipped_samples[0].reason.find("JPEG error"), std::string::npos) << s.skipped_samples[0].reason;
  EXPECT_EQ(s.outputs, std::vector<std::string>{o.output});

  const ClassificationData d = load_classification(o.output);
  EXPECT_EQ(d.images.shape(), (Shape{4, 16, 16, 3}));
  EXPECT_EQ(d.num_classes, 2);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"a_cat", "b_dog"}));
  const int32_t* labels = d.labels.data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(labels, labels + 4), (std::vector<int32_t>{0, 0, 0, 1}));
  H5Id f = open_file(o.output);
  EXPECT_EQ(read_string_dataset(f.get(), "sources"),
            (std::vector<std::string>{"a_cat/cmyk.JPEG", "a_cat/grey.JPEG", "a_cat/rgb.JPEG", "b_dog/png.JPEG"}));
  EXPECT_EQ(dataset_shape(f.get(), "images"), (Shape{4}));
  // Contiguous like every attncamp dataset, and the first pass's side file is gone.
  H5Id ds = open_dataset(f.get(), "images");
  H5Id dcpl(H5Dget_create_plist(ds.get()), H5Pclose);
  EXPECT_EQ(H5Pget_layout(dcpl.get()), H5D_CONTIGUOUS);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(fs::path(o.output).parent_path())) left.push_back(e.path().string());
  EXPECT_EQ(left, std::vector<std::string>{o.output});
  // Pixel checks at the centre (the crop keeps it): CMYK and RGB sources agree with the known
  // colour, the grey one has R = G = B, the PNG is the mirrored RGB image.
  auto px = [&](int i, int c) { return int{d.images.data<uint8_t>()[((i * 16 + 8) * 16 + 8) * 3 + c]}; };
  for (int i : {0, 2}) {
    EXPECT_NEAR(px(i, 0), 200, 6) << i;
    EXPECT_NEAR(px(i, 1), 40 + 20, 6) << i;
    EXPECT_NEAR(px(i, 2), 60 + 15, 6) << i;
  }
  EXPECT_NEAR(px(1, 0), 100 + 20 + 15, 4);
  EXPECT_LE(std::abs(px(1, 0) - px(1, 1)) + std::abs(px(1, 1) - px(1, 2)), 2);
  EXPECT_NEAR(px(3, 0), 200, 6);
  EXPECT_NEAR(px(3, 1), 40 + 20, 6);
}

TEST_F(ImagenetFolder, OutputIndependentOfThreadsAndChunks) {
  ConvertOptions c;
  c.on_error = OnError::kSkip;
  std::vector<std::vector<std::vector<uint8_t>>> runs;
  for (const auto& [threads, chunk] : std::vector<std::pair<int, int>>{{1, 256}, {3, 2}, {2, 1}}) {
    ImagenetOptions o = options();
    o.crop = false;
    o.chunk = chunk;
    c.threads = threads;
    EXPECT_EQ(convert_imagenet(o, c).written, 4);
    H5Id f = open_file(o.output);
    runs.push_back(read_vlen_bytes_rows(f.get(), "images", 0, 4));
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
  // Keep-aspect: a 40x30 source becomes 21x16 (int(16 * 40 / 30)).
  int h = 0, w = 0;
  image_size(runs[0][2].data(), runs[0][2].size(), &h, &w, "rgb");
  EXPECT_EQ(h, 16);
  EXPECT_EQ(w, 21);
}

TEST_F(ImagenetFolder, LabelFileGivesLabelsAndClassCount) {
  ImagenetOptions o = options();
  o.labels_file = dir_ + "/labels.tsv";
  ConvertOptions c;
  c.on_error = OnError::kSkip;  // nothing to skip: the first pass is renamed into place
  const ConvertSummary s = convert_imagenet(o, c);
  EXPECT_EQ(s.skipped, 0);
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::path(o.output).parent_path()), fs::directory_iterator()), 1);
  EXPECT_EQ(s.written, 4);  // truncated.JPEG is not listed
  const ClassificationData d = load_classification(o.output);
  EXPECT_EQ(d.num_classes, 5);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"", "b_dog", "", "a_cat", ""}));
  const int32_t* labels = d.labels.data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(labels, labels + 4), (std::vector<int32_t>{3, 3, 3, 1}));
}

TEST_F(ImagenetFolder, AllSkippedGivesAnEmptyValidFile) {
  ImagenetOptions o = options();
  o.encoding = "raw";
  o.labels_file = dir_ + "/only_bad.tsv";
  std::ofstream(o.labels_file) << "label\tfile\n1\tb_dog/truncated.JPEG\n0\tb_dog/notes.txt\n";
  ConvertOptions c;
  c.on_error = OnError::kSkip;
  const ConvertSummary s = convert_imagenet(o, c);
  EXPECT_EQ(s.written, 0);
  EXPECT_EQ(s.skipped, 2);
  EXPECT_EQ(s.skipped_samples[0].source, "b_dog/notes.txt");
  EXPECT_NE(s.skipped_samples[0].reason.find("not a JPEG or PNG image"), std::string::npos);
  const ClassificationData d = load_classification(o.output);
  EXPECT_EQ(d.images.shape(), (Shape{0, 16, 16, 3}));
  EXPECT_EQ(d.labels.shape(), (Shape{0}));
  EXPECT_EQ(d.num_classes, 2);
}

TEST_F(ImagenetFolder, KeepAspectJpegLoadsWhenSizesAgree) {
  ImagenetOptions o = options();
  o.crop = false;
  o.labels_file = dir_ + "/labels.tsv";
  convert_imagenet(o);
  // Every listed source is 30x40, so every stored image is 16x21 and the whole file loads.
  const ClassificationData d = load_classification(o.output);
  EXPECT_EQ(d.images.shape(), (Shape{4, 16, 21, 3}));
}

TEST_F(ImagenetFolder, BadOptionsAndLabelFiles) {
  ImagenetOptions o = options();
  o.encoding = "raw";
  o.crop = false;
  expect_error([&] { convert_imagenet(o); }, {"--encoding raw", "needs --crop"});
  o = options();
  o.quality = 0;
  expect_error([&] { convert_imagenet(o); }, {"--quality", "1..100"});
  o = options();
  o.input_dir = dir_ + "/nope";
  expect_error([&] { convert_imagenet(o); }, {dir_ + "/nope", "input folder not found"});

  const std::string tsv = dir_ + "/bad.tsv";
  o = options();
  o.labels_file = tsv;
  std::ofstream(tsv) << "class_index\tfile\nx\ta_cat/rgb.JPEG\n";
  expect_error([&] { convert_imagenet(o); }, {tsv + ":2", "class_index", "not an integer"});
  std::ofstream(tsv) << "index\tname\n";
  expect_error([&] { convert_imagenet(o); }, {tsv + ":1", "header must name"});
  std::ofstream(tsv) << "# num_classes: 2\nlabel\tfile\n2\ta_cat/rgb.JPEG\n";
  expect_error([&] { convert_imagenet(o); }, {tsv, "class_index 2 is outside [0, 2)"});
  std::ofstream(tsv) << "label\tfile\n0\ta_cat/rgb.JPEG\n1\ta_cat/missing.JPEG\n";
  expect_error([&] { convert_imagenet(o); }, {"sample 0", "a_cat/missing.JPEG", "cannot open"});
  o.num_classes = 1;
  expect_error([&] { convert_imagenet(o); }, {"--num-classes 1", "class index 1"});
}

TEST(ImagenetLoad, JpegFilesOfDifferentSizesNameTheIndex) {
  const std::string path = test::temp_dir() + "/mixed.h5";
  Image a{8, 8, 3, std::vector<uint8_t>(8 * 8 * 3, 100)};
  Image b{8, 6, 3, std::vector<uint8_t>(8 * 6 * 3, 50)};
  write_file_atomically(path, [&](hid_t f) {
    write_attr_string(f, "attncamp_schema", "classification/1");
    write_attr_int(f, "num_classes", 2);
    create_vlen_bytes(f, "images", 3);
    write_vlen_bytes_rows(f, "images", 0, {encode_jpeg(a, 90, "a"), encode_jpeg(a, 90, "a"), encode_jpeg(b, 90, "b")});
    H5Id ds = open_dataset(f, "images");
    write_attr_string(ds.get(), "encoding", "jpeg");
    ds.close(path);
    Tensor labels = Tensor::zeros({3}, DType::kI32);
    write_tensor(f, "labels", labels);
  });
  expect_error([&] { load_classification(path); }, {path, "/images[2]", "8x6", "8x8"});
  // A corrupt row is named by its index too; the lowest bad index is the one reported.
  H5Id f = open_file(path, true);
  std::vector<uint8_t> cut = encode_jpeg(a, 90, "a");
  cut.resize(cut.size() / 3);
  write_vlen_bytes_rows(f.get(), "images", 1, {cut, cut});
  f.close(path);
  expect_error([&] { load_classification(path); }, {path, "/images[1]", "JPEG error"});
}

}  // namespace
}  // namespace attncamp::data
