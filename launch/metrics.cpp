// EvalResult's lookups and the direction of a metric by its name.
#include "launch/metrics.h"

#include <cmath>

#include "runtime/error.h"

namespace attncamp::launch {

void EvalResult::set(const std::string& name, double value) {
  for (auto& [n, v] : metrics) {
    if (n == name) {
      v = value;
      return;
    }
  }
  metrics.emplace_back(name, value);
}

bool EvalResult::has(const std::string& name) const {
  for (const auto& m : metrics) {
    if (m.first == name) return true;
  }
  return false;
}

double EvalResult::at(const std::string& name) const {
  std::string names;
  for (const auto& [n, v] : metrics) {
    if (n == name) return v;
    names += (names.empty() ? "" : ", ") + n;
  }
  ATTNCAMP_THROW("no metric \"", name, "\" in this evaluation (it has: ", names.empty() ? "none" : names, ")");
}

bool higher_is_better(const std::string& metric) {
  auto ends_with = [&metric](const std::string& suffix) {
    return metric.size() >= suffix.size() && metric.compare(metric.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return !ends_with("loss") && !ends_with("error");
}

bool improves(const std::string& metric, double value, double best) {
  if (!std::isfinite(value)) return false;
  if (std::isnan(best)) return true;
  return higher_is_better(metric) ? value > best : value < best;
}

}  // namespace attncamp::launch
