#include "webhook/policy/facts.h"

#include <array>
#include <cstdint>

namespace csdr::webhook {
namespace {

bool IsBlank(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Whether standard padded base64 `text` is valid and decodes to at least one non-blank
// byte. Decodes on the fly, one byte at a time, so no copy of the secret value is made.
bool Base64HasNonBlank(std::string_view text) {
  static const std::array<int8_t, 256> kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i)
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  if (text.empty() || text.size() % 4 != 0) return false;
  size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  bool non_blank = false;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size() - padding; ++i) {
    const int8_t v = kTable[static_cast<unsigned char>(text[i])];
    if (v < 0) return false;  // includes a '=' before the end
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      const unsigned char byte = static_cast<unsigned char>((acc >> bits) & 0xFF);
      if (!IsBlank(byte)) non_blank = true;
    }
  }
  return non_blank;
}

bool PlainHasNonBlank(std::string_view text) {
  for (char c : text) {
    if (!IsBlank(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

}  // namespace

SecretFact SummarizeSecret(const json::Value& secret) {
  SecretFact fact;
  fact.presence = Presence::kPresent;
  if (const json::Value* data = secret.Find("data"); data != nullptr && data->is_object()) {
    for (const auto& [key, value] : data->object()) {
      fact.keys[key] = value.is_string() && Base64HasNonBlank(value.as_string());
    }
  }
  if (const json::Value* data = secret.Find("stringData"); data != nullptr && data->is_object()) {
    for (const auto& [key, value] : data->object()) {
      fact.keys[key] = value.is_string() && PlainHasNonBlank(value.as_string());
    }
  }
  return fact;
}

}  // namespace csdr::webhook
