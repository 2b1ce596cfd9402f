// The CPU count serve's default --threads comes from: a container's CPU limit caps it.
#include "common/cpus.h"

#include <gtest/gtest.h>

#include <thread>

namespace signgate {
namespace {

TEST(Cpus, CgroupCpuMaxRoundsUp) {
  EXPECT_EQ(cpus_from_cpu_max("200000 100000\n"), 2u);
  EXPECT_EQ(cpus_from_cpu_max("150000 100000"), 2u) << "1.5 CPUs: two loops, neither starved";
  EXPECT_EQ(cpus_from_cpu_max("50000 100000"), 1u);
  EXPECT_EQ(cpus_from_cpu_max("max 100000"), std::nullopt) << "no limit";
  EXPECT_EQ(cpus_from_cpu_max(""), std::nullopt);
  EXPECT_EQ(cpus_from_cpu_max("100000 0"), std::nullopt);
  EXPECT_EQ(cpus_from_cpu_max("junk"), std::nullopt);
}

TEST(Cpus, NeverMoreThanTheMachineNorFewerThanOne) {
  const unsigned n = available_cpus();
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace signgate
