// How many CPUs this process may use: the affinity mask, capped by the cgroup's CPU quota (a
// container's CPU limit). std::thread::hardware_concurrency() counts the node's CPUs, so a pod
// limited to 2 CPUs on a 64-core node would otherwise run 64 event loops.
#pragma once

#include <optional>
#include <string_view>

namespace signgate {

// The CPUs a cgroup v2 `cpu.max` line ("200000 100000", or "max 100000") allows, rounded up;
// nullopt when unlimited or unreadable.
std::optional<unsigned> cpus_from_cpu_max(std::string_view cpu_max);

// At least 1.
unsigned available_cpus();

}  // namespace signgate
