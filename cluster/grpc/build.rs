//! Compiles `proto/*.proto` with protox (a protobuf compiler in Rust), so the build needs no
//! `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/kv.proto", "proto/labrpc.proto"];
    // etcd's API: only a client is needed (the load generator's, to measure against etcd).
    let etcd = ["proto/etcd.proto"];
    for proto in protos.iter().chain(&etcd) {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure().compile_fds(protox::compile(protos, ["proto"])?)?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(protox::compile(etcd, ["proto"])?)?;
    Ok(())
}
