//! Zero heap allocations in the steady state, on the live `/proc` and `/sys`
//! of the machine running the test: 1000 full cycles after warm-up — every source read,
//! encoded with a MAC into the ring, sent over UDP, acks received, verified and
//! applied, gaps resent — make no allocation on any thread.

mod alloc_support;

#[test]
fn a_thousand_live_cycles_allocate_nothing() {
    let o = alloc_support::steady_state(std::path::Path::new("/"), 20, 1000);
    eprintln!("{o:?}");
    assert!(o.values >= 1000 * 20, "real cycles: {o:?}");
    assert!(
        o.sent >= 1000 && o.acked > 0 && o.resent > 0 && o.stored > 0,
        "{o:?}"
    );
    assert_eq!(o.allocations, 0, "{o:?}");
}
