// Evaluation results as named metrics ("test/top1", "test/loss", later "test/AP", "val/kappa"),
// in the order the task reports them, with the number of samples evaluated. The trainer logs
// every metric by name (metrics.jsonl, TensorBoard) and follows one of them (the primary metric)
// for early stopping and the best checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attncamp::launch {

struct EvalResult {
  std::vector<std::pair<std::string, double>> metrics;  // name -> value, in report order
  int64_t count = 0;                                    // samples evaluated (over all ranks)

  // Sets `name` (replacing an earlier value of that name).
  void set(const std::string& name, double value);
  bool has(const std::string& name) const;
  // The value of `name`; throws attncamp::Error listing the metrics there are when it is absent.
  double at(const std::string& name) const;
  bool empty() const { return metrics.empty(); }
};

// Whether a larger value of `metric` is better: false for losses and errors (names ending in
// "loss" or "error"), true otherwise (accuracies, AP, kappa, AUC).
bool higher_is_better(const std::string& metric);

// Whether `value` improves on `best` for `metric` (strictly; any finite value improves on "no
// best yet", a NaN `best`).
bool improves(const std::string& metric, double value, double best);

}  // namespace attncamp::launch
