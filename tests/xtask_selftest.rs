//! A fixture for the stress runner's own check (`cargo xtask stress xtask_selftest`). It runs a
//! real three-peer cluster through the harness and passes, unless `XTASK_SELFTEST_FAIL=1`: then
//! it fails on purpose after the election, so the runner's kept log, the harness's labrpc seed
//! and its failure timeline can be seen. It proves the tools, not Raft.

mod common;

#[test]
fn xtask_selftest_fails_on_demand() {
    let cfg = common::make_config(3, false, false);
    cfg.begin("Test (xtask): self-test");
    let leader = cfg.check_one_leader();
    if std::env::var("XTASK_SELFTEST_FAIL").as_deref() == Ok("1") {
        panic!("failing on purpose (XTASK_SELFTEST_FAIL=1); leader was S{leader}");
    }
    cfg.end();
}
