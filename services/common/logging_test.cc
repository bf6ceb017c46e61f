#include "services/common/logging.h"

#include <sstream>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"

namespace switchboard {
namespace {

// The json format writes one valid JSON object per line, whatever the
// message holds: quotes, newlines, control characters, bytes that are not
// UTF-8 (an id a client sent, a broker's error text).
TEST(JsonLogTest, EveryLineIsOneValidObject) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("json_test", sink);
  logger.set_formatter(NewJsonFormatter());
  logger.warn("id \"{}\"\nnext\x01 caf\xc3\xa9 bad\xff\xc3 end\xed\xa0\x80.",
              "x");
  const std::string line = out.str();
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line";
  google::protobuf::Struct json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &json).ok())
      << line;
  const auto& f = json.fields();
  EXPECT_EQ(f.at("level").string_value(), "warning");
  EXPECT_EQ(f.at("component").string_value(), "json_test");
  EXPECT_EQ(f.at("message").string_value(),
            "id \"x\"\nnext\x01 caf\xc3\xa9 bad\xef\xbf\xbd\xef\xbf\xbd "
            "end\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd.");
  EXPECT_FALSE(f.at("time").string_value().empty());
  EXPECT_GT(f.at("fields").struct_value().fields().at("pid").number_value(), 0);
}

TEST(LogFormatTest, UnknownFormatIsRefused) {
  EXPECT_EQ(SetLogFormat("xml").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SetLogFormat("text").ok());
}

}  // namespace
}  // namespace switchboard
