#include "lifecycle/credhub.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lifecycle/go_json.h"
#include "tests/lifecycle/tls_server.h"

namespace hatch::lifecycle {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using testing::CredhubServer;
using testing::Pki;

// VCAP_SERVICES with a credhub reference, as Cloud Controller writes it for a service whose
// broker stored the credentials in credhub. Keys deliberately unsorted.
constexpr char kServices[] =
    R"({"p-mysql":[{"name":"db","label":"p-mysql","tags":["mysql"],"plan":"small",)"
    R"("credentials":{"credhub-ref":"/c/p-mysql/db/credentials"},"binding_guid":"b1",)"
    R"("instance_name":"db","volume_mounts":[]}]})";
constexpr char kInterpolated[] =
    R"({"p-mysql":[{"name":"db","credentials":{"uri":"mysql://u:p@10.0.0.5:3306/db"}}]})";

class Credhub : public ::testing::Test {
 protected:
  Environment MakeEnv(const std::string& services = kServices) {
    return Environment({"VCAP_SERVICES=" + services, "CF_INSTANCE_CERT=" + Pki().client_crt,
                        "CF_INSTANCE_KEY=" + Pki().client_key,
                        "CF_SYSTEM_CERT_PATH=" + Pki().cacerts_dir});
  }

  absl::Status Interpolate(Environment& env, const std::string& uri, int attempts = 3) {
    CredhubFlags flags;
    flags.connect_attempts = attempts;
    flags.retry_delay = absl::Milliseconds(1);
    return InterpolateServiceRefs(env, uri, flags,
                                  [&](absl::string_view line) { reports_.emplace_back(line); });
  }

  std::vector<std::string> reports_;
};

TEST_F(Credhub, PostsServicesWithClientCertificateAndUsesTheReply) {
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {200}, kInterpolated);
  Environment env = MakeEnv();
  ASSERT_TRUE(Interpolate(env, server.url() + "/ignored/path?x=1").ok());
  EXPECT_EQ(env.Get("VCAP_SERVICES"), kInterpolated);
  EXPECT_THAT(reports_, IsEmpty());
  const auto requests = server.Requests();
  ASSERT_THAT(requests, SizeIs(1));
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/api/v1/interpolate");
  EXPECT_EQ(requests[0].content_type, "application/json");
  EXPECT_EQ(requests[0].client_cn, "client");
  // The body is VCAP_SERVICES as Go re-encodes it: keys sorted.
  EXPECT_EQ(requests[0].body, GoMarshal(*ParseGoJson(kServices)));
  EXPECT_EQ(requests[0].body.rfind(R"({"p-mysql":[{"binding_guid":"b1","credentials":)", 0), 0u);
}

TEST_F(Credhub, RetriesAfterServerErrorsAndReportsEachFailure) {
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {500, 503, 200},
                       kInterpolated);
  Environment env = MakeEnv();
  ASSERT_TRUE(Interpolate(env, server.url()).ok());
  EXPECT_EQ(env.Get("VCAP_SERVICES"), kInterpolated);
  EXPECT_THAT(reports_,
              ElementsAre("Failed on attempt 1 out of 3: Unable to interpolate credhub references: "
                          "credhub replied 500 Internal Server Error: test server says 500",
                          "Failed on attempt 2 out of 3: Unable to interpolate credhub references: "
                          "credhub replied 503 Service Unavailable: test server says 503"));
  EXPECT_THAT(server.Requests(), SizeIs(3));
}

TEST_F(Credhub, GivesUpAfterTheLastAttemptAndLeavesServicesAlone) {
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {500}, "");
  Environment env = MakeEnv();
  const absl::Status s = Interpolate(env, server.url(), 2);
  EXPECT_EQ(s.message(),
            "Unable to interpolate credhub references: credhub replied 500 Internal Server Error: "
            "test server says 500");
  EXPECT_THAT(reports_, SizeIs(2));
  EXPECT_THAT(server.Requests(), SizeIs(2));
  EXPECT_EQ(env.Get("VCAP_SERVICES"), kServices);
}

