//! A node boot's sequence window, kept small while few numbers are outstanding.
//!
//! [`pimon_protocol::SeqWindow`] is a 512-byte bitmap of the 4,096 numbers above its
//! base. A node that sends in order, the usual case, has nothing outstanding: its base
//! is its highest number plus one, the bitmap all zeros. [`Window`] keeps the same
//! state in 32 bytes inline (base, top, the uncounted bound and one word of the
//! numbers that arrived in `base..top`) while `top - base <= 64`, and the full
//! `SeqWindow`, boxed, only while more than 64 numbers are outstanding (a node whose
//! frames were lost over a long outage and are being resent). Every operation gives
//! the answers `SeqWindow` gives: the inline form is expanded into one on the stack
//! for anything but the in-order fast paths, and the result is kept in the form it
//! fits (the form is a function of the state, so equal states compare equal).
//!
//! Saved and restored through the same parts as `SeqWindow` (base, top, seen words:
//! [`crate::persist`]'s format is unchanged).

use pimon_protocol::ack::{Gap, MAX_GAPS};
use pimon_protocol::window::WINDOW;
use pimon_protocol::{Accept, SeqWindow};

/// Most numbers outstanding (`top - base`) the inline form holds.
const INLINE_SPAN: u64 = 64;

/// Seen-set of sequence numbers for one boot of one node (see the module docs).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Window(Repr);

#[derive(Clone, PartialEq, Eq, Debug)]
enum Repr {
    Inline(Inline),
    Full(Box<SeqWindow>),
}

/// `SeqWindow`'s state when `top - base <= 64`: bit `j` of `seen` is `base + j`
/// ([`SeqWindow::first_word`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Inline {
    base: u64,
    top: u64,
    uncounted_below: u64,
    seen: u64,
}

impl Inline {
    fn expand(self) -> SeqWindow {
        SeqWindow::from_parts(self.base, self.top, self.uncounted_below, self.seen)
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::new()
    }
}

impl From<SeqWindow> for Window {
    fn from(w: SeqWindow) -> Window {
        Window(Repr::fit(w))
    }
}

impl Repr {
    /// The form `w` fits.
    fn fit(w: SeqWindow) -> Repr {
        match Repr::inline_of(&w) {
            Some(i) => Repr::Inline(i),
            None => Repr::Full(Box::new(w)),
        }
    }

    fn inline_of(w: &SeqWindow) -> Option<Inline> {
        // `top()` is the field (never below the base once anything moved it).
        (w.top() - w.base() <= INLINE_SPAN).then(|| Inline {
            base: w.base(),
            top: w.top(),
            uncounted_below: w.uncounted_below(),
            seen: w.first_word(),
        })
    }
}

impl Window {
    /// An empty window expecting sequence number 0 first ([`SeqWindow::new`]).
    pub const fn new() -> Window {
        Window(Repr::Inline(Inline {
            base: 0,
            top: 0,
            uncounted_below: 0,
            seen: 0,
        }))
    }

    /// [`SeqWindow::restore`].
    pub fn restore(base: u64, top: u64) -> Window {
        SeqWindow::restore(base, top).into()
    }

    /// [`SeqWindow::restore_seen`].
    pub fn restore_seen(base: u64, top: u64, seen: impl IntoIterator<Item = u64>) -> Window {
        SeqWindow::restore_seen(base, top, seen).into()
    }

    /// Applies `f` to the window as a `SeqWindow`, then keeps it in the form it fits.
    fn with<R>(&mut self, f: impl FnOnce(&mut SeqWindow) -> R) -> R {
        match &mut self.0 {
            Repr::Inline(i) => {
                let mut w = i.expand();
                let r = f(&mut w);
                self.0 = Repr::fit(w);
                r
            }
            Repr::Full(w) => {
                let r = f(w);
                if let Some(i) = Repr::inline_of(w) {
                    self.0 = Repr::Inline(i);
                }
                r
            }
        }
    }

    /// True while the full bitmap is allocated (more than 64 numbers outstanding).
    pub fn is_full(&self) -> bool {
        matches!(self.0, Repr::Full(_))
    }

    /// Heap bytes (the boxed bitmap, while there is one).
    pub fn heap_bytes(&self) -> usize {
        if self.is_full() {
            size_of::<SeqWindow>()
        } else {
            0
        }
    }

