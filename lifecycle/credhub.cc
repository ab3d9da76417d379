#include "lifecycle/credhub.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lifecycle/credhub_client.h"
#include "lifecycle/go_json.h"
#include "lifecycle/go_path.h"

namespace hatch::lifecycle {
namespace {

absl::StatusOr<std::unique_ptr<CredhubClient>> MakeClient(const Environment& env,
                                                          absl::string_view credhub_uri) {
  if (env.Get("CF_INSTANCE_CERT").empty() || env.Get("CF_INSTANCE_KEY").empty()) {
    return absl::FailedPreconditionError("Missing CF_INSTANCE_CERT and/or CF_INSTANCE_KEY");
  }
  if (env.Get("CF_SYSTEM_CERT_PATH").empty()) {
    return absl::FailedPreconditionError("Missing CF_SYSTEM_CERT_PATH");
  }
  CredhubTlsFiles files;
  files.cert_file = GoCleanPath(env.Get("CF_INSTANCE_CERT"));
  files.key_file = GoCleanPath(env.Get("CF_INSTANCE_KEY"));
  files.system_cert_dir = GoCleanPath(env.Get("CF_SYSTEM_CERT_PATH"));
  return CredhubClient::Create(credhub_uri, files);
}

}  // namespace

absl::StatusOr<std::string> CredhubRequestBody(absl::string_view vcap_services) {
  // The original decodes VCAP_SERVICES into a map and sends json.Marshal of it. A value that is
  // not an object fails every attempt there; here it fails once, since retrying cannot help.
  auto doc = ParseGoJson(vcap_services);
  if (doc.ok() && !doc->is_object() && !doc->is_null()) {
    doc = absl::InvalidArgumentError("VCAP_SERVICES is not a JSON object");
  }
  if (!doc.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Unable to interpolate credhub references: VCAP_SERVICES: ", doc.status().message()));
  }
  return GoMarshal(*doc);
}

absl::Status InterpolateServiceRefs(Environment& env, absl::string_view credhub_uri,
                                    const CredhubFlags& flags, const ReportFn& report) {
  if (!env.Get("CREDHUB_SKIP_INTERPOLATION").empty()) return absl::OkStatus();
  const std::string services = env.Get("VCAP_SERVICES");
  if (!absl::StrContains(services, "\"credhub-ref\"")) return absl::OkStatus();

  auto client = MakeClient(env, credhub_uri);
  if (!client.ok()) {
    return absl::Status(client.status().code(), absl::StrCat("Unable to set up credhub client: ",
                                                             client.status().message()));
  }
  absl::StatusOr<std::string> request = CredhubRequestBody(services);
  if (!request.ok()) return request.status();
  const std::string& body = *request;

  // The original makes no attempt (and empties VCAP_SERVICES) when asked for fewer than one.
  const int64_t attempts = std::max<int64_t>(flags.connect_attempts, 1);
  absl::StatusOr<std::string> reply;
  for (int64_t attempt = 1; attempt <= attempts; ++attempt) {
    reply = (*client)->Interpolate(body);
    if (reply.ok()) break;
    report(absl::StrCat("Failed on attempt ", attempt, " out of ", attempts,
                        ": Unable to interpolate credhub references: ", reply.status().message()));
    if (attempt < attempts) absl::SleepFor(flags.retry_delay);
  }
  if (!reply.ok()) {
    return absl::Status(reply.status().code(), absl::StrCat("Unable to interpolate credhub references: ",
                                                            reply.status().message()));
  }
  if (absl::Status s = env.Set("VCAP_SERVICES", *reply); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Unable to update VCAP_SERVICES with interpolated credhub references: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace hatch::lifecycle
