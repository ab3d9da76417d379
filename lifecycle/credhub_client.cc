#include "lifecycle/credhub_client.h"

#define CPPHTTPLIB_OPENSSL_SUPPORT
#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/go_json.h"
#include "lifecycle/go_url.h"
#include "lifecycle/read_file.h"

// Debian 12's /usr/include/httplib.h (0.11, the split .so build) must not be picked up instead.
static_assert(absl::string_view(CPPHTTPLIB_VERSION).substr(0, 5) != "0.11.",
              "lifecycle needs the cpp-httplib from scripts/setup-lifecycle.sh, not Debian 12's");

namespace hatch::lifecycle {
namespace {

constexpr size_t kMaxReply = 16 << 20;

// Go's crypto/x509 system roots on Linux: the first of these bundles that can be read.
constexpr const char* kSystemBundles[] = {
    "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",                   // Fedora, RHEL 6
    "/etc/ssl/ca-bundle.pem",                             // OpenSUSE
    "/etc/pki/tls/cacert.pem",                            // OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // CentOS, RHEL 7
    "/etc/ssl/cert.pem",                                  // Alpine
};
constexpr const char* kSystemDirs[] = {"/etc/ssl/certs", "/etc/pki/tls/certs"};

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct StoreDeleter {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};

// The reason of the newest OpenSSL error, or "" when there is none; clears the queue.
std::string OpenSslReason() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : absl::StrCat("OpenSSL error ", e);
}

// Adds every PEM certificate in pem to store; how many there were.
int AddPemCertificates(const std::string& pem, X509_STORE* store) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  int count = 0;
  while (true) {
    std::unique_ptr<X509, X509Deleter> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    X509_STORE_add_cert(store, cert.get());  // a duplicate is harmless
    ++count;
  }
  ERR_clear_error();  // the end of the input is reported as an error
  return count;
}

absl::Status AddSystemRoots(X509_STORE* store) {
  const char* env_file = std::getenv("SSL_CERT_FILE");
  if (env_file != nullptr && *env_file != '\0') {
    X509_STORE_load_file(store, env_file);
  } else {
    for (const char* bundle : kSystemBundles) {
      if (X509_STORE_load_file(store, bundle) == 1) break;
    }
  }
  for (const char* dir : kSystemDirs) X509_STORE_load_path(store, dir);
  ERR_clear_error();  // a missing bundle or dir is not an error: the rootfs may have none
  return absl::OkStatus();
}

// Go's os.ReadDir order: by name.
absl::Status AddSystemCertDir(const std::string& dir, X509_STORE* store) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat("Can't read contents of system cert path: open ", dir,
                                            ": ", std::strerror(errno)));
  }
  std::vector<std::string> names;
  while (const dirent* e = readdir(d)) {
    if (absl::EndsWith(e->d_name, ".crt")) names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(dir, "/", name);
    auto pem = ReadWholeFile(path);
    if (!pem.ok()) {
      return absl::NotFoundError(
          absl::StrCat("Can't read contents of cert in system cert path: ", pem.status().message()));
    }
    if (AddPemCertificates(*pem, store) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("provided ca certs are invalid: ", path,
                                                     " holds no PEM certificate"));
    }
  }
  return absl::OkStatus();
}

// Never prompt on a terminal for the passphrase of an encrypted key: fail instead.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::Status UseClientCertificate(SSL_CTX* ctx, const CredhubTlsFiles& files) {
  for (const std::string* path : {&files.cert_file, &files.key_file}) {
    if (auto content = ReadWholeFile(*path); !content.ok()) return content.status();
  }
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("loading certificate ", files.cert_file, ": ", OpenSslReason()));
  }
  SSL_CTX_set_default_passwd_cb(ctx, NoPassphrase);
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("loading private key ", files.key_file, ": ", OpenSslReason()));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("private key ", files.key_file,
                                                   " does not match certificate ", files.cert_file));
  }
  return absl::OkStatus();
}

