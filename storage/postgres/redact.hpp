#pragma once
// Connection strings carry passwords; logs, errors and the API must not. Every message
// storage/postgres/ produces passes through these functions; see docs/postgres.md "Passwords".

#include <string>
#include <string_view>
#include <vector>

namespace tocsin::storage::postgres {

// `text` with every password in it replaced by k_redacted (core/redact.hpp), in each form libpq
// accepts, wherever it appears in the text:
//   postgresql://user:PASSWORD@host1:5432,host2/db   (also postgres://)
//   postgresql://host/db?user=u&password=PASSWORD     (and sslpassword=)
//   host=h password=PASSWORD   password = 'quoted \' value'
// A password holding an unencoded '?' or whitespace in the URI form is not recognised there:
// percent-encode it, as libpq's syntax requires.
std::string redacted(std::string_view text);

// The passwords `redacted` finds in `conninfo`, each as written and percent-decoded, so that a
// message echoing one in another spelling can be scrubbed too.
std::vector<std::string> passwords_in(std::string_view conninfo);

}  // namespace tocsin::storage::postgres
