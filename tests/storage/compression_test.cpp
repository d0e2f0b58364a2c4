// Stored request bodies: compressed when that pays, read back byte for byte by export, and
// rows stored as text before compression existed still read unchanged.
#include "storage/compression.hpp"

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <zstd.h>

#include <random>

#include "storage/reader.hpp"
#include "storage/transaction.hpp"
#include "storage/writer.hpp"
#include "support/backends.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

namespace storage_compression_test {

using namespace tocsin;
using namespace tocsin::storage;
using tocsin::testing::TempDir;

TEST_CASE("compression: a frame round-trips, small or dense bodies are left as text") {
  const std::string sns = tocsin::testing::fixture("sns_notification_alarm.json");
  auto frame = compress_body(sns);
  REQUIRE(frame);
  CHECK(frame->size() * 10 < sns.size() * 6);  // an SNS notification shrinks by ~45%
  CHECK(decompress_body(*frame) == sns);
  CHECK_FALSE(compress_body("{\"key\":\"a\",\"status\":\"firing\"}"));  // too small to pay
  std::mt19937 random(7);  // random bytes: incompressible, like a body already compressed
  std::string dense;
  for (int i = 0; i < 512; ++i)
    dense += static_cast<char>(random() & 0xFF);
  CHECK_FALSE(compress_body(dense));
  CHECK_THROWS_AS(decompress_body("not a frame"), std::runtime_error);
}

namespace {

// A frame as builds before the body dictionary wrote it: plain zstd, level 3, no dictionary.
std::string frame_without_dictionary(const std::string& body) {
  std::string frame(ZSTD_compressBound(body.size()), '\0');
  const std::size_t n = ZSTD_compress(frame.data(), frame.size(), body.data(), body.size(), 3);
  REQUIRE_FALSE(ZSTD_isError(n));
  frame.resize(n);
  return frame;
}

}  // namespace

TEST_CASE("compression: frames name the body dictionary, and frames without one still read") {
  const std::string sns = tocsin::testing::fixture("sns_notification_alarm.json");
  const auto frame = compress_body(sns);
  REQUIRE(frame);
  CHECK(body_dictionary_id() > 32768);  // ids below are reserved by the zstd format
  CHECK(ZSTD_getDictID_fromFrame(frame->data(), frame->size()) == body_dictionary_id());
  CHECK(frame->size() * 2 < frame_without_dictionary(sns).size());  // the dictionary's gain
  CHECK(decompress_body(*frame) == sns);
  const std::string old = frame_without_dictionary(sns);
  CHECK(ZSTD_getDictID_fromFrame(old.data(), old.size()) == 0);
  CHECK(decompress_body(old) == sns);
}

// Rows written with a released dictionary must read in every later build: a frame made with
// dictionary 32769 (storage/dictionaries/body-1.zdict, `zstd -3 -D`) when it was released. It
// fails if that file is changed or dropped instead of a new dictionary being added.
TEST_CASE("compression: a frame written with each released dictionary still decompresses") {
  struct Frozen {
    unsigned dictionary;
    const char* hex;
    const char* body;
  };
  const Frozen frozen[] = {
      {32769,
       "28b52ffd260180eb8d020073c2071ddeea5e89bea59b3f1084781dde86c493403cf04b7f4e5d4f4fe2798d84"
       "2310fc3bcf040778cd4d35ecc066774477d07cfd7c033d280ec0198d92dd20ffc80c5d37e3a1b994b486b76d"
       "41a600051ffe399c",
       R"({"Type":"Notification","MessageId":"frozen-1","TopicArn":"arn:aws:sns:eu-west-1:)"
       R"(123456789012:alerts","Message":"{\"AlarmName\":\"frozen\",\"NewStateValue\":)"
       R"(\"ALARM\",\"Region\":\"EU (Ireland)\"}","Timestamp":"2026-11-30T05:00:00.000Z"})"},
  };
  for (const auto& f : frozen) {
    CAPTURE(f.dictionary);
    const auto frame = frame_in_text(std::string("\\x") + f.hex);
    REQUIRE(frame);
    CHECK(ZSTD_getDictID_fromFrame(frame->data(), frame->size()) == f.dictionary);
    CHECK(decompress_body(*frame) == f.body);
  }
}

