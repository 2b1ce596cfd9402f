// Test data files shipped in tests/data (AWS's vectors and our own), read whole.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace signgate::testing_support {

inline const std::filesystem::path kTestData = SIGNGATE_TESTDATA;

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace signgate::testing_support
