//! Counters of the inputs, on `/metrics` as `pimon_push_*`, `pimon_scrape_*`,
//! `pimon_collectd_*` and `pimon_ingress_*` (see `docs/OPERATIONS.md`). Every refusal
//! and every limit hit has its own label value, so a dashboard tells which.

use std::fmt::{self, Write};
use std::sync::atomic::Ordering;

use pimon_protocol::catalog::Number;
use pimon_protocol::text::prometheus::Format;

use crate::atomic::AtomicU64;
use crate::self_metrics::{Family, Kind, Read, counter, gauge, labelled, load, render_table};

macro_rules! labelled {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $label:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vdoc])* $variant,)* }

        impl $name {
            /// Every value, in rendering order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The label value.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)* }
            }
        }
    };
}

labelled!(
    /// What became of a push: the `result` label of `pimon_push_requests_total`.
    PushResult {
        /// PUT/POST stored (200).
        Ok = "ok",
        /// DELETE (202).
        Deleted = "deleted",
        /// Bad path or unparsable body (400).
        BadRequest = "bad_request",
        /// Inconsistent metrics or timestamps (400).
        Invalid = "invalid",
        /// Missing or wrong credentials (401).
        Unauthorized = "unauthorized",
        /// Body over `push.max_body_bytes` (413).
        BodyTooLarge = "body_too_large",
        /// Group over `push.max_series_per_group` (413).
        SeriesPerGroup = "limit_series_per_group",
        /// `push.max_groups` reached (503).
        Groups = "limit_groups",
        /// `limits.max_series_total` reached (503).
        SeriesTotal = "limit_series_total",
        /// The outputs did not take the lines (503).
        OutputsRefused = "outputs_refused",
        /// A `Content-Encoding` other than gzip (415).
        Unsupported = "unsupported",
    }
);

labelled!(
    /// What became of a scrape: the `result` label of `pimon_scrape_scrapes_total`.
    ScrapeResult {
        /// Stored.
        Ok = "ok",
        /// Connection, timeout or HTTP status error.
        Failed = "failed",
        /// Page not parsable.
        ParseError = "parse_error",
        /// A limit refused it.
        Limit = "limit",
        /// The outputs did not take the lines (kept on /metrics).
        OutputsRefused = "outputs_refused",
    }
);

/// Counters of the inputs.
#[derive(Debug, Default)]
pub struct IngressStats {
    push: [AtomicU64; PushResult::ALL.len()],
    /// Groups dropped after `push.expire_after_seconds` without a push.
    pub groups_expired: AtomicU64,
    scrapes: [AtomicU64; ScrapeResult::ALL.len()],
    /// Scraped families dropped because their type disagrees with a family held
    /// elsewhere under the same name.
    pub scrape_families_dropped: AtomicU64,
    /// The collectd input's counters.
    pub collectd: super::collectd::listener::CollectdStats,
}

impl IngressStats {
    /// Counts a push.
    pub fn push(&self, r: PushResult) {
        self.push[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Pushes with this result so far.
    pub fn pushes(&self, r: PushResult) -> u64 {
        self.push[r as usize].load(Ordering::Relaxed)
    }

    /// Counts a scrape.
    pub fn scrape(&self, r: ScrapeResult) {
        self.scrapes[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Scrapes with this result so far.
    pub fn scrapes(&self, r: ScrapeResult) -> u64 {
        self.scrapes[r as usize].load(Ordering::Relaxed)
    }

    /// Writes the counters; `groups`/`series` are the table's gauges.
    pub fn render<W: Write>(
        &self,
        w: &mut W,
        format: Format,
        push_enabled: bool,
        scrape_enabled: bool,
        groups: usize,
        series: usize,
    ) -> fmt::Result {
        render_table(w, format, HELD, &[(&[], &HeldFigures { groups, series })])?;
        if push_enabled {
            render_table(w, format, PUSH, &[(&[], self)])?;
        }
        if scrape_enabled {
            render_table(w, format, SCRAPE, &[(&[], self)])?;
        }
        Ok(())
    }
}

/// What the inputs' groups hold now.
#[derive(Debug, Clone, Copy)]
pub struct HeldFigures {
    /// Groups (grouping keys, scrape targets, collectd hosts).
    pub groups: usize,
    /// Series in them.
    pub series: usize,
}

/// `pimon_ingress_*`: what the inputs hold.
pub const HELD: &[Family<Read<HeldFigures>>] = &[
    gauge(
        "pimon_ingress_groups",
        "",
        "Groups held: Pushgateway grouping keys, scrape targets, collectd hosts (for their non-catalog series).",
        |h| Number::U64(h.groups as u64),
    ),
    gauge(
        "pimon_ingress_series",
        "",
        "Series held in those groups (counted with the nodes' against `max_series_total`).",
        |h| Number::U64(h.series as u64),
    ),
];

/// `pimon_push_*`, with pushes enabled.
pub const PUSH: &[Family<Read<IngressStats>>] = &[
    labelled(
        "pimon_push_requests_total",
        Kind::Counter,
        "",
        &["result"],
        "Push requests by result: `ok`, `deleted`, `bad_request`, `invalid`, `unauthorized`, `body_too_large`, `limit_series_per_group`, `limit_groups`, `limit_series_total`, `outputs_refused`, `unsupported`.",
        |s, emit| {
            for &r in PushResult::ALL {
                emit(&[("result", r.label())], Number::U64(s.pushes(r)))?;
            }
            Ok(())
        },
    ),
    counter(
        "pimon_push_groups_expired_total",
        "Pushed groups dropped after `push.expire_after_seconds` without a push.",
        |s| load(&s.groups_expired),
    ),
];

/// `pimon_scrape_*`, with scrape targets.
pub const SCRAPE: &[Family<Read<IngressStats>>] = &[
    labelled(
        "pimon_scrape_scrapes_total",
        Kind::Counter,
        "",
        &["result"],
        "Scrapes by result: `ok`, `failed`, `parse_error`, `limit`, `outputs_refused`.",
        |s, emit| {
            for &r in ScrapeResult::ALL {
                emit(&[("result", r.label())], Number::U64(s.scrapes(r)))?;
            }
            Ok(())
        },
    ),
    counter(
        "pimon_scrape_families_dropped_total",
        "Scraped families dropped for a type clash with the same name elsewhere.",
        |s| load(&s.scrape_families_dropped),
    ),
];
