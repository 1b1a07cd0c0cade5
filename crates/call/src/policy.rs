//! The on-beep policy: on the first voicemail beep, play a message, then hang up.
//!
//! A small state machine, the first step toward contact flows:
//!
//! ```text
//! Armed ──beep──▶ Playing{id, deadline} ──finished | failed | deadline──▶ Done (+ Hangup if asked)
//!   └────beep, no message──▶ Done (+ Hangup if asked)
//! ```
//!
//! The deadline is the shell's clock when the beep was handled plus the message's length
//! (the shell may report it with `playback_started`; else [`MAX_MESSAGE_MS`]) plus
//! [`PLAYBACK_GRACE_MS`], so a shell that never reports the end still hangs up.

use crate::config::{BeepPolicy, Prompt, MAX_MESSAGE_MS, PLAYBACK_GRACE_MS};

/// Reason given in the [`crate::Action::Hangup`] this policy asks for.
pub const HANGUP_REASON: &str = "on_beep";

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Armed,
    Playing { id: u64, deadline_ms: u64 },
    Done,
}

/// What the policy asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Play this prompt; the caller gives it the id it allocated via the closure.
    Play { id: u64, prompt: Prompt },
    /// Hang up.
    Hangup,
    /// The message's playback is given up on (safety deadline passed).
    TimedOut { id: u64 },
}

/// The on-beep policy of one call.
#[derive(Clone, Debug)]
pub(crate) struct OnBeep {
    policy: BeepPolicy,
    state: State,
}

impl OnBeep {
    pub(crate) fn new(policy: BeepPolicy) -> Self {
        OnBeep {
            policy,
            state: State::Armed,
        }
    }

    /// A beep was heard at clock time `now_ms`; `next_id` allocates a playback id.
    pub(crate) fn on_beep(&mut self, now_ms: u64, next_id: impl FnOnce() -> u64) -> Vec<Step> {
        if self.state != State::Armed {
            return Vec::new();
        }
        match &self.policy.message {
            Some(prompt) => {
                let id = next_id();
                self.state = State::Playing {
                    id,
                    deadline_ms: now_ms + MAX_MESSAGE_MS + PLAYBACK_GRACE_MS,
                };
                vec![Step::Play {
                    id,
                    prompt: prompt.clone(),
                }]
            }
            None => {
                self.state = State::Done;
                self.hangup()
            }
        }
    }

    fn hangup(&self) -> Vec<Step> {
        if self.policy.hangup {
            vec![Step::Hangup]
        } else {
            Vec::new()
        }
    }

    /// The shell started playback `id` of `duration_ms` at `now_ms`: the safety deadline
    /// becomes that length plus the grace (it never moves later than the default one).
    pub(crate) fn playback_started(&mut self, id: u64, duration_ms: u64, now_ms: u64) {
        if let State::Playing {
            id: pid,
            deadline_ms,
        } = &mut self.state
        {
            if *pid == id {
                let d = now_ms
                    .saturating_add(duration_ms.min(MAX_MESSAGE_MS))
                    .saturating_add(PLAYBACK_GRACE_MS);
                *deadline_ms = (*deadline_ms).min(d);
            }
        }
    }

    /// Playback `id` ended (played or failed): hang up if asked.
    pub(crate) fn playback_ended(&mut self, id: u64) -> Vec<Step> {
        match self.state {
            State::Playing { id: pid, .. } if pid == id => {
                self.state = State::Done;
                self.hangup()
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            State::Playing { deadline_ms, .. } => Some(deadline_ms),
            _ => None,
        }
    }

    pub(crate) fn handle_timeout(&mut self, now_ms: u64) -> Vec<Step> {
        match self.state {
            State::Playing { id, deadline_ms } if now_ms >= deadline_ms => {
                self.state = State::Done;
                let mut s = vec![Step::TimedOut { id }];
                s.extend(self.hangup());
                s
            }
            _ => Vec::new(),
        }
    }

    /// The call ended: nothing more is asked.
    pub(crate) fn cancel(&mut self) {
        self.state = State::Done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say() -> BeepPolicy {
        BeepPolicy {
            message: Some(Prompt::Say { text: "bye".into() }),
            hangup: true,
        }
    }

    #[test]
    fn plays_once_then_hangs_up_when_played() {
        let mut p = OnBeep::new(say());
        let s = p.on_beep(1_000, || 7);
        assert_eq!(
            s,
            vec![Step::Play {
                id: 7,
                prompt: Prompt::Say { text: "bye".into() }
            }]
        );
        assert!(p.on_beep(1_100, || 8).is_empty(), "only the first beep");
        assert!(p.playback_ended(8).is_empty(), "another playback");
        assert_eq!(
            p.poll_timeout(),
            Some(1_000 + MAX_MESSAGE_MS + PLAYBACK_GRACE_MS)
        );
        p.playback_started(7, 2_000, 1_050);
        assert_eq!(p.poll_timeout(), Some(1_050 + 2_000 + PLAYBACK_GRACE_MS));
        assert!(p.handle_timeout(3_000).is_empty(), "before the deadline");
        assert_eq!(p.playback_ended(7), vec![Step::Hangup]);
        assert_eq!(p.poll_timeout(), None);
        assert!(p.playback_ended(7).is_empty());
    }

    #[test]
    fn deadline_and_no_hangup() {
        let mut p = OnBeep::new(say());
        p.on_beep(0, || 1);
        let d = p.poll_timeout().unwrap();
        assert_eq!(
            p.handle_timeout(d),
            vec![Step::TimedOut { id: 1 }, Step::Hangup]
        );
        assert!(p.playback_ended(1).is_empty(), "late report does nothing");
        let mut p = OnBeep::new(BeepPolicy {
            hangup: false,
            ..say()
        });
        p.on_beep(0, || 1);
        assert!(p.playback_ended(1).is_empty());
        let mut p = OnBeep::new(BeepPolicy {
            message: None,
            hangup: true,
        });
        assert_eq!(p.on_beep(5, || unreachable!()), vec![Step::Hangup]);
        assert!(p.on_beep(6, || 1).is_empty());
    }
}
