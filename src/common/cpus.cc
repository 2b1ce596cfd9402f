#include "common/cpus.h"

#include <sched.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace signgate {
namespace {

std::optional<unsigned long long> number(std::string_view text) {
  unsigned long long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<std::string> first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

}  // namespace

std::optional<unsigned> cpus_from_cpu_max(std::string_view cpu_max) {
  while (!cpu_max.empty() && (cpu_max.back() == '\n' || cpu_max.back() == ' ')) cpu_max.remove_suffix(1);
  const auto space = cpu_max.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota = number(cpu_max.substr(0, space));  // "max": no limit
  const auto period = number(cpu_max.substr(space + 1));
  if (!quota || !period || *period == 0 || *quota == 0) return std::nullopt;
  return static_cast<unsigned>((*quota + *period - 1) / *period);
}

unsigned available_cpus() {
  unsigned cpus = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
  if (cpus == 0) cpus = std::thread::hardware_concurrency();
  // cgroup v2: the quota of this process's cgroup and of each one above it (a systemd unit's
  // CPUQuota= sits in its own; inside a container the root is the container's cgroup).
  std::string group;
  if (std::ifstream self("/proc/self/cgroup"); self) {
    for (std::string line; std::getline(self, line);) {
      if (line.rfind("0::", 0) == 0) group = line.substr(3);
    }
  }
  bool v2 = false;
  for (;;) {
    const std::string dir = "/sys/fs/cgroup" + (group == "/" ? std::string() : group);
    if (auto line = first_line((dir + "/cpu.max").c_str())) {
      v2 = true;
      if (auto limit = cpus_from_cpu_max(*line)) cpus = std::min(cpus, *limit);
    }
    const auto slash = group.rfind('/');
    if (group.empty() || slash == std::string::npos || group == "/") break;
    group = slash == 0 ? "/" : group.substr(0, slash);
  }
  if (!v2) {  // cgroup v1: the quota in the cpu controller, -1 when unlimited
    auto quota = first_line("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
    auto period = first_line("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    if (quota && period && quota->find('-') == std::string::npos) {
      if (auto limit = cpus_from_cpu_max(*quota + " " + *period)) cpus = std::min(cpus, *limit);
    }
  }
  return std::max(cpus, 1u);
}

}  // namespace signgate