// credhub's error reply: {"error": "...", "error_description": "..."}.
std::string ErrorText(const std::string& body) {
  auto doc = ParseGoJson(body);
  if (doc.ok() && doc->is_object()) {
    std::string name, description;
    if (auto it = doc->find("error"); it != doc->end() && it->is_string()) name = *it;
    if (auto it = doc->find("error_description"); it != doc->end() && it->is_string()) {
      description = *it;
    }
    if (!name.empty() && !description.empty()) return absl::StrCat(name, ": ", description);
    if (!name.empty() || !description.empty()) return name + description;
  }
  if (body.size() > 200) return absl::StrCat(body.substr(0, 200), "...");
  return body;
}

}  // namespace

CredhubClient::CredhubClient(std::unique_ptr<httplib::SSLClient> client)
    : client_(std::move(client)) {}

CredhubClient::~CredhubClient() = default;

absl::StatusOr<std::unique_ptr<CredhubClient>> CredhubClient::Create(
    absl::string_view credhub_uri, const CredhubTlsFiles& files) {
  auto url = GoUrl::Parse(credhub_uri);
  if (!url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("credhub-uri \"", credhub_uri, "\": ", url.status().message()));
  }
  if (url->scheme != "https" || url->Hostname().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("credhub-uri \"", credhub_uri, "\" is not an https URL with a host"));
  }
  int port = 443;
  if (!url->Port().empty() && (!absl::SimpleAtoi(url->Port(), &port) || port < 1 || port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("credhub-uri \"", credhub_uri, "\": bad port"));
  }

  auto client = std::make_unique<httplib::SSLClient>(url->Hostname(), port);
  SSL_CTX* ctx = client->ssl_context();
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("TLS setup: ", OpenSslReason()));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Close without waiting for the server's close_notify: the reply is complete by then (its
  // length is known), and httplib's graceful close sleeps 100 ms per connection for it.
  SSL_CTX_set_quiet_shutdown(ctx, 1);
  if (absl::Status s = UseClientCertificate(ctx, files); !s.ok()) return s;

  std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
  if (absl::Status s = AddSystemRoots(store.get()); !s.ok()) return s;
  if (absl::Status s = AddSystemCertDir(files.system_cert_dir, store.get()); !s.ok()) return s;
  client->set_ca_cert_store(store.release());  // the SSL_CTX owns it from here

  client->enable_server_certificate_verification(true);
  client->enable_server_hostname_verification(true);
  client->set_connection_timeout(30, 0);
  client->set_read_timeout(45, 0);
  client->set_write_timeout(45, 0);
  client->set_keep_alive(false);  // one connection per attempt: a retry starts afresh
  return std::unique_ptr<CredhubClient>(new CredhubClient(std::move(client)));
}

absl::StatusOr<std::string> CredhubClient::Interpolate(const std::string& body) {
  httplib::Request req;
  req.method = "POST";
  req.path = "/api/v1/interpolate";
  req.body = body;
  req.set_header("Content-Type", "application/json");
  std::string reply;
  bool too_big = false;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (reply.size() + n > kMaxReply) {
      too_big = true;
      return false;
    }
    reply.append(data, n);
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  ERR_clear_error();
  if (!client_->send(req, res, error)) {
    if (too_big) return absl::ResourceExhaustedError(absl::StrCat("reply larger than ", kMaxReply, " bytes"));
    std::string cause = httplib::to_string(error);
    if (error == httplib::Error::SSLServerVerification) {
      absl::StrAppend(&cause, ": ",
                      X509_verify_cert_error_string(client_->get_openssl_verify_result()));
    } else if (const std::string reason = OpenSslReason(); !reason.empty()) {
      absl::StrAppend(&cause, ": ", reason);
    }
    return absl::UnavailableError(cause);
  }
  if (res.status < 200 || res.status >= 300) {
    std::string cause = absl::StrCat("credhub replied ", res.status, " ",
                                     httplib::status_message(res.status));
    if (const std::string text = ErrorText(reply); !text.empty()) absl::StrAppend(&cause, ": ", text);
    return absl::UnavailableError(cause);
  }
  return reply;
}

}  // namespace hatch::lifecycle
