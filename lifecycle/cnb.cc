#include "lifecycle/cnb.h"

#include <unistd.h>

namespace hatch::lifecycle {

bool IsCnbDroplet(const std::string& layers_dir) {
  return ::access((layers_dir + "/config/metadata.toml").c_str(), F_OK) == 0;
}

absl::StatusOr<std::vector<std::string>> ApplyCnbLaunchEnvironment(Environment&,
                                                                   const CnbOptions&) {
  return absl::UnimplementedError("Cloud Native Buildpacks droplets are not supported yet");
}

}  // namespace hatch::lifecycle
