// staging_info.yml, the staging result a droplet carries (buildpackrunner.DeaStagingInfo),
// read as buildpackapplifecycle's launcher reads it with gopkg.in/yaml.v2:
//   - YAML, or JSON (a subset of YAML); only the first document counts;
//   - keys match exactly; unknown keys, and tags on them (!ruby/object:Pathname), are ignored;
//   - start_command, detected_buildpack and config.entrypoint_prefix take any scalar as its
//     text (a number stays "123"); null or absent is "";
//   - a mapping or sequence where one of those strings belongs, a config that is not a mapping,
//     a document that is not a mapping, or text that is not YAML is an error.
// A missing file is no error: it is an empty StagingInfo.
#ifndef HATCH_LIFECYCLE_STAGING_INFO_H_
#define HATCH_LIFECYCLE_STAGING_INFO_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace hatch::lifecycle {

struct StagingInfo {
  std::string detected_buildpack;
  std::string start_command;
  std::string entrypoint_prefix;  // config.entrypoint_prefix
};

// The original reads "staging_info.yml" relative to its working directory (the droplet root,
// /home/vcap, where Diego starts it); `name` is what error messages call the file.
absl::StatusOr<StagingInfo> ParseStagingInfo(absl::string_view text, absl::string_view name);
absl::StatusOr<StagingInfo> ReadStagingInfo(const std::string& path);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_STAGING_INFO_H_
