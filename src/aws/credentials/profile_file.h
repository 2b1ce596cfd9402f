// The shared config and credentials files (~/.aws/config, ~/.aws/credentials): INI with
// "[profile NAME]" sections in config and "[NAME]" in credentials. Pure: no I/O.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace signgate::aws {

using ProfileSection = std::map<std::string, std::string>;  // lower-case keys
using IniFile = std::map<std::string, ProfileSection>;      // section name as written

// Sections and their "key = value" lines. Comments start with '#' or ';'; indented
// continuation lines (nested settings such as "s3 =") are skipped.
IniFile parse_ini(std::string_view text);

class ProfileFiles {
 public:
  ProfileFiles() = default;
  ProfileFiles(std::string_view config_text, std::string_view credentials_text);

  // The profile's settings, credentials-file keys winning over config-file keys;
  // nullopt when neither file has it.
  std::optional<ProfileSection> profile(const std::string& name) const;

 private:
  IniFile config_;
  IniFile credentials_;
};

}  // namespace signgate::aws
