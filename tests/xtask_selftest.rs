//! A fixture for the stress runner's own check (`cargo xtask stress xtask_selftest`): it passes,
//! unless `XTASK_SELFTEST_FAIL=1`, when it logs a few lines in the project's format, prints a
//! labrpc seed as the harness does, and fails. It tests nothing of Raft.

#[test]
fn xtask_selftest_fails_on_demand() {
    if std::env::var("XTASK_SELFTEST_FAIL").as_deref() != Ok("1") {
        return;
    }
    println!("000001 TEST begin: xtask self-test");
    println!("000002 VOTE S0 T1 election timeout: standing for term 1");
    println!("000003 LEAD S0 T1 won the election; log ends at 0");
    eprintln!("labrpc seed: 42 (rerun with LABRPC_SEED=42)");
    panic!("failing on purpose: XTASK_SELFTEST_FAIL=1");
}
