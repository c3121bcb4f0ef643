//! Zero heap allocations in the steady state, on the Raspberry Pi 4 fixture
//! tree: 1000 full cycles after warm-up — every source read, encoded with a MAC into
//! the ring, sent over UDP, acks received, verified and applied, gaps resent — make no
//! allocation on any thread.

mod alloc_support;

#[test]
fn a_thousand_pi4_cycles_allocate_nothing() {
    let root = alloc_support::send_support::fixture("pi4");
    let o = alloc_support::steady_state(&root, 20, 1000);
    eprintln!("{o:?}");
    assert!(o.values >= 1000 * 250, "real cycles: {o:?}");
    assert!(
        o.sent >= 2000 && o.acked > 0 && o.resent > 0 && o.stored > 0,
        "{o:?}"
    );
    assert_eq!(o.allocations, 0, "{o:?}");
}
