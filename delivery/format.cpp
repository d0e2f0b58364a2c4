// format_request picks the formatter of a channel's type (delivery/channels/, one file per
// type); the parts every channel shares are delivery/channels/channel.cpp.
#include "delivery/format.hpp"

#include "delivery/channels/channel.hpp"
#include "delivery/redact.hpp"
#include "rules/lifecycle.hpp"

namespace tocsin::delivery {
namespace {

using rules::NotifyAction;

}  // namespace

Expected<HttpRequest, std::string> format_request(const rules::Channel& channel, const Message& m,
                                                  const rules::EnvLookup& env, TimePoint now) {
  const NotifyAction action = m.notification.action;
  Expected<HttpRequest, std::string> r =
      unexpected(channels::where(channel) + "unknown channel type");
  switch (channel.type) {
    case rules::ChannelType::opsgenie:
      r = channels::format_opsgenie(channel, m, action, env);
      break;
    case rules::ChannelType::pagerduty:
      r = channels::format_pagerduty(channel, m, action, env);
      break;
    case rules::ChannelType::slack:
      r = channels::format_slack(channel, m, action, now, env);
      break;
    case rules::ChannelType::webhook:
      r = channels::format_webhook(channel, m, action, now, env);
      break;
  }
  if (r) {
    // The same URLs secret_values treats as secrets as a whole.
    const bool from_env = !channel.url || channel.url->empty();
    r->shown_url = shown_url(r->url, from_env || channel.type == rules::ChannelType::slack);
  }
  return r;
}

}  // namespace tocsin::delivery
