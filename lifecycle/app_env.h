// The app's environment, rebuilt in the order of buildpackapplifecycle's env.CalcEnv:
//   1. HOME = app_dir
//   2. TMPDIR = <app_dir>/../tmp, DEPS_DIR = <app_dir>/../deps (absolute, cleaned lexically)
//   3. VCAP_APPLICATION rewritten with host, instance_id, port, instance_index (vcap.h)
//   4. VCAP_PLATFORM_OPTIONS: invalid -> error; a credhub-uri -> credhub interpolation of
//      VCAP_SERVICES (credhub.h); then VCAP_PLATFORM_OPTIONS is removed
//   5. DATABASE_URL from VCAP_SERVICES when one of its uris is a database (vcap.h); an
//      existing DATABASE_URL is replaced then, and kept otherwise
// The profile scripts are not sourced here: bash does that (launch.h).
#ifndef HATCH_LIFECYCLE_APP_ENV_H_
#define HATCH_LIFECYCLE_APP_ENV_H_

#include <string>

#include "absl/status/status.h"
#include "lifecycle/credhub.h"
#include "lifecycle/credhub_flags.h"
#include "lifecycle/environment.h"

namespace hatch::lifecycle {

// Edits env in place. app_dir must be absolute. Errors carry the original's wording:
// "Invalid platform options: ...", "Unable to interpolate credhub refs: ...".
absl::Status BuildAppEnvironment(Environment& env, const std::string& app_dir,
                                 const CredhubFlags& flags, const ReportFn& report);

// Steps 3 to 5 alone (VCAP_APPLICATION, credhub, DATABASE_URL): what every kind of droplet
// gets, whatever its layout (Cloud Native Buildpacks droplets too).
absl::Status BuildServiceEnvironment(Environment& env, const CredhubFlags& flags,
                                     const ReportFn& report);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_APP_ENV_H_
