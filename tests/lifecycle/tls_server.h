// TLS fixtures for the credhub tests: certificates made with OpenSSL in the test process, and
// a real HTTPS server (credhub_server.py on Debian's python3) that requires client certificates.
#ifndef HATCH_TESTS_LIFECYCLE_TLS_SERVER_H_
#define HATCH_TESTS_LIFECYCLE_TLS_SERVER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/lifecycle/test_util.h"

namespace hatch::lifecycle::testing {

// Two independent CAs, each with a server certificate for 127.0.0.1 (IP SAN only) and a client
// certificate (CN "client"). Made once per process (EC P-256 keys: a few ms).
struct TestPki {
  std::string dir;
  std::string ca_crt, server_crt, server_key, client_crt, client_key;
  std::string other_ca_crt, other_server_crt, other_server_key, other_client_crt, other_client_key;
  std::string cacerts_dir;  // holds ca.crt only: what CF_SYSTEM_CERT_PATH points at
};
const TestPki& Pki();

struct RecordedRequest {
  std::string method, path, content_type, body, client_cn;
};

// Serves on 127.0.0.1:<port> until destroyed (then killed and reaped).
class CredhubServer {
 public:
  CredhubServer(const std::string& cert, const std::string& key, const std::string& client_ca,
                const std::vector<int>& statuses, const std::string& reply_body);
  ~CredhubServer();
  CredhubServer(const CredhubServer&) = delete;
  CredhubServer& operator=(const CredhubServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::vector<RecordedRequest> Requests() const;

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A 127.0.0.1 port with nothing listening on it (bound, then closed).
int UnusedPort();

}  // namespace hatch::lifecycle::testing

#endif  // HATCH_TESTS_LIFECYCLE_TLS_SERVER_H_
