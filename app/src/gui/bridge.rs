//! The app's side of the engine channels.
//!
//! The bridge sends `(RequestId, Command)` to the engine, remembers what each
//! pending request is for ([`Purpose`]), and drains the engine's [`Event`]s
//! without ever blocking: the UI thread calls [`Bridge::drain`] once a frame.
//!
//! It runs either over a real [`Engine`] (started with a waker that repaints
//! the window) or over plain crossbeam channel ends ([`test_pair`]), so a test
//! can play the engine: read the exact [`Command`] the UI sent and answer
//! with fabricated [`Event`]s.
//!
//! **Architecture Invariant:** the UI thread never blocks on the engine:
//! every send is an unbounded channel push and every receive is a
//! `try_recv`.

use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};
use likeness_engine::{
    ClusterId, Command, Engine, Event, FaceId, PersonId, PhotoId, Reply, RequestId,
};
use std::collections::HashMap;

/// What a pending request's reply is for, so the reply lands in the right
/// view.
#[derive(Clone, Debug, PartialEq)]
pub enum Purpose {
    /// The people list.
    PeopleList,
    /// One person's record (name, cover) for the person page.
    Person(PersonId),
    /// One person's faces for the person page.
    PersonFaces(PersonId),
    /// A person's pending suggestions for the review mode.
    Suggestions(PersonId),
    /// The unnamed groups list.
    Groups,
    /// The faces of one unnamed group.
    GroupFaces(ClusterId),
    /// The photo grid.
    Photos,
    /// One photo with its faces, for the viewer.
    PhotoDetail(PhotoId),
    /// The viewer's photo pixels.
    PhotoImage(PhotoId),
    /// A face thumbnail.
    Thumbnail(FaceId),
    /// A photo-grid thumbnail.
    PhotoThumbnail(PhotoId),
    /// A box edit in the viewer (move, resize, new box).
    FaceEdit,
    /// The running import.
    Import,
    /// A user action; the text names it in an error notice.
    Action(String),
    /// Undo.
    Undo,
    /// Redo.
    Redo,
}

/// How the bridge reaches the engine.
enum Link {
    /// The real engine thread.
    Engine(Engine),
    /// Plain channel ends (tests, benchmarks): the other side plays the engine.
    Channels {
        commands: Sender<(RequestId, Command)>,
        events: Receiver<Event>,
        next_id: u64,
    },
}

/// The UI's handle on the engine: sends commands, tracks pending requests,
/// drains events without blocking.
pub struct Bridge {
    link: Link,
    pending: HashMap<RequestId, Purpose>,
    /// True once the engine's event channel closed.
    disconnected: bool,
}

/// An event from the engine, with the purpose of the request it answers
/// (for [`Event::Reply`]).
#[derive(Debug)]
pub struct Incoming {
    /// The event.
    pub event: Event,
    /// What the request was for, when the event is a reply to one.
    pub purpose: Option<Purpose>,
}

/// The engine's side of a [`test_pair`]: receives the commands the UI sent and
/// sends events back.
pub struct FakeEngine {
    /// Commands the UI sent, in order.
    pub commands: Receiver<(RequestId, Command)>,
    /// Events to the UI.
    pub events: Sender<Event>,
}

impl FakeEngine {
    /// All commands sent so far, in order (non-blocking).
    pub fn sent(&self) -> Vec<(RequestId, Command)> {
        self.commands.try_iter().collect()
    }

    /// Sends a successful reply to `id`.
    pub fn reply(&self, id: RequestId, reply: Reply) {
        let _ = self.events.send(Event::Reply {
            id,
            result: Ok(reply),
        });
    }

    /// Sends any event.
    pub fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

/// A bridge over plain channels and the fake engine on the other end.
pub fn test_pair() -> (Bridge, FakeEngine) {
    let (command_tx, command_rx) = unbounded();
    let (event_tx, event_rx) = unbounded();
    (
        Bridge {
            link: Link::Channels {
                commands: command_tx,
                events: event_rx,
                next_id: 1,
            },
            pending: HashMap::new(),
            disconnected: false,
        },
        FakeEngine {
            commands: command_rx,
            events: event_tx,
        },
    )
}

impl Bridge {
    /// A bridge over a running engine.
    pub fn new(engine: Engine) -> Self {
        Self {
            link: Link::Engine(engine),
            pending: HashMap::new(),
            disconnected: false,
        }
    }

    /// Sends a command; its reply will come back from [`Bridge::drain`]
    /// tagged with `purpose`.
    pub fn send(&mut self, command: Command, purpose: Purpose) -> RequestId {
        let id = match &mut self.link {
            Link::Engine(engine) => engine.send(command),
            Link::Channels {
                commands, next_id, ..
            } => {
                let id = RequestId(*next_id);
                *next_id += 1;
                // A closed channel shows up as a disconnect in `drain`.
                let _ = commands.send((id, command));
                id
            }
        };
        self.pending.insert(id, purpose);
        id
    }

    /// True while a request for `purpose` has not been answered.
    pub fn is_pending(&self, purpose: &Purpose) -> bool {
        self.pending.values().any(|p| p == purpose)
    }

    /// Number of requests waiting for a reply.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Number of pending requests that satisfy `pred`.
    pub fn pending_where(&self, pred: impl Fn(&Purpose) -> bool) -> usize {
        self.pending.values().filter(|p| pred(p)).count()
    }

    /// True once the engine has gone away.
    pub fn is_disconnected(&self) -> bool {
        self.disconnected
    }

    /// Every event that has arrived, without blocking, at most `max` of them
    /// (the rest wait for the next frame so one frame never stalls on a flood).
    pub fn drain(&mut self, max: usize) -> Vec<Incoming> {
        let events = match &self.link {
            Link::Engine(engine) => engine.events(),
            Link::Channels { events, .. } => events,
        };
        let mut out = Vec::new();
        while out.len() < max {
            match events.try_recv() {
                Ok(event) => {
                    let purpose = match &event {
                        Event::Reply { id, .. } => self.pending.remove(id),
                        _ => None,
                    };
                    out.push(Incoming { event, purpose });
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.disconnected = true;
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_come_back_with_their_purpose_and_other_events_without() {
        let (mut bridge, engine) = test_pair();
        let a = bridge.send(Command::Undo, Purpose::Undo);
        let b = bridge.send(
            Command::GetPerson {
                person: PersonId(3),
            },
            Purpose::Person(PersonId(3)),
        );
        assert_ne!(a, b);
        let sent = engine.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], (a, Command::Undo));
        assert!(bridge.is_pending(&Purpose::Person(PersonId(3))));
        engine.emit(Event::LibraryChanged);
        engine.reply(b, Reply::Done);
        let got = bridge.drain(10);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].purpose, None);
        assert_eq!(got[1].purpose, Some(Purpose::Person(PersonId(3))));
        assert!(!bridge.is_pending(&Purpose::Person(PersonId(3))));
        assert!(bridge.is_pending(&Purpose::Undo));
        assert!(bridge.drain(10).is_empty(), "drain never blocks");
        drop(engine);
        assert!(bridge.drain(10).is_empty());
        assert!(bridge.is_disconnected());
    }

    #[test]
    fn drain_takes_at_most_max_events_per_call() {
        let (mut bridge, engine) = test_pair();
        for _ in 0..5 {
            engine.emit(Event::LibraryChanged);
        }
        assert_eq!(bridge.drain(3).len(), 3);
        assert_eq!(bridge.drain(3).len(), 2);
    }
}
