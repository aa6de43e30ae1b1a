// The allocator for the binary only (why: server/Cargo.toml); tests keep the system's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    server::run::main()
}