TEST_F(Credhub, RefusesAServerSignedByAnUntrustedCa) {
  CredhubServer server(Pki().other_server_crt, Pki().other_server_key, Pki().ca_crt, {200},
                       kInterpolated);
  Environment env = MakeEnv();
  const absl::Status s = Interpolate(env, server.url(), 1);
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr("SSL server verification failed"), HasSubstr("local issuer")));
  EXPECT_THAT(server.Requests(), IsEmpty());
  EXPECT_EQ(env.Get("VCAP_SERVICES"), kServices);
}

TEST_F(Credhub, ServerRefusesAClientCertificateItDoesNotTrust) {
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().other_ca_crt, {200}, kInterpolated);
  Environment env = MakeEnv();
  const absl::Status s = Interpolate(env, server.url(), 1);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(reports_, SizeIs(1));
  EXPECT_THAT(server.Requests(), IsEmpty());
  EXPECT_EQ(env.Get("VCAP_SERVICES"), kServices);
}

TEST_F(Credhub, RefusesAServerWhoseCertificateNamesAnotherHost) {
  // The certificate is for IP 127.0.0.1 only.
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {200}, kInterpolated);
  Environment env = MakeEnv();
  const absl::Status s = Interpolate(env, "https://localhost:" + std::to_string(server.port()), 1);
  EXPECT_THAT(std::string(s.message()), HasSubstr("SSL server hostname verification failed"));
  EXPECT_THAT(server.Requests(), IsEmpty());
}

TEST_F(Credhub, ReportsAnUnreachableServerOnEveryAttempt) {
  Environment env = MakeEnv();
  const absl::Status s =
      Interpolate(env, "https://127.0.0.1:" + std::to_string(testing::UnusedPort()), 2);
  EXPECT_THAT(std::string(s.message()), HasSubstr("Could not establish connection"));
  EXPECT_THAT(reports_, ElementsAre(HasSubstr("Failed on attempt 1 out of 2"),
                                    HasSubstr("Failed on attempt 2 out of 2")));
}

TEST_F(Credhub, MakesOneAttemptEvenWhenAskedForNone) {
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {200}, kInterpolated);
  Environment env = MakeEnv();
  ASSERT_TRUE(Interpolate(env, server.url(), 0).ok());
  EXPECT_EQ(env.Get("VCAP_SERVICES"), kInterpolated);
}

TEST_F(Credhub, SkipsWhenAskedTo) {
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {200}, kInterpolated);
  Environment env = MakeEnv();
  ASSERT_TRUE(env.Set("CREDHUB_SKIP_INTERPOLATION", "true").ok());
  ASSERT_TRUE(Interpolate(env, server.url()).ok());
  EXPECT_EQ(env.Get("VCAP_SERVICES"), kServices);
  EXPECT_THAT(server.Requests(), IsEmpty());
}

TEST_F(Credhub, DoesNothingWithoutACredhubRef) {
  // Not even the instance identity is needed then.
  const std::string services =
      R"({"s":[{"credentials":{"no refs here":"and this string containing credhub-ref doesnt count"}}]})";
  Environment env({"VCAP_SERVICES=" + services});
  ASSERT_TRUE(Interpolate(env, "https://127.0.0.1:1").ok());
  EXPECT_EQ(env.Get("VCAP_SERVICES"), services);
}

TEST_F(Credhub, NeedsTheInstanceIdentityAndSystemCerts) {
  Environment env = MakeEnv();
  env.Unset("CF_INSTANCE_KEY");
  EXPECT_EQ(Interpolate(env, "https://127.0.0.1:1").message(),
            "Unable to set up credhub client: Missing CF_INSTANCE_CERT and/or CF_INSTANCE_KEY");
  env = MakeEnv();
  env.Unset("CF_SYSTEM_CERT_PATH");
  EXPECT_EQ(Interpolate(env, "https://127.0.0.1:1").message(),
            "Unable to set up credhub client: Missing CF_SYSTEM_CERT_PATH");
}

