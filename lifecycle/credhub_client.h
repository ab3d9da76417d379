// An HTTPS client for credhub's interpolate endpoint, authenticated by the app instance's
// identity certificate (mutual TLS), as buildpackapplifecycle's credhub client is:
//   - TLS 1.2 or newer; the server's certificate is verified, and its name against the host;
//   - trusted roots: the system's (the first bundle of Go's list that exists:
//     /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt, ... or
//     $SSL_CERT_FILE; the hashed dirs /etc/ssl/certs and /etc/pki/tls/certs; OpenSSL's
//     defaults), plus every certificate in each *.crt file of the system cert dir
//     (CF_SYSTEM_CERT_PATH); a *.crt file with no certificate in it is an error, as in Go;
//   - client certificate chain and key from PEM files (CF_INSTANCE_CERT, CF_INSTANCE_KEY);
//   - 30 s to connect, 45 s to read or write, a reply of at most 16 MiB.
// Built on cpp-httplib (single header, OpenSSL); no proxy is used (see lifecycle/README.md).
#ifndef HATCH_LIFECYCLE_CREDHUB_CLIENT_H_
#define HATCH_LIFECYCLE_CREDHUB_CLIENT_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace httplib {
class SSLClient;
}

namespace hatch::lifecycle {

struct CredhubTlsFiles {
  std::string cert_file;        // PEM: the client certificate, then any intermediates
  std::string key_file;         // PEM: its private key (unencrypted)
  std::string system_cert_dir;  // *.crt files with extra trusted CA certificates
};

class CredhubClient {
 public:
  // Errors: the uri is not an https URL with a host; a file cannot be read; the key does not
  // match the certificate; a *.crt holds no certificate. Each message names the file.
  static absl::StatusOr<std::unique_ptr<CredhubClient>> Create(absl::string_view credhub_uri,
                                                               const CredhubTlsFiles& files);
  ~CredhubClient();
  CredhubClient(const CredhubClient&) = delete;
  CredhubClient& operator=(const CredhubClient&) = delete;

  // POSTs body (Content-Type: application/json) to /api/v1/interpolate on the credhub-uri's
  // host and port (its path and query are not used, as in the original). The reply body for
  // a 2xx status; otherwise an error naming the cause: connection, TLS verification (with
  // OpenSSL's reason), or the HTTP status with credhub's error text.
  absl::StatusOr<std::string> Interpolate(const std::string& body);

 private:
  explicit CredhubClient(std::unique_ptr<httplib::SSLClient> client);

  std::unique_ptr<httplib::SSLClient> client_;
};

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_CREDHUB_CLIENT_H_
