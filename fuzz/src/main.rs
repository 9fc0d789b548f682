//! One AFL++ target of `vestibule::fuzz`, named by `VESTIBULE_FUZZ_TARGET`
//! (see scripts/fuzz).

fn main() {
    let name = std::env::var("VESTIBULE_FUZZ_TARGET").unwrap_or_default();
    let Some(&(_, target)) = vestibule::fuzz::TARGETS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = vestibule::fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("set VESTIBULE_FUZZ_TARGET to one of {names:?}");
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target(data));
}
