// Tests of experiment-config loading (launch/config.h): shipped configs load, parse errors name
// file:line and the bad token, a field that moved says where it went, --set overrides of each
// kind (lists and oneof members too) work or explain themselves, validate() names the field of
// each out-of-range value, defaults and text round-trip.
#include "launch/config.h"
#include "launch/task.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "runtime/error.h"
#include "tests/test_util.h"

namespace attncamp::launch {
namespace {

// Smallest valid config: leaves every defaulted field unset.
const char* const kMinimal = R"(name: "minimal"
model {
  vit {
    image_size: 28
    in_channels: 1
    patch_size: 4
    dim: 64
    depth: 2
    heads: 4
    mlp_dim: 128
    num_classes: 10
  }
}
data { train_path: "train.h5" }
optimizer { lr: 1e-3 }
trainer { epochs: 1 batch_size: 32 }
)";

// Writes `text` to a fresh file and returns its path.
std::string write_config(const std::string& text, const std::string& name = "exp.pbtxt") {
  const std::string path = test::temp_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Runs `fn`, expects an attncamp::Error, and returns its message ("" and a failure otherwise).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& err) {
    return err.what();
  }
  ADD_FAILURE() << "expected attncamp::Error";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

#define EXPECT_CONTAINS(s, part) \
  EXPECT_TRUE(contains(s, part)) << "message: " << (s) << "\nexpected to contain: " << (part)

TEST(Config, ShippedConfigsLoad) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(test::source_dir() + "/configs")) {
    if (entry.path().extension() != ".pbtxt") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(load_config(entry.path().string()));
    ++count;
  }
  EXPECT_GE(count, 1);
  const config::Experiment e = load_config(test::source_dir() + "/configs/vit_fashion_mnist.pbtxt");
  EXPECT_EQ(e.name(), "vit_fashion_mnist");
  EXPECT_EQ(e.model().vit().dim(), 64);
  EXPECT_EQ(e.model().vit().pool(), config::VitConfig::ATTENTION_POOL);
  EXPECT_EQ(e.model().vit().attn_pool_dim(), 64);  // default: model.vit.dim
  EXPECT_FLOAT_EQ(e.model().vit().label_smoothing(), 0.1f);
  ASSERT_EQ(e.data().classification().mean_size(), 1);
  EXPECT_FLOAT_EQ(e.data().classification().mean(0), 0.286f);
  const config::Experiment in = load_config(test::source_dir() + "/configs/vit_s16_imagenet.pbtxt");
  ASSERT_EQ(in.data().classification().std_size(), 3);
  EXPECT_FLOAT_EQ(in.data().classification().std(2), 0.225f);
  EXPECT_FLOAT_EQ(in.data().classification().eval_crop(), 0.875f);
  EXPECT_FLOAT_EQ(e.optimizer().lr(), 1e-3f);
  EXPECT_EQ(e.trainer().eval_batch_size(), 500);
  EXPECT_EQ(e.trainer().device(), "cpu");
}

TEST(Config, MissingFile) {
  const std::string path = test::temp_dir() + "/absent.pbtxt";
  const std::string msg = error_of([&] { load_config(path); });
  EXPECT_CONTAINS(msg, "config " + path + ": cannot open (No such file or directory)");
}

TEST(Config, TypoFieldNamesFileLineAndField) {
  std::string text = kMinimal;
  text.replace(text.find("optimizer { lr: 1e-3 }"), 22, "optimizer {\n  leraning_rate: 1e-3\n}");
  const std::string path = write_config(text, "typo.pbtxt");
  const std::string msg = error_of([&] { load_config(path); });
  EXPECT_CONTAINS(msg, path + ":16:");  // line 16 of the file, 1-based
  EXPECT_CONTAINS(msg, "leraning_rate");
  EXPECT_EQ(msg.find(path), 0u) << msg;
}

