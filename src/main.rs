//! The `wbackup` binary: everything happens in `cli::main`.
fn main() {
    std::process::exit(wbackup::cli::main());
}
