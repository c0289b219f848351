//===- Json.cpp - A small JSON reader for kernel manifests ----------------===//

#include "salac/Runtime/Json.h"

#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace salac::rt {

std::string strFormat(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string out(n > 0 ? size_t(n) : 0, '\0');
  if (n > 0)
    std::vsnprintf(out.data(), size_t(n) + 1, fmt, ap2);
  va_end(ap2);
  return out;
}

const JsonValue *JsonValue::find(std::string_view key) const {
  if (kind != Kind::Object)
    return nullptr;
  for (const auto &m : members)
    if (m.first == key)
      return &m.second;
  return nullptr;
}

const char *JsonValue::kindName() const {
  switch (kind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return boolean ? "true" : "false";
  case Kind::Number:
    return isInteger ? "integer" : "number";
  case Kind::String:
    return "string";
  case Kind::Array:
    return "array";
  case Kind::Object:
    return "object";
  }
  return "?";
}

namespace {

// Deep nesting would only come from a broken or hostile file; bounding it keeps
// the recursive parser from overflowing the stack.
constexpr int kMaxDepth = 256;

class Parser {
public:
  Parser(std::string_view text, const std::string &origin)
      : text_(text), origin_(origin) {}

  Status parseDocument(JsonValue &out) {
    skipWs();
    SALART_TRY(parseValue(out, 0));
    skipWs();
    if (pos_ != text_.size())
      return fail("unexpected content after the top-level value");
    return Status();
  }

private:
  std::string_view text_;
  const std::string &origin_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t lineStart_ = 0;

  int column() const { return int(pos_ - lineStart_) + 1; }
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }

  Status fail(const std::string &what) const {
    std::string found = atEnd() ? std::string("end of input")
                                : strFormat("'%c'", text_[pos_]);
    if (!atEnd() && (unsigned char)text_[pos_] < 0x20)
      found = strFormat("control character 0x%02x", text_[pos_]);
    return Status::error(Code::Package,
                         strFormat("%s:%d:%d (offset %zu): %s (found %s)",
                                   origin_.c_str(), line_, column(), pos_,
                                   what.c_str(), found.c_str()));
  }

  void skipWs() {
    while (!atEnd()) {
      char c = text_[pos_];
      if (c == '\n') {
        ++line_;
        lineStart_ = pos_ + 1;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        return;
      }
      ++pos_;
    }
  }

