#pragma once
// Which values delivery must never store or show, and the one place where an attempt's error
// text is formed from what a receiver answered. A receiver (or a proxy in front of it) may echo
// the request back — its Authorization header, its URL, its body — so the answer is redacted
// and cut to a short printable excerpt before anything records it: last_error, the attempts
// log, GET /api/v1/notifications, the server log and the fallback channel's meta-alert all read
// this text, never the answer itself.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/redact.hpp"
#include "delivery/policy.hpp"
#include "rules/loader.hpp"
#include "rules/rules.hpp"

namespace tocsin::delivery {

// Every secret the rules make the process hold:
//  - the value of every environment variable the rules name: channels' url_env, api_key_env,
//    routing_key_env and secret_env; every source's token_env and sources.sns.raw_token_env;
//    watchdog.url_env; api.tokens' token_env;
//  - the secret parts of URLs: the whole URL, its path and its query for a URL read from the
//    environment, a Slack webhook URL (its path is the credential) and the watchdog's ping
//    URL; the user info and query values of every channel URL (`?token=`).
std::vector<std::string> secret_values(const rules::Rules& rules, const rules::EnvLookup& env);

// A Redactor for secret_values(rules, env).
Redactor redactor_for(const rules::Rules& rules, const rules::EnvLookup& env);

// `url` as an attempt's error may name it ("connection refused: http://127.0.0.1:9000/hook"):
// without user info, with every query value replaced by "…", and without the fragment. A URL
// that is a secret as a whole (`whole`: read from the environment, or a Slack webhook, whose
// path is the credential) keeps only scheme://host[:port] and "/…" for the rest. Anything that
// is not an absolute URL shows as "(the channel's URL)".
std::string shown_url(std::string_view url, bool whole);

// The longest error text stored or shown for an attempt ("…" excepted): room for "HTTP 503: "
// and about 200 bytes of the receiver's answer.
inline constexpr std::size_t k_error_text_bytes = 240;

// The error text of attempt `r`: r.error, then ": " and the start of r.body when there is one;
// every secret redacted (in the whole text, before it is cut, so no secret is cut in half and
// half shown), then escaped to one printable line of at most k_error_text_bytes.
std::string attempt_error_text(const AttemptResult& r, const Redactor& redactor);

}  // namespace tocsin::delivery