TEST_CASE("compression: a body compressed before the write job is stored as prepared") {
  const std::string sns = tocsin::testing::fixture("sns_notification_alarm.json");
  InboundRecord big;
  big.hook = "sns";
  big.body = sns;
  prepare_inbound_body(big);
  REQUIRE(big.body_frame);
  CHECK(*big.body_frame == *compress_body(sns));
  InboundRecord small;
  small.hook = "generic";
  small.body = "{}";
  prepare_inbound_body(small);
  CHECK(small.body_frame == std::string());  // "": stored as text
  tocsin::testing::for_each_backend([&](tocsin::testing::TestDatabase& t) {
    t.db().begin();
    Transaction tx(t.db());
    tx.insert_inbound(big);
    tx.insert_inbound(small);
    t.db().commit();
    std::vector<std::string> exported;
    Reader(t.location())
        .export_since(
            TimePoint{}, [&](const InboundRecord& r) { exported.push_back(r.body); },
            [](const DecisionRecord&) {});
    CHECK(exported == std::vector<std::string>{sns, "{}"});
  });
}

TEST_CASE("compression: export returns every body as received, compressed or not") {
  TempDir dir;
  const auto path = dir.file("t.db");
  const std::string big = tocsin::testing::fixture("alertmanager_webhook_v4.json");
  {
    Writer w(path, Durability::full);
    auto done = w.submit([&](Transaction& tx) {
      InboundRecord r;
      r.hook = "alertmanager";
      r.received_at = from_unix_ms(1000);
      r.body = big;
      tx.insert_inbound(r);
      r.received_at = from_unix_ms(2000);
      r.body = "{}";
      tx.insert_inbound(r);
    });
    REQUIRE_FALSE(done.get());
  }
  {
    // A row as an older build stored it: the body as text, however large.
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "INSERT INTO inbound (received_at, hook, body) VALUES (3000, 'a', ?)");
    q.bind(1, big);
    q.exec();
    // And one as a build before the body dictionary stored it: a frame naming no dictionary.
    const std::string old = frame_without_dictionary(big);
    SQLite::Statement o(db, "INSERT INTO inbound (received_at, hook, body) VALUES (4000, 'a', ?)");
    o.bind(1, old.data(), static_cast<int>(old.size()));
    o.exec();
    CHECK(db.execAndGet("SELECT group_concat(typeof(body)) FROM inbound ORDER BY id").getString() ==
          "blob,text,text,blob");
  }
  std::vector<std::string> bodies;
  Reader(path).export_since(
      TimePoint{}, [&](const InboundRecord& r) { bodies.push_back(r.body); },
      [](const DecisionRecord&) {});
  CHECK(bodies == std::vector<std::string>{big, "{}", big, big});
}

TEST_CASE("compression: on every backend a body reads back as received, whatever it looks like") {
  const std::string big = tocsin::testing::fixture("alertmanager_webhook_v4.json");
  // Text that reads like PostgreSQL's spelling of a frame (`\x` and a zstd frame in hex):
  // received as text, it must not come back decompressed.
  const auto frame = compress_body(big);
  REQUIRE(frame);
  std::string lookalike = "\\x";
  for (const char c : *frame) {
    static constexpr char k_digits[] = "0123456789abcdef";
    lookalike += k_digits[static_cast<unsigned char>(c) >> 4];
    lookalike += k_digits[static_cast<unsigned char>(c) & 0xf];
  }
  const std::vector<std::string> bodies = {big, "{}", lookalike, "\\x28b52ffd"};
  tocsin::testing::for_each_backend([&](tocsin::testing::TestDatabase& t) {
    t.db().begin();
    Transaction tx(t.db());
    std::int64_t at = 1000;
    for (const auto& body : bodies) {
      InboundRecord r;
      r.hook = "alertmanager";
      r.received_at = from_unix_ms(at++);
      r.body = body;
      tx.insert_inbound(r);
    }
    t.db().commit();
    std::vector<std::string> exported;
    Reader(t.location())
        .export_since(
            TimePoint{}, [&](const InboundRecord& r) { exported.push_back(r.body); },
            [](const DecisionRecord&) {});
    CHECK(exported == bodies);
  });
}

}  // namespace storage_compression_test
