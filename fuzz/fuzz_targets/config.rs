#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sekisho::fuzz::config(data));