  bool consumeWord(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word)
      return false;
    pos_ += word.size();
    return true;
  }

  Status parseValue(JsonValue &out, int depth) {
    if (depth > kMaxDepth)
      return fail(strFormat("nesting deeper than %d levels", kMaxDepth));
    out = JsonValue();
    out.line = line_;
    out.column = column();
    char c = peek();
    if (c == '{')
      return parseObject(out, depth);
    if (c == '[')
      return parseArray(out, depth);
    if (c == '"') {
      out.kind = JsonValue::Kind::String;
      return parseString(out.string);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseNumber(out);
    if (consumeWord("true")) {
      out.kind = JsonValue::Kind::Bool;
      out.boolean = true;
      return Status();
    }
    if (consumeWord("false")) {
      out.kind = JsonValue::Kind::Bool;
      return Status();
    }
    if (consumeWord("null"))
      return Status();
    return fail("expected a value");
  }

  Status parseObject(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Object;
    ++pos_; // '{'
    skipWs();
    if (peek() == '}') {
      ++pos_;
      return Status();
    }
    while (true) {
      if (peek() != '"')
        return fail("expected a string key in object");
      size_t keyPos = pos_;
      int keyLine = line_, keyCol = column();
      std::string key;
      SALART_TRY(parseString(key));
      if (out.find(key))
        return Status::error(
            Code::Package,
            strFormat("%s:%d:%d (offset %zu): duplicate key \"%s\" in object",
                      origin_.c_str(), keyLine, keyCol, keyPos, key.c_str()));
      skipWs();
      if (peek() != ':')
        return fail("expected ':' after object key");
      ++pos_;
      skipWs();
      out.members.emplace_back(std::move(key), JsonValue());
      SALART_TRY(parseValue(out.members.back().second, depth + 1));
      skipWs();
      if (peek() == ',') {
        ++pos_;
        skipWs();
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return Status();
      }
      return fail("expected ',' or '}' in object");
    }
  }

  Status parseArray(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Array;
    ++pos_; // '['
    skipWs();
    if (peek() == ']') {
      ++pos_;
      return Status();
    }
    while (true) {
      out.items.emplace_back();
      SALART_TRY(parseValue(out.items.back(), depth + 1));
      skipWs();
      if (peek() == ',') {
        ++pos_;
        skipWs();
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return Status();
      }
      return fail("expected ',' or ']' in array");
    }
  }

  static int hexDigit(char c) {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }

  Status parseHex4(unsigned &out) {
    out = 0;
    for (int i = 0; i < 4; ++i) {
      int d = hexDigit(peek());
      if (d < 0)
        return fail("expected 4 hex digits after \\u");
      out = out * 16 + unsigned(d);
      ++pos_;
    }
    return Status();
  }

  static void appendUtf8(std::string &s, unsigned cp) {
    if (cp < 0x80) {
      s += char(cp);
    } else if (cp < 0x800) {
      s += char(0xC0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += char(0xE0 | (cp >> 12));
      s += char(0x80 | ((cp >> 6) & 0x3F));
      s += char(0x80 | (cp & 0x3F));
    } else {
      s += char(0xF0 | (cp >> 18));
      s += char(0x80 | ((cp >> 12) & 0x3F));
      s += char(0x80 | ((cp >> 6) & 0x3F));
      s += char(0x80 | (cp & 0x3F));
    }
  }

  Status parseString(std::string &out) {
    ++pos_; // opening quote
    while (true) {
      if (atEnd())
        return fail("unterminated string");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return Status();
      }
      if ((unsigned char)c < 0x20)
        return fail("raw control character in string (escape it)");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      char e = peek();
      ++pos_;
      switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        unsigned cp;
        SALART_TRY(parseHex4(cp));
        if (cp >= 0xD800 && cp <= 0xDBFF) { // high surrogate: needs its pair
          if (!consumeWord("\\u"))
            return fail("expected a low surrogate \\uDC00-\\uDFFF");
          unsigned lo;
          SALART_TRY(parseHex4(lo));
          if (lo < 0xDC00 || lo > 0xDFFF)
            return fail("invalid low surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail("unpaired low surrogate");
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        pos_ -= 1;
        return fail("invalid escape sequence in string");
      }
    }
  }

  Status parseNumber(JsonValue &out) {
    size_t start = pos_;
    bool integral = true;
    if (peek() == '-')
      ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9')
        ++pos_;
    } else {
      return fail("expected a digit in number");
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9'))
        return fail("expected a digit after '.' in number");
      while (peek() >= '0' && peek() <= '9')
        ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-')
        ++pos_;
      if (!(peek() >= '0' && peek() <= '9'))
        return fail("expected a digit in exponent");
      while (peek() >= '0' && peek() <= '9')
        ++pos_;
    }
    const char *b = text_.data() + start, *e = text_.data() + pos_;
    out.kind = JsonValue::Kind::Number;
    // from_chars, unlike strtod, ignores the C locale's decimal point (a host
    // process such as Python may have set one).
    auto rd = std::from_chars(b, e, out.number);
    if (rd.ec == std::errc::result_out_of_range)
      out.number = (*b == '-') ? -HUGE_VAL : HUGE_VAL;
    if (integral) {
      auto ri = std::from_chars(b, e, out.integer);
      out.isInteger = ri.ec == std::errc() && ri.ptr == e;
    }
    return Status();
  }
};

} // namespace

Status parseJson(std::string_view text, const std::string &origin,
                 JsonValue &out) {
  return Parser(text, origin).parseDocument(out);
}

} // namespace salac::rt
