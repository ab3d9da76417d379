// Credhub interpolation of VCAP_SERVICES, as buildpackapplifecycle's credhub package does it:
//   1. nothing when CREDHUB_SKIP_INTERPOLATION is set and not empty;
//   2. nothing when VCAP_SERVICES does not contain the text "credhub-ref" with its quotes;
//   3. a client from CF_INSTANCE_CERT, CF_INSTANCE_KEY and CF_SYSTEM_CERT_PATH (all required:
//      "Missing CF_INSTANCE_CERT and/or CF_INSTANCE_KEY", "Missing CF_SYSTEM_CERT_PATH");
//   4. VCAP_SERVICES re-encoded as Go encodes the decoded map (go_json.h) is POSTed to
//      <credhub-uri>/api/v1/interpolate, up to flags.connect_attempts times (at least once),
//      with flags.retry_delay between attempts; each failure is reported as
//      "Failed on attempt N out of M: Unable to interpolate credhub references: <cause>";
//   5. the reply body replaces VCAP_SERVICES.
#ifndef HATCH_LIFECYCLE_CREDHUB_H_
#define HATCH_LIFECYCLE_CREDHUB_H_

#include <functional>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lifecycle/credhub_flags.h"
#include "lifecycle/environment.h"

namespace hatch::lifecycle {

// Reports one line of progress (the mains print it on stdout, as the original does).
using ReportFn = std::function<void(absl::string_view line)>;

// Step 4's request body: VCAP_SERVICES decoded and re-encoded as Go does it. An error (in
// InterpolateServiceRefs's words) when it is not JSON or not an object (`null` is accepted).
absl::StatusOr<std::string> CredhubRequestBody(absl::string_view vcap_services);

// Interpolates env's VCAP_SERVICES through the credhub at credhub_uri. On error env is
// unchanged and the status says why ("Unable to set up credhub client: ...", "Unable to
// interpolate credhub references: <last cause>").
absl::Status InterpolateServiceRefs(Environment& env, absl::string_view credhub_uri,
                                    const CredhubFlags& flags, const ReportFn& report);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_CREDHUB_H_
