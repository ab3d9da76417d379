#include "lifecycle/app_env.h"

#include "absl/strings/str_cat.h"
#include "lifecycle/go_path.h"
#include "lifecycle/vcap.h"

namespace hatch::lifecycle {
namespace {

absl::Status SetOrExplain(Environment& env, absl::string_view name, absl::string_view value) {
  absl::Status s = env.Set(name, value);
  if (s.ok()) return s;
  return absl::Status(s.code(),
                      absl::StrCat("Unable to set ", name, " environment variable: ", s.message()));
}

}  // namespace

absl::Status BuildAppEnvironment(Environment& env, const std::string& app_dir,
                                 const CredhubFlags& flags, const ReportFn& report) {
  if (absl::Status s = SetOrExplain(env, "HOME", app_dir); !s.ok()) return s;

  // Beside the app dir. The original skips a variable whose path cannot be made absolute.
  const std::string pwd = env.Get("PWD");
  for (const auto& [name, leaf] : {std::pair{"TMPDIR", "tmp"}, std::pair{"DEPS_DIR", "deps"}}) {
    auto path = GoAbsPath(GoJoinPath({app_dir, "..", leaf}), pwd);
    if (!path.ok()) continue;
    if (absl::Status s = SetOrExplain(env, name, *path); !s.ok()) return s;
  }
  return BuildServiceEnvironment(env, flags, report);
}

absl::Status BuildServiceEnvironment(Environment& env, const CredhubFlags& flags,
                                     const ReportFn& report) {
  if (auto rewritten = RewriteVcapApplication(env.Get("VCAP_APPLICATION"), env.Get("INSTANCE_GUID"),
                                              env.Get("PORT"), env.Get("INSTANCE_INDEX"))) {
    if (absl::Status s = SetOrExplain(env, "VCAP_APPLICATION", *rewritten); !s.ok()) return s;
  }

  auto credhub_uri = CredhubUriFromPlatformOptions(env.Get("VCAP_PLATFORM_OPTIONS"));
  if (!credhub_uri.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid platform options: ", credhub_uri.status().message()));
  }
  if (!credhub_uri->empty()) {
    if (absl::Status s = InterpolateServiceRefs(env, *credhub_uri, flags, report); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("Unable to interpolate credhub refs: ", s.message()));
    }
  }
  env.Unset("VCAP_PLATFORM_OPTIONS");

  if (const std::string services = env.Get("VCAP_SERVICES"); !services.empty()) {
    if (const std::string url = DatabaseUrlFromServices(services); !url.empty()) {
      if (absl::Status s = SetOrExplain(env, "DATABASE_URL", url); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace hatch::lifecycle
