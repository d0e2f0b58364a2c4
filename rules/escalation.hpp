#pragma once
// Escalation steps as pure functions over an episode (docs/behaviour.md "Delivery"): which channels
// a step notifies, with which action and level, and when the next step is due. Used by the event,
// timer and action decisions in rules/lifecycle.

#include "rules/lifecycle.hpp"

namespace tocsin::rules {

// A newly opened episode: notifies step 0 now if it is due at once, and schedules the next
// due step as a timer.
void start_escalation(const Route& route, Episode& episode, TimePoint now, Effects& out);

// The escalation timer for `step` fell due (`due`) and is handled at `now`: notifies that step
// (`trigger` for step 0, `escalate` after it, `reminder` for a repeat of the last step) and
// schedules the next one. A timer due while the engine was down fires once, late.
void fire_step(const Route& route, Episode& episode, int step, TimePoint due, TimePoint now,
               Effects& out);

// Escalation resumes after an acknowledgement ends (unack, ack_timeout): the remaining steps
// keep their spacing from `now`. With `renotify`, the level reached so far is reminded at once.
void resume_escalation(const Route& route, Episode& episode, TimePoint now, bool renotify,
                       Effects& out);

// Sends `action` about `episode` to every channel in `channels` (in order, once each); a
// trigger, escalate or reminder also records the channel in `episode.notified`.
void notify_channels(const std::vector<std::string>& channels, Episode& episode,
                     NotifyAction action, int level, const std::string& why, Effects& out);

}  // namespace tocsin::rules
