#pragma once
// Confirming an SNS subscription (docs/behaviour.md "SNS subscriptions"): the one path both
// `sources.sns.auto_confirm: true` and `POST /api/v1/subscriptions/{id}/confirm` take. The
// subscription is claimed (pending -> confirming) in one transaction, its stored SubscribeURL
// (checked by ingest::check_subscribe_url before it was stored) visited with no transaction
// open, and the outcome recorded in another.

#include <string>

#include "core/expected.hpp"
#include "engine/engine.hpp"
#include "server/app.hpp"

namespace tocsin::server {

// GETs a SubscribeURL that passed ingest::check_subscribe_url: TLS verified against the system
// CA bundle for the URL's host, 3 s connect/read/write timeouts, redirects not followed, the
// answer read up to 64 KiB. The result's `failure` names what failed (TLS, timeout, HTTP status)
// and the host, never the URL (its query carries SNS's token); its `subscription_arn` is the
// one SNS's answer names, if any.
//
// TEST HOOK: with TOCSIN_TEST_SNS_CONNECT_TO=ADDRESS:PORT set, the connection goes there and its
// certificate is checked for ADDRESS, against the CA file TOCSIN_TEST_SNS_CA_FILE when set (the
// end-to-end tests' fake SNS on loopback). Each use is logged as a warning.
engine::SubscriptionVisit visit_subscribe_url(const std::string& url);

// Claims the subscription, visits its SubscribeURL, records the outcome and logs it (without
// the URL). Returns the subscription as recorded; or the claim's 404/409, 503 (storage), or 502
// `subscription_confirm_failed` naming what failed (the subscription is then confirmable again).
Expected<storage::SubscriptionRecord, engine::ActionError> confirm_subscription(
    App& app, const engine::SubscriptionRef& ref, const std::string& by,
    const std::string& comment);

}  // namespace tocsin::server
