//===- JsonTest.cpp - The manifest JSON reader ----------------------------===//

#include "salac/Runtime/Json.h"

#include <gtest/gtest.h>

using namespace salac::rt;

namespace {

JsonValue parseOk(const std::string &text) {
  JsonValue v;
  Status s = parseJson(text, "t.json", v);
  EXPECT_TRUE(s.ok()) << s.message();
  return v;
}

std::string parseError(const std::string &text) {
  JsonValue v;
  Status s = parseJson(text, "t.json", v);
  EXPECT_FALSE(s.ok()) << "parsed: " << text;
  EXPECT_EQ(s.code(), Code::Package);
  return s.message();
}

TEST(Json, Scalars) {
  EXPECT_TRUE(parseOk("null").isNull());
  EXPECT_TRUE(parseOk(" true ").boolean);
  EXPECT_FALSE(parseOk("false").boolean);
  JsonValue i = parseOk("-1234567890123");
  ASSERT_TRUE(i.isNumber());
  EXPECT_TRUE(i.isInteger);
  EXPECT_EQ(i.integer, -1234567890123LL);
  JsonValue f = parseOk("1e-06");
  EXPECT_FALSE(f.isInteger);
  EXPECT_DOUBLE_EQ(f.number, 1e-6);
  JsonValue g = parseOk("2.5E+3");
  EXPECT_DOUBLE_EQ(g.number, 2500.0);
  // Too big for int64: still a number, not an integer.
  JsonValue big = parseOk("123456789012345678901234567890");
  EXPECT_FALSE(big.isInteger);
  EXPECT_NEAR(big.number, 1.2345678901234568e29, 1e15);
}

TEST(Json, StringsAndEscapes) {
  JsonValue s = parseOk(R"("a\"b\\c\/d\n\t\u0041\u00e9\ud83d\ude00")");
  ASSERT_TRUE(s.isString());
  EXPECT_EQ(s.string, "a\"b\\c/d\n\tA\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(Json, NestedStructureAndPositions) {
  JsonValue v = parseOk("{\n  \"a\": [1, {\"b\": \"x\"}, []],\n  \"c\": {}\n}");
  ASSERT_TRUE(v.isObject());
  ASSERT_EQ(v.members.size(), 2u);
  EXPECT_EQ(v.members[0].first, "a");
  const JsonValue *a = v.find("a");
  ASSERT_TRUE(a && a->isArray());
  ASSERT_EQ(a->items.size(), 3u);
  EXPECT_EQ(a->items[0].integer, 1);
  EXPECT_EQ(a->items[1].find("b")->string, "x");
  EXPECT_TRUE(a->items[2].items.empty());
  EXPECT_EQ(a->line, 2);
  EXPECT_EQ(a->column, 8);
  EXPECT_EQ(v.find("c")->line, 3);
  EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(Json, ErrorsNameLineColumnAndOffset) {
  // Missing comma between members on line 3.
  std::string msg = parseError("{\n  \"a\": 1\n  \"b\": 2\n}");
  EXPECT_NE(msg.find("t.json:3:3 (offset 13)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected ',' or '}' in object"), std::string::npos)
      << msg;

  msg = parseError("[1, 2,]");
  EXPECT_NE(msg.find("t.json:1:7 (offset 6): expected a value"),
            std::string::npos)
      << msg;
  msg = parseError("{\"a\": 1} x");
  EXPECT_NE(msg.find("unexpected content after the top-level value"),
            std::string::npos)
      << msg;
  msg = parseError("\"abc");
  EXPECT_NE(msg.find("unterminated string"), std::string::npos) << msg;
  msg = parseError("");
  EXPECT_NE(msg.find("found end of input"), std::string::npos) << msg;
  msg = parseError("{\"k\": 1, \"k\": 2}");
  EXPECT_NE(msg.find("duplicate key \"k\""), std::string::npos) << msg;
  msg = parseError("01");
  EXPECT_NE(msg.find("unexpected content"), std::string::npos) << msg;
  msg = parseError("\"a\x01\"");
  EXPECT_NE(msg.find("control character"), std::string::npos) << msg;
  msg = parseError("\"\\x\"");
  EXPECT_NE(msg.find("invalid escape"), std::string::npos) << msg;
  msg = parseError("\"\\ud800x\"");
  EXPECT_NE(msg.find("low surrogate"), std::string::npos) << msg;
  msg = parseError("tru");
  EXPECT_NE(msg.find("expected a value"), std::string::npos) << msg;
  msg = parseError("-");
  EXPECT_NE(msg.find("expected a digit"), std::string::npos) << msg;
  msg = parseError("1.");
  EXPECT_NE(msg.find("expected a digit after '.'"), std::string::npos) << msg;
}

TEST(Json, DeepNestingIsAnErrorNotACrash) {
  std::string deep(100000, '[');
  std::string msg = parseError(deep);
  EXPECT_NE(msg.find("nesting deeper than"), std::string::npos) << msg;
}

TEST(Json, LocaleIndependentNumbers) {
  // from_chars ignores LC_NUMERIC; "0.5" must stay 0.5 whatever the host set.
  EXPECT_DOUBLE_EQ(parseOk("0.5").number, 0.5);
}

} // namespace
