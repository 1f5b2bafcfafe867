// YAML request bodies decoded into json::Value the way kube-apiserver decodes them
// (sigs.k8s.io/yaml over go-yaml v2): YAML 1.1 scalar resolution, so unquoted yes/no/on/off/y/n
// are booleans, ~ and null are null, 0x1F and 017 are integers, 1e3 is a float, and a key
// such as `on:` or `1:` becomes the string "true" or "1"; quoted scalars always stay strings;
// `<<` merge keys are honoured; timestamps stay strings.
//
// Untrusted input is bounded: nesting (max_depth), the number of JSON nodes produced
// counting alias expansions (max_nodes, plus go-yaml's alias-ratio rule, so an alias bomb is
// refused after a few thousand nodes), and the number of flow-collection indicators ([ { ,)
// that yaml-cpp's scanner would queue in memory at once (max_flow_indicators). Input must
// be UTF-8 without control characters, as go-yaml requires. Every failure, including any
// exception from yaml-cpp, comes back as a kBadRequest Status whose message starts with
// "error converting YAML to JSON: ".
//
// Thread safety: the functions are reentrant; they share no state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace csdr {

struct YamlOptions {
  // Maximum nesting of sequences and mappings, as json::ParseOptions::max_depth.
  int max_depth = 100;
  // Maximum JSON nodes produced, counting every alias expansion and anchor copy. A 3 MiB
  // body of real objects stays well under this; an alias bomb does not.
  size_t max_nodes = 1'000'000;
  // yaml-cpp holds every token of an open flow collection ("[1,2,...]") in memory, about
  // 250 bytes each, so a 3 MiB flow document could take most of a GiB. Documents with more
  // [ { , characters than this are refused (send large documents as JSON; valid JSON input
  // takes the JSON parser and is not subject to this limit).
  size_t max_flow_indicators = 50'000;
  // When set, duplicate mapping keys are collected here as paths (".spec.bucket"); the last
  // occurrence wins either way, as in go-yaml v2's non-strict decoding. As in v2's strict
  // mode, a key that a "<<" merge sets over another (or that overrides a merged one) counts.
  std::vector<std::string>* duplicate_fields = nullptr;
};

// Decodes one YAML document. Empty input (or only comments) decodes to null. A stream with
// more than one non-empty document is refused; empty documents around the one that has
// content are ignored. Input that is valid JSON is parsed by json::Parse (same result, faster).
StatusOr<json::Value> ParseYaml(std::string_view text, const YamlOptions& options = {});

// True when the first non-whitespace byte is '{' or '[': the body is probably JSON and can
// go to json::Parse directly (k8s.io/apimachinery/pkg/util/yaml IsJSONBuffer checks '{').
bool LooksLikeJson(std::string_view text);

}  // namespace csdr