TEST(Config, TypeErrorsNameFileLineAndValue) {
  for (const std::string bad : {"\"abc\"", "1.5"}) {
    std::string text = kMinimal;
    text.replace(text.find("dim: 64"), 7, "dim: " + bad);
    const std::string path = write_config(text, "type.pbtxt");
    const std::string msg = error_of([&] { load_config(path); });
    EXPECT_CONTAINS(msg, path + ":7:");
    EXPECT_CONTAINS(msg, bad);
  }
}

TEST(Config, SyntaxErrorNamesSourceAndLine) {
  const std::string msg = error_of([] { parse_config_text("model { vit {\n  dim: 64\n", "inline"); });
  EXPECT_EQ(msg.find("inline:3:"), 0u) << msg;
  const std::string dup = error_of([] { parse_config_text("model { vit { dim: 1 dim: 2 } }", "dup"); });
  EXPECT_EQ(dup.find("dup:1:"), 0u) << dup;
}

// Configs written before the model and data messages became oneofs fail with an error that names
// the old field and where it is now, in the file and through --set.
TEST(Config, MovedFieldsSayWhereTheyWent) {
  struct Case {
    std::string text, expected;
  };
  const std::vector<Case> cases = {
      {"model {\n  kind: VIT\n}\n", "old.pbtxt:2:7: model.kind has moved to model.vit (write model { vit { ... } }"},
      {"model { image_size: 28 }", "old.pbtxt:1:19: model.image_size has moved to model.vit.image_size"},
      {"data { mean: 0.5 }", "data.mean has moved to data.classification.mean"},
      {"data { augment: true }", "data.augment has moved to data.classification.augment"},
      {"data { synthetic_samples: 8 }", "data.synthetic_samples has moved to data.classification.synthetic_samples"},
      {"trainer { label_smoothing: 0.1 }", "trainer.label_smoothing has moved to model.vit.label_smoothing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_CONTAINS(error_of([&] { parse_config_text(c.text, "old.pbtxt"); }), c.expected);
  }
  EXPECT_CONTAINS(error_of([] { parse_config_text(kMinimal, "m", {"model.heads=4"}); }),
                  "--set model.heads=4: model.heads has moved to model.vit.heads");
  EXPECT_CONTAINS(error_of([] { parse_config_text(kMinimal, "m", {"trainer.label_smoothing=0.1"}); }),
                  "trainer.label_smoothing has moved to model.vit.label_smoothing");
  // A field that never existed is still protobuf's message.
  EXPECT_CONTAINS(error_of([] { parse_config_text("model { vit { bogus: 1 } }", "x"); }),
                  "has no field named \"bogus\"");
}

TEST(Config, ModelKindAndDataTaskMustFit) {
  EXPECT_CONTAINS(error_of([] { parse_config_text("optimizer { lr: 1 } trainer { epochs: 1 batch_size: 1 }", "k"); }),
                  "k: field model: must name one architecture, e.g. model { vit { ... } } (got \"nothing\")");
  // Left out, the data message is the model's task's, with its defaults.
  const config::Experiment e = parse_config_text(kMinimal, "m");
  ASSERT_TRUE(e.data().has_classification());
  EXPECT_EQ(evaluation_metrics(e.model()).front(), "test/top1");
}

TEST(Config, OverridesOfEachKind) {
  const config::Experiment e =
      parse_config_text(kMinimal, "minimal",
                        {"trainer.max_steps=20", "optimizer.lr=3e-4", "model.vit.pool=ATTENTION_POOL",
                         "data.train_path=/x/y.h5", "optimizer.nesterov=true", "data.test_path=\"/quoted path.h5\"",
                         "name=with spaces", "trainer.seed=18446744073709551615", "model.vit.dim=32",
                         "model.vit.dim=48", "data.classification.mean=0.485,0.456,0.406",
                         "data.classification.std=[0.229, 0.224, 0.225]", "model.vit.in_channels=3"});
  EXPECT_EQ(e.trainer().max_steps(), 20);
  EXPECT_FLOAT_EQ(e.optimizer().lr(), 3e-4f);
  EXPECT_EQ(e.model().vit().pool(), config::VitConfig::ATTENTION_POOL);
  EXPECT_EQ(e.data().train_path(), "/x/y.h5");
  EXPECT_TRUE(e.optimizer().nesterov());
  EXPECT_EQ(e.data().test_path(), "/quoted path.h5");
  EXPECT_EQ(e.name(), "with spaces");
  EXPECT_EQ(e.trainer().seed(), 18446744073709551615ull);
  EXPECT_EQ(e.model().vit().dim(), 48);            // applied in order: the last one wins
  EXPECT_EQ(e.model().vit().attn_pool_dim(), 48);  // defaults follow the overrides
  const auto& c = e.data().classification();
  ASSERT_EQ(c.mean_size(), 3);
  ASSERT_EQ(c.std_size(), 3);
  EXPECT_FLOAT_EQ(c.mean(1), 0.456f);
  EXPECT_FLOAT_EQ(c.std(2), 0.225f);
  // A list replaces the whole list.
  const config::Experiment one =
      parse_config_text(kMinimal, "m", {"data.classification.mean=[0.1,0.2,0.3]", "data.classification.mean=0.5"});
  ASSERT_EQ(one.data().classification().mean_size(), 1);
  EXPECT_FLOAT_EQ(one.data().classification().mean(0), 0.5f);
}

TEST(Config, BadOverridesExplainThemselves) {
  auto msg_of = [](const std::string& o) { return error_of([&] { parse_config_text(kMinimal, "m", {o}); }); };
  const std::string bogus = msg_of("trainer.bogus=3");
  EXPECT_CONTAINS(bogus, "--set trainer.bogus=3: no field 'bogus' in trainer (fields: epochs, batch_size, ");
  EXPECT_CONTAINS(bogus, "skip_collective_checks, primary_metric, keep_checkpoints, log_every_seconds)");
  EXPECT_CONTAINS(msg_of("bogus=3"),
                  "no field 'bogus' in the experiment (fields: name, model, data, optimizer, trainer)");
  EXPECT_CONTAINS(msg_of("optimizer.lr=abc"), "--set optimizer.lr=abc: 'abc' is not a valid float for optimizer.lr");
  EXPECT_CONTAINS(msg_of("trainer.epochs=1.5"), "'1.5' is not a valid int32 for trainer.epochs");
  EXPECT_CONTAINS(msg_of("trainer.epochs=3 4"), "'3 4' is not a valid int32 for trainer.epochs");
  EXPECT_CONTAINS(msg_of("optimizer.nesterov=maybe"), "'maybe' is not a valid bool for optimizer.nesterov");
  EXPECT_CONTAINS(msg_of("model.vit.pool=MEAN"),
                  "'MEAN' is not a valid Pool (one of CLS_TOKEN, ATTENTION_POOL) for model.vit.pool");
  EXPECT_CONTAINS(msg_of("data.classification.mean=a,b"),
                  "'a,b' is not a valid list of float for data.classification.mean (write a,b,c or [a, b, c])");
  EXPECT_CONTAINS(msg_of("trainer.max_steps"), "--set trainer.max_steps: expected FIELD=VALUE");
  EXPECT_CONTAINS(msg_of("=3"), "--set =3: no field name before '='");
  EXPECT_CONTAINS(msg_of("trainer.epochs.x=3"),
                  "--set trainer.epochs.x=3: trainer.epochs is a field of type int32, not a message");
  EXPECT_CONTAINS(msg_of("model=3"), "--set model=3: model is a message; set one of its fields");
  EXPECT_CONTAINS(msg_of("model.vit.dim.=3"), "model.vit.dim is a field of type int32, not a message");
}

TEST(Config, OutOfRangeValuesNameTheField) {
  struct Case {
    std::string override_text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"model.vit.heads=5", "m: field model.vit.heads: must divide model.vit.dim=64 (got 5)"},
      {"model.vit.patch_size=5", "field model.vit.patch_size: must divide model.vit.image_size=28 (got 5)"},
      {"model.vit.patch_size=0", "field model.vit.patch_size: must be > 0 (got 0)"},
      {"model.vit.image_size=-1", "field model.vit.image_size: must be > 0 (got -1)"},
      {"model.vit.in_channels=2", "field model.vit.in_channels: must be 1 (grey) or 3 (RGB) (got 2)"},
      {"model.vit.depth=0", "field model.vit.depth: must be > 0 (got 0)"},
      {"model.vit.mlp_dim=-3", "field model.vit.mlp_dim: must be > 0 (got -3)"},
      {"model.vit.num_classes=-1", "field model.vit.num_classes: must be >= 0"},
      {"model.vit.dropout=1", "field model.vit.dropout: must be in [0, 1) (got 1)"},
      {"model.vit.label_smoothing=1", "field model.vit.label_smoothing: must be in [0, 1) (got 1)"},
      {"optimizer.lr=0", "field optimizer.lr: must be > 0 (got 0)"},
      {"optimizer.lr=nan", "field optimizer.lr: must be > 0 (got nan)"},
      {"optimizer.weight_decay=-0.5", "field optimizer.weight_decay: must be >= 0 (got -0.5)"},
      {"optimizer.beta2=1", "field optimizer.beta2: must be in [0, 1) (got 1)"},
      {"optimizer.eps=-1", "field optimizer.eps: must be > 0 (got -1)"},
      {"optimizer.momentum=1.5", "field optimizer.momentum: must be in [0, 1) (got 1.5)"},
      {"optimizer.warmup_epochs=-1", "field optimizer.warmup_epochs: must be >= 0 (got -1)"},
      {"optimizer.min_lr=0.01", "field optimizer.min_lr: must be <= optimizer.lr=0.001 (got 0.01)"},
      {"optimizer.clip_grad_norm=-1", "field optimizer.clip_grad_norm: must be >= 0"},
      {"trainer.epochs=0", "field trainer.epochs: must be > 0 (got 0)"},
      {"trainer.batch_size=-2", "field trainer.batch_size: must be > 0 (got -2)"},
      {"trainer.eval_batch_size=-1", "field trainer.eval_batch_size: must be > 0 (got -1)"},
      {"trainer.max_steps=-1", "field trainer.max_steps: must be >= 0"},
      {"trainer.keep_checkpoints=-1", "field trainer.keep_checkpoints: must be >= 1 (0 = 1) (got -1)"},
      {"trainer.log_every_seconds=-1", "field trainer.log_every_seconds: must be > 0 (got -1)"},
      {"trainer.primary_metric=test/AP",
       "field trainer.primary_metric: must be one of the metrics the task reports: test/top1, test/top5, test/loss "
       "(got \"test/AP\")"},
      {"optimizer.lr_reference_batch=-1", "field optimizer.lr_reference_batch: must be >= 0"},
      {"trainer.early_stopping_patience=-1", "field trainer.early_stopping_patience: must be >= 0"},
      {"trainer.checkpoint_every_epochs=-1", "field trainer.checkpoint_every_epochs: must be >= 0"},
      {"trainer.threads=-1", "field trainer.threads: must be >= 0"},
      {"trainer.device=gpu", "field trainer.device: must be \"cpu\", \"cuda\" or \"cuda:N\" (got \"gpu\")"},
      {"data.train_path=",
       "field data.train_path: must name the training HDF5 file (or set data.classification.synthetic_samples) (got "
       "\"\")"},
      {"data.classification.std=-1", "field data.classification.std[0]: must be > 0 (got -1)"},
      {"data.classification.std=1,1",
       "field data.classification.std: must have 1 value or 1 (model.vit.in_channels) (got 2)"},
      {"data.classification.mean=nan", "field data.classification.mean[0]: must be finite (got nan)"},
      {"data.classification.eval_crop=1.5", "field data.classification.eval_crop: must be in (0, 1] (got 1.5)"},
      {"data.classification.augment=true", "field data.classification.augment: needs data.loader_threads > 0"},
      {"data.classification.synthetic_samples=-1", "field data.classification.synthetic_samples: must be >= 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.override_text);
    const std::string msg = error_of([&] { parse_config_text(kMinimal, "m", {c.override_text}); });
    EXPECT_CONTAINS(msg, c.expected);
  }
  // validate() on its own names the source it is given.
  config::Experiment e = parse_config_text(kMinimal, "m");
  e.mutable_model()->mutable_vit()->set_heads(5);
  EXPECT_EQ(error_of([&] { validate(e, "configs/x.pbtxt"); }).find("configs/x.pbtxt: field model.vit.heads"), 0u);
}

TEST(Config, DefaultsApplied) {
  const config::Experiment e = parse_config_text(kMinimal, "minimal");
  EXPECT_FLOAT_EQ(e.optimizer().beta1(), 0.9f);
  EXPECT_FLOAT_EQ(e.optimizer().beta2(), 0.999f);
  EXPECT_FLOAT_EQ(e.optimizer().eps(), 1e-8f);
  EXPECT_EQ(e.trainer().eval_batch_size(), 32);
  EXPECT_EQ(e.trainer().device(), "cpu");
  EXPECT_EQ(e.trainer().seed(), 0u);
  ASSERT_EQ(e.data().classification().std_size(), 1);
  EXPECT_FLOAT_EQ(e.data().classification().std(0), 1.0f);
  EXPECT_FLOAT_EQ(e.data().classification().mean(0), 0.0f);
  EXPECT_FLOAT_EQ(e.data().classification().eval_crop(), 1.0f);
  EXPECT_EQ(e.model().vit().attn_pool_dim(), 64);
  EXPECT_EQ(e.trainer().keep_checkpoints(), 1);
  EXPECT_FLOAT_EQ(e.trainer().log_every_seconds(), 30.0f);
  EXPECT_FLOAT_EQ(parse_config_text(kMinimal, "m", {"data.loader_threads=1", "data.classification.augment=true"})
                      .data()
                      .classification()
                      .eval_crop(),
                  0.875f);

  // Given values are kept.
  const config::Experiment g = parse_config_text(
      kMinimal, "minimal",
      {"optimizer.beta1=0.8", "optimizer.beta2=0.99", "optimizer.eps=1e-6", "trainer.eval_batch_size=7",
       "trainer.device=cuda", "data.classification.std=0.5", "model.vit.attn_pool_dim=16", "trainer.seed=5"});
  EXPECT_FLOAT_EQ(g.optimizer().beta1(), 0.8f);
  EXPECT_FLOAT_EQ(g.optimizer().beta2(), 0.99f);
  EXPECT_FLOAT_EQ(g.optimizer().eps(), 1e-6f);
  EXPECT_EQ(g.trainer().eval_batch_size(), 7);
  EXPECT_EQ(g.trainer().device(), "cuda");
  EXPECT_FLOAT_EQ(g.data().classification().std(0), 0.5f);
  EXPECT_EQ(g.model().vit().attn_pool_dim(), 16);
  EXPECT_EQ(g.trainer().seed(), 5u);
}

TEST(Config, TextRoundTrip) {
  const config::Experiment e =
      load_config(test::source_dir() + "/configs/vit_fashion_mnist.pbtxt",
                  {"optimizer.lr=3.3e-4", "data.train_path=/a \"b\"\\c.h5", "trainer.max_steps=7",
                   "model.vit.pool=ATTENTION_POOL", "optimizer.nesterov=true"});
  const std::string text = config_to_text(e);
  const config::Experiment back = parse_config_text(text, "roundtrip");
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(e, back)) << text;
  EXPECT_EQ(back.data().train_path(), "/a \"b\"\\c.h5");
  EXPECT_EQ(config_to_text(back), text);
  // Written to a file and loaded again, as output_dir/config.pbtxt is.
  const std::string path = write_config(text, "config.pbtxt");
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(e, load_config(path)));
}

}  // namespace
}  // namespace attncamp::launch
