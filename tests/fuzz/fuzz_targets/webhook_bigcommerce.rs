#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| orderbridge::fuzzing::webhook_bigcommerce(data));
