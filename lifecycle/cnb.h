// The launch environment of a Cloud Native Buildpacks (CNB) droplet, as the CNB launcher
// (buildpacks/lifecycle launch.Launcher, v0.21 as vendored by cloudfoundry/cnbapplifecycle)
// builds it before it runs a process:
//   1. CNB_LAYERS_DIR, CNB_APP_DIR, CNB_PROCESS_TYPE, CNB_PLATFORM_API and CNB_DEPRECATION_MODE
//      are removed, and "/cnb/process" and "/tmp/lifecycle" entries are dropped from PATH
//      (env.NewLaunchEnv; the caller reads the CNB_* it needs before calling);
//   2. for each buildpack of <layers>/config/metadata.toml, in order, whose dir
//      <layers>/<id with '/' as '_'> exists, over its layers (the directories in it, not
//      symlinks, sorted by name; what is there counts: `launch = true` is not checked, the
//      droplet holds launch layers only):
//        a. every layer: <layer>/bin prepended to PATH, <layer>/lib to LD_LIBRARY_PATH (':');
//        b. then every layer: the env files of <layer>/env, <layer>/env.launch and, for a
//           process type that metadata.toml defines, <layer>/env.launch/<type>;
//   3. env file NAME.SUFFIX holds the value (exact bytes, no trimming), name split at the
//      first '.': override (or no suffix, buildpack API >= 0.5) sets; default sets when the
//      variable is unset or empty; prepend/append join with NAME.delim's contents (none when
//      absent) unless the variable is empty; no suffix under buildpack API < 0.5 prepends with
//      NAME.delim or ':'; other suffixes (and .delim itself) do nothing;
//   4. profile scripts: per buildpack and layer as above, the files (not dirs) of
//      <layer>/profile.d then <layer>/profile.d/<type>, then <app>/.profile when it exists and
//      is not a directory.
// exec.d programs are not run here (lifecycle/README.md says why); ListCnbExecD names them.
#ifndef HATCH_LIFECYCLE_CNB_H_
#define HATCH_LIFECYCLE_CNB_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/environment.h"

namespace hatch::lifecycle {

struct CnbOptions {
  std::string layers_dir;    // absolute, e.g. /home/vcap/layers (the caller resolves defaults)
  std::string app_dir;       // absolute, e.g. /home/vcap/workspace
  std::string process_type;  // e.g. "web"; may name no process in metadata.toml (then, as for
                             // a user-provided command, no process-specific dirs apply)
};

struct CnbBuildpack {
  std::string id;
  std::string api;  // as written, e.g. "0.7"
  int api_major = 0;
  int api_minor = 0;
};

struct CnbProcess {
  std::string type;
  std::vector<std::string> command;  // a TOML string is one entry
  std::vector<std::string> args;
  bool direct = false;
  std::string buildpack_id;
};

// <layers_dir>/config/metadata.toml: what the launcher reads of it.
struct CnbMetadata {
  std::vector<CnbBuildpack> buildpacks;
  std::vector<CnbProcess> processes;
};

// True when <layers_dir>/config/metadata.toml exists (a CNB droplet).
bool IsCnbDroplet(const std::string& layers_dir);

// Reads <layers_dir>/config/metadata.toml. Errors name the file: unreadable, not TOML (with
// toml++'s description, line and column), a field of the wrong type, a buildpack without an id,
// or an api that the launcher cannot parse as a version (`^v?\d+\.?\d*$`).
absl::StatusOr<CnbMetadata> ReadCnbMetadata(const std::string& layers_dir);

// ReadCnbMetadata's parser: `text` is metadata.toml's contents, `file` what errors call it.
absl::StatusOr<CnbMetadata> ParseCnbMetadata(const std::string& text, const std::string& file);

// Applies, to env in place, the launch environment the CNB launcher builds (steps 1-3 above),
// and returns the profile scripts bash must source, in order, as absolute paths (step 4).
// On error env is unchanged; errors: relative dirs, metadata.toml (ReadCnbMetadata), a
// buildpack or env dir that cannot be listed, an env file that cannot be read, a variable
// that cannot be set (a name with '=' or a value with NUL). A missing buildpack dir, layer
// subdir or env dir is no error.
absl::StatusOr<std::vector<std::string>> ApplyCnbLaunchEnvironment(Environment& env,
                                                                   const CnbOptions& options);

// The exec.d programs the CNB launcher would run after the env files, in its order: per
// buildpack and layer, the files of <layer>/exec.d then <layer>/exec.d/<type>.
absl::StatusOr<std::vector<std::string>> ListCnbExecD(const CnbOptions& options);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_CNB_H_