TEST_F(Credhub, SetupErrorsNameTheFile) {
  testing::TempDir dir;
  testing::WriteFile(dir / "not_a_cert", "hello\n");
  Environment env = MakeEnv();
  ASSERT_TRUE(env.Set("CF_INSTANCE_CERT", dir / "not_a_cert").ok());
  EXPECT_THAT(std::string(Interpolate(env, "https://127.0.0.1:1").message()),
              AllOf(HasSubstr("Unable to set up credhub client"), HasSubstr(dir / "not_a_cert")));

  env = MakeEnv();
  ASSERT_TRUE(env.Set("CF_INSTANCE_KEY", Pki().other_client_key).ok());
  EXPECT_THAT(std::string(Interpolate(env, "https://127.0.0.1:1").message()),
              AllOf(HasSubstr(Pki().other_client_key), HasSubstr("key values mismatch")));

  env = MakeEnv();
  ASSERT_TRUE(env.Set("CF_INSTANCE_KEY", dir / "missing.key").ok());
  EXPECT_THAT(std::string(Interpolate(env, "https://127.0.0.1:1").message()),
              HasSubstr("No such file or directory"));

  testing::WriteFile(dir / "certs/good.crt", testing::ReadFileOrDie(Pki().ca_crt));
  testing::WriteFile(dir / "certs/notes.txt", "not a certificate, and not a .crt\n");
  testing::WriteFile(dir / "certs/zz-bad.crt", "garbage\n");
  env = MakeEnv();
  ASSERT_TRUE(env.Set("CF_SYSTEM_CERT_PATH", dir / "certs").ok());
  EXPECT_THAT(std::string(Interpolate(env, "https://127.0.0.1:1").message()),
              AllOf(HasSubstr("provided ca certs are invalid"), HasSubstr("zz-bad.crt")));

  ASSERT_TRUE(env.Set("CF_SYSTEM_CERT_PATH", dir / "nowhere").ok());
  EXPECT_THAT(std::string(Interpolate(env, "https://127.0.0.1:1").message()),
              HasSubstr("Can't read contents of system cert path"));
}

TEST_F(Credhub, TrustsEveryCrtFileInTheSystemCertPath) {
  testing::TempDir dir;
  testing::WriteFile(dir / "certs/a.crt", testing::ReadFileOrDie(Pki().other_ca_crt));
  testing::WriteFile(dir / "certs/b.crt", testing::ReadFileOrDie(Pki().ca_crt));
  testing::WriteFile(dir / "certs/c.pem", "ignored: not a .crt\n");
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {200}, kInterpolated);
  Environment env = MakeEnv();
  ASSERT_TRUE(env.Set("CF_SYSTEM_CERT_PATH", dir / "certs").ok());
  EXPECT_TRUE(Interpolate(env, server.url(), 1).ok());
}

TEST_F(Credhub, RefusesAnythingButHttps) {
  Environment env = MakeEnv();
  EXPECT_THAT(std::string(Interpolate(env, "http://127.0.0.1:1").message()),
              HasSubstr("is not an https URL"));
  EXPECT_THAT(std::string(Interpolate(env, "credhub.example:8844").message()),
              HasSubstr("is not an https URL"));
}

TEST_F(Credhub, ServicesThatAreNotAnObjectFailWithoutARequest) {
  CredhubServer server(Pki().server_crt, Pki().server_key, Pki().ca_crt, {200}, kInterpolated);
  Environment env = MakeEnv(R"(["credhub-ref"])");
  EXPECT_THAT(std::string(Interpolate(env, server.url()).message()),
              HasSubstr("VCAP_SERVICES is not a JSON object"));
  EXPECT_THAT(server.Requests(), IsEmpty());
}

}  // namespace
}  // namespace hatch::lifecycle
