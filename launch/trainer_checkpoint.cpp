// The training checkpoint: parameters, optimizer state, the loop's position (LoopState), the batch
// plan and the config, written atomically as HDF5 by rank 0; and resuming a run from one, which
// continues bit-exactly because the sample order and dropout depend only on (seed, epoch, step).
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "data/checkpoint.h"
#include "launch/config.h"
#include "launch/trainer_internal.h"

namespace attncamp::launch {

namespace fs = std::filesystem;

void save_checkpoint(const std::string& path, models::VisionTransformer& model, const models::Optimizer& opt,
                     const LoopState& st, const config::Experiment& e, const BatchPlan& plan) {
  data::CheckpointData c;
  c.tensors["params"] = model.params().values().to(Device::cpu());
  for (const auto& [name, t] : opt.state()) c.tensors["optimizer/" + name] = t.to(Device::cpu());
  c.ints["step"] = st.step;
  c.ints["epoch"] = st.epoch;
  c.ints["step_in_epoch"] = st.step_in_epoch;
  c.ints["optimizer_steps"] = opt.steps_taken();
  c.ints["bad_epochs"] = st.bad_epochs;
  c.ints["world_size"] = plan.world;
  c.ints["global_batch"] = plan.global_batch;
  c.ints["seed"] = static_cast<int64_t>(e.trainer().seed());
  c.floats["best_top1"] = st.best_top1;
  c.strings["config"] = config_to_text(e);
  data::write_checkpoint(path, c);
}

namespace {

// Per-rank batch of a checkpoint written before global_batch was recorded (its config's batch_size).
int64_t e_batch_hint(const data::CheckpointData& c) {
  const auto it = c.strings.find("config");
  if (it == c.strings.end()) return 0;
  return parse_config_text(it->second, "checkpoint config").trainer().batch_size();
}

}  // namespace

LoopState load_checkpoint(const std::string& path, models::VisionTransformer& model, models::Optimizer& opt,
                          const BatchPlan& plan) {
  const data::CheckpointData c = data::read_checkpoint(path);
  load_parameters(c, path, model);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : c.tensors) {
    if (name.rfind("optimizer/", 0) == 0) state[name.substr(10)] = t;
  }
  opt.load_state(state, data::get_int(c, "optimizer_steps", path), "checkpoint " + path);
  // The sample order of a step depends on the global batch only, so a run may resume on another
  // number of ranks as long as the global batch is the same.
  const int64_t world = data::get_int(c, "world_size", path);
  const auto gb = c.ints.find("global_batch");
  const int64_t global_batch = gb != c.ints.end() ? gb->second : world * e_batch_hint(c);
  ATTNCAMP_CHECK(global_batch == plan.global_batch, "checkpoint ", path, ": written with global batch ", global_batch,
                 " (", world, " ranks) but this run has ", plan.str(), "; set trainer.global_batch=", global_batch,
                 " to resume it");
  LoopState st;
  st.step = data::get_int(c, "step", path);
  st.epoch = data::get_int(c, "epoch", path);
  st.step_in_epoch = data::get_int(c, "step_in_epoch", path);
  st.bad_epochs = data::get_int(c, "bad_epochs", path);
  st.best_top1 = data::get_float(c, "best_top1", path);
  return st;
}

// resume: "" (fresh start), "auto" (the rolling checkpoint if present) or a checkpoint path.
void TrainingRun::resume_from(const std::string& resume) {
  std::string path = resume;
  if (resume == "auto") path = fs::exists(ckpt_) ? ckpt_ : "";
  if (path.empty()) return;
  st_ = load_checkpoint(path, *model_, *opt_, plan_);
  if (lead_) {
    std::fprintf(stderr, "resumed from %s at step %ld (epoch %ld)\n", path.c_str(), static_cast<long>(st_.step),
                 static_cast<long>(st_.epoch + 1));
  }
}

void TrainingRun::checkpoint() { save_checkpoint(ckpt_, *model_, *opt_, st_, e_, plan_); }

}  // namespace attncamp::launch
