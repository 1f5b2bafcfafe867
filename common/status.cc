#include "common/status.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace csdr {
namespace {

// Appends ": detail" when there is a detail, as field.Error.ErrorBody does.
std::string WithDetail(std::string body, std::string_view detail) {
  if (!detail.empty()) {
    body += ": ";
    body += detail;
  }
  return body;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid
// (overlong forms, surrogates and code points past U+10FFFF are invalid, as in Go).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;  // overlong
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;                        // surrogate
  if (cp > 0x10FFFF) return 0;
  return n;
}

}  // namespace

std::string Quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // Printable multi-byte runes pass through as Go's strconv.Quote does; bytes that
      // are not valid UTF-8 become \xNN so the message stays valid UTF-8.
      if (size_t n = Utf8SequenceLength(s, i); n > 0) {
        out.append(s.substr(i, n));
        i += n;
      } else {
        out += "\\x";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

FieldError RequiredField(std::string field, std::string detail) {
  return {"FieldValueRequired", std::move(field), WithDetail("Required value", detail)};
}

FieldError ForbiddenField(std::string field, std::string detail) {
  return {"FieldValueForbidden", std::move(field), WithDetail("Forbidden", detail)};
}

FieldError InvalidField(std::string field, std::string value_repr, std::string detail) {
  return {"FieldValueInvalid", std::move(field),
          WithDetail("Invalid value: " + value_repr, detail)};
}

FieldError NotSupportedField(std::string field, std::string value_repr,
                             const std::vector<std::string>& supported) {
  std::string detail;
  if (!supported.empty()) {
    detail = "supported values: ";
    for (size_t i = 0; i < supported.size(); ++i) {
      if (i > 0) detail += ", ";
      detail += Quote(supported[i]);
    }
  }
  return {"FieldValueNotSupported", std::move(field),
          WithDetail("Unsupported value: " + value_repr, detail)};
}

FieldError DuplicateField(std::string field, std::string value_repr) {
  return {"FieldValueDuplicate", std::move(field), "Duplicate value: " + value_repr};
}

FieldError TooLongField(std::string field, size_t max) {
  // field.TooLong: the value itself is omitted from the message on purpose.
  return {
      "FieldValueTooLong", std::move(field),
      "Too long: may not be more than " + std::to_string(max) + (max == 1 ? " byte" : " bytes")};
}

FieldError TypeInvalidField(std::string field, std::string value_repr, std::string detail) {
  // Upstream prints FieldValueTypeInvalid with the same words as FieldValueInvalid.
  return {"FieldValueTypeInvalid", std::move(field),
          WithDetail("Invalid value: " + value_repr, detail)};
}

}  // namespace csdr
