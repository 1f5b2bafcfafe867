// Name and label syntax checks of k8s.io/apimachinery/pkg/util/validation, with upstream's
// messages word for word (field errors and selector errors quote them).
//
// Each function returns the list of problems; an empty list means valid. Callers that need a
// single detail join them with "; " as upstream does.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace csdr::validation {

// Label keys and annotation keys: an optional DNS-1123 subdomain prefix and '/', then a name
// of at most 63 characters, e.g. "app.kubernetes.io/name".
std::vector<std::string> IsQualifiedName(std::string_view value);
// Label values: empty, or at most 63 characters of [-A-Za-z0-9_.] starting and ending with
// an alphanumeric character.
std::vector<std::string> IsValidLabelValue(std::string_view value);
// Object names of most kinds, namespaces' prefixes: lowercase RFC 1123 subdomain, <= 253.
std::vector<std::string> IsDNS1123Subdomain(std::string_view value);
// Namespace names and other single labels: lowercase RFC 1123 label, <= 63.
std::vector<std::string> IsDNS1123Label(std::string_view value);

// The message pieces, for callers building their own checks the upstream way.
std::string MaxLenError(size_t length);  // "must be no more than 63 characters"
std::string RegexError(std::string_view message, std::string_view regex,
                       const std::vector<std::string_view>& examples);
std::string EmptyError();  // "must be non-empty"

}  // namespace csdr::validation
