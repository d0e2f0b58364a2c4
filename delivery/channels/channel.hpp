#pragma once
// What the channel formatters (delivery/channels/*.cpp) share: the parts every channel says
// the same way, the channel's configuration read from the environment, and the digest lines.
// Defined in delivery/channels/channel.cpp; delivery/format.cpp picks the formatter for a
// channel's type (format_request). Internal to delivery/: everything outside calls
// format_request.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/expected.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "core/time.hpp"
#include "delivery/digest.hpp"
#include "delivery/format.hpp"
#include "rules/lifecycle.hpp"
#include "rules/loader.hpp"
#include "rules/rules.hpp"

namespace tocsin::delivery::channels {

using rules::Channel;
using rules::EnvLookup;
using rules::NotifyAction;

using Result = Expected<HttpRequest, std::string>;

// One formatter per channel type (docs/formats.md §11.2): `m` as the request its API expects.
Result format_opsgenie(const Channel& c, const Message& m, NotifyAction a, const EnvLookup& env);
Result format_pagerduty(const Channel& c, const Message& m, NotifyAction a, const EnvLookup& env);
Result format_slack(const Channel& c, const Message& m, NotifyAction a, TimePoint now,
                    const EnvLookup& env);
Result format_webhook(const Channel& c, const Message& m, NotifyAction a, TimePoint now,
                      const EnvLookup& env);

inline constexpr std::string_view k_ellipsis = "\xE2\x80\xA6";  // U+2026, 3 bytes
// OpsGenie's `source`, PagerDuty's fallback.
inline constexpr std::string_view k_source = "tocsin";

// Actions that open or re-announce (everything but the two that end a page).
bool announces(NotifyAction a);

// "P1" .. "P5"; a level outside them shows as the nearest.
std::string priority_text(Priority p);
// A score as people read it: one decimal at most ("72.5", "40").
std::string noise_text(double score);

// ---- configuration ----------------------------------------------------------------------

// "channel \"NAME\": ", the start of every formatting error.
std::string where(const Channel& c);
// The value of a variable the channel needs. Unset and empty alike are errors, with the
// variable's name and never its value.
Expected<std::string, std::string> from_env(const Channel& c, const std::string& variable,
                                            const EnvLookup& env);
// `url`, else the value of `url_env`.
Expected<std::string, std::string> channel_url(const Channel& c, const EnvLookup& env);
// The value of the variable `key` names; `setting` is the key's name, for the error.
Expected<std::string, std::string> secret(const Channel& c, const std::optional<std::string>& key,
                                          std::string_view setting, const EnvLookup& env);
std::string without_trailing_slash(std::string url);

// ---- what every channel says ------------------------------------------------------------

bool has_alert(const Message& m);
std::optional<std::int64_t> alert_id(const Message& m);
// The alert's page in Tocsin's API, when Tocsin knows its own address.
std::optional<std::string> alert_link(const Message& m);
// What the page is about, in a few words: the alert's name, else its fingerprint.
std::string subject(const Message& m, NotifyAction a);
// One line: "name: summary" (the summary alone says little without the name).
std::string headline(const Message& m, NotifyAction a);
// The longer text. A digest's content is its `why` (the digest is written by the worker).
std::string body_text(const Message& m, NotifyAction a);
Json labels_json(const std::map<std::string, std::string>& labels);
// Invalid UTF-8 (which storage should never hold) is replaced rather than thrown on: a
// notification must go out even when one field is odd.
std::string dump(const Json& body);
// `body` POSTed as JSON to `url`, with Content-Type its first header (a channel appends its own).
HttpRequest json_post(std::string url, const Json& body);

// ---- digests ----------------------------------------------------------------------------
// A digest row lists its alerts (delivery/digest.hpp); each channel shows the list in its own
// way. A row whose list cannot be read is formatted from its `why`, like any other row.

std::optional<Digest> digest_of(const Message& m, NotifyAction a);
// "… and N more"
std::string more_text(std::size_t not_listed);
// What an alert's line says after its severity and title, in plain text:
// " — 2 notifications (1 trigger, 1 escalate), noise 25, last escalate".
std::string digest_line_tail(const DigestAlert& a);
// A summary can be a paragraph; one line of a list shows its start.
std::string digest_line_title(const DigestAlert& a);

}  // namespace tocsin::delivery::channels
