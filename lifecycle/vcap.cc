#include "lifecycle/vcap.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/go_json.h"
#include "lifecycle/go_url.h"

namespace hatch::lifecycle {
namespace {

using nlohmann::ordered_json;

// Go matches a JSON key to a struct field's name case-insensitively.
bool IsField(const std::string& key, absl::string_view field) {
  return absl::EqualsIgnoreCase(key, absl::string_view(field.data(), field.size()));
}

absl::string_view TypeName(const ordered_json& v) {
  switch (v.type()) {
    case ordered_json::value_t::array: return "array";
    case ordered_json::value_t::object: return "object";
    case ordered_json::value_t::string: return "string";
    case ordered_json::value_t::boolean: return "bool";
    case ordered_json::value_t::null: return "null";
    default: return "number";
  }
}

absl::Status TypeError(const ordered_json& v, absl::string_view into) {
  return absl::InvalidArgumentError(
      absl::StrCat("json: cannot unmarshal ", TypeName(v), " into Go value of type ", into));
}

// Decodes one service instance as struct{Credentials struct{Uri string}}; adds its uri to uris
// when it is not empty.
absl::Status CollectUri(const ordered_json& instance, std::vector<std::string>* uris) {
  if (instance.is_null()) return absl::OkStatus();
  if (!instance.is_object()) return TypeError(instance, "struct");
  std::string uri;
  for (auto it = instance.begin(); it != instance.end(); ++it) {
    if (!IsField(it.key(), "credentials") || it.value().is_null()) continue;
    if (!it.value().is_object()) return TypeError(it.value(), "struct");
    for (auto c = it.value().begin(); c != it.value().end(); ++c) {
      if (!IsField(c.key(), "uri") || c.value().is_null()) continue;
      if (!c.value().is_string()) return TypeError(c.value(), "string");
      uri = c.value().get<std::string>();
    }
  }
  if (!uri.empty()) uris->push_back(std::move(uri));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ServiceUris(absl::string_view vcap_services) {
  auto doc = ParseGoJson(vcap_services);
  if (!doc.ok()) return doc.status();
  std::vector<std::string> uris;
  if (doc->is_null()) return uris;
  if (!doc->is_object()) return TypeError(*doc, "map");
  for (const auto& [label, instances] : doc->items()) {
    if (instances.is_null()) continue;
    if (!instances.is_array()) return TypeError(instances, "slice");
    for (const auto& instance : instances) {
      if (absl::Status s = CollectUri(instance, &uris); !s.ok()) return s;
    }
  }
  return uris;
}

}  // namespace

std::optional<int64_t> GoAtoi(absl::string_view s) {
  if (s.empty()) return std::nullopt;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    s.remove_prefix(1);
    if (s.empty()) return std::nullopt;
  }
  uint64_t n = 0;
  const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<uint64_t>(c - '0');
    if (n > (limit - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  return negative ? static_cast<int64_t>(0 - n) : static_cast<int64_t>(n);
}

std::optional<std::string> RewriteVcapApplication(absl::string_view vcap_application,
                                                  absl::string_view instance_guid,
                                                  absl::string_view port,
                                                  absl::string_view instance_index) {
  auto doc = ParseGoJson(vcap_application);
  if (!doc.ok() || !doc->is_object()) return std::nullopt;
  (*doc)["host"] = "0.0.0.0";
  (*doc)["instance_id"] = std::string(instance_guid);
  if (auto p = GoAtoi(port)) (*doc)["port"] = *p;
  if (auto i = GoAtoi(instance_index)) (*doc)["instance_index"] = *i;
  return GoMarshal(*doc);
}

absl::StatusOr<std::string> CredhubUriFromPlatformOptions(absl::string_view platform_options) {
  if (platform_options.empty()) return std::string();
  auto doc = ParseGoJson(platform_options);
  if (!doc.ok()) return doc.status();
  if (doc->is_null()) return std::string();
  if (!doc->is_object()) return TypeError(*doc, "platformoptions.PlatformOptions");
  std::string uri;
  for (auto it = doc->begin(); it != doc->end(); ++it) {
    if (!IsField(it.key(), "credhub-uri") || it.value().is_null()) continue;
    if (!it.value().is_string()) return TypeError(it.value(), "string");
    uri = it.value().get<std::string>();
  }
  return uri;
}

std::string DatabaseUrlFromServices(absl::string_view vcap_services) {
  auto uris = ServiceUris(vcap_services);
  if (!uris.ok()) return "";
  for (const std::string& raw : *uris) {
    auto url = GoUrl::Parse(raw);
    if (!url.ok()) continue;
    if (url->scheme == "mysql") {
      url->scheme = "mysql2";
    } else if (url->scheme == "postgresql") {
      url->scheme = "postgres";
    } else if (url->scheme != "mysql2" && url->scheme != "postgres") {
      continue;
    }
    return url->String();
  }
  return "";
}

}  // namespace hatch::lifecycle