    /// [`SeqWindow::seen_words`].
    pub fn seen_words(&self) -> Vec<u64> {
        match &self.0 {
            // (Without a number at or above the top: `u64::MAX`, see `first_word`.)
            Repr::Inline(i) if i.top > i.base => {
                vec![i.seen & (u64::MAX >> (64 - (i.top - i.base)))]
            }
            Repr::Inline(_) => Vec::new(),
            Repr::Full(w) => w.seen_words().collect(),
        }
    }

    /// [`SeqWindow::base`].
    pub fn base(&self) -> u64 {
        match &self.0 {
            Repr::Inline(i) => i.base,
            Repr::Full(w) => w.base(),
        }
    }

    /// [`SeqWindow::top`].
    pub fn top(&self) -> u64 {
        match &self.0 {
            Repr::Inline(i) => i.top.max(i.base),
            Repr::Full(w) => w.top(),
        }
    }

    /// [`SeqWindow::highest`].
    pub fn highest(&self) -> Option<u64> {
        match &self.0 {
            Repr::Inline(i) => i.top.checked_sub(1),
            Repr::Full(w) => w.highest(),
        }
    }

    /// [`SeqWindow::uncounted_below`].
    pub fn uncounted_below(&self) -> u64 {
        match &self.0 {
            Repr::Inline(i) => i.uncounted_below,
            Repr::Full(w) => w.uncounted_below(),
        }
    }

    /// [`SeqWindow::uncount_below`].
    pub fn uncount_below(&mut self, seq: u64) {
        match &mut self.0 {
            Repr::Inline(i) => i.uncounted_below = i.uncounted_below.max(seq),
            Repr::Full(w) => w.uncount_below(seq),
        }
    }

    /// [`SeqWindow::is_far_ahead`].
    pub fn is_far_ahead(&self, seq: u64) -> bool {
        seq.saturating_sub(self.top()) >= WINDOW
    }

    /// [`SeqWindow::reset`].
    pub fn reset(&mut self, floor: u64) {
        self.with(|w| w.reset(floor));
    }

    /// [`SeqWindow::accept`].
    pub fn accept(&mut self, seq: u64) -> (Accept, u64) {
        if let Repr::Inline(i) = &mut self.0 {
            // In order with nothing outstanding: the base moves past it.
            if i.top == i.base && seq == i.base && seq != u64::MAX {
                i.base = seq + 1;
                i.top = seq + 1;
                return (Accept::New, 0);
            }
            if seq < i.base {
                return (Accept::Old, 0);
            }
        }
        self.with(|w| w.accept(seq))
    }

    /// [`SeqWindow::raise_floor`].
    pub fn raise_floor(&mut self, floor: u64) -> u64 {
        if let Repr::Inline(i) = &self.0
            && floor <= i.base
        {
            // Nothing to give up, and the base already past what arrived in a row.
            return 0;
        }
        self.with(|w| w.raise_floor(floor))
    }

