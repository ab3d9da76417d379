#include "lifecycle/staging_info.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/read_file.h"

namespace hatch::lifecycle {
namespace {

// yaml.v2 decodes any scalar into a Go string field as its text; null leaves it "".
absl::Status ReadString(const YAML::Node& map, const char* key, std::string* out) {
  const YAML::Node node = map[key];
  if (!node.IsDefined() || node.IsNull()) return absl::OkStatus();
  if (!node.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat("line ", node.Mark().line + 1, ": cannot unmarshal ",
                                                   node.IsMap() ? "a mapping" : "a sequence",
                                                   " into the string ", key));
  }
  *out = node.Scalar();
  return absl::OkStatus();
}

// yaml.v2 (libyaml's scanner) allows only letters, digits, '-' and '_' in anchor names, so
// `start_command: &ruby/object:Pathname` is corrupt there; yaml-cpp would read it as a null
// with an anchor. This pass over the events refuses what libyaml refuses.
class AnchorNameCheck : public YAML::EventHandler {
 public:
  absl::Status status() const { return status_; }

  void OnAnchor(const YAML::Mark& mark, const std::string& name) override {
    if (!status_.ok()) return;
    for (char c : name) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_')) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat("line ", mark.line + 1, ": anchor \"", name,
                         "\" may hold only letters, digits, '-' and '_'"));
        return;
      }
    }
  }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  absl::Status status_;
};

absl::StatusOr<StagingInfo> Decode(const YAML::Node& doc) {
  StagingInfo info;
  if (!doc.IsDefined() || doc.IsNull()) return info;  // an empty file
  if (!doc.IsMap()) return absl::InvalidArgumentError("the document is not a mapping");
  if (absl::Status s = ReadString(doc, "detected_buildpack", &info.detected_buildpack); !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadString(doc, "start_command", &info.start_command); !s.ok()) return s;
  const YAML::Node config = doc["config"];
  if (config.IsDefined() && !config.IsNull()) {
    if (!config.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", config.Mark().line + 1, ": config is not a mapping"));
    }
    if (absl::Status s = ReadString(config, "entrypoint_prefix", &info.entrypoint_prefix); !s.ok()) {
      return s;
    }
  }
  return info;
}

}  // namespace

absl::StatusOr<StagingInfo> ParseStagingInfo(absl::string_view text, absl::string_view name) {
  absl::StatusOr<StagingInfo> info;
  try {
    std::istringstream stream{std::string(text)};
    YAML::Parser parser(stream);
    AnchorNameCheck check;
    parser.HandleNextDocument(check);
    info = check.status().ok() ? Decode(YAML::Load(std::string(text))) : check.status();
  } catch (const YAML::Exception& e) {
    info = absl::InvalidArgumentError(e.what());
  }
  if (!info.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("failed to unmarshal ", name, ": ", info.status().message()));
  }
  return info;
}

absl::StatusOr<StagingInfo> ReadStagingInfo(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (absl::IsNotFound(text.status())) return StagingInfo{};
  if (!text.ok()) return text.status();
  return ParseStagingInfo(*text, path);
}

}  // namespace hatch::lifecycle
