// The training checkpoint: parameters, optimizer state, the loop's position (LoopState), the batch
// plan and the config, written atomically as HDF5 by rank 0; and resuming a run from one, which
// continues bit-exactly because the sample order and dropout depend only on (seed, epoch, step).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "data/checkpoint.h"
#include "launch/config.h"
#include "launch/trainer_internal.h"

namespace attncamp::launch {

namespace fs = std::filesystem;

void save_checkpoint(const std::string& path, models::Model& model, const models::Optimizer& opt, const LoopState& st,
                     const config::Experiment& e, const BatchPlan& plan) {
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
  c.floats["best_metric"] = st.best;
  c.strings["best_metric_name"] = st.best_name;
  c.strings["config"] = config_to_text(e);
  data::write_checkpoint(path, c);
}

namespace {

// Per-rank batch of a checkpoint written before global_batch was recorded (its config's batch_size).
int64_t e_batch_hint(const data::CheckpointData& c) {
  const auto it = c.strings.find("config");
  if (it == c.strings.end()) return 0;
  return parse_config_lenient(it->second).trainer().batch_size();
}

}  // namespace

LoopState load_checkpoint(const std::string& path, models::Model& model, models::Optimizer& opt,
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
  if (c.floats.count("best_metric") != 0) {
    st.best = data::get_float(c, "best_metric", path);
    const auto name = c.strings.find("best_metric_name");
    st.best_name = name != c.strings.end() ? name->second : "";
  } else {  // written before metrics had names: the run's best value starts afresh
    st.best_name.clear();
    st.best = std::nan("");
    st.bad_epochs = 0;
  }
  return st;
}

// resume: "" (fresh start), "auto" (the rolling checkpoint if present) or a checkpoint path.
void TrainingRun::resume_from(const std::string& resume) {
  std::string path = resume;
  if (resume == "auto") path = fs::exists(ckpt_) ? ckpt_ : "";
  if (path.empty()) return;
  st_ = load_checkpoint(path, task_->model(), *opt_, plan_);
  if (st_.best_name != primary_) {
    // The run follows another metric than the checkpoint's (or the checkpoint predates named
    // metrics): its best value, and early stopping's count, start afresh.
    if (lead_) {
      std::fprintf(stderr, "note: %s follows %s, the checkpoint %s; its best value starts afresh\n", source_.c_str(),
                   primary_.c_str(), st_.best_name.empty() ? "no named metric" : st_.best_name.c_str());
    }
    st_.best_name = primary_;
    st_.best = std::nan("");
    st_.bad_epochs = 0;
  }
  if (lead_) {
    std::fprintf(stderr, "resumed from %s at step %ld (epoch %ld)\n", path.c_str(), static_cast<long>(st_.step),
                 static_cast<long>(st_.epoch + 1));
  }
}

namespace {

// Makes `to` hold what `from` holds, atomically: a hard link (or, where the file system has none,
// a copy) under a temporary name, then renamed over `to`.
void publish_as(const std::string& from, const std::string& to) {
  const std::string tmp = to + ".tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_hard_link(from, tmp, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
    ATTNCAMP_CHECK(!ec, "cannot copy ", from, " to ", tmp, ": ", ec.message());
  }
  fs::rename(tmp, to, ec);
  if (ec) {
    fs::remove(tmp);
    ATTNCAMP_THROW("cannot rename ", tmp, " to ", to, ": ", ec.message());
  }
}

// Steps of the kept checkpoints (checkpoint-step<S>.h5) in `dir`, ascending.
std::vector<int64_t> kept_steps(const std::string& dir) {
  std::vector<int64_t> steps;
  const std::string prefix = "checkpoint-step", suffix = ".h5";
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.find_first_not_of("0123456789") == std::string::npos) steps.push_back(std::stoll(digits));
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

}  // namespace

// The rolling checkpoint; with trainer.keep_checkpoints N > 1 also checkpoint-step<S>.h5 (the same
// file), of which the N latest are kept.
void TrainingRun::checkpoint() {
  save_checkpoint(ckpt_, task_->model(), *opt_, st_, e_, plan_);
  checkpoint_step_ = st_.step;
  const int keep = e_.trainer().keep_checkpoints();
  if (keep <= 1) return;
  publish_as(ckpt_, step_checkpoint_path(out_dir_, st_.step));
  const std::vector<int64_t> steps = kept_steps(out_dir_);
  for (size_t i = 0; i + static_cast<size_t>(keep) < steps.size(); ++i) {
    fs::remove(step_checkpoint_path(out_dir_, steps[i]));
  }
}

// best.h5: a checkpoint of the state with the best primary metric so far (it resumes, and
// `attncamp eval` reads its parameters). The same file as checkpoint.h5 when both are written at
// one step.
void TrainingRun::save_best() {
  const std::string best = best_checkpoint_path(out_dir_);
  if (checkpoint_step_ == st_.step) {
    publish_as(ckpt_, best);
  } else {
    save_checkpoint(best, task_->model(), *opt_, st_, e_, plan_);
  }
}

}  // namespace attncamp::launch