    /// [`SeqWindow::ack`].
    pub fn ack(&self) -> (u64, u64, heapless::Vec<Gap, MAX_GAPS>) {
        match &self.0 {
            Repr::Inline(i) if i.top == i.base => (i.base, i.base, heapless::Vec::new()),
            Repr::Inline(i) => i.expand().ack(),
            Repr::Full(w) => w.ack(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: reproducible random orders without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    fn assert_same(w: &Window, old: &SeqWindow, what: &str) {
        assert_eq!(w.base(), old.base(), "base after {what}");
        assert_eq!(w.top(), old.top(), "top after {what}");
        assert_eq!(w.highest(), old.highest(), "highest after {what}");
        assert_eq!(w.uncounted_below(), old.uncounted_below(), "{what}");
        assert_eq!(w.ack(), old.ack(), "ack after {what}");
        assert_eq!(
            w.seen_words(),
            old.seen_words().collect::<Vec<_>>(),
            "{what}"
        );
        assert_eq!(
            w.is_full(),
            old.top() - old.base() > INLINE_SPAN,
            "the form follows the state after {what}"
        );
        for probe in [
            0,
            old.top(),
            old.top().saturating_add(WINDOW - 1),
            old.top().saturating_add(WINDOW),
        ] {
            assert_eq!(w.is_far_ahead(probe), old.is_far_ahead(probe), "{what}");
        }
        assert_eq!(*w, Window::from(old.clone()), "one form per state ({what})");
    }

    /// Arrivals near the front in random order, duplicates, resends of old numbers,
    /// losses (short and longer than the inline span and than the window), floors
    /// raised, resets, restarts through the saved parts: the compact window answers
    /// every call as the bitmap does.
    #[test]
    fn compact_window_answers_exactly_as_the_bitmap_over_random_arrival_orders() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut fulls = 0;
        for run in 0..300 {
            let mut w = Window::new();
            let mut old = SeqWindow::new();
            let mut next = rng.below(3) * rng.below(1 << 40);
            for step in 0..400 {
                let what = format!("run {run} step {step}");
                match rng.below(100) {
                    0..=54 => {
                        // The next number, or one a little out of order.
                        let seq = next
                            .saturating_add(rng.below(8))
                            .saturating_sub(rng.below(4));
                        next = next.max(seq.saturating_add(1));
                        assert_eq!(w.accept(seq), old.accept(seq), "accept {seq}, {what}");
                    }
                    55..=64 => {
                        // A duplicate or resend of something at or below the top.
                        let seq = old.top().saturating_sub(rng.below(100));
                        assert_eq!(w.accept(seq), old.accept(seq), "resend {seq}, {what}");
                    }
                    65..=74 => {
                        // A loss: short, past the inline span, or past the window.
                        let lost = [rng.below(10), 60 + rng.below(200), rng.below(3 * WINDOW)]
                            [rng.below(3) as usize];
                        next = next.saturating_add(lost);
                        let seq = next;
                        next = next.saturating_add(1);
                        assert_eq!(w.accept(seq), old.accept(seq), "jump {seq}, {what}");
                    }
                    75..=84 => {
                        let floor = old.base().saturating_add(rng.below(80)).saturating_sub(20);
                        assert_eq!(w.raise_floor(floor), old.raise_floor(floor), "{what}");
                    }
                    85..=88 => {
                        let seq = old.top().saturating_add(rng.below(50)).saturating_sub(25);
                        w.uncount_below(seq);
                        old.uncount_below(seq);
                    }
                    89..=91 => {
                        let floor = old
                            .top()
                            .saturating_sub(rng.below(30))
                            .saturating_add(rng.below(100));
                        w.reset(floor);
                        old.reset(floor);
                    }
                    92..=94 => {
                        // A restart: restored from the saved parts, as persist does.
                        let seen = w.seen_words();
                        w = Window::restore_seen(w.base(), w.top(), seen);
                        old = SeqWindow::restore_seen(old.base(), old.top(), old.seen_words());
                    }
                    _ => {
                        // Near the end of the number space: saturating arithmetic.
                        if rng.below(20) == 0 {
                            let seq = u64::MAX - rng.below(3);
                            assert_eq!(w.accept(seq), old.accept(seq), "{what}");
                        }
                    }
                }
                fulls += usize::from(w.is_full());
                assert_same(&w, &old, &what);
            }
        }
        assert!(
            fulls > 1000,
            "the full form was exercised too ({fulls} steps)"
        );
    }

    #[test]
    fn a_window_in_order_stays_inline_and_small() {
        let mut w = Window::new();
        for s in 0..10_000 {
            assert_eq!(w.accept(s), (Accept::New, 0));
            assert_eq!(w.raise_floor(s.saturating_sub(5)), 0);
        }
        assert!(!w.is_full());
        assert_eq!((w.base(), w.top()), (10_000, 10_000));
        assert!(size_of::<Window>() <= 40, "{}", size_of::<Window>());
    }

    #[test]
    fn many_outstanding_numbers_allocate_the_bitmap_until_they_are_settled() {
        let mut w = Window::new();
        w.accept(0);
        w.accept(100);
        assert!(w.is_full(), "99 numbers outstanding");
        assert_eq!(w.heap_bytes(), size_of::<SeqWindow>());
        assert_eq!(w.raise_floor(50), 49);
        assert!(!w.is_full(), "51 outstanding fit inline again");
        assert_eq!(w.heap_bytes(), 0);
        assert_eq!(w.accept(55), (Accept::New, 0));
        assert_eq!(w.ack().2.len(), 2, "50..55 and 56..100 still asked for");
    }
}
