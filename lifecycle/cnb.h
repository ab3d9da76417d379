// Cloud Native Buildpacks droplets: the launch environment of their layers.
#ifndef HATCH_LIFECYCLE_CNB_H_
#define HATCH_LIFECYCLE_CNB_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/environment.h"

namespace hatch::lifecycle {

struct CnbOptions {
  std::string layers_dir;
  std::string app_dir;
  std::string process_type;
};

bool IsCnbDroplet(const std::string& layers_dir);

absl::StatusOr<std::vector<std::string>> ApplyCnbLaunchEnvironment(Environment& env,
                                                                   const CnbOptions& options);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_CNB_H_
