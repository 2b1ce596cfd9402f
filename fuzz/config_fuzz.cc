// The YAML config loader on any text: a Config or a problem list naming the key, never a
// crash (yaml-cpp throws on bad YAML; the loader must catch every throw).
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/env.h"
#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const signgate::Environment env =
      signgate::fixed_environment({{"SIGNGATE_EXTERNAL_ID", "ext-1"}, {"HOME", "/nonexistent"}});
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = signgate::config::parse_config(text, "fuzz.yaml", env);
  if (!config) (void)config.message();
  return 0;
}
