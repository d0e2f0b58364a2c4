// Passwords never leave storage/postgres/ in a log line or an error, whichever form of
// connection string carries them (docs/postgres.md "Passwords").

#include "storage/postgres/redact.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace storage_postgres_redact_test {

using tocsin::storage::postgres::passwords_in;
using tocsin::storage::postgres::redacted;

TEST_CASE("postgres: redacted removes the password from every connection string form") {
  struct Case {
    const char* intent;
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"URI userinfo", "postgresql://u:s3cret-pw@h/db", "postgresql://u:[redacted]@h/db"},
      {"short scheme", "postgres://u:s3cret-pw@h/db", "postgres://u:[redacted]@h/db"},
      {"several hosts",
       "postgresql://u:s3cret-pw@h1:5432,h2:5433/db?target_session_attrs=read-write",
       "postgresql://u:[redacted]@h1:5432,h2:5433/db?target_session_attrs=read-write"},
      {"percent-encoded and unencoded specials in userinfo", "postgresql://u:p%40ss/w@rd@h/db",
       "postgresql://u:[redacted]@h/db"},
      {"query parameter", "postgresql://h/db?user=u&password=s3cret-pw&sslmode=disable",
       "postgresql://h/db?user=u&password=[redacted]&sslmode=disable"},
      {"query parameter first", "postgresql://h/db?password=s3cret-pw",
       "postgresql://h/db?password=[redacted]"},
      {"userinfo and query parameter", "postgresql://u:s3cret-pw@h/db?password=other-pw",
       "postgresql://u:[redacted]@h/db?password=[redacted]"},
      {"keyword form", "host=h user=u password=s3cret-pw dbname=d",
       "host=h user=u password=[redacted] dbname=d"},
      {"keyword form first, spaces around =", "password = s3cret-pw host=h",
       "password = [redacted] host=h"},
      {"quoted keyword value with an escaped quote and a space",
       "host=h password='s3cret \\' pw' dbname=d", "host=h password=[redacted] dbname=d"},
      {"unclosed quote hides the rest", "host=h password='s3cret pw dbname=d",
       "host=h password=[redacted]"},
      {"ssl key password", "host=h sslpassword=s3cret-pw", "host=h sslpassword=[redacted]"},
      {"inside a message", "cannot connect to postgresql://u:s3cret-pw@h/db: refused",
       "cannot connect to postgresql://u:[redacted]@h/db: refused"},
      {"no password: unchanged", "postgresql://u@h:5432/db", "postgresql://u@h:5432/db"},
      {"a message about passwords: unchanged", "password authentication failed for user \"u\"",
       "password authentication failed for user \"u\""},
      {"a key merely ending in password is not a keyword", "host=h mypassword=x",
       "host=h mypassword=x"},
  };
  for (const Case& c : cases) {
    const std::string intent = c.intent;
    CAPTURE(intent);
    CHECK(redacted(c.text) == c.expected);
  }
}

TEST_CASE("postgres: passwords_in finds each password as written and as libpq decodes it") {
  const auto found = passwords_in("postgresql://u:p%40ss-word@h/db host=x password='a\\'b c'");
  const auto has = [&](const std::string& p) {
    return std::find(found.begin(), found.end(), p) != found.end();
  };
  CHECK(has("p%40ss-word"));
  CHECK(has("p@ss-word"));
  CHECK(has("'a\\'b c'"));
  CHECK(has("a'b c"));
}

}  // namespace storage_postgres_redact_test
